// Private to the CPU attention kernels (attention.cpp, attention_avx2.cpp, attention_avx512.cpp).
//
// The kernel body is written once in attention_kernel.h and compiled three times, each time inside
// its own namespace (attn_generic in attention.cpp, attn_avx2, attn_avx512) with that ISA's vector
// primitives. Only plain data (AttnArgs) and these declarations are shared between the TUs: no inline
// function or template crosses an ISA boundary, so the linker can never hand an AVX2-compiled copy to
// a baseline caller.
#pragma once

#include <cstdint>

#include "attention_dropout.h"

namespace fl {
namespace cpu {

// Query block (Bq) and key block (Bk) sizes. Per-thread tiles are Bq x Bk floats.
#ifndef FL_ATTN_BQ
#define FL_ATTN_BQ 64
#endif
#ifndef FL_ATTN_BK
#define FL_ATTN_BK 64
#endif
constexpr int64_t kAttnBlockQ = FL_ATTN_BQ;
constexpr int64_t kAttnBlockK = FL_ATTN_BK;

// Everything a task needs. Shapes as in fuselm.h; hs = C / NH, hsp = hs rounded up to the vector width.
struct AttnArgs {
  const float *qkv;          // (B, T, 3C)
  const int32_t *key_mask;   // (B, T) or NULL
  float *out;                // forward: (B, T, C)
  float *lse;                // forward: (B, NH, T), may be NULL
  float *dqkv;               // backward: (B, T, 3C), += gradient
  const float *dout;         // backward: (B, T, C)
  const float *fout;         // backward: forward's out (B, T, C)
  const float *flse;         // backward: forward's lse (B, NH, T)
  int64_t B, T, C, NH, hs, hsp;
  int64_t qgroup;            // forward: query blocks per task (each key block is packed once per task)
  int causal;
  float scale;               // 1 / sqrt(hs)
  // attention-probability dropout (attention_dropout.h); all unused when !dropout
  bool dropout;
  float keep_scale;          // 1 / (1 - p)
  uint32_t drop_threshold;
  uint64_t drop_key;
};

// Backward work split (see attention.cpp): one task per (b, h) doing everything, or two passes
// (dK/dV per (b, h, key block), then dQ per (b, h, query block)) when there are few heads.
enum AttnBwdMode { kAttnBwdPerHead = 0, kAttnBwdKeyBlocks = 1, kAttnBwdQueryBlocks = 2 };

#define FL_ATTN_DECLARE_ISA(ns)                                                                    \
  namespace ns {                                                                                   \
  int64_t vector_width();                                                                          \
  int64_t forward_scratch_floats(const AttnArgs &a);                                               \
  int64_t backward_scratch_floats(const AttnArgs &a, int mode);                                    \
  /* tasks [begin, end) of (b, h, group of a.qgroup query blocks), row-major */                                       \
  void forward_tasks(const AttnArgs &a, float *scratch, int64_t begin, int64_t end);               \
  /* mode 0: tasks (b, h); mode 1: (b, h, key block); mode 2: (b, h, query block) */               \
  void backward_tasks(const AttnArgs &a, float *scratch, int mode, int64_t begin, int64_t end);   \
  }

FL_ATTN_DECLARE_ISA(attn_generic)
#if defined(FUSELM_HAVE_X86_SIMD)
FL_ATTN_DECLARE_ISA(attn_avx2)
FL_ATTN_DECLARE_ISA(attn_avx512)
#endif

}  // namespace cpu
}  // namespace fl
