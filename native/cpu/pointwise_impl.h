// Pointwise kernel bodies, included inside one namespace per ISA (see pointwise_kernels.h).
// No restrict: out may alias an input (fl_add allows it); GCC versions the loops with a run-time
// overlap check that also accepts exact aliasing, so in-place calls stay vectorised.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=off")
#endif

#include "pointwise_math.h"

// GELU, tanh approximation: 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi); tanh from
// fl_tanh_sech2: |error| <= 1.4e-7 |x| (forward), <= 1.9e-7 on the derivative.
static constexpr float kGeluK = 0.7978845608028654f;
static constexpr float kGeluC = 0.044715f;

static void gelu_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = inp[i];
    float th, sech2;
    fl_tanh_sech2(kGeluK * (x + kGeluC * x * x * x), &th, &sech2);
    out[i] = 0.5f * x * (1.0f + th);
  }
}

// d/dx = 0.5 (1 + th) + 0.5 x sech^2 k (1 + 3 * 0.044715 x^2); dinp += dout * d/dx
static void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = inp[i];
    float th, sech2;
    fl_tanh_sech2(kGeluK * (x + kGeluC * x * x * x), &th, &sech2);
    const float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluK * (1.0f + 3.0f * kGeluC * x * x);
    dinp[i] += dout[i] * local;
  }
}

// Exact GELU x Phi(x) (BERT's hidden_act "gelu"); Phi from fl_normal_cdf: forward |error| <=
// 1.5e-7 max(|x|, 1) against double.
static void gelu_erf_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = inp[i];
    out[i] = x * fl_normal_cdf(x);
  }
}

// d/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi); measured |error| <= 1.8e-7
static void gelu_erf_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = inp[i];
    const float pdf = fl_expf(-0.5f * (x * x)) * 0.39894228040143268f;
    dinp[i] += dout[i] * (fl_normal_cdf(x) + x * pdf);
  }
}

static void add(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void scale(float *x, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

const PointwiseKernels kernels = {gelu_forward, gelu_backward, gelu_erf_forward, gelu_erf_backward,
                                   add, scale};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
