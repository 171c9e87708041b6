// Reference multi-head attention: the obvious loops, one score row at a time, in double.
// The oracle for the CPU (and later CUDA) kernels; see fuselm.h for the semantics.
//
// Conventions shared with every backend: scale = 1 / sqrt(hs) (1 when hs == 0); key j is visible
// to query t when (!causal || j <= t) && (key_mask == NULL || key_mask[b, j] != 0); a query with no
// visible key gets out = 0 and lse = -inf, and zero gradient in the backward. lse may be NULL in
// the forward.
//
// Dropout (dropout_p > 0): after the softmax, probability P[t][j] is kept when
// dropout_keep(seed, b, h, t, j) (attention_dropout.h) and then scaled by 1 / (1 - p), else zeroed;
// lse stays that of the undropped softmax. With Z = keep / (1 - p) and out = (P o Z) V, the backward
// is dV = (P o Z)^T dO, dP = Z o (dO V^T), dS = P o (dP - D) with D = rowsum(dO o out) as without
// dropout, since rowsum(P o dP) = sum_j P_j Z_j (dO . v_j) = dO . out.
#include <cmath>
#include <limits>
#include <vector>

#include "attention_dropout.h"
#include "internal.h"

namespace fl {
namespace ref {

namespace {

inline bool visible(const int32_t *key_mask, int64_t b, int64_t T, int64_t t, int64_t j,
                    int causal) {
  if (causal && j > t) return false;
  return key_mask == nullptr || key_mask[b * T + j] != 0;
}

inline double scale_for(int64_t hs) { return hs > 0 ? 1.0 / std::sqrt(static_cast<double>(hs)) : 1.0; }

// The dropout factor Z of probability (t, j) in head bh: 1 without dropout, else 0 or 1 / (1 - p).
struct DropoutFactor {
  bool on;
  uint64_t key;
  uint32_t threshold;
  double keep_scale;
  DropoutFactor(float p, uint64_t seed)
      : on(p > 0.f), key(dropout_key(seed)), threshold(dropout_threshold(p)),
        keep_scale(1.0 / (1.0 - static_cast<double>(p))) {}
  double operator()(int64_t bh, int64_t T, int64_t t, int64_t j) const {
    if (!on) return 1.0;
    return dropout_keep(key, bh, T, t, j, threshold) ? keep_scale : 0.0;
  }
};

}  // namespace

void attention_forward(float *out, float *lse, const float *qkv, const int32_t *key_mask, int64_t B,
                       int64_t T, int64_t C, int64_t NH, int causal, float dropout_p,
                       uint64_t dropout_seed) {
  const int64_t hs = C / NH, C3 = 3 * C;
  const DropoutFactor Z(dropout_p, dropout_seed);
  const double scale = scale_for(hs);
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> s(T), o(hs);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < NH; h++) {
      for (int64_t t = 0; t < T; t++) {
        const float *q = qkv + (b * T + t) * C3 + h * hs;
        // scores of the visible keys, and their max
        double mx = ninf;
        for (int64_t j = 0; j < T; j++) {
          if (!visible(key_mask, b, T, t, j, causal)) continue;
          const float *k = qkv + (b * T + j) * C3 + C + h * hs;
          double dot = 0;
          for (int64_t d = 0; d < hs; d++) dot += static_cast<double>(q[d]) * k[d];
          s[j] = dot * scale;
          if (s[j] > mx) mx = s[j];
        }
        float *y = out + (b * T + t) * C + h * hs;
        float *l = lse ? lse + (b * NH + h) * T + t : nullptr;
        if (mx == ninf) {  // nothing to attend to
          for (int64_t d = 0; d < hs; d++) y[d] = 0.f;
          if (l) *l = -std::numeric_limits<float>::infinity();
          continue;
        }
        double sum = 0;
        for (int64_t d = 0; d < hs; d++) o[d] = 0;
        for (int64_t j = 0; j < T; j++) {
          if (!visible(key_mask, b, T, t, j, causal)) continue;
          const double p = std::exp(s[j] - mx);
          sum += p;
          const float *v = qkv + (b * T + j) * C3 + 2 * C + h * hs;
          const double pz = p * Z(b * NH + h, T, t, j);  // sum is of the undropped p
          for (int64_t d = 0; d < hs; d++) o[d] += pz * v[d];
        }
        for (int64_t d = 0; d < hs; d++) y[d] = static_cast<float>(o[d] / sum);
        if (l) *l = static_cast<float>(mx + std::log(sum));
      }
    }
  }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                        int64_t NH, int causal, float dropout_p, uint64_t dropout_seed) {
  if (dqkv == nullptr) return;
  const int64_t hs = C / NH, C3 = 3 * C;
  const DropoutFactor Z(dropout_p, dropout_seed);
  const double scale = scale_for(hs);
  // the whole gradient in double, added into dqkv at the end
  std::vector<double> g(static_cast<size_t>(B * T * C3), 0.0);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < NH; h++) {
      for (int64_t t = 0; t < T; t++) {
        const double l = lse[(b * NH + h) * T + t];
        if (!(l > -std::numeric_limits<double>::infinity())) continue;  // row saw no key
        const float *q = qkv + (b * T + t) * C3 + h * hs;
        const float *dO = dout + (b * T + t) * C + h * hs;
        const float *O = out + (b * T + t) * C + h * hs;
        double D = 0;  // rowsum(dO * O) = sum_j P_j dP_j
        for (int64_t d = 0; d < hs; d++) D += static_cast<double>(dO[d]) * O[d];
        double *gq = g.data() + (b * T + t) * C3 + h * hs;
        for (int64_t j = 0; j < T; j++) {
          if (!visible(key_mask, b, T, t, j, causal)) continue;
          const float *k = qkv + (b * T + j) * C3 + C + h * hs;
          const float *v = k + C;
          double dot = 0, dp = 0;
          for (int64_t d = 0; d < hs; d++) {
            dot += static_cast<double>(q[d]) * k[d];
            dp += static_cast<double>(dO[d]) * v[d];
          }
          const double p = std::exp(dot * scale - l);  // probability, recomputed from lse
          const double z = Z(b * NH + h, T, t, j);
          const double ds = p * (z * dp - D);          // gradient wrt the scaled score
          double *gk = g.data() + (b * T + j) * C3 + C + h * hs;
          double *gv = gk + C;
          for (int64_t d = 0; d < hs; d++) {
            gq[d] += scale * ds * k[d];
            gk[d] += scale * ds * q[d];
            gv[d] += p * z * dO[d];
          }
        }
      }
    }
  }
  for (size_t i = 0; i < g.size(); i++) dqkv[i] += static_cast<float>(g[i]);
}

}  // namespace ref
}  // namespace fl
