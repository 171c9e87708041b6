// Softmax / cross-entropy kernel bodies, included inside one namespace per ISA (see
// softmax_kernels.h). Every row is max-shifted before exp (fl_expf, ~1 ulp), so no overflow for
// any finite logits; a NaN anywhere in a row makes that row's lse and loss NaN.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=off")
#endif

#include "pointwise_math.h"

static void softmax_forward_rows(float *out, const float *inp, int64_t r0, int64_t r1, int64_t V) {
  for (int64_t r = r0; r < r1; r++) {
    const float *x = inp + r * V;
    float *y = out + r * V;  // may alias x
    const float m = fl_max_row(x, V);
    float acc[kFlLanes] = {};
    int64_t i = 0;
    for (; i + kFlLanes <= V; i += kFlLanes)
      for (int j = 0; j < kFlLanes; j++) {
        const float e = fl_expf(x[i + j] - m);
        y[i + j] = e;
        acc[j] += e;
      }
    float sum = 0.0f;
    for (; i < V; i++) {
      const float e = fl_expf(x[i] - m);
      y[i] = e;
      sum += e;
    }
    for (int j = 0; j < kFlLanes; j++) sum += acc[j];
    const float inv = 1.0f / sum;
    for (int64_t k = 0; k < V; k++) y[k] *= inv;
  }
}

// dinp += y * (dy - sum(dy * y))
static void softmax_backward_rows(float *dinp, const float *out, const float *dout, int64_t r0,
                                  int64_t r1, int64_t V) {
  for (int64_t r = r0; r < r1; r++) {
    const float *y = out + r * V;
    const float *dy = dout + r * V;
    float *dx = dinp + r * V;
    const float dot = fl_dot(dy, y, V);
    for (int64_t i = 0; i < V; i++) dx[i] += y[i] * (dy[i] - dot);
  }
}

// Two passes over the row (max, then sum of exp): the probabilities are never written.
static void ce_forward_rows(float *losses, float *lse, const float *logits, const int32_t *targets,
                            int64_t r0, int64_t r1, int64_t V, int32_t ignore_index) {
  for (int64_t r = r0; r < r1; r++) {
    const float *x = logits + r * V;
    const float m = fl_max_row(x, V);
    const float l = m + __builtin_logf(fl_sum_exp_shifted(x, m, V));
    if (lse != nullptr) lse[r] = l;
    const int32_t t = targets[r];
    losses[r] = t == ignore_index ? 0.0f : l - x[t];
  }
}

static void ce_backward_rows(float *dlogits, const float *logits, const float *lse,
                             const int32_t *targets, int64_t r0, int64_t r1, int64_t V,
                             int32_t ignore_index, float scale) {
  for (int64_t r = r0; r < r1; r++) {
    const float *x = logits + r * V;
    float *d = dlogits + r * V;  // may alias x
    const int32_t t = targets[r];
    if (t == ignore_index) {
      for (int64_t i = 0; i < V; i++) d[i] = 0.0f;
      continue;
    }
    const float l = lse[r];
    const float xt = x[t];  // read before an in-place overwrite
    for (int64_t i = 0; i < V; i++) d[i] = scale * fl_expf(x[i] - l);
    d[t] = scale * (fl_expf(xt - l) - 1.0f);
  }
}

const SoftmaxKernels kernels = {softmax_forward_rows, softmax_backward_rows, ce_forward_rows,
                                ce_backward_rows};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
