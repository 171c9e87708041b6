// Times fuselm's CPU sgemm (through the C API, libfuselm) on one shape with a given thread count and
// prints one JSON line, the same as `bin/fuselm bench gemm` and openblas_sgemm.c:
//   {"impl":"fuselm","m":..,"n":..,"k":..,"threads":..,"trans_a":..,"trans_b":..,"gflops":..}
// gflops is the median over repeated runs (2*M*N*K flops per run), gflops_max the best run.
// compare.sh falls back to this driver when bin/fuselm is absent. --bf16 times fl_gemm_bf16 instead
// (A and B in bf16, the float32 values truncated; C float32), as `bench gemm --precision bf16`.
//
// Build (against a CMake build of native/ in $BUILD):
//   c++ -O2 -std=c++17 -I native/include -o fuselm_sgemm benchmarks/gemm/fuselm_sgemm.cpp \
//       -L$BUILD -lfuselm -Wl,-rpath,$BUILD
// Usage: fuselm_sgemm --m M --n N --k K [--threads T] [--trans-a] [--trans-b] [--reps R]
//                     [--beta B] [--isa 0|1|2|3] [--bf16]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuselm.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<float> random_matrix(int64_t n, unsigned seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (auto &x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  return v;
}

void check(int status, const char *what) {
  if (status != FL_OK) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, status, fl_last_error());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char **argv) {
  int64_t m = 256, n = 256, k = 256;
  int threads = 1, ta = 0, tb = 0, reps = 0, isa = -1, bf16 = 0;
  float beta = 0.0f;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!std::strcmp(a, "--m")) m = std::atoll(v), i++;
    else if (!std::strcmp(a, "--n")) n = std::atoll(v), i++;
    else if (!std::strcmp(a, "--k")) k = std::atoll(v), i++;
    else if (!std::strcmp(a, "--threads")) threads = std::atoi(v), i++;
    else if (!std::strcmp(a, "--reps")) reps = std::atoi(v), i++;
    else if (!std::strcmp(a, "--beta")) beta = static_cast<float>(std::atof(v)), i++;
    else if (!std::strcmp(a, "--isa")) isa = std::atoi(v), i++;
    else if (!std::strcmp(a, "--trans-a")) ta = 1;
    else if (!std::strcmp(a, "--trans-b")) tb = 1;
    else if (!std::strcmp(a, "--bf16")) bf16 = 1;
    else {
      std::fprintf(stderr,
                   "usage: %s --m M --n N --k K [--threads T] [--trans-a] [--trans-b] [--reps R] "
                   "[--beta B] [--isa 0|1|2|3] [--bf16]\n",
                   argv[0]);
      return 2;
    }
  }
  if (m <= 0 || n <= 0 || k <= 0 || threads <= 0) {
    std::fprintf(stderr, "m, n, k and threads must be positive\n");
    return 2;
  }
  fl_context *ctx = nullptr;
  check(fl_context_create(FL_BACKEND_CPU, 0, &ctx), "fl_context_create");
  check(fl_context_set_threads(ctx, threads), "fl_context_set_threads");
  if (isa >= 0) check(fl_context_set_isa(ctx, isa), "fl_context_set_isa");
  std::vector<float> A = random_matrix(m * k, 1), B = random_matrix(k * n, 2), C = random_matrix(m * n, 3);
  int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  double flop = 2.0 * double(m) * double(n) * double(k);
  std::vector<uint16_t> A16, B16;
  if (bf16) {
    auto narrow = [](const std::vector<float> &v) {
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); i++) {
        uint32_t u;
        std::memcpy(&u, &v[i], sizeof u);
        h[i] = static_cast<uint16_t>(u >> 16);
      }
      return h;
    };
    A16 = narrow(A);
    B16 = narrow(B);
  }
  auto run = [&] {
    if (bf16)
      check(fl_gemm_bf16(ctx, ta, tb, m, n, k, 1.0f, A16.data(), lda, B16.data(), ldb, beta, nullptr,
                         C.data(), ldc),
            "fl_gemm_bf16");
    else
      check(fl_sgemm(ctx, ta, tb, m, n, k, 1.0f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc),
            "fl_sgemm");
  };
  // Enough repetitions for ~1 s of work (at least 5), after two warm-up calls.
  run();
  run();
  if (reps <= 0) {
    double t0 = now_s();
    run();
    double dt = now_s() - t0;
    reps = static_cast<int>(1.0 / std::max(dt, 1e-6));
    reps = std::min(std::max(reps, 5), 200);
  }
  std::vector<double> gf;
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    run();
    gf.push_back(flop / (now_s() - t0) * 1e-9);
  }
  std::sort(gf.begin(), gf.end());
  double med = reps % 2 ? gf[reps / 2] : 0.5 * (gf[reps / 2 - 1] + gf[reps / 2]);
  std::printf("{\"impl\":\"%s\",\"m\":%lld,\"n\":%lld,\"k\":%lld,\"threads\":%d,"
              "\"trans_a\":%s,\"trans_b\":%s,\"gflops\":%.2f,\"gflops_max\":%.2f}\n",
              bf16 ? "fuselm_bf16" : "fuselm", static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k), threads,
              ta ? "true" : "false", tb ? "true" : "false", med, gf.back());
  fl_context_destroy(ctx);
  return 0;
}
