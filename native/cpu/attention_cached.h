// The decode-time attention kernel body, shared by the reference (serial) and CPU (threaded) backends:
// one (batch, head, query) at a time against every cached key up to the query's position.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace fl {
namespace attention_cached {

// Four partial sums let the compiler keep independent FMA chains in flight.
inline float dot(const float *a, const float *b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// out row (hs floats) for query position t of (b, h); scores is scratch of at least t + 1 floats.
inline void one_query(float *out, const float *qkv, int64_t b, int64_t t, int64_t h, int64_t Tmax,
                      int64_t C, int64_t hs, float *scores) {
  const int64_t row = 3 * C;
  const float *base = qkv + b * Tmax * row;
  const float *q = base + t * row + h * hs;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  float max = -INFINITY;
  for (int64_t j = 0; j <= t; j++) {
    scores[j] = dot(q, base + j * row + C + h * hs, hs) * scale;
    if (scores[j] > max) max = scores[j];
  }
  float sum = 0;
  for (int64_t j = 0; j <= t; j++) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t d = 0; d < hs; d++) out[d] = 0;
  for (int64_t j = 0; j <= t; j++) {
    const float p = scores[j] * inv;
    const float *v = base + j * row + 2 * C + h * hs;
    for (int64_t d = 0; d < hs; d++) out[d] += p * v[d];
  }
}

#if defined(FUSELM_HAVE_X86_SIMD)
// attention_cached_avx512.cpp: one_query with AVX-512 for hs a multiple of 16 up to
// kAvx512MaxHead (returns false, computing nothing, for other head sizes). Not one_query's bits:
// another summation order and a vector exp, within test_attention_cached.cpp's tolerance.
constexpr int64_t kAvx512MaxHead = 128;
bool one_query_avx512(float *out, const float *qkv, int64_t b, int64_t t, int64_t h, int64_t Tmax,
                      int64_t C, int64_t hs, float *scores);
#endif

}  // namespace attention_cached
}  // namespace fl
