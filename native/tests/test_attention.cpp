// Tests of fl_attention_forward / fl_attention_backward: the reference against finite differences,
// every CPU configuration (ISA level x threads) against the reference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "testing.h"

using namespace fltest;

namespace {

struct Shape {
  int64_t B, T, NH, hs;
};

std::string describe(const Shape &s, int causal, bool masked) {
  return "B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) + " NH=" + std::to_string(s.NH) +
         " hs=" + std::to_string(s.hs) + (causal ? " causal" : "") + (masked ? " key_mask" : "");
}

// Random padding mask that also produces queries with nothing to attend to: keys 0 and 1 of every
// batch are masked (so with causal, queries 0 and 1 see nothing), and when B > 1 the last batch is
// masked entirely (every query of it sees nothing, causal or not).
std::vector<int32_t> make_mask(int64_t B, int64_t T, uint32_t seed) {
  std::vector<int32_t> m = random_ints(static_cast<size_t>(B * T), seed, 0, 9);
  for (auto &x : m) x = x >= 3;  // ~30% padding
  for (int64_t b = 0; b < B; b++) {
    for (int64_t j = 0; j < std::min<int64_t>(T, 2); j++) m[b * T + j] = 0;
    if (B > 1 && b == B - 1)
      for (int64_t j = 0; j < T; j++) m[b * T + j] = 0;
  }
  return m;
}

struct Fwd {
  std::vector<float> out, lse;
};

Fwd forward(fl_context *ctx, const std::vector<float> &qkv, const int32_t *mask, const Shape &s,
            int causal) {
  const int64_t C = s.NH * s.hs;
  Fwd f;
  f.out.assign(static_cast<size_t>(s.B * s.T * C), 12345.f);  // must all be overwritten
  f.lse.assign(static_cast<size_t>(s.B * s.NH * s.T), 12345.f);
  CHECK_OK(fl_attention_forward(ctx, f.out.data(), f.lse.data(), qkv.data(), mask, s.B, s.T, C,
                                s.NH, causal));
  return f;
}

// lse: equal within atol + rtol*|want|, or both -inf (the "no visible key" sentinel). Never NaN.
void check_lse(const std::string &what, const std::vector<float> &got,
               const std::vector<float> &want, float rtol, float atol) {
  CHECK(got.size() == want.size());
  for (size_t i = 0; i < got.size(); i++) {
    const float g = got[i], w = want[i];
    const bool ok = std::isinf(w) ? (std::isinf(g) && g < 0 && w < 0)
                                  : std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok)
      throw Failure(what + ": lse element " + std::to_string(i) + " is " + std::to_string(g) +
                    ", expected " + std::to_string(w));
  }
}

void check_finite(const std::string &what, const std::vector<float> &v) {
  for (size_t i = 0; i < v.size(); i++)
    if (!std::isfinite(v[i]))
      throw Failure(what + ": element " + std::to_string(i) + " is not finite");
}

// The awkward shapes: every T in {1, 7, 63, 65, 129}, hs in {1, 3, 7, 64}, NH in {1, 3, 12},
// B in {1, 2} appears, with T = 65 / 129 crossing the 64-row block boundary of the CPU kernel.
const std::vector<Shape> kShapes = {
    {1, 1, 1, 1},   {2, 1, 3, 64},  {1, 7, 3, 3},    {2, 7, 12, 7},  {1, 63, 1, 64},
    {2, 63, 3, 7},  {1, 65, 12, 3}, {2, 65, 1, 1},   {1, 129, 3, 64}, {2, 129, 1, 7},
    {1, 129, 12, 1}, {2, 65, 3, 64},
};

// Tolerances, CPU vs reference. The reference accumulates in double; the CPU kernel in float with
// a different order (blocked dot products, online softmax with rescaling, a polynomial exp of
// ~2 ulp). Inputs are O(1), so outputs (convex combinations of v) and lse are O(1): out and lse
// within 2e-5 + 2e-5 * |want|. Gradients are sums over up to T products of O(1) terms, accumulated
// per key block: 1e-4 + 1e-4 * |want|. Measured maxima on these inputs (and up to T = 1024):
// 3e-7 for out, 5e-7 for lse, 2e-6 for dqkv, so the bounds leave a margin of 40x or more.
constexpr float kOutRtol = 2e-5f, kOutAtol = 2e-5f;
constexpr float kGradRtol = 1e-4f, kGradAtol = 1e-4f;

}  // namespace

// Finite differences of the reference backward, through L = sum(out * R) with random R. Central
// differences with a step of 1e-2 on float inputs (the actual perturbation, after rounding, is what
// we divide by); L is summed in double. Truncation error ~ eps^2 * |f'''| / 6 ~ 1e-4 and rounding of
// the float outputs ~ 1e-7 * sqrt(N) / eps ~ 1e-5, so |fd - analytic| <= 2e-3 + 1e-2 * |analytic|.
TEST(attention_reference_backward_matches_finite_differences) {
  Context ref(FL_BACKEND_REFERENCE);
  const std::vector<Shape> shapes = {{2, 5, 2, 3}, {1, 1, 1, 4}, {1, 6, 3, 1}, {2, 4, 1, 2}};
  uint32_t seed = 100;
  for (const Shape &s : shapes) {
    for (int causal : {0, 1}) {
      for (bool masked : {false, true}) {
        const std::string what = describe(s, causal, masked);
        const int64_t C = s.NH * s.hs, n = s.B * s.T * 3 * C;
        std::vector<float> qkv = random_floats(static_cast<size_t>(n), seed++, -1.5f, 1.5f);
        const std::vector<float> R = random_floats(static_cast<size_t>(s.B * s.T * C), seed++);
        std::vector<int32_t> mask = make_mask(s.B, s.T, seed++);
        // keep one key visible in the first batch so masked cases still have gradients to check
        if (masked && s.T > 2) mask[s.T - 1] = 1;
        const int32_t *m = masked ? mask.data() : nullptr;

        Fwd f = forward(ref, qkv, m, s, causal);
        std::vector<float> grad(static_cast<size_t>(n), 0.f);
        CHECK_OK(fl_attention_backward(ref, grad.data(), R.data(), qkv.data(), f.out.data(),
                                       f.lse.data(), m, s.B, s.T, C, s.NH, causal));
        auto loss = [&](const std::vector<float> &x) {
          Fwd g = forward(ref, x, m, s, causal);
          double L = 0;
          for (size_t i = 0; i < R.size(); i++) L += static_cast<double>(g.out[i]) * R[i];
          return L;
        };
        for (int64_t i = 0; i < n; i++) {
          std::vector<float> xp = qkv, xm = qkv;
          xp[i] = qkv[i] + 1e-2f;
          xm[i] = qkv[i] - 1e-2f;
          const double fd = (loss(xp) - loss(xm)) / (static_cast<double>(xp[i]) - xm[i]);
          if (!(std::fabs(fd - grad[i]) <= 2e-3 + 1e-2 * std::fabs(fd)))
            throw Failure(what + ": d/dqkv[" + std::to_string(i) + "] analytic " +
                          std::to_string(grad[i]) + ", finite difference " + std::to_string(fd));
        }
      }
    }
  }
}

// Semantics of the reference itself: rows with nothing visible, masked keys get no gradient, and
// causal attention at T = 1 is the identity on v.
TEST(attention_reference_semantics) {
  Context ref(FL_BACKEND_REFERENCE);
  const Shape s{2, 4, 2, 3};
  const int64_t C = s.NH * s.hs;
  const std::vector<float> qkv = random_floats(static_cast<size_t>(s.B * s.T * 3 * C), 7);
  // batch 0: key 0 masked, key 2 masked; batch 1: everything masked
  const std::vector<int32_t> mask = {0, 1, 0, 1, 0, 0, 0, 0};
  Fwd f = forward(ref, qkv, mask.data(), s, 1);
  for (int64_t h = 0; h < s.NH; h++) {
    CHECK(std::isinf(f.lse[(0 * s.NH + h) * s.T + 0]) && f.lse[(0 * s.NH + h) * s.T + 0] < 0);
    CHECK(std::isfinite(f.lse[(0 * s.NH + h) * s.T + 1]));
    for (int64_t t = 0; t < s.T; t++) CHECK(std::isinf(f.lse[(1 * s.NH + h) * s.T + t]));
  }
  for (int64_t c = 0; c < C; c++) {
    CHECK(f.out[0 * C + c] == 0.f);  // (b=0, t=0) sees nothing
    // (b=0, t=1) sees only key 1: out = v_1
    CHECK(f.out[1 * C + c] == qkv[1 * 3 * C + 2 * C + c]);
    for (int64_t t = 0; t < s.T; t++) CHECK(f.out[(s.T + t) * C + c] == 0.f);
  }
  // backward: dqkv of masked keys' k, v and of empty rows' q stays at its prefill
  const std::vector<float> dout = random_floats(f.out.size(), 8);
  const std::vector<float> pre = random_floats(qkv.size(), 9);
  std::vector<float> g = pre;
  CHECK_OK(fl_attention_backward(ref, g.data(), dout.data(), qkv.data(), f.out.data(),
                                 f.lse.data(), mask.data(), s.B, s.T, C, s.NH, 1));
  check_finite("reference dqkv", g);
  for (int64_t c = 0; c < 3 * C; c++) {
    CHECK(g[0 * 3 * C + c] == pre[0 * 3 * C + c]);  // row 0: q empty, k/v masked
    for (int64_t t = 0; t < s.T; t++) CHECK(g[(s.T + t) * 3 * C + c] == pre[(s.T + t) * 3 * C + c]);
  }
  for (int64_t c = C; c < 3 * C; c++) CHECK(g[2 * 3 * C + c] == pre[2 * 3 * C + c]);  // key 2 masked

  // T = 1, causal: softmax over one key is 1, so out = v and lse = the scaled score
  const Shape one{1, 1, 1, 5};
  const std::vector<float> x = random_floats(15, 10);
  Fwd f1 = forward(ref, x, nullptr, one, 1);
  double dot = 0;
  for (int d = 0; d < 5; d++) {
    CHECK(f1.out[d] == x[10 + d]);
    dot += static_cast<double>(x[d]) * x[5 + d];
  }
  CHECK(std::fabs(f1.lse[0] - dot / std::sqrt(5.0)) < 1e-6);
}

// Forward + backward chained on the CPU only (its own out and lse), against the reference chain.
TEST(attention_cpu_forward_backward_chain) {
  Context ref(FL_BACKEND_REFERENCE);
  const Shape s{2, 100, 3, 16};
  const int64_t C = s.NH * s.hs;
  const std::vector<float> qkv = random_floats(static_cast<size_t>(s.B * s.T * 3 * C), 31, -2.f, 2.f);
  const std::vector<int32_t> mask = make_mask(s.B, s.T, 32);
  const std::vector<float> dout = random_floats(static_cast<size_t>(s.B * s.T * C), 33);
  for (int causal : {0, 1}) {
    const Fwd fr = forward(ref, qkv, mask.data(), s, causal);
    std::vector<float> want(qkv.size(), 0.f);
    CHECK_OK(fl_attention_backward(ref, want.data(), dout.data(), qkv.data(), fr.out.data(),
                                   fr.lse.data(), mask.data(), s.B, s.T, C, s.NH, causal));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      const Fwd fc = forward(ctx, qkv, mask.data(), s, causal);
      std::vector<float> got(qkv.size(), 0.f);
      CHECK_OK(fl_attention_backward(ctx, got.data(), dout.data(), qkv.data(), fc.out.data(),
                                     fc.lse.data(), mask.data(), s.B, s.T, C, s.NH, causal));
      check_close((cfg + " chained dqkv").c_str(), got, want, kGradRtol, kGradAtol);
    });
  }
}

// Large scores (|q.k| * scale up to ~1e3): the online softmax must rescale without overflow or
// NaN. Softmax is then nearly one-hot, and an O(1) relative error in a score of ~1e3 is ~1e-4 in
// absolute terms, so out and lse are compared at 1e-3 relative / absolute.
TEST(attention_cpu_large_scores_stable) {
  Context ref(FL_BACKEND_REFERENCE);
  const Shape s{1, 129, 3, 7};
  const int64_t C = s.NH * s.hs;
  const std::vector<float> qkv = random_floats(static_cast<size_t>(s.B * s.T * 3 * C), 41, -30.f, 30.f);
  for (int causal : {0, 1}) {
    const Fwd want = forward(ref, qkv, nullptr, s, causal);
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      const Fwd got = forward(ctx, qkv, nullptr, s, causal);
      check_finite(cfg + " out", got.out);
      check_finite(cfg + " lse", got.lse);
      check_close((cfg + " out").c_str(), got.out, want.out, 1e-3f, 1e-3f);
      check_close((cfg + " lse").c_str(), got.lse, want.lse, 1e-3f, 1e-3f);
    });
  }
}

// Inference without lse, NULL gradient, zero sizes (no-ops), C = 0 (lse only), all keys masked.
TEST(attention_edge_cases) {
  Context ref(FL_BACKEND_REFERENCE);
  auto all_backends = [&](const std::function<void(fl_context *, const std::string &)> &body) {
    body(ref, "reference");
    for_each_cpu_config(body);
  };
  const Shape s{2, 65, 3, 7};
  const int64_t C = s.NH * s.hs;
  const std::vector<float> qkv = random_floats(static_cast<size_t>(s.B * s.T * 3 * C), 51);
  const Fwd want = forward(ref, qkv, nullptr, s, 1);
  all_backends([&](fl_context *ctx, const std::string &cfg) {
    // lse == NULL: out only
    std::vector<float> out(want.out.size(), 0.f);
    CHECK_OK(fl_attention_forward(ctx, out.data(), nullptr, qkv.data(), nullptr, s.B, s.T, C,
                                  s.NH, 1));
    check_close((cfg + " out without lse").c_str(), out, want.out, kOutRtol, kOutAtol);
    // dqkv == NULL: gradient not wanted, nothing happens
    CHECK_OK(fl_attention_backward(ctx, nullptr, want.out.data(), qkv.data(), want.out.data(),
                                   want.lse.data(), nullptr, s.B, s.T, C, s.NH, 1));
    // zero sizes: nothing is read or written
    CHECK_OK(fl_attention_forward(ctx, nullptr, nullptr, nullptr, nullptr, 0, 5, C, s.NH, 1));
    CHECK_OK(fl_attention_forward(ctx, nullptr, nullptr, nullptr, nullptr, 2, 0, C, s.NH, 0));
    CHECK_OK(fl_attention_backward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 5,
                                   C, s.NH, 1));
    std::vector<float> none;
    CHECK_OK(fl_attention_backward(ctx, none.data(), nullptr, nullptr, nullptr, nullptr, nullptr,
                                   2, 0, C, s.NH, 0));
    // C = 0 (hs = 0): every score is 0, so lse = log(number of visible keys)
    std::vector<float> lse0(6, 0.f);
    const std::vector<int32_t> m0 = {1, 0, 1, 0, 0, 0};  // batch 1: nothing visible
    CHECK_OK(fl_attention_forward(ctx, none.data(), lse0.data(), none.data(), m0.data(), 2, 3, 0, 1,
                                  1));
    CHECK(std::fabs(lse0[0] - 0.f) < 1e-6f);  // t = 0 sees key 0
    CHECK(std::fabs(lse0[1] - 0.f) < 1e-6f);  // t = 1 sees key 0 (key 1 masked)
    CHECK(std::fabs(lse0[2] - std::log(2.f)) < 1e-6f);  // t = 2 sees keys 0 and 2
    for (int t = 3; t < 6; t++) CHECK(std::isinf(lse0[t]) && lse0[t] < 0);
  });
  // every key masked: out = 0, lse = -inf, zero gradient, no NaN
  const std::vector<int32_t> none_visible(static_cast<size_t>(s.B * s.T), 0);
  all_backends([&](fl_context *ctx, const std::string &cfg) {
    for (int causal : {0, 1}) {
      const Fwd f = forward(ctx, qkv, none_visible.data(), s, causal);
      for (float x : f.out) CHECK(x == 0.f);
      for (float x : f.lse) CHECK(std::isinf(x) && x < 0);
      const std::vector<float> pre = random_floats(qkv.size(), 52);
      std::vector<float> g = pre;
      CHECK_OK(fl_attention_backward(ctx, g.data(), want.out.data(), qkv.data(), f.out.data(),
                                     f.lse.data(), none_visible.data(), s.B, s.T, C, s.NH, causal));
      CHECK(g == pre);
    }
  });
}

// ---- attention-probability dropout (fl_attention_forward_dropout / _backward_dropout) ----------

namespace {

Fwd forward_dropout(fl_context *ctx, const std::vector<float> &qkv, const int32_t *mask,
                    const Shape &s, int causal, float p, uint64_t seed) {
  const int64_t C = s.NH * s.hs;
  Fwd f;
  f.out.assign(static_cast<size_t>(s.B * s.T * C), 12345.f);
  f.lse.assign(static_cast<size_t>(s.B * s.NH * s.T), 12345.f);
  CHECK_OK(fl_attention_forward_dropout(ctx, f.out.data(), f.lse.data(), qkv.data(), mask, s.B, s.T,
                                        C, s.NH, causal, p, seed));
  return f;
}

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

// p = 0 is the plain attention, bit for bit, on the reference and every CPU configuration.
TEST(attention_dropout_p0_is_plain_attention_bitwise) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 5000;
  for (const Shape &s : {Shape{2, 65, 3, 7}, Shape{1, 129, 2, 64}}) {
    for (int causal : {0, 1}) {
      const int64_t C = s.NH * s.hs;
      const size_t n = static_cast<size_t>(s.B * s.T * 3 * C);
      const std::vector<float> qkv = random_floats(n, seed++, -1.5f, 1.5f);
      const std::vector<int32_t> mask = make_mask(s.B, s.T, seed++);
      const std::vector<float> dout = random_floats(static_cast<size_t>(s.B * s.T * C), seed++);
      auto check = [&](fl_context *ctx, const std::string &cfg) {
        const std::string what = cfg + " " + describe(s, causal, true);
        const Fwd plain = forward(ctx, qkv, mask.data(), s, causal);
        const Fwd drop = forward_dropout(ctx, qkv, mask.data(), s, causal, 0.f, 77);
        if (!bitwise_equal(plain.out, drop.out) || !bitwise_equal(plain.lse, drop.lse))
          throw Failure(what + ": p = 0 forward differs from fl_attention_forward");
        std::vector<float> g1(n, 0.5f), g2(n, 0.5f);
        CHECK_OK(fl_attention_backward(ctx, g1.data(), dout.data(), qkv.data(), plain.out.data(),
                                       plain.lse.data(), mask.data(), s.B, s.T, C, s.NH, causal));
        CHECK_OK(fl_attention_backward_dropout(ctx, g2.data(), dout.data(), qkv.data(),
                                               plain.out.data(), plain.lse.data(), mask.data(), s.B,
                                               s.T, C, s.NH, causal, 0.f, 77));
        if (!bitwise_equal(g1, g2))
          throw Failure(what + ": p = 0 backward differs from fl_attention_backward");
      };
      check(ref, "reference");
      for_each_cpu_config(check);
    }
  }
}

// The mask itself, read through the kernels: with q = k = 0 every visible probability is 1/T, and
// with hs = T and v_j the unit vector e_j, out[b, i, h*hs + j] = Z_ij / T. So out * T * (1 - p) is
// exactly the 0/1 keep flag (up to rounding). Checked: every entry is 0 or 1, the flags agree
// between the reference and every CPU configuration, the kept fraction over 2*2*64*64 = 16384
// entries is within 0.02 of 1 - p (the standard deviation is sqrt(p (1 - p) / 16384) <= 0.004, so
// this is a 5-sigma bound), and another seed gives another mask.
TEST(attention_dropout_mask_keep_fraction) {
  Context ref(FL_BACKEND_REFERENCE);
  const Shape s{2, 64, 2, 64};
  const int64_t C = s.NH * s.hs, C3 = 3 * C;
  std::vector<float> qkv(static_cast<size_t>(s.B * s.T * C3), 0.f);
  for (int64_t b = 0; b < s.B; b++)
    for (int64_t j = 0; j < s.T; j++)
      for (int64_t h = 0; h < s.NH; h++) qkv[(b * s.T + j) * C3 + 2 * C + h * s.hs + j] = 1.f;
  auto flags = [&](const Fwd &f, float p, const std::string &what) {
    std::vector<int> k(f.out.size());
    for (size_t i = 0; i < f.out.size(); i++) {
      const double x = f.out[i] * static_cast<double>(s.T) * (1.0 - p);
      if (std::fabs(x) < 1e-4) k[i] = 0;
      else if (std::fabs(x - 1.0) < 1e-4) k[i] = 1;
      else throw Failure(what + ": out[" + std::to_string(i) + "] = " + std::to_string(f.out[i]) +
                         " is neither 0 nor 1 / (T (1 - p))");
    }
    return k;
  };
  for (float p : {0.1f, 0.5f, 0.9f}) {
    const std::vector<int> want = flags(forward_dropout(ref, qkv, nullptr, s, 0, p, 1234), p, "reference");
    double kept = 0;
    for (int x : want) kept += x;
    const double frac = kept / static_cast<double>(want.size());
    if (!(std::fabs(frac - (1.0 - p)) <= 0.02))
      throw Failure("p = " + std::to_string(p) + ": kept fraction " + std::to_string(frac));
    const std::vector<int> other = flags(forward_dropout(ref, qkv, nullptr, s, 0, p, 1235), p, "seed 1235");
    CHECK(other != want);
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      if (flags(forward_dropout(ctx, qkv, nullptr, s, 0, p, 1234), p, cfg) != want)
        throw Failure(cfg + ": dropout mask differs from the reference's, p = " + std::to_string(p));
    });
  }
}

// Finite differences of the reference backward with dropout on: a fixed seed is a fixed mask, so
// the loss L = sum(out * R) is a smooth function of qkv and the same bound as above applies.
TEST(attention_dropout_reference_backward_matches_finite_differences) {
  Context ref(FL_BACKEND_REFERENCE);
  const std::vector<Shape> shapes = {{2, 5, 2, 3}, {1, 6, 3, 2}};
  const float p = 0.3f;
  uint32_t seed = 6000;
  for (const Shape &s : shapes) {
    for (int causal : {0, 1}) {
      for (bool masked : {false, true}) {
        const std::string what = describe(s, causal, masked) + " dropout";
        const int64_t C = s.NH * s.hs, n = s.B * s.T * 3 * C;
        std::vector<float> qkv = random_floats(static_cast<size_t>(n), seed++, -1.5f, 1.5f);
        const std::vector<float> R = random_floats(static_cast<size_t>(s.B * s.T * C), seed++);
        std::vector<int32_t> mask = make_mask(s.B, s.T, seed++);
        if (masked && s.T > 2) mask[s.T - 1] = 1;
        const int32_t *m = masked ? mask.data() : nullptr;
        const uint64_t dseed = 42 + seed;

        Fwd f = forward_dropout(ref, qkv, m, s, causal, p, dseed);
        std::vector<float> grad(static_cast<size_t>(n), 0.f);
        CHECK_OK(fl_attention_backward_dropout(ref, grad.data(), R.data(), qkv.data(), f.out.data(),
                                               f.lse.data(), m, s.B, s.T, C, s.NH, causal, p, dseed));
        auto loss = [&](const std::vector<float> &x) {
          Fwd g = forward_dropout(ref, x, m, s, causal, p, dseed);
          double L = 0;
          for (size_t i = 0; i < R.size(); i++) L += static_cast<double>(g.out[i]) * R[i];
          return L;
        };
        for (int64_t i = 0; i < n; i++) {
          std::vector<float> xp = qkv, xm = qkv;
          xp[i] = qkv[i] + 1e-2f;
          xm[i] = qkv[i] - 1e-2f;
          const double fd = (loss(xp) - loss(xm)) / (static_cast<double>(xp[i]) - xm[i]);
          if (!(std::fabs(fd - grad[i]) <= 2e-3 + 1e-2 * std::fabs(fd)))
            throw Failure(what + ": d/dqkv[" + std::to_string(i) + "] analytic " +
                          std::to_string(grad[i]) + ", finite difference " + std::to_string(fd));
        }
      }
    }
  }
}

TEST(attention_dropout_rejects_bad_p) {
  Context cpu(FL_BACKEND_CPU);
  std::vector<float> x(3 * 2 * 4, 0.f), out(2 * 4), lse(2 * 2);
  for (float p : {-0.1f, 1.f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    CHECK(fl_attention_forward_dropout(cpu, out.data(), lse.data(), x.data(), nullptr, 1, 2, 4, 2, 1,
                                       p, 1) == FL_ERR_INVALID_ARGUMENT);
    CHECK(fl_attention_backward_dropout(cpu, x.data(), out.data(), x.data(), out.data(), lse.data(),
                                        nullptr, 1, 2, 4, 2, 1, p, 1) == FL_ERR_INVALID_ARGUMENT);
  }
}
