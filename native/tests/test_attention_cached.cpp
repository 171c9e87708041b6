// Decode-time attention over a KV cache must equal the last rows of full causal attention.
#include <vector>

#include "testing.h"

TEST(attention_cached_matches_full_causal_attention) {
  // Awkward sizes: T = 1 (first token), odd head size 3, a cache larger than the filled part.
  struct Case { int64_t B, T, Tmax, Tq, C, NH; };
  for (Case cs : {Case{1, 1, 4, 1, 3, 1}, Case{2, 7, 9, 1, 9, 3}, Case{2, 65, 65, 5, 24, 2},
                  Case{1, 129, 200, 129, 16, 4},
                  // head sizes 16, 64, 128 (the AVX-512 body: 4-key groups and tails, 16-lane exp
                  // tails, no prefetch near the last rows) and 144 (> its largest: the plain body)
                  Case{1, 19, 19, 19, 48, 3}, Case{2, 41, 50, 3, 128, 2},
                  Case{1, 70, 70, 1, 768, 12},
                  Case{1, 130, 140, 2, 256, 2}, Case{1, 5, 5, 1, 144, 1}}) {
    const int64_t row = 3 * cs.C;
    std::vector<float> cache = fltest::random_floats(cs.B * cs.Tmax * row, 11);
    // Full attention sees only the filled T rows, packed contiguously.
    std::vector<float> packed(cs.B * cs.T * row);
    for (int64_t b = 0; b < cs.B; b++)
      for (int64_t t = 0; t < cs.T; t++)
        for (int64_t j = 0; j < row; j++) packed[(b * cs.T + t) * row + j] = cache[(b * cs.Tmax + t) * row + j];
    fltest::Context ref(FL_BACKEND_REFERENCE);
    std::vector<float> full(cs.B * cs.T * cs.C), lse(cs.B * cs.NH * cs.T);
    CHECK_OK(fl_attention_forward(ref, full.data(), lse.data(), packed.data(), nullptr, cs.B, cs.T, cs.C, cs.NH, 1));
    std::vector<float> want(cs.B * cs.Tq * cs.C);
    for (int64_t b = 0; b < cs.B; b++)
      for (int64_t i = 0; i < cs.Tq; i++)
        for (int64_t c = 0; c < cs.C; c++)
          want[(b * cs.Tq + i) * cs.C + c] = full[(b * cs.T + cs.T - cs.Tq + i) * cs.C + c];
    // Tolerance: both are double-accumulated or short fp32 sums over <= 129 keys: 1e-5.
    std::vector<float> got(want.size(), -7.f);
    CHECK_OK(fl_attention_forward_cached(ref, got.data(), cache.data(), cs.B, cs.T, cs.Tmax, cs.Tq, cs.C, cs.NH));
    fltest::check_close("reference cached vs full", got, want, 1e-5f, 1e-5f);
    fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &what) {
      std::vector<float> cpu(want.size(), -7.f);
      CHECK_OK(fl_attention_forward_cached(ctx, cpu.data(), cache.data(), cs.B, cs.T, cs.Tmax, cs.Tq, cs.C, cs.NH));
      fltest::check_close(("cpu cached " + what).c_str(), cpu, want, 1e-5f, 1e-5f);
    });
  }
}

TEST(attention_cached_rejects_impossible_lengths) {
  fltest::Context c(FL_BACKEND_CPU);
  float dummy[3] = {0, 0, 0};
  CHECK(fl_attention_forward_cached(c, dummy, dummy, 1, 5, 4, 1, 3, 1) == FL_ERR_INVALID_ARGUMENT);
  CHECK(fl_attention_forward_cached(c, dummy, dummy, 1, 2, 4, 3, 3, 1) == FL_ERR_INVALID_ARGUMENT);
}
