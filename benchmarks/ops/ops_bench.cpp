// Bandwidth figures for the memory-bound ops: layer norm forward + backward at GPT-2 training shape
// (N = B*T = 4096 rows, C = 768) and one fused AdamW step (plus the gradient norm) over the
// 124,439,808 parameters of GPT-2 124M, CPU backend vs reference backend. One JSON line per
// measurement: median wall time of the repetitions and the bytes the op must move divided by it.
//
// Build against a built libfuselm (cmake --build BUILD) and run, from the repository root:
//   g++ -O2 -std=c++17 benchmarks/ops/ops_bench.cpp -Inative/include -LBUILD -lfuselm
//       -Wl,-rpath,BUILD -o /tmp/ops_bench   (one line)
//   /tmp/ops_bench [--threads N] [--reps R] [--quick]
// --threads 0 (default) uses every core; --quick shrinks the AdamW slab for a smoke run.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fuselm.h"

namespace {

void check(int status, const char *what) {
  if (status != FL_OK) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, status, fl_last_error());
    std::exit(1);
  }
}

// 64-byte aligned, zero-filled, owned by the context
struct Buffer {
  fl_context *ctx;
  float *p = nullptr;
  Buffer(fl_context *c, int64_t n) : ctx(c) {
    void *v = nullptr;
    check(fl_malloc(ctx, n * static_cast<int64_t>(sizeof(float)), &v), "fl_malloc");
    p = static_cast<float *>(v);
  }
  ~Buffer() { fl_free(ctx, p); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
};

void fill(float *x, int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < n; i++) x[i] = d(rng);
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double wall;  // median wall seconds per call
  double cpu;   // median CPU seconds per call, summed over all threads of the process
};

// medians over `reps` timed runs after one warm-up run. On a shared machine the wall time includes
// time the threads spent descheduled; the CPU time does not (idle pool workers sleep, not spin).
Timing time_median(int reps, const std::function<void()> &fn) {
  fn();
  std::vector<double> wall, cpu;
  for (int r = 0; r < reps; r++) {
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(process_cpu_seconds() - c0);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

// gbps = bytes / median wall time
void report(const char *op, const char *backend, int threads, int isa, const std::string &shape,
            Timing t, double bytes) {
  std::printf("{\"op\":\"%s\",\"backend\":\"%s\",\"threads\":%d,\"isa\":%d,%s,\"ms\":%.3f,"
              "\"cpu_ms\":%.3f,\"gbps\":%.2f}\n",
              op, backend, threads, isa, shape.c_str(), t.wall * 1e3, t.cpu * 1e3,
              bytes / t.wall / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 0, reps = 0;
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--reps R] [--quick]\n", argv[0]);
      return 2;
    }
  }
  for (int backend : {FL_BACKEND_CPU, FL_BACKEND_REFERENCE}) {
    fl_context *ctx = nullptr;
    check(fl_context_create(backend, 0, &ctx), "fl_context_create");
    check(fl_context_set_threads(ctx, threads), "fl_context_set_threads");
    int nthreads = 1, isa = 0;
    check(fl_context_threads(ctx, &nthreads), "fl_context_threads");
    check(fl_context_isa(ctx, &isa), "fl_context_isa");
    const char *name = backend == FL_BACKEND_CPU ? "cpu" : "reference";
    if (backend == FL_BACKEND_REFERENCE) nthreads = 1;  // the reference is single-threaded

    {  // layer norm, GPT-2 124M training shape: B*T = 8*512 rows of C = 768
      const int64_t N = 4096, C = 768;
      Buffer inp(ctx, N * C), out(ctx, N * C), w(ctx, C), b(ctx, C), mean(ctx, N), rstd(ctx, N);
      Buffer dout(ctx, N * C), dinp(ctx, N * C), dw(ctx, C), db(ctx, C);
      fill(inp.p, N * C, 1, -2.f, 2.f);
      fill(w.p, C, 2, 0.5f, 1.5f);
      fill(b.p, C, 3, -0.5f, 0.5f);
      fill(dout.p, N * C, 4, -1.f, 1.f);
      const int r = reps > 0 ? reps : (backend == FL_BACKEND_CPU ? 50 : 5);
      const std::string shape = "\"N\":4096,\"C\":768";
      // forward: read inp, write out, mean, rstd (weight/bias are 6 KiB, left out)
      Timing s = time_median(r, [&] {
        check(fl_layernorm_forward(ctx, out.p, mean.p, rstd.p, inp.p, w.p, b.p, N, C, 1e-5f),
              "fl_layernorm_forward");
      });
      report("layernorm_forward", name, nthreads, isa, shape, s, 4.0 * (2.0 * N * C + 2.0 * N));
      // backward: read dout, inp, mean, rstd; read + write dinp (add-into)
      s = time_median(r, [&] {
        check(fl_layernorm_backward(ctx, dinp.p, dw.p, db.p, dout.p, inp.p, w.p, mean.p, rstd.p, N,
                                    C),
              "fl_layernorm_backward");
      });
      report("layernorm_backward", name, nthreads, isa, shape, s, 4.0 * (4.0 * N * C + 2.0 * N));
    }

    {  // AdamW and the gradient norm over GPT-2 124M's parameter slab
      const int64_t n = quick ? 12443980 : 124439808;
      Buffer p(ctx, n), g(ctx, n), m(ctx, n), v(ctx, n);
      fill(p.p, n, 5, -0.1f, 0.1f);
      fill(g.p, n, 6, -1e-3f, 1e-3f);
      // GPT-2-like segmentation: alternating matrices (decay) and bias/norm vectors (no decay)
      std::vector<int64_t> seg = {0};
      std::vector<uint8_t> dec;
      while (seg.back() < n) {
        const bool matrix = dec.size() % 2 == 0;
        seg.push_back(std::min(n, seg.back() + (matrix ? 768 * 3072 : 3072)));
        dec.push_back(matrix ? 1 : 0);
      }
      const int64_t nseg = static_cast<int64_t>(dec.size());
      const int r = reps > 0 ? reps : (backend == FL_BACKEND_CPU ? 10 : 3);
      const std::string shape = "\"n\":" + std::to_string(n);
      int64_t t = 0;
      Timing s = time_median(r, [&] {
        check(fl_adamw_step(ctx, p.p, g.p, m.p, v.p, n, seg.data(), dec.data(), nseg, 6e-4f, 0.9f,
                            0.95f, 1e-8f, 0.1f, ++t, 1.0f),
              "fl_adamw_step");
      });
      // read params, grads, m, v; write params, m, v
      report("adamw_step", name, nthreads, isa, shape, s, 4.0 * 7.0 * n);
      float norm = 0.f;
      s = time_median(r, [&] { check(fl_grad_norm(ctx, &norm, g.p, n), "fl_grad_norm"); });
      report("grad_norm", name, nthreads, isa, shape, s, 4.0 * n);
    }
    fl_context_destroy(ctx);
  }
  return 0;
}
