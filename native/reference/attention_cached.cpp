// Reference decode-time attention: the textbook formula, one query at a time, in double.
#include <cmath>
#include <vector>

#include "internal.h"

namespace fl {
namespace ref {

void attention_forward_cached(float *out, const float *qkv_cache, int64_t B, int64_t T, int64_t Tmax,
                              int64_t Tq, int64_t C, int64_t NH) {
  const int64_t hs = C / NH, row = 3 * C;
  std::vector<double> p(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; b++) {
    const float *base = qkv_cache + b * Tmax * row;
    for (int64_t h = 0; h < NH; h++) {
      for (int64_t i = 0; i < Tq; i++) {
        const int64_t t = T - Tq + i;
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= t; j++) {
          double s = 0;
          for (int64_t d = 0; d < hs; d++) s += double(base[t * row + h * hs + d]) * base[j * row + C + h * hs + d];
          p[j] = s / std::sqrt(double(hs));
          if (p[j] > max) max = p[j];
        }
        for (int64_t j = 0; j <= t; j++) sum += (p[j] = std::exp(p[j] - max));
        for (int64_t d = 0; d < hs; d++) {
          double o = 0;
          for (int64_t j = 0; j <= t; j++) o += p[j] / sum * base[j * row + 2 * C + h * hs + d];
          out[(b * Tq + i) * C + h * hs + d] = static_cast<float>(o);
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace fl
