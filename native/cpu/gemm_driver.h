// The GEMM drivers of gemm.cpp for the other GEMM entry points of the CPU backend (gemm_bf16.cpp:
// fl_sgemm_bf16w, fl_gemm_bf16, fl_gemm_mixed, fl_gemm_bias_act). Baseline code only: included by
// files compiled for baseline x86-64, never by an ISA file (Scratch below is inline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "gemm_kernels.h"
#include "internal.h"
#include "pointwise_kernels.h"

namespace fl {
namespace cpu {

// A 64-byte aligned buffer, grown on demand, freed with its owner (the GEMM files keep them
// thread_local: one per calling thread, freed at thread exit).
struct Scratch {
  float *data = nullptr;
  size_t capacity = 0;  // floats
  Scratch() = default;
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  ~Scratch() { std::free(data); }
  float *get(size_t floats) {
    if (floats > capacity) {
      std::free(data);
      data = nullptr;
      capacity = 0;
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float *>(std::aligned_alloc(64, bytes));
      if (data == nullptr) throw std::bad_alloc();
      capacity = floats;
    }
    return data;
  }
};

namespace gemm_internal {

using gemm_detail::GemmKernel;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A float32 operand that the packers round to bf16 (to nearest, ties to even: f32_to_bf16_rne) as
// they read it: fl_gemm_mixed's float32 A or B, passed as a pointer to its floats.
struct RoundedF32 {
  float v;
};

const GemmKernel &fp32_kernel(int isa);  // the level's fp32 kernel (fl_sgemm's)
const GemmKernel &bf16_kernel(int isa);  // fl_gemm_bf16's packed kernel (k pairs or widening)
int64_t small_m_rows();                  // M <= this takes the small-M path
float *scratch(size_t floats);           // the calling thread's GEMM scratch (the packed blocks)
// C = beta * C + bias when nothing is multiplied (C empty, K == 0 or alpha == 0): true, C final.
bool no_product(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                const float *bias, float *C, int64_t ldc);
// fl_sgemm with an optional bias.
void gemm(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
          const float *bias, float *C, int64_t ldc);
// The small-M driver (B float or uint16_t bf16); uses scratch() only when trans_a.
template <typename BT>
void small_m(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b, int64_t M,
             int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const BT *B,
             int64_t ldb, float beta, const float *bias, float *C, int64_t ldc);
// The packed driver with kernel kr; act (FL_ACT_*) applied by pw after the last K block. Element
// types (AT, BT): (float, float), (uint16_t, uint16_t), and with a k-pair kr any mix of uint16_t
// and RoundedF32.
template <typename AT, typename BT>
void packed(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b, int64_t M,
            int64_t N, int64_t K, float alpha, const AT *A, int64_t lda, const BT *B, int64_t ldb,
            float beta, const float *bias, float *C, int64_t ldc, int act,
            const PointwiseKernels *pw);

}  // namespace gemm_internal
}  // namespace cpu
}  // namespace fl
