// GPU benchmarks of the fuselm CUDA backend, through the public C API (libfuselm), for
// benchmarks/gpu/run.sh. Prints one JSON line per measurement:
//   gemm       fuselm fp32 SIMT, TF32 and bf16 (fl_gemm_bf16: bf16 A and B, fp32 accumulation)
//              TFLOP/s on the GPT-2 training shapes; cuBLAS (fp32, TF32 tensor-op math, and bf16
//              cublasGemmEx with fp32 compute) on the same shapes when built with -DFUSELM_BENCH_CUBLAS
//   attention  fuselm flash-style forward and forward+backward vs a naive kernel (one thread per
//              query row, two passes over the keys, no T x T buffer), GPT-2 124M heads, T = 64..1024
//   ops        layer norm, softmax + cross-entropy, AdamW over 124M parameters (GB/s)
//   train      one synthetic GPT-2 124M training step built from the C API ops (embeddings, 12 pre-LN
//              blocks, tied LM head, cross-entropy, full backward, grad norm, AdamW): tokens/s, with
//              the GEMMs in fp32, in TF32, and in bf16 (fl_gemm_bf16: a bf16 copy of the fp32 master
//              weights made at the start of each step, GEMM inputs narrowed with fl_f32_to_bf16 just
//              before each GEMM, fp32 outputs and gradients, fp32 AdamW)
// Timings: CUDA events around `reps` calls after one warm-up call (L2 warm), the median of 5 rounds.
//
// Build (run.sh does this): nvcc -O2 -std=c++17 -I native/include benchmarks/gpu/cuda_bench.cu \
//   -L$BUILD -lfuselm -Xlinker -rpath,$BUILD [-DFUSELM_BENCH_CUBLAS -lcublas] -o cuda_bench
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "fuselm.h"

#ifdef FUSELM_BENCH_CUBLAS
#include <cublas_v2.h>
#endif

namespace {

void check(int status, const char *what) {
  if (status != FL_OK) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, status, fl_last_error());
    std::exit(1);
  }
}
#define FL(call) check((call), #call)

void cuda_check(cudaError_t e, const char *what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

struct Dev {
  fl_context *ctx;
  float *p = nullptr;
  int64_t n;
  Dev(fl_context *c, int64_t count, unsigned seed = 0, float amp = 1.f) : ctx(c), n(count) {
    void *q = nullptr;
    FL(fl_malloc(c, n * 4, &q));
    p = static_cast<float *>(q);
    if (seed != 0) {
      std::vector<float> h(static_cast<size_t>(n));
      for (auto &x : h) {
        seed = seed * 1664525u + 1013904223u;
        x = amp * (static_cast<float>((seed >> 8) & 0xffff) / 32768.0f - 1.0f);
      }
      FL(fl_memcpy(c, p, h.data(), n * 4, 0));
    }
  }
  ~Dev() { fl_free(ctx, p); }
  Dev(const Dev &) = delete;
  Dev &operator=(const Dev &) = delete;
};

// Median over 5 rounds of the mean time (ms) of `reps` calls of fn, after one warm-up call.
double time_ms(fl_context *ctx, int reps, const std::function<void()> &fn) {
  fn();
  FL(fl_context_synchronize(ctx));
  std::vector<double> rounds;
  for (int r = 0; r < 5; r++) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    FL(fl_context_synchronize(ctx));
    cudaEventRecord(a, 0);
    for (int i = 0; i < reps; i++) fn();
    FL(fl_context_synchronize(ctx));
    cudaEventRecord(b, 0);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    rounds.push_back(ms / reps);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

fl_context *make_context(bool tf32) {
  if (tf32) setenv("FUSELM_CUDA_TF32", "1", 1);
  fl_context *c = nullptr;
  FL(fl_context_create(FL_BACKEND_CUDA, 0, &c));
  unsetenv("FUSELM_CUDA_TF32");
  return c;
}

// ---- GEMM ---------------------------------------------------------------------------------------

struct Shape { const char *label; int64_t M, N, K; int ta, tb; };

void bench_gemm(fl_context *fp32, fl_context *tf32) {
  // GPT-2 124M, B*T = 8192 rows: qkv, proj, fc, fc2 forward (trans_b), their dinp and dW, LM head
  const Shape shapes[] = {
      {"qkv fwd", 8192, 2304, 768, 0, 1},   {"fc fwd", 8192, 3072, 768, 0, 1},
      {"fc2 fwd", 8192, 768, 3072, 0, 1},   {"fc dinp", 8192, 768, 3072, 0, 0},
      {"fc dW", 3072, 768, 8192, 1, 0},     {"lm_head fwd", 8192, 50257, 768, 0, 1},
      {"square 4096", 4096, 4096, 4096, 0, 0}};
#ifdef FUSELM_BENCH_CUBLAS
  cublasHandle_t h;
  cublasCreate(&h);
#endif
  for (const Shape &s : shapes) {
    const int64_t ar = s.ta ? s.K : s.M, ac = s.ta ? s.M : s.K, br = s.tb ? s.N : s.K, bc = s.tb ? s.K : s.N;
    Dev A(fp32, ar * ac, 1), B(fp32, br * bc, 2), C(fp32, s.M * s.N);
    // bf16 copies of A and B (2 bytes an element: a Dev of half the floats holds them)
    Dev A16(fp32, (ar * ac + 1) / 2), B16(fp32, (br * bc + 1) / 2);
    uint16_t *a16 = reinterpret_cast<uint16_t *>(A16.p), *b16 = reinterpret_cast<uint16_t *>(B16.p);
    FL(fl_f32_to_bf16(fp32, a16, A.p, ar * ac));
    FL(fl_f32_to_bf16(fp32, b16, B.p, br * bc));
    const double flops = 2.0 * s.M * s.N * s.K;
    auto run = [&](fl_context *ctx) {
      FL(fl_sgemm(ctx, s.ta, s.tb, s.M, s.N, s.K, 1.f, A.p, ac, B.p, bc, 0.f, C.p, s.N));
    };
    const double t32 = time_ms(fp32, 5, [&] { run(fp32); });
    const double ttf = time_ms(tf32, 5, [&] { run(tf32); });
    const double tbf = time_ms(fp32, 5, [&] {
      FL(fl_gemm_bf16(fp32, s.ta, s.tb, s.M, s.N, s.K, 1.f, a16, ac, b16, bc, 0.f, nullptr, C.p, s.N));
    });
    std::printf("{\"bench\":\"gemm\",\"shape\":\"%s\",\"m\":%ld,\"n\":%ld,\"k\":%ld,\"fuselm_fp32_tflops\":%.2f,"
                "\"fuselm_tf32_tflops\":%.2f,\"fuselm_bf16_tflops\":%.2f",
                s.label, (long)s.M, (long)s.N, (long)s.K, flops / t32 / 1e9, flops / ttf / 1e9, flops / tbf / 1e9);
#ifdef FUSELM_BENCH_CUBLAS
    // row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T
    const float one = 1.f, zero = 0.f;
    auto cub = [&](cublasMath_t math) {
      cublasSetMathMode(h, math);
      return time_ms(fp32, 5, [&] {
        cublasSgemm(h, s.tb ? CUBLAS_OP_T : CUBLAS_OP_N, s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)s.N, (int)s.M,
                    (int)s.K, &one, B.p, (int)bc, A.p, (int)ac, &zero, C.p, (int)s.N);
      });
    };
    const double c32 = cub(CUBLAS_DEFAULT_MATH), ctf = cub(CUBLAS_TF32_TENSOR_OP_MATH);
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    const double cbf = time_ms(fp32, 5, [&] {
      cublasGemmEx(h, s.tb ? CUBLAS_OP_T : CUBLAS_OP_N, s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)s.N, (int)s.M,
                   (int)s.K, &one, b16, CUDA_R_16BF, (int)bc, a16, CUDA_R_16BF, (int)ac, &zero, C.p, CUDA_R_32F,
                   (int)s.N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    std::printf(",\"cublas_fp32_tflops\":%.2f,\"cublas_tf32_tflops\":%.2f,\"cublas_bf16_tflops\":%.2f",
                flops / c32 / 1e9, flops / ctf / 1e9, flops / cbf / 1e9);
#endif
    std::printf("}\n");
    std::fflush(stdout);
  }
}

// ---- attention ----------------------------------------------------------------------------------

// The comparison kernel: one thread per (b, t, h) query row; pass 1 finds the max score, pass 2 sums
// exp and accumulates the output (hs <= 128 in registers). Causal, no mask.
__global__ void naive_attention_kernel(float *out, const float *qkv, int B, int T, int C, int NH) {
  const int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (idx >= (int64_t)B * T * NH) return;
  const int h = idx % NH, t = (idx / NH) % T, b = idx / NH / T;
  const int hs = C / NH;
  const float scale = rsqrtf((float)hs);
  const float *q = qkv + ((int64_t)b * T + t) * 3 * C + h * hs;
  float mx = -INFINITY;
  for (int j = 0; j <= t; j++) {
    const float *k = qkv + ((int64_t)b * T + j) * 3 * C + C + h * hs;
    float s = 0;
    for (int d = 0; d < hs; d++) s += q[d] * k[d];
    mx = fmaxf(mx, s * scale);
  }
  float o[128];
  for (int d = 0; d < hs; d++) o[d] = 0;
  float sum = 0;
  for (int j = 0; j <= t; j++) {
    const float *k = qkv + ((int64_t)b * T + j) * 3 * C + C + h * hs;
    float s = 0;
    for (int d = 0; d < hs; d++) s += q[d] * k[d];
    const float p = expf(s * scale - mx);
    sum += p;
    for (int d = 0; d < hs; d++) o[d] += p * k[C + d];
  }
  float *y = out + ((int64_t)b * T + t) * C + h * hs;
  for (int d = 0; d < hs; d++) y[d] = o[d] / sum;
}

void bench_attention(fl_context *ctx) {
  const int B = 8, C = 768, NH = 12;
  for (int T : {64, 256, 512, 1024}) {
    Dev qkv(ctx, (int64_t)B * T * 3 * C, 3), out(ctx, (int64_t)B * T * C), lse(ctx, (int64_t)B * NH * T),
        dout(ctx, (int64_t)B * T * C, 4), dqkv(ctx, (int64_t)B * T * 3 * C);
    const double fwd = time_ms(ctx, 5, [&] {
      FL(fl_attention_forward(ctx, out.p, lse.p, qkv.p, nullptr, B, T, C, NH, 1));
    });
    const double bwd = time_ms(ctx, 5, [&] {
      FL(fl_attention_backward(ctx, dqkv.p, dout.p, qkv.p, out.p, lse.p, nullptr, B, T, C, NH, 1));
    });
    const int64_t rows = (int64_t)B * T * NH;
    const double naive = time_ms(ctx, 3, [&] {
      naive_attention_kernel<<<(unsigned)((rows + 127) / 128), 128>>>(out.p, qkv.p, B, T, C, NH);
      cuda_check(cudaGetLastError(), "naive_attention_kernel");
    });
    // causal: about half of the 4 B NH T^2 hs forward flops
    const double flops = 4.0 * B * NH * (double)T * T * (C / NH) / 2;
    std::printf("{\"bench\":\"attention\",\"B\":%d,\"T\":%d,\"C\":%d,\"NH\":%d,\"fwd_ms\":%.3f,\"bwd_ms\":%.3f,"
                "\"naive_fwd_ms\":%.3f,\"fwd_tflops\":%.2f,\"speedup_vs_naive\":%.1f}\n",
                B, T, C, NH, fwd, bwd, naive, flops / fwd / 1e9, naive / fwd);
    std::fflush(stdout);
  }
}

// ---- memory-bound ops ---------------------------------------------------------------------------

void bench_ops(fl_context *ctx) {
  {
    const int64_t N = 8192, C = 768;
    Dev x(ctx, N * C, 5), w(ctx, C, 6), b(ctx, C, 7), y(ctx, N * C), mean(ctx, N), rstd(ctx, N), dy(ctx, N * C, 8),
        dx(ctx, N * C), dw(ctx, C), db(ctx, C);
    const double f = time_ms(ctx, 20, [&] {
      FL(fl_layernorm_forward(ctx, y.p, mean.p, rstd.p, x.p, w.p, b.p, N, C, 1e-5f));
    });
    const double bw = time_ms(ctx, 20, [&] {
      FL(fl_layernorm_backward(ctx, dx.p, dw.p, db.p, dy.p, x.p, w.p, mean.p, rstd.p, N, C));
    });
    std::printf("{\"bench\":\"layernorm\",\"N\":%ld,\"C\":%ld,\"fwd_ms\":%.3f,\"fwd_GBps\":%.0f,\"bwd_ms\":%.3f,"
                "\"bwd_GBps\":%.0f}\n",
                (long)N, (long)C, f, 2.0 * N * C * 4 / f / 1e6, bw, 4.0 * N * C * 4 / bw / 1e6);
  }
  {
    const int64_t N = 8192, V = 50257;
    Dev logits(ctx, N * V, 9, 4.f), lse(ctx, N), tgt(ctx, N);
    std::vector<int32_t> t(N);
    for (int64_t i = 0; i < N; i++) t[i] = static_cast<int32_t>((i * 7919) % V);
    FL(fl_memcpy(ctx, tgt.p, t.data(), N * 4, 0));
    float mean = 0;
    int64_t count = 0;
    const double f = time_ms(ctx, 5, [&] {
      FL(fl_cross_entropy_forward(ctx, &mean, &count, nullptr, lse.p, logits.p, (const int32_t *)tgt.p, N, V, -100));
    });
    const double b = time_ms(ctx, 5, [&] {
      FL(fl_cross_entropy_backward(ctx, logits.p, logits.p, lse.p, (const int32_t *)tgt.p, N, V, -100, 1.f, count));
    });
    std::printf("{\"bench\":\"cross_entropy\",\"N\":%ld,\"V\":%ld,\"fwd_ms\":%.3f,\"fwd_GBps\":%.0f,\"bwd_ms\":%.3f,"
                "\"bwd_GBps\":%.0f}\n",
                (long)N, (long)V, f, 2.0 * N * V * 4 / f / 1e6, b, 2.0 * N * V * 4 / b / 1e6);
  }
  {
    const int64_t n = 124439808;  // GPT-2 124M
    Dev p(ctx, n, 10), g(ctx, n, 11), m(ctx, n), v(ctx, n);
    std::vector<int64_t> off = {0, n / 2, n};
    std::vector<uint8_t> dec = {1, 0};
    float norm = 0;
    const double tn = time_ms(ctx, 10, [&] { FL(fl_grad_norm(ctx, &norm, g.p, n)); });
    const double ta = time_ms(ctx, 10, [&] {
      FL(fl_adamw_step(ctx, p.p, g.p, m.p, v.p, n, off.data(), dec.data(), 2, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1.f));
    });
    std::printf("{\"bench\":\"optimizer\",\"n\":%ld,\"grad_norm_ms\":%.3f,\"grad_norm_GBps\":%.0f,\"adamw_ms\":%.3f,"
                "\"adamw_GBps\":%.0f}\n",
                (long)n, tn, 4.0 * n / tn / 1e6, ta, 28.0 * n / ta / 1e6);
  }
  std::fflush(stdout);
}

// ---- a synthetic GPT-2 124M training step -------------------------------------------------------

struct Gpt2Step {
  static constexpr int64_t V = 50257, C = 768, L = 12, NH = 12, Tmax = 1024;
  fl_context *ctx;
  int64_t B, T, BT;
  // parameter slab layout (offsets in floats)
  struct Seg { int64_t off, n; bool decay; };
  std::vector<Seg> segs;
  int64_t nparams = 0;
  int64_t wte, wpe, lnf_w, lnf_b;
  struct Layer { int64_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b; };
  std::vector<Layer> layers;
  Dev *params, *grads, *m, *v;
  // bf16 GEMMs: params16 mirrors params; in16 / d16 hold a GEMM's narrowed inputs (uint16_t in a
  // Dev of half as many floats); null in an fp32 step
  bool bf16;
  Dev *params16 = nullptr, *in16 = nullptr, *d16 = nullptr;
  // activations
  Dev *x0, *lnf, *lnf_mean, *lnf_rstd, *logits, *lse, *ids, *targets, *dx, *dtmp, *dbig, *dqkv;
  struct Act { Dev *x, *ln1, *m1, *r1, *qkv, *att, *lse, *x2, *ln2, *m2, *r2, *fc, *gelu; };
  std::vector<Act> acts;
  std::vector<int64_t> seg_off;
  std::vector<uint8_t> seg_dec;

  int64_t add(int64_t n, bool decay) {
    segs.push_back({nparams, n, decay});
    nparams += n;
    return nparams - n;
  }

  Gpt2Step(fl_context *c, int64_t batch, int64_t t, bool use_bf16)
      : ctx(c), B(batch), T(t), BT(batch * t), bf16(use_bf16) {
    wte = add(V * C, true);
    wpe = add(Tmax * C, true);
    for (int l = 0; l < L; l++) {
      Layer y;
      y.ln1_w = add(C, false); y.ln1_b = add(C, false);
      y.qkv_w = add(3 * C * C, true); y.qkv_b = add(3 * C, false);
      y.proj_w = add(C * C, true); y.proj_b = add(C, false);
      y.ln2_w = add(C, false); y.ln2_b = add(C, false);
      y.fc_w = add(4 * C * C, true); y.fc_b = add(4 * C, false);
      y.fc2_w = add(4 * C * C, true); y.fc2_b = add(C, false);
      layers.push_back(y);
    }
    lnf_w = add(C, false);
    lnf_b = add(C, false);
    for (const Seg &s : segs) {
      seg_off.push_back(s.off);
      seg_dec.push_back(s.decay);
    }
    seg_off.push_back(nparams);
    params = new Dev(ctx, nparams, 12, 0.02f);
    if (bf16) {
      params16 = new Dev(ctx, (nparams + 1) / 2);
      in16 = new Dev(ctx, BT * 4 * C / 2);
      d16 = new Dev(ctx, BT * V / 2 + 1);  // the largest GEMM input: dlogits (BT, V)
    }
    grads = new Dev(ctx, nparams);
    m = new Dev(ctx, nparams);
    v = new Dev(ctx, nparams);
    // layer norm weights = 1 would be nicer; 0.02-scale random weights keep activations small
    x0 = new Dev(ctx, BT * C);
    lnf = new Dev(ctx, BT * C); lnf_mean = new Dev(ctx, BT); lnf_rstd = new Dev(ctx, BT);
    logits = new Dev(ctx, BT * V); lse = new Dev(ctx, BT);
    ids = new Dev(ctx, BT); targets = new Dev(ctx, BT);
    dx = new Dev(ctx, BT * C); dtmp = new Dev(ctx, BT * C); dbig = new Dev(ctx, BT * 4 * C); dqkv = new Dev(ctx, BT * 3 * C);
    for (int l = 0; l < L; l++) {
      Act a;
      a.x = new Dev(ctx, BT * C); a.ln1 = new Dev(ctx, BT * C); a.m1 = new Dev(ctx, BT); a.r1 = new Dev(ctx, BT);
      a.qkv = new Dev(ctx, BT * 3 * C); a.att = new Dev(ctx, BT * C); a.lse = new Dev(ctx, B * NH * T);
      a.x2 = new Dev(ctx, BT * C); a.ln2 = new Dev(ctx, BT * C); a.m2 = new Dev(ctx, BT); a.r2 = new Dev(ctx, BT);
      a.fc = new Dev(ctx, BT * 4 * C); a.gelu = new Dev(ctx, BT * 4 * C);
      acts.push_back(a);
    }
    std::vector<int32_t> h(BT), tg(BT);
    for (int64_t i = 0; i < BT; i++) {
      h[i] = static_cast<int32_t>((i * 2654435761u) % V);
      tg[i] = static_cast<int32_t>(((i + 1) * 2654435761u) % V);
    }
    FL(fl_memcpy(ctx, ids->p, h.data(), BT * 4, 0));
    FL(fl_memcpy(ctx, targets->p, tg.data(), BT * 4, 0));
  }

  ~Gpt2Step() {
    for (Dev *d : {params, grads, m, v, x0, lnf, lnf_mean, lnf_rstd, logits, lse, ids, targets, dx, dtmp, dbig, dqkv,
                   params16, in16, d16})
      delete d;
    for (Act &a : acts)
      for (Dev *d : {a.x, a.ln1, a.m1, a.r1, a.qkv, a.att, a.lse, a.x2, a.ln2, a.m2, a.r2, a.fc, a.gelu}) delete d;
  }
  Gpt2Step(const Gpt2Step &) = delete;
  Gpt2Step &operator=(const Gpt2Step &) = delete;

  float *P(int64_t off) const { return params->p + off; }
  float *G(int64_t off) const { return grads->p + off; }
  const int32_t *I(Dev *d) const { return reinterpret_cast<const int32_t *>(d->p); }

  const uint16_t *P16(int64_t off) const { return reinterpret_cast<const uint16_t *>(params16->p) + off; }
  uint16_t *narrow(Dev *dst, const float *src, int64_t n) {
    uint16_t *d = reinterpret_cast<uint16_t *>(dst->p);
    FL(fl_f32_to_bf16(ctx, d, src, n));
    return d;
  }
  // C(M, N) = alpha op(A) op(B) + beta C (+ bias), A and B fp32 (params: a slab offset, else an
  // activation); in a bf16 step A goes through d16 and B through in16 (or params16)
  void gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bm,
            int64_t b_param, int64_t ldb, float beta, const float *bias, float *Cm, int64_t ldc) {
    const float *Bf = b_param >= 0 ? P(b_param) : Bm;
    if (!bf16) {
      if (bias != nullptr) FL(fl_sgemm_bias(ctx, ta, tb, M, N, K, A, lda, Bf, ldb, bias, Cm, ldc));
      else FL(fl_sgemm(ctx, ta, tb, M, N, K, 1.f, A, lda, Bf, ldb, beta, Cm, ldc));
      return;
    }
    const uint16_t *a16 = narrow(d16, A, (ta ? K : M) * lda);
    const uint16_t *b16 = b_param >= 0 ? P16(b_param) : narrow(in16, Bm, (tb ? N : K) * ldb);
    FL(fl_gemm_bf16(ctx, ta, tb, M, N, K, 1.f, a16, lda, b16, ldb, beta, bias, Cm, ldc));
  }
  // out(M, N) = inp(M, K) W(N, K)^T + b
  void linear(float *out, const float *inp, int64_t w, int64_t b, int64_t M, int64_t N, int64_t K) {
    gemm(0, 1, M, N, K, inp, K, nullptr, w, K, 0.f, P(b), out, N);
  }
  // dinp (= or +=) dout W; dW += dout^T inp; db += colsum(dout)
  void linear_backward(float *dinp, float dinp_beta, const float *dout, const float *inp, int64_t w, int64_t b,
                       int64_t M, int64_t N, int64_t K) {
    gemm(0, 0, M, K, N, dout, N, nullptr, w, K, dinp_beta, nullptr, dinp, K);
    gemm(1, 0, N, K, M, dout, N, inp, -1, K, 1.f, nullptr, G(w), K);
    FL(fl_bias_backward(ctx, G(b), dout, M, N));
  }

  float step(int64_t t) {
    const float eps = 1e-5f;
    FL(fl_memset_zero(ctx, grads->p, nparams * 4));
    if (bf16) narrow(params16, params->p, nparams);  // this step's bf16 weights
    FL(fl_embedding_forward(ctx, acts[0].x->p, I(ids), P(wte), P(wpe), B, T, C));
    for (int l = 0; l < L; l++) {
      const Layer &y = layers[l];
      Act &a = acts[l];
      FL(fl_layernorm_forward(ctx, a.ln1->p, a.m1->p, a.r1->p, a.x->p, P(y.ln1_w), P(y.ln1_b), BT, C, eps));
      linear(a.qkv->p, a.ln1->p, y.qkv_w, y.qkv_b, BT, 3 * C, C);
      FL(fl_attention_forward(ctx, a.att->p, a.lse->p, a.qkv->p, nullptr, B, T, C, NH, 1));
      linear(dtmp->p, a.att->p, y.proj_w, y.proj_b, BT, C, C);
      FL(fl_residual_layernorm_forward(ctx, a.x2->p, a.ln2->p, a.m2->p, a.r2->p, a.x->p, dtmp->p, P(y.ln2_w),
                                       P(y.ln2_b), BT, C, eps));
      linear(a.fc->p, a.ln2->p, y.fc_w, y.fc_b, BT, 4 * C, C);
      FL(fl_gelu_forward(ctx, a.gelu->p, a.fc->p, BT * 4 * C));
      linear(dtmp->p, a.gelu->p, y.fc2_w, y.fc2_b, BT, C, 4 * C);
      float *next = l + 1 < L ? acts[l + 1].x->p : x0->p;
      FL(fl_add(ctx, next, a.x2->p, dtmp->p, BT * C));
    }
    FL(fl_layernorm_forward(ctx, lnf->p, lnf_mean->p, lnf_rstd->p, x0->p, P(lnf_w), P(lnf_b), BT, C, eps));
    gemm(0, 1, BT, V, C, lnf->p, C, nullptr, wte, C, 0.f, nullptr, logits->p, V);
    float loss = 0;
    int64_t count = 0;
    FL(fl_cross_entropy_forward(ctx, &loss, &count, nullptr, lse->p, logits->p, I(targets), BT, V, -100));
    // backward
    FL(fl_cross_entropy_backward(ctx, logits->p, logits->p, lse->p, I(targets), BT, V, -100, 1.f, count));
    gemm(0, 0, BT, C, V, logits->p, V, nullptr, wte, C, 0.f, nullptr, dtmp->p, C);  // dlnf
    gemm(1, 0, V, C, BT, logits->p, V, lnf->p, -1, C, 1.f, nullptr, G(wte), C);     // dwte (tied)
    FL(fl_memset_zero(ctx, dx->p, BT * C * 4));
    FL(fl_layernorm_backward(ctx, dx->p, G(lnf_w), G(lnf_b), dtmp->p, x0->p, P(lnf_w), lnf_mean->p, lnf_rstd->p,
                             BT, C));
    for (int l = L - 1; l >= 0; l--) {
      const Layer &y = layers[l];
      Act &a = acts[l];
      // dx is the gradient of the block output x2 + mlp: it flows to x2 and into the MLP
      linear_backward(dbig->p, 0.f, dx->p, a.gelu->p, y.fc2_w, y.fc2_b, BT, C, 4 * C);  // dgelu
      FL(fl_memset_zero(ctx, a.gelu->p, BT * 4 * C * 4));  // reuse as dfc
      FL(fl_gelu_backward(ctx, a.gelu->p, a.fc->p, dbig->p, BT * 4 * C));
      linear_backward(dtmp->p, 0.f, a.gelu->p, a.ln2->p, y.fc_w, y.fc_b, BT, 4 * C, C);  // dln2
      FL(fl_layernorm_backward(ctx, dx->p, G(y.ln2_w), G(y.ln2_b), dtmp->p, a.x2->p, P(y.ln2_w), a.m2->p, a.r2->p,
                               BT, C));  // dx2 = dx + LN2'
      linear_backward(dtmp->p, 0.f, dx->p, a.att->p, y.proj_w, y.proj_b, BT, C, C);  // datt
      FL(fl_memset_zero(ctx, dqkv->p, BT * 3 * C * 4));
      FL(fl_attention_backward(ctx, dqkv->p, dtmp->p, a.qkv->p, a.att->p, a.lse->p, nullptr, B, T, C, NH, 1));
      linear_backward(dtmp->p, 0.f, dqkv->p, a.ln1->p, y.qkv_w, y.qkv_b, BT, 3 * C, C);  // dln1
      FL(fl_layernorm_backward(ctx, dx->p, G(y.ln1_w), G(y.ln1_b), dtmp->p, a.x->p, P(y.ln1_w), a.m1->p, a.r1->p,
                               BT, C));  // dx = dx2 + LN1'
    }
    FL(fl_embedding_backward(ctx, G(wte), G(wpe), dx->p, I(ids), B, T, C));
    float norm = 0;
    FL(fl_grad_norm(ctx, &norm, grads->p, nparams));
    const float clip = norm > 1.f ? 1.f / norm : 1.f;
    FL(fl_adamw_step(ctx, params->p, grads->p, m->p, v->p, nparams, seg_off.data(), seg_dec.data(),
                     static_cast<int64_t>(seg_dec.size()), 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, t, clip));
    return loss;
  }
};

void bench_train(fl_context *ctx, int64_t B, int64_t T, const char *gemms, bool bf16 = false) {
  Gpt2Step s(ctx, B, T, bf16);
  const float first = s.step(1);
  int64_t t = 2;
  const double ms = time_ms(ctx, 3, [&] { s.step(t++); });
  const float last = s.step(t);
  std::printf("{\"bench\":\"train_step\",\"model\":\"gpt2-124M (synthetic, C API ops)\",\"gemms\":\"%s\",\"params\":%ld,"
              "\"B\":%ld,\"T\":%ld,\"step_ms\":%.1f,\"tokens_per_s\":%.0f,\"loss_first\":%.4f,\"loss_last\":%.4f}\n",
              gemms, (long)s.nparams, (long)B, (long)T, ms, B * T / ms * 1e3, first, last);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  const std::string only = argc > 1 ? argv[1] : "all";
  int avail = 0;
  FL(fl_backend_available(FL_BACKEND_CUDA, &avail));
  if (!avail) {
    std::fprintf(stderr, "no CUDA device available to libfuselm\n");
    return 2;
  }
  fl_context *fp32 = make_context(false);
  fl_context *tf32 = make_context(true);
  cudaDeviceProp prop;
  cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("{\"bench\":\"device\",\"name\":\"%s\",\"sm\":%d%d,\"sms\":%d}\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);
  if (only == "all" || only == "gemm") bench_gemm(fp32, tf32);
  if (only == "all" || only == "attention") bench_attention(fp32);
  if (only == "all" || only == "ops") bench_ops(fp32);
  if (only == "all" || only == "train") {
    bench_train(fp32, 8, 1024, "fp32");
    bench_train(tf32, 8, 1024, "tf32");
    bench_train(fp32, 8, 1024, "bf16", true);
  }
  fl_context_destroy(tf32);
  fl_context_destroy(fp32);
  return 0;
}
