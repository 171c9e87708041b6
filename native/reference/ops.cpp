// Reference backend for every op except GEMM and attention: plain loops, double accumulation where
// it helps, written to be obviously right rather than fast. These are the oracle the CPU (and later
// CUDA) backends are tested against; see fuselm.h for each op's contract.
#include <cmath>
#include <vector>

#include "internal.h"

namespace fl::ref {

// ---- layer norm ------------------------------------------------------------------------------

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int64_t N, int64_t C, float eps) {
  if (C == 0) return;
  for (int64_t r = 0; r < N; r++) {
    const float *x = inp + r * C;
    double m = 0.0;
    for (int64_t i = 0; i < C; i++) m += x[i];
    m /= static_cast<double>(C);
    double var = 0.0;
    for (int64_t i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
    var /= static_cast<double>(C);  // biased variance, as PyTorch
    const double s = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < C; i++)
      out[r * C + i] = static_cast<float>((x[i] - m) * s * weight[i] + bias[i]);
    if (mean != nullptr) mean[r] = static_cast<float>(m);
    if (rstd != nullptr) rstd[r] = static_cast<float>(s);
  }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t N, int64_t C) {
  if (N == 0 || C == 0) return;
  std::vector<double> dw(static_cast<size_t>(C), 0.0), db(static_cast<size_t>(C), 0.0);
  for (int64_t r = 0; r < N; r++) {
    const float *x = inp + r * C;
    const float *dy = dout + r * C;
    const double m = mean[r], s = rstd[r];
    // norm = (x - m) s, g = dy w:  dx = (g - mean(g) - norm mean(g norm)) s
    double mean_g = 0.0, mean_gn = 0.0;
    for (int64_t i = 0; i < C; i++) {
      const double norm = (x[i] - m) * s;
      const double g = static_cast<double>(dy[i]) * weight[i];
      mean_g += g;
      mean_gn += g * norm;
    }
    mean_g /= static_cast<double>(C);
    mean_gn /= static_cast<double>(C);
    for (int64_t i = 0; i < C; i++) {
      const double norm = (x[i] - m) * s;
      const double g = static_cast<double>(dy[i]) * weight[i];
      if (dinp != nullptr) dinp[r * C + i] += static_cast<float>((g - mean_g - norm * mean_gn) * s);
      dw[i] += dy[i] * norm;
      db[i] += dy[i];
    }
  }
  for (int64_t i = 0; i < C; i++) {
    if (dweight != nullptr) dweight[i] += static_cast<float>(dw[i]);
    if (dbias != nullptr) dbias[i] += static_cast<float>(db[i]);
  }
}

void residual_layernorm_forward(float *residual_out, float *out, float *mean, float *rstd,
                                const float *a, const float *b, const float *weight,
                                const float *bias, int64_t N, int64_t C, float eps) {
  for (int64_t i = 0; i < N * C; i++) residual_out[i] = a[i] + b[i];
  layernorm_forward(out, mean, rstd, residual_out, weight, bias, N, C, eps);
}

// ---- pointwise -------------------------------------------------------------------------------

namespace {
constexpr double kGeluK = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kSqrtHalf = 0.70710678118654752440;     // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
}

void gelu_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double x = inp[i];
    out[i] = static_cast<float>(0.5 * x * (1.0 + std::tanh(kGeluK * (x + 0.044715 * x * x * x))));
  }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double x = inp[i];
    const double th = std::tanh(kGeluK * (x + 0.044715 * x * x * x));
    const double d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * kGeluK * (1.0 + 3.0 * 0.044715 * x * x);
    dinp[i] += static_cast<float>(dout[i] * d);
  }
}

// exact GELU x * Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (no cancellation for negative x)
void gelu_erf_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double x = inp[i];
    out[i] = static_cast<float>(x * 0.5 * std::erfc(-x * kSqrtHalf));
  }
}

void gelu_erf_backward(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double x = inp[i];
    const double d = 0.5 * std::erfc(-x * kSqrtHalf) + x * std::exp(-0.5 * x * x) * kInvSqrt2Pi;
    dinp[i] += static_cast<float>(dout[i] * d);
  }
}

void add(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void scale(float *x, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

// ---- softmax and cross-entropy ---------------------------------------------------------------

void softmax_forward(float *out, const float *inp, int64_t N, int64_t V) {
  for (int64_t r = 0; r < N; r++) {
    const float *x = inp + r * V;
    float *y = out + r * V;  // may alias x: each x[i] is read before y[i] is written
    double m = -INFINITY;
    for (int64_t i = 0; i < V; i++) m = std::fmax(m, x[i]);
    double sum = 0.0;
    std::vector<double> e(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; i++) sum += e[i] = std::exp(x[i] - m);
    for (int64_t i = 0; i < V; i++) y[i] = static_cast<float>(e[i] / sum);
  }
}

void softmax_backward(float *dinp, const float *out, const float *dout, int64_t N, int64_t V) {
  if (dinp == nullptr) return;
  for (int64_t r = 0; r < N; r++) {
    const float *y = out + r * V;
    const float *dy = dout + r * V;
    double dot = 0.0;
    for (int64_t i = 0; i < V; i++) dot += static_cast<double>(dy[i]) * y[i];
    for (int64_t i = 0; i < V; i++) dinp[r * V + i] += static_cast<float>(y[i] * (dy[i] - dot));
  }
}

void cross_entropy_forward(float *mean_loss, int64_t *count, float *losses, float *lse,
                           const float *logits, const int32_t *targets, int64_t N, int64_t V,
                           int32_t ignore_index) {
  double total = 0.0;
  int64_t n = 0;
  for (int64_t r = 0; r < N; r++) {
    const float *x = logits + r * V;
    double m = -INFINITY;
    for (int64_t i = 0; i < V; i++) m = std::fmax(m, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < V; i++) sum += std::exp(x[i] - m);
    const double l = m + std::log(sum);
    if (lse != nullptr) lse[r] = static_cast<float>(l);
    double loss = 0.0;
    if (targets[r] != ignore_index) {
      loss = l - x[targets[r]];
      total += loss;
      n++;
    }
    if (losses != nullptr) losses[r] = static_cast<float>(loss);
  }
  *count = n;
  *mean_loss = n > 0 ? static_cast<float>(total / static_cast<double>(n)) : 0.0f;
}

void cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index,
                            float dloss, int64_t count) {
  for (int64_t r = 0; r < N; r++) {
    const float *x = logits + r * V;
    float *d = dlogits + r * V;  // may alias x: each x[i] is read before d[i] is written
    const int32_t t = targets[r];
    if (count <= 0 || t == ignore_index) {
      for (int64_t i = 0; i < V; i++) d[i] = 0.0f;
      continue;
    }
    const double scale = static_cast<double>(dloss) / static_cast<double>(count);
    for (int64_t i = 0; i < V; i++) {
      const double p = std::exp(static_cast<double>(x[i]) - lse[r]);
      d[i] = static_cast<float>(scale * (p - (i == t ? 1.0 : 0.0)));
    }
  }
}

// ---- embeddings ------------------------------------------------------------------------------

void embedding_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int64_t B,
                       int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) {
      const int64_t row = b * T + t;
      for (int64_t c = 0; c < C; c++) {
        float v = wte[static_cast<int64_t>(ids[row]) * C + c];
        if (wpe != nullptr) v += wpe[t * C + c];
        out[row * C + c] = v;
      }
    }
}

void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int64_t B,
                        int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) {
      const int64_t row = b * T + t;
      for (int64_t c = 0; c < C; c++) {
        const float g = dout[row * C + c];
        if (dwte != nullptr) dwte[static_cast<int64_t>(ids[row]) * C + c] += g;
        if (dwpe != nullptr) dwpe[t * C + c] += g;
      }
    }
}

// ---- optimizer -------------------------------------------------------------------------------

void grad_norm(float *out, const float *grads, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += static_cast<double>(grads[i]) * grads[i];
  *out = static_cast<float>(std::sqrt(sum));
}

// PyTorch's AdamW (torch.optim.AdamW, single-tensor path), in float with the same evaluation order:
// decay, moments, then p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
void adamw_step(float *params, const float *grads, float *m, float *v, int64_t n,
                const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  for (int64_t s = 0; s < nseg; s++) {
    for (int64_t i = seg_offsets[s]; i < seg_offsets[s + 1]; i++) {
      const float g = grads[i] * grad_scale;
      if (seg_decay[s]) params[i] *= decay;
      m[i] = beta1 * m[i] + (1.0f - beta1) * g;
      v[i] = beta2 * v[i] + (1.0f - beta2) * (g * g);
      params[i] -= step_size * (m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps));
    }
  }
}

}  // namespace fl::ref
