// The weight-streaming part of one GPT-2 decode step, alone: per "token", the 48 M = 1 products of
// 12 layers (c_attn (C, 3C), attn c_proj (C, C), mlp c_fc (C, 4C), mlp c_proj (4C, C); Conv1D
// layout, trans_b = 0, with bias) and the tied LM head (V, C) trans_b = 1, each over its own
// weights (498 MB of fp32, far more than any cache), exactly the calls fuselm's Generator makes.
// Prints one JSON line: median ms per token, the GB/s of weights read, and the same for bf16
// weights (fl_sgemm_bf16w, half the bytes), fp32 and bf16 alternating, so the two see the same load.
//
// Build (after `mvn package`, library in target/native-build):
//   g++ -O2 -std=c++17 -Inative/include benchmarks/gpt/decode_gemm_bench.cpp \
//       -Ltarget/native-build -lfuselm -Wl,-rpath,$PWD/target/native-build -o /tmp/decode_gemm_bench
// Run:  /tmp/decode_gemm_bench [--threads N] [--tokens N] [--rounds N] [--fp32-only 1]
// --fp32-only 1 times the fp32 calls alone (it then also runs against a library from before
// fl_sgemm_bf16w existed: LD_LIBRARY_PATH=<old build> overrides the runpath, lazy binding never
// resolves the bf16 functions).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "fuselm.h"

namespace {

void check(int status, const char *what) {
  if (status != FL_OK) {
    std::fprintf(stderr, "%s failed: %s\n", what, fl_last_error());
    std::exit(1);
  }
}

struct Mat {
  int64_t n, k;  // C(1, n) = x(1, k) op(B), B stored (k, n), or (n, k) when trans_b
  int trans_b;
  float *w;
  uint16_t *w16;
  float *bias;
};

double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 2, tokens = 8, rounds = 5, fp32_only = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--fp32-only")) fp32_only = std::atoi(argv[i + 1]);
  }
  const int64_t C = 768, V = 50257, L = 12;
  fl_context *ctx;
  check(fl_context_create(FL_BACKEND_CPU, 0, &ctx), "context");
  check(fl_context_set_threads(ctx, threads), "threads");
  std::vector<Mat> mats;
  for (int l = 0; l < L; l++) {
    mats.push_back({3 * C, C, 0, nullptr, nullptr, nullptr});
    mats.push_back({C, C, 0, nullptr, nullptr, nullptr});
    mats.push_back({4 * C, C, 0, nullptr, nullptr, nullptr});
    mats.push_back({C, 4 * C, 0, nullptr, nullptr, nullptr});
  }
  mats.push_back({V, C, 1, nullptr, nullptr, nullptr});
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  int64_t weight_floats = 0;
  for (Mat &m : mats) {
    int64_t e = m.n * m.k;
    weight_floats += e;
    check(fl_malloc(ctx, e * 4, (void **)&m.w), "malloc");
    check(fl_malloc(ctx, e * 2, (void **)&m.w16), "malloc");
    check(fl_malloc(ctx, m.n * 4, (void **)&m.bias), "malloc");
    for (int64_t i = 0; i < e; i++) m.w[i] = nd(rng);
    if (!fp32_only) check(fl_f32_to_bf16(ctx, m.w16, m.w, e), "f32_to_bf16");
  }
  std::vector<float> x(4 * C, 0.01f), out(V);
  auto token = [&](bool bf16) {
    for (const Mat &m : mats) {
      const float *bias = m.trans_b ? nullptr : m.bias;
      if (bf16)
        check(fl_sgemm_bf16w(ctx, 0, m.trans_b, 1, m.n, m.k, 1.f, x.data(), m.k, m.w16,
                             m.trans_b ? m.k : m.n, 0.f, bias, out.data(), m.n),
              "sgemm_bf16w");
      else
        check(fl_sgemm_bias(ctx, 0, m.trans_b, 1, m.n, m.k, x.data(), m.k, m.w,
                            m.trans_b ? m.k : m.n, bias, out.data(), m.n),
              "sgemm_bias");
    }
  };
  std::vector<double> ms[2], cpu_ms[2];
  for (int r = 0; r < rounds; r++) {
    for (int v = 0; v < 2; v++) {
      bool bf16 = (v + r) % 2 == 1;  // alternate which goes first
      if (bf16 && fp32_only) continue;
      token(bf16);                   // untimed warm-up token
      auto t0 = std::chrono::steady_clock::now();
      double c0 = cpu_s();
      for (int t = 0; t < tokens; t++) token(bf16);
      double c1 = cpu_s();
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ms[bf16].push_back(1e3 * s / tokens);
      cpu_ms[bf16].push_back(1e3 * (c1 - c0) / tokens);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  if (fp32_only) ms[1] = cpu_ms[1] = {0.0};
  double f32 = median(ms[0]), b16 = median(ms[1]);
  std::printf("{\"threads\":%d,\"tokens\":%d,\"rounds\":%d,\"weight_mb_fp32\":%.1f,"
              "\"fp32_ms_per_token\":%.2f,\"fp32_gbs\":%.2f,\"fp32_cpu_ms\":%.2f,"
              "\"bf16_ms_per_token\":%.2f,\"bf16_gbs\":%.2f,\"bf16_cpu_ms\":%.2f}\n",
              threads, tokens, rounds, weight_floats * 4 / 1e6, f32, weight_floats * 4 / f32 / 1e6,
              median(cpu_ms[0]), b16, b16 > 0 ? weight_floats * 2 / b16 / 1e6 : 0.0,
              median(cpu_ms[1]));
  for (Mat &m : mats) {
    fl_free(ctx, m.w);
    fl_free(ctx, m.w16);
    fl_free(ctx, m.bias);
  }
  fl_context_destroy(ctx);
  return 0;
}
