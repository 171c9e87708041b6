// Layer norm kernel bodies. Included once by layernorm.cpp (generic), layernorm_avx2.cpp and
// layernorm_avx512.cpp, each time inside its own namespace, after layernorm_kernels.h; the compiler
// vectorises the plain loops below for that TU's instruction set.
//
// Numerics: two passes over each row (the row is in L1 for any realistic C): the mean, then the
// mean of squared deviations from it, both accumulated in double over 16 independent lanes. The
// second pass on deviations avoids the E[x^2] - E[x]^2 cancellation when |mean| >> std (residual
// streams), and double accumulation makes the statistics exact to float precision for any C, at a
// cost that stays under the memory traffic (the normalising pass is float). rstd = 1/sqrt(var+eps)
// with the biased variance, as PyTorch.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=off")
#endif

#include "pointwise_math.h"

// out = (x - mean) * rstd * w + b for one row; out may alias x.
static inline void fl_ln_row(float *out, float *mean, float *rstd, const float *x, const float *w,
                             const float *b, int64_t C, float eps) {
  const double md = fl_sum_d(x, C) / static_cast<double>(C);
  const double var = fl_sumsq_dev_d(x, md, C) / static_cast<double>(C);
  const float m = static_cast<float>(md);
  const float s = static_cast<float>(1.0 / __builtin_sqrt(var + static_cast<double>(eps)));
  for (int64_t i = 0; i < C; i++) out[i] = (x[i] - m) * s * w[i] + b[i];
  if (mean != nullptr) *mean = m;
  if (rstd != nullptr) *rstd = s;
}

static void forward_rows(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                         const float *bias, int64_t r0, int64_t r1, int64_t C, float eps) {
  for (int64_t r = r0; r < r1; r++)
    fl_ln_row(out + r * C, mean != nullptr ? mean + r : nullptr,
              rstd != nullptr ? rstd + r : nullptr, inp + r * C, weight, bias, C, eps);
}

static void residual_forward_rows(float *residual_out, float *out, float *mean, float *rstd,
                                  const float *a, const float *b, const float *weight,
                                  const float *bias, int64_t r0, int64_t r1, int64_t C, float eps) {
  for (int64_t r = r0; r < r1; r++) {
    float *res = residual_out + r * C;
    const float *ar = a + r * C;
    const float *br = b + r * C;
    for (int64_t i = 0; i < C; i++) res[i] = ar[i] + br[i];  // may run in place on a or b
    fl_ln_row(out + r * C, mean != nullptr ? mean + r : nullptr,
              rstd != nullptr ? rstd + r : nullptr, res, weight, bias, C, eps);
  }
}

// With norm = (x - mean) * rstd and g = dout * weight:
//   dinp += (g - mean(g) - norm * mean(g * norm)) * rstd,  dweight += dout * norm,  dbias += dout.
static void backward_rows(float *dinp, float *dweight_part, float *dbias_part, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int64_t r0, int64_t r1, int64_t C) {
  const bool params = dweight_part != nullptr && dbias_part != nullptr;
  if (params)
    for (int64_t i = 0; i < C; i++) {
      dweight_part[i] = 0.0f;
      dbias_part[i] = 0.0f;
    }
  const float inv_c = 1.0f / static_cast<float>(C);
  for (int64_t r = r0; r < r1; r++) {
    const float *x = inp + r * C;
    const float *dy = dout + r * C;
    const float m = mean[r], s = rstd[r];
    if (dinp != nullptr) {
      float *dx = dinp + r * C;
      // two single-accumulator lane loops vectorise cleanly (one loop with both did not)
      const float sum_g = fl_dot(dy, weight, C);
      const float sum_gn = fl_dot_shifted(dy, weight, x, m, C) * s;
      const float mean_g = sum_g * inv_c, mean_gn = sum_gn * inv_c;
      for (int64_t k = 0; k < C; k++)
        dx[k] += (dy[k] * weight[k] - mean_g - (x[k] - m) * s * mean_gn) * s;
    }
    if (params)
      for (int64_t k = 0; k < C; k++) {
        dweight_part[k] += dy[k] * ((x[k] - m) * s);
        dbias_part[k] += dy[k];
      }
  }
}

const LayerNormKernels kernels = {forward_rows, residual_forward_rows, backward_rows};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
