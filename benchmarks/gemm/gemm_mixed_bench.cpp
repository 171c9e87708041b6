// fl_gemm_mixed (float32 operands rounded to bf16 inside the GEMM's packers) against the sequence it
// replaces, fl_f32_to_bf16 of the float32 operands then fl_gemm_bf16, on the GEMMs of GPT-2 124M bf16
// training (B = 4, T = argv[3]; the operand types of nn/Linear and model/LmHead), alternating in one
// run; best of REPS by process CPU time (and wall time). "cpu ratio" above 1: fl_gemm_mixed is faster.
// NONARROW=1 leaves out the narrow passes (the packing cost alone); CAL=1 feeds fl_gemm_mixed the
// bf16 copies (an ordering-bias check).
// Build (after a native build into target/nb):
//   g++ -O2 -std=c++17 -Inative/include benchmarks/gemm/gemm_mixed_bench.cpp -Ltarget/nb -lfuselm \
//       -Wl,-rpath,$PWD/target/nb -o /tmp/gemm_mixed_bench
// Usage: /tmp/gemm_mixed_bench THREADS REPS T
#include <time.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cstdint>
#include "fuselm.h"
static double cpu_ms() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static double wall_ms() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
struct Case { const char *name; int ta, tb; int64_t M, N, K; int a16, b16; };
int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 5;
  fl_context *ctx; fl_context_create(FL_BACKEND_CPU, 0, &ctx); fl_context_set_threads(ctx, threads);
  int B = 4, T = argc > 3 ? atoi(argv[3]) : 64; int64_t R = B * T;
  Case cs[] = {
    {"fwd_fc     (F,W16)", 0, 0, R, 3072, 768, 0, 1},
    {"bwd_fc dW  (F^T,F)", 1, 0, 768, 3072, R, 0, 0},
    {"bwd_fc dX  (F,W16^T)", 0, 1, R, 768, 3072, 0, 1},
    {"lm_fwd     (F,W16^T)", 0, 1, R, 50257, 768, 0, 1},
    {"lm_bwd dX  (F,W16)", 0, 0, R, 768, 50257, 0, 1},
    {"lm_bwd dW  (F^T,F)", 1, 0, 50257, 768, R, 0, 0},
  };
  double tot_old = 0, tot_new = 0;
  for (auto &c : cs) {
    int64_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K, br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
    std::vector<float> A(ar * ac), B(br * bc), C(c.M * c.N);
    for (size_t i = 0; i < A.size(); i++) A[i] = float((i * 2654435761u) % 1000) / 1000.f - 0.5f;
    for (size_t i = 0; i < B.size(); i++) B[i] = float((i * 40503u) % 1000) / 1000.f - 0.5f;
    std::vector<uint16_t> Ah(A.size()), Bh(B.size());
    fl_f32_to_bf16(ctx, Bh.data(), B.data(), B.size()); fl_f32_to_bf16(ctx, Ah.data(), A.data(), A.size());
    double best_old = 1e30, best_new = 1e30, bw_old = 1e30, bw_new = 1e30;
    for (int r = 0; r < reps; r++) {
      double t0 = cpu_ms(), w0 = wall_ms();
      if (!c.a16 && !getenv("NONARROW")) fl_f32_to_bf16(ctx, Ah.data(), A.data(), A.size());
      if (!c.b16 && !getenv("NONARROW")) fl_f32_to_bf16(ctx, Bh.data(), B.data(), B.size());
      fl_gemm_bf16(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.f, Ah.data(), ac, Bh.data(), bc, 0.f, nullptr, C.data(), c.N);
      double t1 = cpu_ms(), w1 = wall_ms();
      int a16 = c.a16 || getenv("CAL"), b16 = c.b16 || getenv("CAL");
      fl_gemm_mixed(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.f, a16 ? (const void *)Ah.data() : A.data(), a16, ac,
                    b16 ? (const void *)Bh.data() : B.data(), b16, bc, 0.f, nullptr, C.data(), c.N);
      double t2 = cpu_ms(), w2 = wall_ms();
      if (t1 - t0 < best_old) best_old = t1 - t0;
      if (t2 - t1 < best_new) best_new = t2 - t1;
      if (w1 - w0 < bw_old) bw_old = w1 - w0;
      if (w2 - w1 < bw_new) bw_new = w2 - w1;
    }
    double gf = 2.0 * c.M * c.N * c.K / 1e6;
    printf("%-22s M=%6ld N=%6ld K=%6ld  narrow+gemm_bf16 cpu %8.2f ms (wall %8.2f, %5.0f GF/s)  gemm_mixed cpu %8.2f ms (wall %8.2f, %5.0f GF/s)  cpu ratio %.3f\n",
           c.name, (long)c.M, (long)c.N, (long)c.K, best_old, bw_old, gf / bw_old, best_new, bw_new, gf / bw_new, best_old / best_new);
    tot_old += best_old; tot_new += best_new;
  }
  printf("total cpu: before %.1f ms, after %.1f ms, ratio %.3f\n", tot_old, tot_new, tot_old / tot_new);
  fl_context_destroy(ctx);
}
