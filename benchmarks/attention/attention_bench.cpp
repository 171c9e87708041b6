// Timing driver for the fused attention kernels (fl_attention_forward / fl_attention_backward),
// GPT-2 small head layout: B = 4, NH = 12, hs = 64 (C = 768), T = 64 .. 1024, causal.
// Prints one JSON line per T: median wall milliseconds of the forward and of forward + backward
// (fwd_ms, fwd_bwd_ms), the median process CPU time of the same (fwd_cpu_ms, fwd_bwd_cpu_ms: on a
// shared machine, wall time includes waiting for a core), nominal GFLOP/s of forward + backward, and
// the peak scratch memory the kernels allocate (measured, see below) next to the size of the T x T
// score matrices a non-fused implementation would store (B * NH * T * T * 4 bytes).
//
// Build (after building libfuselm into $BUILD, e.g. /tmp/nb):
//   g++ -O2 -std=c++17 -I native/include benchmarks/attention/attention_bench.cpp \
//       -L$BUILD -lfuselm -Wl,-rpath,$BUILD -o /tmp/attention_bench
// Run:  /tmp/attention_bench [--threads N] [--noncausal] [--min-ms MS] [--dropout P]
// --dropout P also times fl_attention_forward_dropout / fl_attention_backward_dropout with rate P in
// the same run, interleaved with the plain calls, and prints the CPU-time ratios dropout / plain
// (drop_fwd_ratio, drop_fwd_bwd_ratio).
//
// Scratch measurement: this executable interposes malloc/free/calloc/realloc (glibc's __libc_*
// underneath) and, only while one kernel call runs, tracks the bytes live on the heap; the peak of
// that is everything the kernel allocated for itself (its per-thread tiles), excluding the caller's
// inputs and outputs.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "fuselm.h"

extern "C" {
void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
}

namespace {
std::atomic<bool> g_tracking{false};
std::atomic<long long> g_live{0}, g_peak{0};

void note_alloc(void *p) {
  if (p == nullptr || !g_tracking.load(std::memory_order_relaxed)) return;
  long long now = g_live.fetch_add(static_cast<long long>(malloc_usable_size(p))) +
                  static_cast<long long>(malloc_usable_size(p));
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
void note_free(void *p) {
  if (p == nullptr || !g_tracking.load(std::memory_order_relaxed)) return;
  g_live.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
}
}  // namespace

extern "C" {
void *malloc(size_t n) {
  void *p = __libc_malloc(n);
  note_alloc(p);
  return p;
}
void free(void *p) {
  note_free(p);
  __libc_free(p);
}
void *calloc(size_t n, size_t m) {
  void *p = __libc_calloc(n, m);
  note_alloc(p);
  return p;
}
void *realloc(void *p, size_t n) {
  note_free(p);
  void *q = __libc_realloc(p, n);
  note_alloc(q);
  return q;
}
}

namespace {

#define OK(call)                                                              \
  do {                                                                        \
    if ((call) != FL_OK) {                                                    \
      std::fprintf(stderr, "%s failed: %s\n", #call, fl_last_error());        \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of the whole process (all threads), for reading timings taken on a busy machine.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

struct Timing {
  double wall_ms, cpu_ms;  // medians
};

// Median wall and CPU time of repeated runs; repeats until min_ms of total time, 5 runs at least.
template <class F>
Timing median_ms(F f, double min_ms) {
  f();  // warm-up
  std::vector<double> wall, cpu;
  double total = 0;
  while (wall.size() < 5 || (total < min_ms && wall.size() < 200)) {
    const double t0 = now_ms(), c0 = cpu_ms();
    f();
    const double dt = now_ms() - t0;
    cpu.push_back(cpu_ms() - c0);
    wall.push_back(dt);
    total += dt;
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

template <class F>
long long peak_scratch(F f) {
  g_live = 0;
  g_peak = 0;
  g_tracking = true;
  f();
  g_tracking = false;
  return g_peak.load();
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 0, causal = 1;
  double min_ms = 1000;
  float dropout = 0.f;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--noncausal")) causal = 0;
    else if (!std::strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--dropout") && i + 1 < argc) dropout = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--noncausal] [--min-ms MS] [--dropout P]\n",
                   argv[0]);
      return 2;
    }
  }
  const int64_t B = 4, NH = 12, hs = 64, C = NH * hs;
  fl_context *ctx = nullptr;
  OK(fl_context_create(FL_BACKEND_CPU, 0, &ctx));
  OK(fl_context_set_threads(ctx, threads));
  int isa = 0, nthreads = 0;
  OK(fl_context_isa(ctx, &isa));
  OK(fl_context_threads(ctx, &nthreads));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t T : {64, 128, 256, 512, 1024}) {
    std::vector<float> qkv(B * T * 3 * C), out(B * T * C), lse(B * NH * T), dout(B * T * C),
        dqkv(B * T * 3 * C, 0.f);
    for (auto &x : qkv) x = dist(rng);
    for (auto &x : dout) x = dist(rng);
    auto fwd = [&] {
      OK(fl_attention_forward(ctx, out.data(), lse.data(), qkv.data(), nullptr, B, T, C, NH, causal));
    };
    auto bwd = [&] {
      OK(fl_attention_backward(ctx, dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                               nullptr, B, T, C, NH, causal));
    };
    if (dropout > 0.f) {
      auto dfwd = [&] {
        OK(fl_attention_forward_dropout(ctx, out.data(), lse.data(), qkv.data(), nullptr, B, T, C,
                                        NH, causal, dropout, 1234));
      };
      auto dbwd = [&] {
        OK(fl_attention_backward_dropout(ctx, dqkv.data(), dout.data(), qkv.data(), out.data(),
                                         lse.data(), nullptr, B, T, C, NH, causal, dropout, 1234));
      };
      // plain and dropout alternate, 3 rounds each, so that load on a shared machine hits both
      double pf = 0, pfb = 0, df = 0, dfb = 0;
      for (int round = 0; round < 3; round++) {
        pf += median_ms(fwd, min_ms / 3).cpu_ms;
        df += median_ms(dfwd, min_ms / 3).cpu_ms;
        pfb += median_ms([&] { fwd(); bwd(); }, min_ms / 3).cpu_ms;
        dfb += median_ms([&] { dfwd(); dbwd(); }, min_ms / 3).cpu_ms;
      }
      std::printf(
          "{\"op\":\"attention_dropout\",\"B\":%lld,\"NH\":%lld,\"hs\":%lld,\"T\":%lld,"
          "\"causal\":%d,\"threads\":%d,\"isa\":%d,\"p\":%.3f,\"fwd_cpu_ms\":%.3f,"
          "\"drop_fwd_cpu_ms\":%.3f,\"fwd_bwd_cpu_ms\":%.3f,\"drop_fwd_bwd_cpu_ms\":%.3f,"
          "\"drop_fwd_ratio\":%.3f,\"drop_fwd_bwd_ratio\":%.3f}\n",
          (long long)B, (long long)NH, (long long)hs, (long long)T, causal, nthreads, isa, dropout,
          pf / 3, df / 3, pfb / 3, dfb / 3, df / pf, dfb / pfb);
      std::fflush(stdout);
      continue;
    }
    const Timing tf = median_ms(fwd, min_ms);
    const Timing tfb = median_ms([&] { fwd(); bwd(); }, min_ms);
    const long long peak_fwd = peak_scratch(fwd), peak_bwd = peak_scratch(bwd);
    const long long peak = std::max(peak_fwd, peak_bwd);
    const long long scores = B * NH * T * T * 4;
    // nominal flops of forward (QK^T, PV) + backward (QK^T, dO V^T, P^T dO, dS^T Q, dS K):
    // 7 matmuls of (T x T x hs) per head, halved when causal
    const double flops = 7.0 * 2.0 * B * NH * T * T * hs * (causal ? 0.5 : 1.0);
    std::printf(
        "{\"op\":\"attention\",\"B\":%lld,\"NH\":%lld,\"hs\":%lld,\"T\":%lld,\"causal\":%d,"
        "\"threads\":%d,\"isa\":%d,\"fwd_ms\":%.3f,\"fwd_bwd_ms\":%.3f,"
        "\"fwd_cpu_ms\":%.3f,\"fwd_bwd_cpu_ms\":%.3f,\"fwd_bwd_gflops\":%.2f,"
        "\"scratch_peak_bytes_fwd\":%lld,\"scratch_peak_bytes_bwd\":%lld,"
        "\"scores_bytes_BxNHxTxTx4\":%lld,\"scratch_over_scores\":%.4f}\n",
        (long long)B, (long long)NH, (long long)hs, (long long)T, causal, nthreads, isa,
        tf.wall_ms, tfb.wall_ms, tf.cpu_ms, tfb.cpu_ms, flops / (tfb.wall_ms * 1e6), peak_fwd, peak_bwd, scores, static_cast<double>(peak) / scores);
    std::fflush(stdout);
  }
  fl_context_destroy(ctx);
  return 0;
}
