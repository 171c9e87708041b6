// bf16 <-> float32 for the CPU backend. A bf16 value is the high 16 bits of a float32 (sign, 8
// exponent bits, 7 mantissa bits), held in a uint16_t. Widening is exact (a shift); narrowing rounds
// to nearest, ties to even, as hardware conversions (AVX512_BF16 vcvtneps2bf16, CUDA
// __float2bfloat16_rn) do: finite values beyond the largest bf16 round to infinity, infinities stay,
// NaN stays a (quiet) NaN of the same sign.
#pragma once

#include <cstdint>
#include <cstring>

namespace fl {
namespace cpu {

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t f32_to_bf16_rne(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: keep quiet
  u += 0x7fffu + ((u >> 16) & 1u);  // carries into the kept half when above (or at, if odd) half
  return uint16_t(u >> 16);
}

}  // namespace cpu
}  // namespace fl
