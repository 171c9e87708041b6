// Fused multi-head attention on the CPU backend: flash-attention style forward and backward.
//
// The kernel body lives in attention_kernel.h and is compiled three times: here with a portable
// 4-lane vector type (namespace attn_generic), in attention_avx2.cpp and in attention_avx512.cpp.
// This file picks the build for ctx.isa, splits the work into tasks and gives every chunk of tasks
// its own scratch tiles. Memory: per running chunk O(Bq*Bk + (Bq+Bk)*hs) floats forward, plus
// T*hs for the per-head dQ accumulator backward; never anything of size T x T.
//
// Semantics (fuselm.h): a query row with no visible key (all keys masked, or causal and all of
// 0..t masked) gets out = 0 and lse = -inf; backward gives it (and every masked key) zero gradient.
// lse may be NULL in the forward (inference).
#include <math.h>

#include <cmath>
#include <memory>

#include "fuselm.h"
#include "internal.h"
#include "attention_impl.h"

namespace fl {
namespace cpu {

namespace attn_generic {
namespace {

// Portable vector of 4 floats; plain loops the compiler may vectorise for the baseline ISA.
// FL_ATTN_GENERIC_W=16 (or 8) builds the generic path with the AVX-512 (AVX2) tile geometry, which
// lets the 16-lane padding and blocking logic be tested on a machine without AVX-512.
#ifndef FL_ATTN_GENERIC_W
#define FL_ATTN_GENERIC_W 4
#endif
constexpr int W = FL_ATTN_GENERIC_W;
struct V {
  float v[W];
};
inline V vload(const float *p) {
  V r;
  for (int i = 0; i < W; i++) r.v[i] = p[i];
  return r;
}
inline void vstore(float *p, V a) {
  for (int i = 0; i < W; i++) p[i] = a.v[i];
}
inline V vset1(float x) {
  V r;
  for (int i = 0; i < W; i++) r.v[i] = x;
  return r;
}
inline V vzero() { return vset1(0.f); }
inline V vfma(V a, V b, V c) {
  for (int i = 0; i < W; i++) c.v[i] += a.v[i] * b.v[i];
  return c;
}
inline V vadd(V a, V b) {
  for (int i = 0; i < W; i++) a.v[i] += b.v[i];
  return a;
}
inline V vsub(V a, V b) {
  for (int i = 0; i < W; i++) a.v[i] -= b.v[i];
  return a;
}
inline V vmul(V a, V b) {
  for (int i = 0; i < W; i++) a.v[i] *= b.v[i];
  return a;
}
inline V vmax(V a, V b) {
  for (int i = 0; i < W; i++) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
  return a;
}
inline float vhsum(V a) {
  float s = 0.f;
  for (int i = 0; i < W; i++) s += a.v[i];
  return s;
}
inline float vhmax(V a) {
  float m = a.v[0];
  for (int i = 1; i < W; i++) m = a.v[i] > m ? a.v[i] : m;
  return m;
}
inline V vexp(V a) {  // expf(-inf) == 0: masked scores contribute nothing
  for (int i = 0; i < W; i++) a.v[i] = expf(a.v[i]);
  return a;
}

}  // namespace

#include "attention_kernel.h"

}  // namespace attn_generic

namespace {

struct IsaKernels {
  int64_t (*vector_width)();
  int64_t (*forward_scratch_floats)(const AttnArgs &);
  int64_t (*backward_scratch_floats)(const AttnArgs &, int);
  void (*forward_tasks)(const AttnArgs &, float *, int64_t, int64_t);
  void (*backward_tasks)(const AttnArgs &, float *, int, int64_t, int64_t);
};

#define FL_ATTN_KERNELS(ns)                                                                    \
  IsaKernels {                                                                                 \
    ns::vector_width, ns::forward_scratch_floats, ns::backward_scratch_floats,                 \
        ns::forward_tasks, ns::backward_tasks                                                  \
  }

IsaKernels kernels_for(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512) return FL_ATTN_KERNELS(attn_avx512);
  if (isa >= FL_ISA_AVX2) return FL_ATTN_KERNELS(attn_avx2);
#endif
  (void)isa;
  return FL_ATTN_KERNELS(attn_generic);
}

AttnArgs make_args(const IsaKernels &k, const float *qkv, const int32_t *key_mask, int64_t B,
                   int64_t T, int64_t C, int64_t NH, int causal, float dropout_p,
                   uint64_t dropout_seed) {
  AttnArgs a{};
  a.qkv = qkv;
  a.key_mask = key_mask;
  a.B = B;
  a.T = T;
  a.C = C;
  a.NH = NH;
  a.hs = C / NH;
  const int64_t w = k.vector_width();
  a.hsp = (a.hs + w - 1) / w * w;
  a.causal = causal;
  a.scale = a.hs > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.hs))) : 1.f;
  a.dropout = dropout_p > 0.f;
  a.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(dropout_p)));
  a.drop_threshold = dropout_threshold(dropout_p);
  a.drop_key = dropout_key(dropout_seed);
  return a;
}

// Per-chunk scratch: uninitialised in release builds (the kernels write before they read);
// NaN-filled in debug builds so that a read of an unwritten tile shows up in the tests.
std::unique_ptr<float[]> scratch(int64_t floats) {
  std::unique_ptr<float[]> p(new float[floats > 0 ? floats : 1]);
#ifndef NDEBUG
  for (int64_t i = 0; i < floats; i++) p[i] = std::nanf("");
#endif
  return p;
}

}  // namespace

void attention_forward(const CpuContext &ctx, float *out, float *lse, const float *qkv,
                       const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                       int causal, float dropout_p, uint64_t dropout_seed) {
  if (B == 0 || T == 0) return;
  const IsaKernels k = kernels_for(ctx.isa);
  AttnArgs a = make_args(k, qkv, key_mask, B, T, C, NH, causal, dropout_p, dropout_seed);
  a.out = out;
  a.lse = lse;
  // Up to 4 query blocks per task (fewer packings of each key block), but keep >= 4 tasks per thread.
  const int64_t nqb = (T + kAttnBlockQ - 1) / kAttnBlockQ;
  a.qgroup = nqb < 4 ? nqb : 4;
  while (a.qgroup > 1 && B * NH * ((nqb + a.qgroup - 1) / a.qgroup) < 4 * int64_t{ctx.threads})
    a.qgroup--;
  const int64_t tasks = B * NH * ((nqb + a.qgroup - 1) / a.qgroup);
  const int64_t floats = k.forward_scratch_floats(a);
  parallel_for(ctx, tasks, 1, [&](int64_t begin, int64_t end) {
    auto ws = scratch(floats);
    k.forward_tasks(a, ws.get(), begin, end);
  });
}

void attention_backward(const CpuContext &ctx, float *dqkv, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int32_t *key_mask, int64_t B,
                        int64_t T, int64_t C, int64_t NH, int causal, float dropout_p,
                        uint64_t dropout_seed) {
  if (dqkv == nullptr || B == 0 || T == 0 || C == 0) return;  // C == 0: dqkv has no elements
  const IsaKernels k = kernels_for(ctx.isa);
  AttnArgs a = make_args(k, qkv, key_mask, B, T, C, NH, causal, dropout_p, dropout_seed);
  a.dqkv = dqkv;
  a.dout = dout;
  a.fout = out;
  a.flse = lse;
  const int64_t heads = B * NH;
  const int64_t nqb = (T + kAttnBlockQ - 1) / kAttnBlockQ, nkb = (T + kAttnBlockK - 1) / kAttnBlockK;
  auto run = [&](int mode, int64_t tasks) {
    const int64_t floats = k.backward_scratch_floats(a, mode);
    parallel_for(ctx, tasks, 1, [&](int64_t begin, int64_t end) {
      auto ws = scratch(floats);
      k.backward_tasks(a, ws.get(), mode, begin, end);
    });
  };
  if (heads >= 2 * static_cast<int64_t>(ctx.threads)) {
    // Enough heads to keep every thread busy: one task per (b, h) owns all of that head's dq, dk, dv
    // columns, so there are no write races and S / dP are computed once per tile.
    run(kAttnBwdPerHead, heads);
  } else {
    // Few heads: parallelise within a head. Pass 1 owns key blocks (dK, dV), pass 2 owns query
    // blocks (dQ); pass 2 recomputes the tiles' P and dP, the price of having no shared writes.
    run(kAttnBwdKeyBlocks, heads * nkb);
    run(kAttnBwdQueryBlocks, heads * nqb);
  }
}

}  // namespace cpu
}  // namespace fl
