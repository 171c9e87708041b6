// int8 weights for generation (fuselm.h "int8 weights"): Q8_0 blocks, their packed form for the
// decode kernel, and the int8 activations the kernel multiplies them with.
//
// Q8_0 (llama.cpp's block_q8_0): 32 weights of one output as {fp16 d; int8 q[32]}, value d * q.
//
// Packed form (fl_q8_0_repack; the llama.cpp "_R8"/interleaved idea, 16 columns wide so one
// AVX-512 register holds one 4-byte run of 16 columns): the N columns in groups of 16 (the last
// one padded with zero scales and zero weights); group g holds K/32 chunks of kChunkBytes, in
// k order, and the groups follow each other, so a thread that owns a range of groups streams one
// contiguous range of memory, every cache line used once. A chunk (block b of group g):
//   bytes [0, 32)    16 fp16 scales d, column 16 g + c at c
//   bytes [32, 544)  8 runs r of 64 bytes; in run r, column c's 4 bytes are at 4 c .. 4 c + 3 and
//                    hold q[4 r .. 4 r + 3] of that column's block b, each stored as q ^ 0x80
//                    (q + 128, an unsigned byte: the operand VNNI's vpdpbusd multiplies unsigned).
// So vpdpbusd(acc, run, broadcast(4 bytes of x)) adds, per column, the 4 products (q + 128) * xq,
// and the sum over a block is dot(q, xq) + 128 * sum(xq): the kernel subtracts 128 * sum(xq) per
// block, one number for all columns.
//
// Activations: each row of X is quantized per block of 32 (quantize_activations): dx = max|x| / 127
// (float32), xq = round(x / dx) in [-127, 127], and sx = sum(xq). A block contributes
// float(dot(q, xq)) * (d * dx) to its column, fused-multiply-added in block order: every kernel
// computes the same integer dots and the same float32 operations, so the result is bit-identical
// on every ISA and thread count, and to the reference backend.
#pragma once

#include <cstdint>
#include <cstring>

namespace fl {
namespace q8 {

constexpr int64_t kBlock = 32;
constexpr int64_t kGroup = 16;
constexpr int64_t kChunkBytes = 32 + kGroup * kBlock;  // 544
constexpr int64_t kBlockBytes = 34;                     // one Q8_0 block

inline int64_t groups(int64_t n) { return (n + kGroup - 1) / kGroup; }

// IEEE half <-> float. half_to_float is exact; float_to_half rounds to nearest, ties to even.
inline float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        man <<= 1;
        e++;
      } while (!(man & 0x400));
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds past 65504: infinity
  if (a < 0x38800000u) {                                 // below 2^-14: subnormal half (or 0)
    if (a < 0x33000000u) return uint16_t(sign);          // below half the smallest subnormal
    uint32_t e = a >> 23, man = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;  // 14..24
    uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1))) r++;
    return uint16_t(sign | r);
  }
  uint32_t r = ((a >> 13) - ((127 - 15) << 10));
  uint32_t rem = a & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
  return uint16_t(sign | r);
}

// llama.cpp's rounding of x / d (roundf: halves away from zero).
inline int8_t round_q(float v) { return int8_t(__builtin_roundf(v)); }

// xq (K), dx (K/32), sx (K/32) for one row x of K floats (K % 32 == 0).
inline void quantize_activations(const float *x, int64_t k, int8_t *xq, float *dx, int32_t *sx) {
  for (int64_t b = 0; b < k / kBlock; b++) {
    const float *xb = x + b * kBlock;
    float amax = 0.f;
    for (int i = 0; i < kBlock; i++) {
      float a = __builtin_fabsf(xb[i]);
      amax = a > amax ? a : amax;
    }
    const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    int32_t s = 0;
    for (int i = 0; i < kBlock; i++) {
      xq[b * kBlock + i] = round_q(xb[i] * id);
      s += xq[b * kBlock + i];
    }
    dx[b] = d;
    sx[b] = s;
  }
}

// The per-row activations of up to kRows rows, as the kernels read them.
constexpr int kRows = 4;
struct Activations {
  const int8_t *xq[kRows];
  const float *dx[kRows];
  const int32_t *sx[kRows];
};

// One kernel: columns of groups [g0, g1) for rows 0..rows-1 (rows <= kRows), y row stride ldy.
using Kernel = void (*)(int rows, const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                        int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy);

void kernel_generic(int rows, const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                    int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy);
#if defined(FUSELM_HAVE_X86_SIMD)
void kernel_avx2(int rows, const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                 int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy);
void kernel_avx512_vnni(int rows, const Activations &a, int64_t k, int64_t n,
                        const uint8_t *packed, int64_t g0, int64_t g1, const float *bias, float *y,
                        int64_t ldy);
#endif

// Writes 16 column results of group g (columns beyond n dropped), adding the bias.
inline void store_group(const float *acc, int64_t g, int64_t n, const float *bias, float *yrow) {
  const int64_t c0 = g * kGroup;
  const int64_t cols = n - c0 < kGroup ? n - c0 : kGroup;
  for (int64_t c = 0; c < cols; c++) yrow[c0 + c] = bias ? acc[c] + bias[c0 + c] : acc[c];
}

}  // namespace q8
}  // namespace fl
