// CPU backend: float32 <-> bf16 conversion of whole arrays (once, when a model's weights are
// narrowed for generation; bound by memory, written as plain loops the compiler vectorises).
#include <algorithm>
#include <cstdint>

#include "bf16.h"
#include "internal.h"

namespace fl {
namespace cpu {

void f32_to_bf16(const CpuContext &ctx, uint16_t *dst, const float *src, int64_t n) {
  parallel_for(ctx, n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) dst[i] = f32_to_bf16_rne(src[i]);
  });
}

void bf16_to_f32(const CpuContext &ctx, float *dst, const uint16_t *src, int64_t n) {
  parallel_for(ctx, n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) dst[i] = cpu::bf16_to_f32(src[i]);
  });
}

// gemm_bf16 (fl_gemm_bf16) lives in gemm.cpp, with the packed GEMM driver it shares with sgemm.

}  // namespace cpu
}  // namespace fl
