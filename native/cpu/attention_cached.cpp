// Decode-time attention over a KV cache (fl_attention_forward_cached), threaded over
// (batch, head, query). Memory traffic dominates at long contexts (each cached key and value is
// read once per query); the AVX-512 body (attention_cached_avx512.cpp) keeps the query and the
// output in registers and prefetches the strided cached rows, other ISAs run the plain loops the
// compiler vectorises.
#include <cstdlib>
#include <vector>

#include "attention_cached.h"
#include "internal.h"

namespace fl {
namespace cpu {

namespace {
// Cached keys x head size per parallel chunk, at least: a decode step at a short context (GPT-2:
// 12 heads x 40 keys x 64) is a few microseconds of work, less than waking the pool's helpers,
// so it runs on the caller; long contexts split over the threads. The split does not change any
// result (each (batch, head, query) is computed alone).
constexpr int64_t kChunkWork = 32768;

// FUSELM_ATTN_CACHED=0: the previous kernel (the plain body at every ISA, one (batch, head, query)
// per chunk at every context length), a measurement aid like FUSELM_GEMV=0.
bool previous_kernel() {
  static const bool old = [] {
    const char *e = std::getenv("FUSELM_ATTN_CACHED");
    return e != nullptr && e[0] == '0';
  }();
  return old;
}
}  // namespace

void attention_forward_cached(const CpuContext &ctx, float *out, const float *qkv_cache, int64_t B,
                              int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH) {
  const int64_t hs = C / NH;
  const int64_t work = B * NH * Tq;
  const int64_t per_item = T * (hs > 0 ? hs : 1);
  const bool old = previous_kernel();
  const int64_t grain =
      old || per_item >= kChunkWork ? 1 : (kChunkWork + per_item - 1) / per_item;
#if defined(FUSELM_HAVE_X86_SIMD)
  const bool wide = ctx.isa >= FL_ISA_AVX512 && !old;
#endif
  parallel_for(ctx, work, grain, [&](int64_t begin, int64_t end) {
    // one score row per thread, kept between calls: a decode step runs this for every layer, and
    // a fresh allocation per chunk cost a malloc/free pair each time
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(T)) scores.resize(static_cast<size_t>(T));
    for (int64_t w = begin; w < end; w++) {
      const int64_t b = w / (NH * Tq), h = (w / Tq) % NH, i = w % Tq;
      const int64_t t = T - Tq + i;
      float *o = out + (b * Tq + i) * C + h * hs;
#if defined(FUSELM_HAVE_X86_SIMD)
      if (wide && attention_cached::one_query_avx512(o, qkv_cache, b, t, h, Tmax, C, hs,
                                                      scores.data()))
        continue;
#endif
      attention_cached::one_query(o, qkv_cache, b, t, h, Tmax, C, hs, scores.data());
    }
  });
}

}  // namespace cpu
}  // namespace fl
