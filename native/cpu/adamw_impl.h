// AdamW / gradient-norm kernel bodies, included inside one namespace per ISA (see adamw_kernels.h).
// One pass: each element's param, grad, m and v are read once and param, m, v written once.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=off")
#endif

#include "pointwise_math.h"

// The evaluation order of PyTorch's single-tensor AdamW (torch.optim.AdamW, foreach=False):
//   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
//   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
// which is p -= lr * mhat / (sqrt(vhat) + eps) with mhat = m/(1-b1^t), vhat = v/(1-b2^t).
// Pieces of 256 elements (1 KiB of scratch, L1-resident): a loop for the moments, the square roots
// through fl_sqrt16 (see pointwise_math.h), a loop for the update; the compiler vectorises both loops.
static void adamw(float *__restrict params, const float *__restrict grads, float *__restrict m,
                  float *__restrict v, int64_t n, float decay, const AdamWStep &s) {
  const float b1 = s.beta1, omb1 = s.one_minus_beta1, b2 = s.beta2, omb2 = s.one_minus_beta2;
  const float step = s.step_size, bc2 = s.bc2_sqrt, eps = s.eps, gs = s.grad_scale;
  constexpr int64_t kPiece = 256;
  float sq[kPiece];
  for (int64_t i0 = 0; i0 < n; i0 += kPiece) {
    const int64_t len = n - i0 < kPiece ? n - i0 : kPiece;
    float *__restrict p = params + i0;
    const float *__restrict g = grads + i0;
    float *__restrict mm = m + i0;
    float *__restrict vv = v + i0;
    for (int64_t j = 0; j < len; j++) {
      const float gj = g[j] * gs;
      mm[j] = b1 * mm[j] + omb1 * gj;
      vv[j] = b2 * vv[j] + omb2 * (gj * gj);
      sq[j] = vv[j];
    }
    int64_t j = 0;
    for (; j + 16 <= len; j += 16) fl_sqrt16(sq + j);
    for (; j < len; j++) sq[j] = __builtin_sqrtf(sq[j]);
    for (int64_t k = 0; k < len; k++) p[k] = p[k] * decay - step * (mm[k] / (sq[k] / bc2 + eps));
  }
}

static double sum_squares(const float *grads, int64_t n) {
  double acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) {
      const double g = static_cast<double>(grads[i + j]);
      acc[j] += g * g;  // exact product (24-bit mantissas), so FMA contraction cannot change it
    }
  double s = 0.0;
  for (; i < n; i++) {
    const double g = static_cast<double>(grads[i]);
    s += g * g;
  }
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}

const AdamWKernels kernels = {adamw, sum_squares};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
