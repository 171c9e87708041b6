// The AVX-512 body of decode-time attention over a KV cache (attention_cached.h), for head sizes
// that are a multiple of 16 (GPT-2's 64): the query's head in registers, the scores of 4 cached
// keys at a time (4 independent fused chains over the head, then 4 horizontal sums), exp over the
// score row in 16 lanes (pointwise_math.h's fl_expf, about 1 ulp), and the weighted sum of the
// values in registers, unnormalised, divided by the sum once at the end. The keys and values of
// the position 8 ahead are prefetched (a cached row is 3C floats apart from the next: no
// sequential stream for the hardware prefetcher to follow). Not the bits of the plain body (other
// summation order, vector exp): within the tolerance test_attention_cached.cpp states against the
// reference. Compiled with AVX-512 flags; called only when ctx.isa >= FL_ISA_AVX512.
#include "x86_intrin.h"

#include "avx512_hsum.h"

#include <cstdint>

#include "attention_cached.h"

namespace fl {
namespace attention_cached {
namespace avx512_math {
#include "pointwise_math.h"
}
namespace {

constexpr int W = 16;
static_assert(kAvx512MaxHead == 8 * W, "one case per vector count below");
constexpr int64_t kAhead = 8;  // positions between a key read and its prefetch

inline float hsum(__m512 x) { return fl_hsum512(x); }

inline void prefetch(const float *p) {
  _mm_prefetch(reinterpret_cast<const char *>(p), _MM_HINT_T0);
}

template <int V>
void query(float *out, const float *base, int64_t row, int64_t C, const float *q, int64_t t,
           float scale, float *scores) {
  __m512 qv[V];
  for (int v = 0; v < V; v++) qv[v] = _mm512_loadu_ps(q + v * W);
  const float *k = base + C, *val = base + 2 * C;
  // scores and their max
  float max = -__builtin_inff();
  int64_t j = 0;
  for (; j + 4 <= t + 1; j += 4) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *k0 = k + j * row;
    if (j + kAhead + 3 <= t) {
      for (int r = 0; r < 4; r++)
        for (int v = 0; v < V; v++) prefetch(k0 + (kAhead + r) * row + v * W);
    }
    for (int v = 0; v < V; v++) {
      a0 = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k0 + v * W), a0);
      a1 = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k0 + row + v * W), a1);
      a2 = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k0 + 2 * row + v * W), a2);
      a3 = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k0 + 3 * row + v * W), a3);
    }
    const float s0 = hsum(a0) * scale, s1 = hsum(a1) * scale, s2 = hsum(a2) * scale,
                s3 = hsum(a3) * scale;
    scores[j] = s0;
    scores[j + 1] = s1;
    scores[j + 2] = s2;
    scores[j + 3] = s3;
    max = avx512_math::fl_max_nan(max, s0);
    max = avx512_math::fl_max_nan(max, s1);
    max = avx512_math::fl_max_nan(max, s2);
    max = avx512_math::fl_max_nan(max, s3);
  }
  for (; j <= t; j++) {
    __m512 a = _mm512_setzero_ps();
    for (int v = 0; v < V; v++) a = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(k + j * row + v * W), a);
    scores[j] = hsum(a) * scale;
    max = avx512_math::fl_max_nan(max, scores[j]);
  }
  // exp in 16 lanes (the loop GCC vectorises), their sum in 16 lane accumulators
  float lane[W] = {};
  int64_t i = 0;
  for (; i + W <= t + 1; i += W)
    for (int l = 0; l < W; l++) {
      const float e = avx512_math::fl_expf(scores[i + l] - max);
      scores[i + l] = e;
      lane[l] += e;
    }
  for (; i <= t; i++) {
    scores[i] = avx512_math::fl_expf(scores[i] - max);
    lane[i % W] += scores[i];
  }
  float sum = 0;
  for (int l = 0; l < W; l++) sum += lane[l];
  // the values weighted by the unnormalised probabilities: two sets of accumulators (even, odd j)
  __m512 e0[V], e1[V];
  for (int v = 0; v < V; v++) e0[v] = e1[v] = _mm512_setzero_ps();
  j = 0;
  for (; j + 2 <= t + 1; j += 2) {
    const float *v0 = val + j * row;
    if (j + kAhead + 1 <= t) {
      for (int v = 0; v < V; v++) {
        prefetch(v0 + kAhead * row + v * W);
        prefetch(v0 + (kAhead + 1) * row + v * W);
      }
    }
    const __m512 p0 = _mm512_set1_ps(scores[j]), p1 = _mm512_set1_ps(scores[j + 1]);
    for (int v = 0; v < V; v++) {
      e0[v] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(v0 + v * W), e0[v]);
      e1[v] = _mm512_fmadd_ps(p1, _mm512_loadu_ps(v0 + row + v * W), e1[v]);
    }
  }
  if (j <= t) {
    const __m512 p0 = _mm512_set1_ps(scores[j]);
    for (int v = 0; v < V; v++)
      e0[v] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(val + j * row + v * W), e0[v]);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (int v = 0; v < V; v++)
    _mm512_storeu_ps(out + v * W, _mm512_mul_ps(_mm512_add_ps(e0[v], e1[v]), inv));
}

}  // namespace

bool one_query_avx512(float *out, const float *qkv, int64_t b, int64_t t, int64_t h, int64_t Tmax,
                      int64_t C, int64_t hs, float *scores) {
  if (hs % W != 0 || hs > kAvx512MaxHead) return false;
  const int64_t row = 3 * C;
  const float *base = qkv + b * Tmax * row;
  const float *q = base + t * row + h * hs;
  const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(hs));
  base += h * hs;
  switch (hs / W) {
    case 1: query<1>(out, base, row, C, q, t, scale, scores); return true;
    case 2: query<2>(out, base, row, C, q, t, scale, scores); return true;
    case 3: query<3>(out, base, row, C, q, t, scale, scores); return true;
    case 4: query<4>(out, base, row, C, q, t, scale, scores); return true;
    case 5: query<5>(out, base, row, C, q, t, scale, scores); return true;
    case 6: query<6>(out, base, row, C, q, t, scale, scores); return true;
    case 7: query<7>(out, base, row, C, q, t, scale, scores); return true;
    case 8: query<8>(out, base, row, C, q, t, scale, scores); return true;
    default: return false;
  }
}

}  // namespace attention_cached
}  // namespace fl
