// Decode-time attention over a KV cache (fl_attention_forward_cached), threaded over
// (batch, head, query). Memory traffic dominates (each cached key and value is read once per
// query), so plain loops the compiler vectorises are enough here.
#include <vector>

#include "attention_cached.h"
#include "internal.h"

namespace fl {
namespace cpu {

void attention_forward_cached(const CpuContext &ctx, float *out, const float *qkv_cache, int64_t B,
                              int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH) {
  const int64_t hs = C / NH;
  const int64_t work = B * NH * Tq;
  parallel_for(ctx, work, 1, [&](int64_t begin, int64_t end) {
    // one score row per thread, kept between calls: a decode step runs this for every layer, and
    // a fresh allocation per chunk cost a malloc/free pair each time
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(T)) scores.resize(static_cast<size_t>(T));
    for (int64_t w = begin; w < end; w++) {
      const int64_t b = w / (NH * Tq), h = (w / Tq) % NH, i = w % Tq;
      const int64_t t = T - Tq + i;
      attention_cached::one_query(out + (b * Tq + i) * C + h * hs, qkv_cache, b, t, h, Tmax, C, hs,
                                  scores.data());
    }
  });
}

}  // namespace cpu
}  // namespace fl
