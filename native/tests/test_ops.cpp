// Every op except GEMM and attention: layer norm (+ fused residual), GELU (tanh, erf), add, scale,
// softmax, cross-entropy, embeddings, gradient norm, AdamW.
//
// For each op: the CPU backend in every configuration (each ISA level this machine runs x 1 and 3
// threads) against the reference backend on awkward sizes, with the tolerance written at the check;
// finite-difference checks of every reference backward; the add-into convention (gradient buffers
// pre-filled with non-zero values) and NULL gradient pointers; determinism where training relies on
// it (gradient norm, mean loss).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "testing.h"

using fltest::check_close;
using fltest::Context;
using fltest::for_each_cpu_config;
using fltest::random_floats;
using fltest::random_ints;

namespace {

std::string tag(const std::string &cfg, const char *what, int64_t a, int64_t b = -1) {
  std::string s = cfg + " " + what + " " + std::to_string(a);
  if (b >= 0) s += "x" + std::to_string(b);
  return s;
}

// Central-difference check of an analytic gradient. loss() reads x (a float buffer the caller owns);
// every element is perturbed by +-h. |fd - analytic| <= atol + rtol * |analytic|.
void check_fd(const char *what, std::vector<float> &x, const std::vector<float> &analytic, float h,
              const std::function<double()> &loss, double rtol, double atol) {
  CHECK(x.size() == analytic.size());
  for (size_t i = 0; i < x.size(); i++) {
    const float keep = x[i];
    x[i] = keep + h;
    const double lp = loss();
    x[i] = keep - h;
    const double lm = loss();
    x[i] = keep;
    // the step actually taken in float
    const double fd = (lp - lm) / (static_cast<double>(keep + h) - static_cast<double>(keep - h));
    if (!(std::fabs(fd - analytic[i]) <= atol + rtol * std::fabs(analytic[i]))) {
      std::ostringstream os;
      os << what << ": element " << i << ": finite difference " << fd << ", analytic " << analytic[i];
      throw fltest::Failure(os.str());
    }
  }
}

double dot(const std::vector<float> &a, const std::vector<float> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += static_cast<double>(a[i]) * b[i];
  return s;
}

bool bitwise_equal(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size()) return false;
  return a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const int64_t kSizes[] = {1, 7, 63, 65, 129};

}  // namespace

// ---- layer norm -------------------------------------------------------------------------------

TEST(ops_layernorm_forward_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  const float eps = 1e-5f;
  struct Shape { int64_t N, C; };
  std::vector<Shape> shapes;
  for (int64_t N : {1, 7, 65})
    for (int64_t C : {1, 7, 63, 65, 129}) shapes.push_back({N, C});
  shapes.push_back({33, 768});
  uint32_t seed = 1;
  for (auto [N, C] : shapes) {
    auto inp = random_floats(N * C, seed++, -2.f, 2.f);
    for (int64_t r = 0; r < N; r++)  // row offsets up to +-30 std: stresses the variance pass
      for (int64_t i = 0; i < C; i++) inp[r * C + i] += static_cast<float>((r % 7) - 3) * 10.f;
    auto w = random_floats(C, seed++, 0.5f, 1.5f), b = random_floats(C, seed++, -0.5f, 0.5f);
    std::vector<float> out_r(N * C), mean_r(N), rstd_r(N);
    CHECK_OK(fl_layernorm_forward(ref, out_r.data(), mean_r.data(), rstd_r.data(), inp.data(),
                                  w.data(), b.data(), N, C, eps));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      std::vector<float> out(N * C), mean(N), rstd(N), out2(N * C);
      CHECK_OK(fl_layernorm_forward(ctx, out.data(), mean.data(), rstd.data(), inp.data(), w.data(),
                                    b.data(), N, C, eps));
      // Statistics are accumulated in double on both sides; the normalising pass is float
      // ((x - m) * s * w + b: four roundings of terms up to ~2 in magnitude), hence 1e-5.
      check_close(tag(cfg, "ln out", N, C).c_str(), out, out_r, 1e-5f, 1e-5f);
      // mean: |mean| <= 32, the two sides differ by the final rounding to float at most
      check_close(tag(cfg, "ln mean", N, C).c_str(), mean, mean_r, 1e-6f, 1e-6f);
      check_close(tag(cfg, "ln rstd", N, C).c_str(), rstd, rstd_r, 1e-6f, 0.f);
      // mean and rstd are optional: same output without them
      CHECK_OK(fl_layernorm_forward(ctx, out2.data(), nullptr, nullptr, inp.data(), w.data(),
                                    b.data(), N, C, eps));
      CHECK(bitwise_equal(out, out2));
    });
  }
}

TEST(ops_layernorm_backward_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  const float eps = 1e-5f;
  struct Shape { int64_t N, C; };
  std::vector<Shape> shapes;
  for (int64_t N : {1, 7, 65})
    for (int64_t C : {1, 7, 63, 65, 129}) shapes.push_back({N, C});
  shapes.push_back({65, 768});   // 4 row blocks for the dweight/dbias partials
  shapes.push_back({1000, 129}); // 8 row blocks
  uint32_t seed = 100;
  for (auto [N, C] : shapes) {
    auto inp = random_floats(N * C, seed++, -2.f, 2.f);
    auto w = random_floats(C, seed++, 0.5f, 1.5f), b = random_floats(C, seed++, -0.5f, 0.5f);
    auto dout = random_floats(N * C, seed++);
    std::vector<float> out(N * C), mean(N), rstd(N);
    CHECK_OK(fl_layernorm_forward(ref, out.data(), mean.data(), rstd.data(), inp.data(), w.data(),
                                  b.data(), N, C, eps));
    // add-into: every gradient buffer starts non-zero
    const auto dinp0 = random_floats(N * C, seed++), dw0 = random_floats(C, seed++),
               db0 = random_floats(C, seed++);
    auto dinp_r = dinp0, dw_r = dw0, db_r = db0;
    CHECK_OK(fl_layernorm_backward(ref, dinp_r.data(), dw_r.data(), db_r.data(), dout.data(),
                                   inp.data(), w.data(), mean.data(), rstd.data(), N, C));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      // each subset of wanted gradients: all, dinp only, parameters only, dweight only, dbias only
      for (int mask : {7, 1, 6, 2, 4}) {
        auto dinp = dinp0, dw = dw0, db = db0;
        CHECK_OK(fl_layernorm_backward(ctx, mask & 1 ? dinp.data() : nullptr,
                                       mask & 2 ? dw.data() : nullptr,
                                       mask & 4 ? db.data() : nullptr, dout.data(), inp.data(),
                                       w.data(), mean.data(), rstd.data(), N, C));
        const std::string t = tag(cfg, ("ln backward mask " + std::to_string(mask)).c_str(), N, C);
        // dinp: row sums over C in float lanes (reference: double), terms O(1): 1e-4 relative
        if (mask & 1) check_close((t + " dinp").c_str(), dinp, dinp_r, 1e-4f, 2e-5f);
        else CHECK(bitwise_equal(dinp, dinp0));
        // dweight/dbias: float sums over up to 1000 rows of O(1) terms (reference: double)
        if (mask & 2) check_close((t + " dweight").c_str(), dw, dw_r, 1e-4f, 1e-4f);
        else CHECK(bitwise_equal(dw, dw0));
        if (mask & 4) check_close((t + " dbias").c_str(), db, db_r, 1e-4f, 1e-4f);
        else CHECK(bitwise_equal(db, db0));
      }
    });
  }
}

// Finite differences of the reference backward: L = sum(dout * layernorm(inp; w, b)).
TEST(ops_layernorm_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const float eps = 1e-5f;
  // (C = 2 is left out: there norm(x) is nearly a sign function, too curved for a 1e-2 step)
  for (auto [N, C] : {std::pair<int64_t, int64_t>{3, 7}, {2, 5}, {1, 16}}) {
    auto inp = random_floats(N * C, 7 + C, -2.f, 2.f);
    auto w = random_floats(C, 8 + C, 0.5f, 1.5f), b = random_floats(C, 9 + C, -0.5f, 0.5f);
    auto dout = random_floats(N * C, 10 + C);
    std::vector<float> out(N * C), mean(N), rstd(N);
    auto loss = [&] {
      CHECK_OK(fl_layernorm_forward(ref, out.data(), mean.data(), rstd.data(), inp.data(),
                                    w.data(), b.data(), N, C, eps));
      return dot(dout, out);
    };
    loss();
    std::vector<float> dinp(N * C, 0.f), dw(C, 0.f), db(C, 0.f);
    CHECK_OK(fl_layernorm_backward(ref, dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                                   w.data(), mean.data(), rstd.data(), N, C));
    // h = 1e-2: truncation error ~h^2 |f'''| ~ 1e-4; float rounding of the outputs over ~2/h
    // adds ~1e-5. Gradient entries are O(1): 1e-3 + 1e-2 relative.
    const std::string t = "ln " + std::to_string(N) + "x" + std::to_string(C);
    check_fd((t + " dinp").c_str(), inp, dinp, 1e-2f, loss, 1e-2, 1e-3);
    check_fd((t + " dweight").c_str(), w, dw, 1e-2f, loss, 1e-2, 1e-3);
    check_fd((t + " dbias").c_str(), b, db, 1e-2f, loss, 1e-2, 1e-3);
  }
}

TEST(ops_residual_layernorm_forward) {
  Context ref(FL_BACKEND_REFERENCE);
  const float eps = 1e-5f;
  uint32_t seed = 200;
  for (int64_t N : {1, 7, 65})
    for (int64_t C : {1, 7, 63, 65, 129, 768}) {
      auto a = random_floats(N * C, seed++, -2.f, 2.f), b = random_floats(N * C, seed++, -2.f, 2.f);
      auto w = random_floats(C, seed++, 0.5f, 1.5f), bias = random_floats(C, seed++, -0.5f, 0.5f);
      std::vector<float> res_r(N * C), out_r(N * C), mean_r(N), rstd_r(N);
      CHECK_OK(fl_residual_layernorm_forward(ref, res_r.data(), out_r.data(), mean_r.data(),
                                             rstd_r.data(), a.data(), b.data(), w.data(),
                                             bias.data(), N, C, eps));
      for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
        std::vector<float> res(N * C), out(N * C), mean(N), rstd(N);
        CHECK_OK(fl_residual_layernorm_forward(ctx, res.data(), out.data(), mean.data(),
                                               rstd.data(), a.data(), b.data(), w.data(),
                                               bias.data(), N, C, eps));
        CHECK(bitwise_equal(res, res_r));  // one float addition per element on both sides
        check_close(tag(cfg, "resln out", N, C).c_str(), out, out_r, 1e-5f, 1e-5f);
        check_close(tag(cfg, "resln mean", N, C).c_str(), mean, mean_r, 1e-6f, 1e-6f);
        check_close(tag(cfg, "resln rstd", N, C).c_str(), rstd, rstd_r, 1e-6f, 0.f);
        // the fused op is exactly add followed by layernorm on the same backend
        std::vector<float> res2(N * C), out2(N * C), mean2(N), rstd2(N);
        CHECK_OK(fl_add(ctx, res2.data(), a.data(), b.data(), N * C));
        CHECK_OK(fl_layernorm_forward(ctx, out2.data(), mean2.data(), rstd2.data(), res2.data(),
                                      w.data(), bias.data(), N, C, eps));
        CHECK(bitwise_equal(res, res2) && bitwise_equal(out, out2) && bitwise_equal(mean, mean2) &&
              bitwise_equal(rstd, rstd2));
        // in place on the residual stream: residual_out == a
        auto a2 = a;
        std::vector<float> out3(N * C);
        CHECK_OK(fl_residual_layernorm_forward(ctx, a2.data(), out3.data(), nullptr, nullptr,
                                               a2.data(), b.data(), w.data(), bias.data(), N, C,
                                               eps));
        CHECK(bitwise_equal(a2, res) && bitwise_equal(out3, out));
      });
    }
}

// ---- pointwise --------------------------------------------------------------------------------

TEST(ops_gelu_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 300;
  for (int64_t n : {0, 1, 7, 63, 65, 129, 100003}) {
    auto x = random_floats(n, seed++, -8.f, 8.f);
    auto dout = random_floats(n, seed++);
    const auto dinp0 = random_floats(n, seed++);
    std::vector<float> out_r(n);
    auto dinp_r = dinp0;
    CHECK_OK(fl_gelu_forward(ref, out_r.data(), x.data(), n));
    CHECK_OK(fl_gelu_backward(ref, dinp_r.data(), x.data(), dout.data(), n));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      std::vector<float> out(n);
      auto dinp = dinp0;
      CHECK_OK(fl_gelu_forward(ctx, out.data(), x.data(), n));
      // tanh via the ~1-ulp exp: |error| <= 1.4e-7 |x| <= 1.2e-6 for |x| <= 8, plus rounding
      check_close(tag(cfg, "gelu forward", n).c_str(), out, out_r, 2e-6f, 2e-6f);
      CHECK_OK(fl_gelu_backward(ctx, dinp.data(), x.data(), dout.data(), n));
      // derivative |error| <= 1.9e-7, times |dout| <= 1, added into O(1) values
      check_close(tag(cfg, "gelu backward", n).c_str(), dinp, dinp_r, 1e-6f, 1e-6f);
      auto inplace = x;  // out may alias inp
      CHECK_OK(fl_gelu_forward(ctx, inplace.data(), inplace.data(), n));
      CHECK(bitwise_equal(inplace, out));
    });
  }
}

TEST(ops_gelu_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t n = 129;
  auto x = random_floats(n, 310, -4.f, 4.f);
  auto dout = random_floats(n, 311);
  std::vector<float> out(n), dinp(n, 0.f);
  auto loss = [&] {
    CHECK_OK(fl_gelu_forward(ref, out.data(), x.data(), n));
    return dot(dout, out);
  };
  CHECK_OK(fl_gelu_backward(ref, dinp.data(), x.data(), dout.data(), n));
  // h = 1e-2: GELU's third derivative is O(1), so truncation ~2e-5; outputs rounded to float
  check_fd("gelu dinp", x, dinp, 1e-2f, loss, 1e-3, 1e-4);
}

TEST(ops_gelu_erf_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 320;
  for (int64_t n : {0, 1, 7, 63, 65, 129, 100003}) {
    auto x = random_floats(n, seed++, -8.f, 8.f);
    if (n > 5) { x[0] = -30.f; x[1] = 30.f; x[2] = 0.f; x[3] = -1e-30f; x[4] = 1.4142135f; }
    auto dout = random_floats(n, seed++);
    const auto dinp0 = random_floats(n, seed++);
    std::vector<float> out_r(n);
    auto dinp_r = dinp0;
    CHECK_OK(fl_gelu_erf_forward(ref, out_r.data(), x.data(), n));
    CHECK_OK(fl_gelu_erf_backward(ref, dinp_r.data(), x.data(), dout.data(), n));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      std::vector<float> out(n);
      auto dinp = dinp0;
      CHECK_OK(fl_gelu_erf_forward(ctx, out.data(), x.data(), n));
      // Phi within 1.1e-7 absolute, times |x| <= 30, plus the float rounding of the product
      check_close(tag(cfg, "gelu_erf forward", n).c_str(), out, out_r, 1e-6f, 1e-6f);
      CHECK_OK(fl_gelu_erf_backward(ctx, dinp.data(), x.data(), dout.data(), n));
      // derivative |error| <= 1.8e-7, times |dout| <= 1, added into O(1) values
      check_close(tag(cfg, "gelu_erf backward", n).c_str(), dinp, dinp_r, 1e-6f, 1e-6f);
      auto inplace = x;  // out may alias inp
      CHECK_OK(fl_gelu_erf_forward(ctx, inplace.data(), inplace.data(), n));
      CHECK(bitwise_equal(inplace, out));
    });
  }
}

// The vectorised normal CDF inside the CPU kernel against std::erfc on a dense grid: x Phi(x) is
// divided back by x, so this checks Phi itself to 1.5e-7 absolute (fit error 1.1e-7 plus rounding).
TEST(ops_gelu_erf_cdf_accuracy_dense_grid) {
  const int64_t n = 240001;
  std::vector<float> x(n), out(n);
  for (int64_t i = 0; i < n; i++) x[i] = -12.f + 24.f * static_cast<float>(i) / (n - 1);
  for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
    CHECK_OK(fl_gelu_erf_forward(ctx, out.data(), x.data(), n));
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
      if (std::fabs(x[i]) < 0.25f) continue;  // dividing by a small x would amplify rounding
      const double want = 0.5 * std::erfc(-static_cast<double>(x[i]) / std::sqrt(2.0));
      const double got = static_cast<double>(out[i]) / x[i];
      worst = std::max(worst, std::fabs(got - want));
    }
    // out[i] = x * Phi rounded to float: |x| ulp / 2 relative, i.e. 6e-8 on Phi; total <= 1.8e-7
    if (!(worst <= 1.8e-7)) throw fltest::Failure(cfg + ": Phi error " + std::to_string(worst));
  });
}

TEST(ops_gelu_erf_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t n = 129;
  auto x = random_floats(n, 330, -4.f, 4.f);
  auto dout = random_floats(n, 331);
  std::vector<float> out(n), dinp(n, 0.f);
  auto loss = [&] {
    CHECK_OK(fl_gelu_erf_forward(ref, out.data(), x.data(), n));
    return dot(dout, out);
  };
  CHECK_OK(fl_gelu_erf_backward(ref, dinp.data(), x.data(), dout.data(), n));
  // h = 1e-2: the third derivative is O(1), so truncation ~2e-5; outputs rounded to float
  check_fd("gelu_erf dinp", x, dinp, 1e-2f, loss, 1e-3, 1e-4);
}

TEST(ops_add_and_scale) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 400;
  for (int64_t n : {0, 1, 7, 63, 65, 129, 100003}) {
    auto a = random_floats(n, seed++), b = random_floats(n, seed++);
    std::vector<float> sum_r(n);
    CHECK_OK(fl_add(ref, sum_r.data(), a.data(), b.data(), n));
    auto scaled_r = a;
    CHECK_OK(fl_scale(ref, scaled_r.data(), -0.37f, n));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      // one IEEE operation per element: bitwise equal to the reference
      std::vector<float> sum(n);
      CHECK_OK(fl_add(ctx, sum.data(), a.data(), b.data(), n));
      CHECK(bitwise_equal(sum, sum_r));
      auto a2 = a, b2 = b;  // out may alias a or b
      CHECK_OK(fl_add(ctx, a2.data(), a2.data(), b.data(), n));
      CHECK_OK(fl_add(ctx, b2.data(), a.data(), b2.data(), n));
      CHECK(bitwise_equal(a2, sum_r) && bitwise_equal(b2, sum_r));
      auto s = a;
      CHECK_OK(fl_scale(ctx, s.data(), -0.37f, n));
      CHECK(bitwise_equal(s, scaled_r));
      (void)cfg;
    });
  }
}

// ---- softmax and cross-entropy ----------------------------------------------------------------

TEST(ops_softmax_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 500;
  for (int64_t N : {1, 7})
    for (int64_t V : {1, 7, 63, 65, 129, 50257}) {
      auto x = random_floats(N * V, seed++, -10.f, 10.f);
      auto dout = random_floats(N * V, seed++);
      const auto dinp0 = random_floats(N * V, seed++);
      std::vector<float> y_r(N * V);
      CHECK_OK(fl_softmax_forward(ref, y_r.data(), x.data(), N, V));
      auto dinp_r = dinp0;
      CHECK_OK(fl_softmax_backward(ref, dinp_r.data(), y_r.data(), dout.data(), N, V));
      for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
        std::vector<float> y(N * V);
        CHECK_OK(fl_softmax_forward(ctx, y.data(), x.data(), N, V));
        // exp ~1 ulp, float sum over V in 16 lanes (reference: double): 2e-5 relative covers
        // V = 50257; atol for probabilities near 0
        check_close(tag(cfg, "softmax", N, V).c_str(), y, y_r, 2e-5f, 1e-9f);
        auto inplace = x;  // out may alias inp
        CHECK_OK(fl_softmax_forward(ctx, inplace.data(), inplace.data(), N, V));
        CHECK(bitwise_equal(inplace, y));
        auto dinp = dinp0;
        CHECK_OK(fl_softmax_backward(ctx, dinp.data(), y_r.data(), dout.data(), N, V));
        // sum(dout * y) in float lanes; added into O(1) values
        check_close(tag(cfg, "softmax backward", N, V).c_str(), dinp, dinp_r, 1e-5f, 1e-6f);
        CHECK_OK(fl_softmax_backward(ctx, nullptr, y_r.data(), dout.data(), N, V));  // not wanted
      });
    }
}

TEST(ops_softmax_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t N = 3, V = 9;
  auto x = random_floats(N * V, 510, -3.f, 3.f);
  auto dout = random_floats(N * V, 511);
  std::vector<float> y(N * V), dinp(N * V, 0.f);
  auto loss = [&] {
    CHECK_OK(fl_softmax_forward(ref, y.data(), x.data(), N, V));
    return dot(dout, y);
  };
  loss();
  CHECK_OK(fl_softmax_backward(ref, dinp.data(), y.data(), dout.data(), N, V));
  // probabilities <= 1, gradients O(0.1): h = 1e-2, 1e-4 absolute
  check_fd("softmax dinp", x, dinp, 1e-2f, loss, 1e-2, 1e-4);
}

namespace {

struct CeCase {
  int64_t N, V;
  std::vector<float> logits;
  std::vector<int32_t> targets;
};

CeCase make_ce(int64_t N, int64_t V, uint32_t seed, int32_t ignore_index) {
  CeCase c{N, V, random_floats(N * V, seed, -8.f, 8.f), random_ints(N, seed + 1, 0, static_cast<int32_t>(V - 1))};
  for (int64_t r = 0; r < N; r++)
    if (r % 3 == 1) c.targets[r] = ignore_index;  // every third row ignored
  return c;
}

}  // namespace

TEST(ops_cross_entropy_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int32_t ignore = -100;
  uint32_t seed = 600;
  struct Shape { int64_t N, V; };
  std::vector<Shape> shapes;
  for (int64_t N : {1, 2, 7, 65})
    for (int64_t V : {1, 7, 63, 65, 129}) shapes.push_back({N, V});
  shapes.push_back({5, 50257});
  for (auto [N, V] : shapes) {
    CeCase c = make_ce(N, V, seed, ignore);
    seed += 2;
    float mean_r = -1.f;
    int64_t count_r = -1;
    std::vector<float> losses_r(N), lse_r(N), d_r(N * V);
    CHECK_OK(fl_cross_entropy_forward(ref, &mean_r, &count_r, losses_r.data(), lse_r.data(),
                                      c.logits.data(), c.targets.data(), N, V, ignore));
    CHECK(count_r == N - (N + 1) / 3);
    const float dloss = 1.7f;
    CHECK_OK(fl_cross_entropy_backward(ref, d_r.data(), c.logits.data(), lse_r.data(),
                                       c.targets.data(), N, V, ignore, dloss, count_r));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      float mean = -1.f;
      int64_t count = -1;
      std::vector<float> losses(N, 5.f), lse(N);
      CHECK_OK(fl_cross_entropy_forward(ctx, &mean, &count, losses.data(), lse.data(),
                                        c.logits.data(), c.targets.data(), N, V, ignore));
      CHECK(count == count_r);
      // lse = max + log(sum exp) with float lane sums (reference: double); |lse| <= ~19
      check_close(tag(cfg, "ce lse", N, V).c_str(), lse, lse_r, 1e-6f, 2e-6f);
      check_close(tag(cfg, "ce losses", N, V).c_str(), losses, losses_r, 1e-5f, 4e-6f);
      for (int64_t r = 0; r < N; r++)
        if (c.targets[r] == ignore) CHECK(losses[r] == 0.f);
      check_close(tag(cfg, "ce mean", N, V).c_str(), &mean, &mean_r, 1, 1e-5f, 4e-6f);
      // losses may be NULL: same mean, bitwise
      float mean2 = -1.f;
      int64_t count2 = -1;
      CHECK_OK(fl_cross_entropy_forward(ctx, &mean2, &count2, nullptr, lse.data(),
                                        c.logits.data(), c.targets.data(), N, V, ignore));
      CHECK(mean2 == mean && count2 == count);
      // backward overwrites (pre-filled garbage must not leak through), gradients are O(1/count)
      std::vector<float> d(N * V, 123.f);
      CHECK_OK(fl_cross_entropy_backward(ctx, d.data(), c.logits.data(), lse_r.data(),
                                         c.targets.data(), N, V, ignore, dloss, count_r));
      check_close(tag(cfg, "ce dlogits", N, V).c_str(), d, d_r, 1e-5f, 1e-8f);
      // in place: dlogits == logits
      auto inplace = c.logits;
      CHECK_OK(fl_cross_entropy_backward(ctx, inplace.data(), inplace.data(), lse_r.data(),
                                         c.targets.data(), N, V, ignore, dloss, count_r));
      CHECK(bitwise_equal(inplace, d));
    });
  }
}

TEST(ops_cross_entropy_no_counted_rows) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t N = 4, V = 9;
  auto logits = random_floats(N * V, 650);
  std::vector<int32_t> targets(N, -100);
  auto run = [&](fl_context *ctx) {
    float mean = -1.f;
    int64_t count = -1;
    std::vector<float> losses(N, 3.f), lse(N);
    CHECK_OK(fl_cross_entropy_forward(ctx, &mean, &count, losses.data(), lse.data(), logits.data(),
                                      targets.data(), N, V, -100));
    CHECK(mean == 0.f && count == 0);
    for (float l : losses) CHECK(l == 0.f);
    std::vector<float> d(N * V, 7.f);
    CHECK_OK(fl_cross_entropy_backward(ctx, d.data(), logits.data(), lse.data(), targets.data(), N,
                                       V, -100, 1.f, count));
    for (float g : d) CHECK(g == 0.f);
    // count <= 0 writes zeros even for rows that are not ignored
    std::vector<int32_t> t2(N, 3);
    std::fill(d.begin(), d.end(), 7.f);
    CHECK_OK(fl_cross_entropy_backward(ctx, d.data(), logits.data(), lse.data(), t2.data(), N, V,
                                       -100, 1.f, 0));
    for (float g : d) CHECK(g == 0.f);
  };
  run(ref);
  for_each_cpu_config([&](fl_context *ctx, const std::string &) { run(ctx); });
}

// Finite differences of the reference: L = dloss * mean over counted rows of the loss.
TEST(ops_cross_entropy_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t N = 5, V = 7;
  const int32_t ignore = -1;
  CeCase c = make_ce(N, V, 660, ignore);
  const float dloss = 0.8f;
  std::vector<float> lse(N);
  float mean = 0.f;
  int64_t count = 0;
  auto loss = [&] {
    CHECK_OK(fl_cross_entropy_forward(ref, &mean, &count, nullptr, lse.data(), c.logits.data(),
                                      c.targets.data(), N, V, ignore));
    return static_cast<double>(dloss) * mean;
  };
  loss();
  CHECK(count == 3);
  std::vector<float> d(N * V);
  CHECK_OK(fl_cross_entropy_backward(ref, d.data(), c.logits.data(), lse.data(), c.targets.data(),
                                     N, V, ignore, dloss, count));
  // ignored rows: exactly zero gradient (and the loss does not depend on them)
  for (int64_t r = 0; r < N; r++)
    if (c.targets[r] == ignore)
      for (int64_t i = 0; i < V; i++) CHECK(d[r * V + i] == 0.f);
  // the mean loss is a float (rounding ~5e-7 for losses ~8): h = 1e-2 gives noise ~5e-5
  check_fd("ce dlogits", c.logits, d, 1e-2f, loss, 1e-2, 2e-4);
}

// The mean loss must not depend on the thread count (bitwise): exact training resume relies on it.
TEST(ops_cross_entropy_mean_is_deterministic) {
  const int64_t N = 257, V = 1031;
  CeCase c = make_ce(N, V, 670, -100);
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  for (int isa = FL_ISA_GENERIC; isa <= best; isa++) {
    float first = 0.f;
    for (int threads : {1, 2, 3, 4, 7, 16}) {
      Context ctx(FL_BACKEND_CPU);
      CHECK_OK(fl_context_set_isa(ctx, isa));
      CHECK_OK(fl_context_set_threads(ctx, threads));
      float mean = 0.f;
      int64_t count = 0;
      CHECK_OK(fl_cross_entropy_forward(ctx, &mean, &count, nullptr, nullptr, c.logits.data(),
                                        c.targets.data(), N, V, -100));
      if (threads == 1) first = mean;
      CHECK(std::memcmp(&mean, &first, sizeof mean) == 0);
    }
  }
}

// ---- embeddings -------------------------------------------------------------------------------

TEST(ops_embedding_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 700;
  struct Shape { int64_t B, T, C, V; };
  std::vector<Shape> shapes = {{1, 1, 1, 1}, {1, 7, 7, 3}, {2, 63, 65, 50}, {3, 65, 129, 7},
                               {4, 129, 768, 1000}, {2, 1, 63, 5}};
  for (auto [B, T, C, V] : shapes) {
    // ids from a small vocabulary: many repeats, the scatter-add's hard case
    auto ids = random_ints(B * T, seed++, 0, static_cast<int32_t>(V - 1));
    auto wte = random_floats(V * C, seed++), wpe = random_floats(T * C, seed++);
    auto dout = random_floats(B * T * C, seed++);
    const auto dwte0 = random_floats(V * C, seed++), dwpe0 = random_floats(T * C, seed++);
    std::vector<float> out_r(B * T * C), out_nopos_r(B * T * C);
    CHECK_OK(fl_embedding_forward(ref, out_r.data(), ids.data(), wte.data(), wpe.data(), B, T, C));
    CHECK_OK(fl_embedding_forward(ref, out_nopos_r.data(), ids.data(), wte.data(), nullptr, B, T, C));
    auto dwte_r = dwte0, dwpe_r = dwpe0;
    CHECK_OK(fl_embedding_backward(ref, dwte_r.data(), dwpe_r.data(), dout.data(), ids.data(), B, T, C));
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      // a copy and at most one float addition per element; backward adds in token order exactly
      // as the reference does (column-split, see embedding.cpp): all bitwise equal
      std::vector<float> out(B * T * C);
      CHECK_OK(fl_embedding_forward(ctx, out.data(), ids.data(), wte.data(), wpe.data(), B, T, C));
      CHECK(bitwise_equal(out, out_r));
      CHECK_OK(fl_embedding_forward(ctx, out.data(), ids.data(), wte.data(), nullptr, B, T, C));
      CHECK(bitwise_equal(out, out_nopos_r));
      auto dwte = dwte0, dwpe = dwpe0;
      CHECK_OK(fl_embedding_backward(ctx, dwte.data(), dwpe.data(), dout.data(), ids.data(), B, T, C));
      CHECK(bitwise_equal(dwte, dwte_r));
      CHECK(bitwise_equal(dwpe, dwpe_r));
      // NULL gradients: the other one is still computed, the NULL one untouched
      dwte = dwte0;
      dwpe = dwpe0;
      CHECK_OK(fl_embedding_backward(ctx, dwte.data(), nullptr, dout.data(), ids.data(), B, T, C));
      CHECK(bitwise_equal(dwte, dwte_r));
      CHECK_OK(fl_embedding_backward(ctx, nullptr, dwpe.data(), dout.data(), ids.data(), B, T, C));
      CHECK(bitwise_equal(dwpe, dwpe_r));
      (void)cfg;
    });
  }
}

// Finite differences of the reference: L = sum(dout * embed(ids)), with repeated ids.
TEST(ops_embedding_backward_finite_difference) {
  Context ref(FL_BACKEND_REFERENCE);
  const int64_t B = 2, T = 3, C = 4, V = 3;
  std::vector<int32_t> ids = {0, 2, 0, 2, 2, 1};  // id 2 three times, id 0 twice
  auto wte = random_floats(V * C, 710), wpe = random_floats(T * C, 711);
  auto dout = random_floats(B * T * C, 712);
  std::vector<float> out(B * T * C), dwte(V * C, 0.f), dwpe(T * C, 0.f);
  auto loss = [&] {
    CHECK_OK(fl_embedding_forward(ref, out.data(), ids.data(), wte.data(), wpe.data(), B, T, C));
    return dot(dout, out);
  };
  CHECK_OK(fl_embedding_backward(ref, dwte.data(), dwpe.data(), dout.data(), ids.data(), B, T, C));
  // L is linear in wte and wpe: the central difference is exact up to float rounding of out
  check_fd("embedding dwte", wte, dwte, 1e-2f, loss, 1e-3, 1e-4);
  check_fd("embedding dwpe", wpe, dwpe, 1e-2f, loss, 1e-3, 1e-4);
}

// ---- gradient norm ----------------------------------------------------------------------------

TEST(ops_grad_norm_matches_reference_and_is_deterministic) {
  Context ref(FL_BACKEND_REFERENCE);
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  uint32_t seed = 800;
  for (int64_t n : {0, 1, 7, 63, 65, 129, 65536, 65537, 1000003}) {
    auto g = random_floats(n, seed++, -3.f, 3.f);
    float norm_r = -1.f;
    CHECK_OK(fl_grad_norm(ref, &norm_r, g.data(), n));
    if (n == 0) CHECK(norm_r == 0.f);
    float first = -1.f;
    for (int isa = FL_ISA_GENERIC; isa <= best; isa++)
      for (int threads : {1, 2, 3, 5, 8}) {
        Context ctx(FL_BACKEND_CPU);
        CHECK_OK(fl_context_set_isa(ctx, isa));
        CHECK_OK(fl_context_set_threads(ctx, threads));
        float norm = -1.f;
        CHECK_OK(fl_grad_norm(ctx, &norm, g.data(), n));
        // both sum in double (different order): the float results agree to 1 ulp
        check_close(("grad_norm n=" + std::to_string(n)).c_str(), &norm, &norm_r, 1, 2e-7f, 0.f);
        // fixed blocks, fixed lanes, exact squares: bitwise the same for every thread count and ISA
        if (first < 0.f) first = norm;
        CHECK(std::memcmp(&norm, &first, sizeof norm) == 0);
      }
  }
}

// ---- AdamW ------------------------------------------------------------------------------------

namespace {

// PyTorch's AdamW in double, for the hand-checked example
void adamw_double(std::vector<double> &p, const std::vector<double> &g, std::vector<double> &m,
                  std::vector<double> &v, double lr, double b1, double b2, double eps, double wd,
                  int t, const std::vector<bool> &decay) {
  for (size_t i = 0; i < p.size(); i++) {
    if (decay[i]) p[i] -= lr * wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
    p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
  }
}

}  // namespace

// Two steps on 4 parameters in 2 segments (decay, no decay), against numbers worked out by hand:
// step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2, update = lr * g / (|g| + eps) = lr sign(g).
TEST(ops_adamw_two_steps_by_hand) {
  const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  const std::vector<float> p0 = {1.0f, -2.0f, 0.5f, 3.0f};
  const std::vector<float> g1 = {0.5f, -0.25f, 2.0f, -1.0f}, g2 = {-0.5f, 0.5f, 1.0f, -1.0f};
  const int64_t seg[] = {0, 2, 4};
  const uint8_t dec[] = {1, 0};
  // Step 1 by hand: decayed p *= (1 - lr*wd) = 0.999, then p -= 0.01 * sign(g) (|g| >> eps).
  const double want1[] = {1.0 * 0.999 - 0.01, -2.0 * 0.999 + 0.01, 0.5 - 0.01, 3.0 + 0.01};
  auto run = [&](fl_context *ctx, const std::string &cfg) {
    auto p = p0;
    std::vector<float> m(4, 0.f), v(4, 0.f);
    CHECK_OK(fl_adamw_step(ctx, p.data(), g1.data(), m.data(), v.data(), 4, seg, dec, 2, lr, b1, b2,
                           eps, wd, 1, 1.0f));
    for (int i = 0; i < 4; i++) {
      // float arithmetic on O(1) values: a few ulps
      CHECK(std::fabs(p[i] - want1[i]) <= 1e-6 * std::fabs(want1[i]) + 1e-7);
      // m = (1 - b1) g, v = (1 - b2) g^2 with the float betas (1 - 0.999f is 1.3e-5 off 0.001)
      const double m_want = (1.0 - static_cast<double>(b1)) * g1[i];
      const double v_want = (1.0 - static_cast<double>(b2)) * g1[i] * g1[i];
      CHECK(std::fabs(m[i] - m_want) <= 1e-6 * std::fabs(m_want));
      CHECK(std::fabs(v[i] - v_want) <= 1e-6 * v_want);
    }
    // Step 2 against the double-precision formula (checked against the step-1 values above)
    std::vector<double> pd(p0.begin(), p0.end()), md(4, 0.0), vd(4, 0.0);
    std::vector<double> g1d(g1.begin(), g1.end()), g2d(g2.begin(), g2.end());
    const std::vector<bool> decay = {true, true, false, false};
    adamw_double(pd, g1d, md, vd, lr, b1, b2, eps, wd, 1, decay);
    for (int i = 0; i < 4; i++) CHECK(std::fabs(pd[i] - want1[i]) <= 1e-7);
    adamw_double(pd, g2d, md, vd, lr, b1, b2, eps, wd, 2, decay);
    CHECK_OK(fl_adamw_step(ctx, p.data(), g2.data(), m.data(), v.data(), 4, seg, dec, 2, lr, b1, b2,
                           eps, wd, 2, 1.0f));
    for (int i = 0; i < 4; i++) {
      if (!(std::fabs(p[i] - pd[i]) <= 1e-6 * std::fabs(pd[i]) + 1e-7)) {
        throw fltest::Failure(cfg + ": adamw step 2 param " + std::to_string(i) + " = " +
                              std::to_string(p[i]) + ", expected " + std::to_string(pd[i]));
      }
      CHECK(std::fabs(m[i] - md[i]) <= 1e-6 * std::fabs(md[i]) + 1e-9);
      CHECK(std::fabs(v[i] - vd[i]) <= 1e-6 * vd[i]);
    }
  };
  Context ref(FL_BACKEND_REFERENCE);
  run(ref, "reference");
  for_each_cpu_config(run);
}

TEST(ops_adamw_matches_reference) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 900;
  for (int64_t n : {1, 7, 63, 65, 129, 100003}) {
    // segments of awkward lengths, including empty ones, alternating decay
    std::vector<int64_t> seg = {0};
    std::vector<uint8_t> dec;
    for (int64_t len : {int64_t{0}, n / 3, int64_t{1}, int64_t{0}, n / 5 + 1, int64_t{17}}) {
      const int64_t end = std::min(n, seg.back() + len);
      seg.push_back(end);
      dec.push_back(static_cast<uint8_t>(seg.size() % 2));
    }
    seg.push_back(n);
    dec.push_back(1);
    const int64_t nseg = static_cast<int64_t>(dec.size());
    auto p0 = random_floats(n, seed++), g = random_floats(n, seed++);
    auto m0 = random_floats(n, seed++, -0.1f, 0.1f), v0 = random_floats(n, seed++, 0.f, 0.01f);
    for (float grad_scale : {1.0f, 0.37f}) {
      for (int64_t t : {1, 1000}) {
        auto p_r = p0, m_r = m0, v_r = v0;
        CHECK_OK(fl_adamw_step(ref, p_r.data(), g.data(), m_r.data(), v_r.data(), n, seg.data(),
                               dec.data(), nseg, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, t, grad_scale));
        for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
          auto p = p0, m = m0, v = v0;
          CHECK_OK(fl_adamw_step(ctx, p.data(), g.data(), m.data(), v.data(), n, seg.data(),
                                 dec.data(), nseg, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, t, grad_scale));
          // same float operations in the same order on both sides (IEEE sqrt and division): equal
          // up to contraction differences, so 1 ulp-ish tolerances
          check_close(tag(cfg, "adamw p", n).c_str(), p, p_r, 1e-6f, 1e-7f);
          check_close(tag(cfg, "adamw m", n).c_str(), m, m_r, 1e-6f, 1e-9f);
          check_close(tag(cfg, "adamw v", n).c_str(), v, v_r, 1e-6f, 1e-12f);
        });
      }
    }
  }
}

// Decay mask and grad_scale semantics, checked element by element on the CPU backend.
TEST(ops_adamw_decay_mask_and_grad_scale) {
  const int64_t n = 40;
  const int64_t seg[] = {0, 10, 10, 25, 40};  // an empty segment in the middle
  const uint8_t dec[] = {1, 1, 0, 1};
  auto p0 = random_floats(n, 950), g = random_floats(n, 951);
  for_each_cpu_config([&](fl_context *ctx, const std::string &) {
    // zero gradients and zero moments: the only change is the decay, on decaying segments only
    auto p = p0;
    std::vector<float> zeros(n, 0.f), m(n, 0.f), v(n, 0.f);
    CHECK_OK(fl_adamw_step(ctx, p.data(), zeros.data(), m.data(), v.data(), n, seg, dec, 4, 0.5f,
                           0.9f, 0.999f, 1e-8f, 0.2f, 1, 1.0f));
    for (int64_t i = 0; i < n; i++) {
      const bool decays = i < 10 || i >= 25;
      CHECK(p[i] == (decays ? p0[i] * 0.9f : p0[i]));  // 1 - 0.5 * 0.2 = 0.9
    }
    // grad_scale multiplies the gradient: scaled grads equal pre-multiplied grads bitwise
    auto g_half = g;
    for (auto &x : g_half) x *= 0.5f;
    auto pa = p0, pb = p0;
    std::vector<float> ma(n, 0.01f), va(n, 0.02f), mb = ma, vb = va;
    CHECK_OK(fl_adamw_step(ctx, pa.data(), g.data(), ma.data(), va.data(), n, seg, dec, 4, 1e-2f,
                           0.9f, 0.999f, 1e-8f, 0.1f, 3, 0.5f));
    CHECK_OK(fl_adamw_step(ctx, pb.data(), g_half.data(), mb.data(), vb.data(), n, seg, dec, 4, 1e-2f,
                           0.9f, 0.999f, 1e-8f, 0.1f, 3, 1.0f));
    CHECK(bitwise_equal(pa, pb) && bitwise_equal(ma, mb) && bitwise_equal(va, vb));
  });
}

// ---- every ISA level computes the same numbers -------------------------------------------------

// The kernels are built with fp-contract=off and fixed 16-lane reductions (see
// native/cpu/pointwise_math.h), so every ISA level performs the same IEEE operations in the same
// order: outputs are bitwise equal to the generic build's. Checkpoints and resumed runs therefore do
// not depend on which machine (AVX2 or AVX-512) computed them. The guarantee rests on GCC's
// per-function fp-contract=off, so the test is GCC-only.
TEST(ops_cpu_results_identical_across_isa) {
#if !defined(__clang__)
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  const int64_t N = 65, C = 768, n = 100003, R = 9, V = 4099;
  auto x = random_floats(N * C, 1000, -3.f, 3.f), dy = random_floats(N * C, 1001);
  auto w = random_floats(C, 1002, 0.5f, 1.5f), b = random_floats(C, 1003);
  auto big = random_floats(n, 1004, -6.f, 6.f), big2 = random_floats(n, 1005);
  auto logits = random_floats(R * V, 1006, -9.f, 9.f), dlog = random_floats(R * V, 1007);
  auto targets = random_ints(R, 1008, 0, static_cast<int32_t>(V - 1));
  targets[3] = -100;
  const int64_t seg[] = {0, 1000, 1768, n};
  const uint8_t dec[] = {1, 0, 1};
  auto results = [&](fl_context *ctx) {
    std::vector<std::vector<float>> r;
    std::vector<float> out(N * C), mean(N), rstd(N), res(N * C), dx(N * C, 0.5f), dw(C, 0.f),
        db(C, 0.f);
    CHECK_OK(fl_layernorm_forward(ctx, out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                  b.data(), N, C, 1e-5f));
    CHECK_OK(fl_layernorm_backward(ctx, dx.data(), dw.data(), db.data(), dy.data(), x.data(),
                                   w.data(), mean.data(), rstd.data(), N, C));
    r.insert(r.end(), {out, mean, rstd, dx, dw, db});
    CHECK_OK(fl_residual_layernorm_forward(ctx, res.data(), out.data(), mean.data(), rstd.data(),
                                           x.data(), dy.data(), w.data(), b.data(), N, C, 1e-5f));
    r.insert(r.end(), {res, out, mean, rstd});
    std::vector<float> g(n), dg(n, 0.25f);
    CHECK_OK(fl_gelu_forward(ctx, g.data(), big.data(), n));
    CHECK_OK(fl_gelu_backward(ctx, dg.data(), big.data(), big2.data(), n));
    r.insert(r.end(), {g, dg});
    std::vector<float> ge(n), dge(n, 0.25f);
    CHECK_OK(fl_gelu_erf_forward(ctx, ge.data(), big.data(), n));
    CHECK_OK(fl_gelu_erf_backward(ctx, dge.data(), big.data(), big2.data(), n));
    r.insert(r.end(), {ge, dge});
    std::vector<float> y(R * V), dsm(R * V, 0.f), losses(R), lse(R), d(R * V);
    CHECK_OK(fl_softmax_forward(ctx, y.data(), logits.data(), R, V));
    CHECK_OK(fl_softmax_backward(ctx, dsm.data(), y.data(), dlog.data(), R, V));
    float mean_loss = 0.f;
    int64_t count = 0;
    CHECK_OK(fl_cross_entropy_forward(ctx, &mean_loss, &count, losses.data(), lse.data(),
                                      logits.data(), targets.data(), R, V, -100));
    CHECK_OK(fl_cross_entropy_backward(ctx, d.data(), logits.data(), lse.data(), targets.data(), R,
                                       V, -100, 1.f, count));
    r.insert(r.end(), {y, dsm, losses, lse, d, {mean_loss}});
    auto p = big2;
    std::vector<float> m(n, 0.f), v(n, 0.f), norm(1);
    for (int64_t t = 1; t <= 3; t++)
      CHECK_OK(fl_adamw_step(ctx, p.data(), big.data(), m.data(), v.data(), n, seg, dec, 3, 1e-3f,
                             0.9f, 0.95f, 1e-8f, 0.1f, t, 0.7f));
    CHECK_OK(fl_grad_norm(ctx, norm.data(), big.data(), n));
    r.insert(r.end(), {p, m, v, norm});
    return r;
  };
  Context generic(FL_BACKEND_CPU);
  CHECK_OK(fl_context_set_isa(generic, FL_ISA_GENERIC));
  CHECK_OK(fl_context_set_threads(generic, 3));
  const auto want = results(generic);
  for (int isa = FL_ISA_GENERIC + 1; isa <= best; isa++) {
    Context ctx(FL_BACKEND_CPU);
    CHECK_OK(fl_context_set_isa(ctx, isa));
    CHECK_OK(fl_context_set_threads(ctx, 2));
    const auto got = results(ctx);
    CHECK(got.size() == want.size());
    for (size_t i = 0; i < got.size(); i++) {
      if (!bitwise_equal(got[i], want[i]))
        throw fltest::Failure("isa " + std::to_string(isa) + ": output " + std::to_string(i) +
                              " differs from the generic build");
    }
  }
#endif
}

// ---- zero sizes -------------------------------------------------------------------------------

TEST(ops_zero_sizes_are_noops) {
  Context ref(FL_BACKEND_REFERENCE);
  auto run = [](fl_context *ctx) {
    float x = 42.f, m = 0.f;
    int64_t count = 9;
    const int64_t seg[] = {0};
    const uint8_t dec[] = {0};
    CHECK_OK(fl_layernorm_forward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 768, 1e-5f));
    CHECK_OK(fl_layernorm_forward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 5, 0, 1e-5f));
    CHECK_OK(fl_layernorm_backward(ctx, nullptr, &x, &x, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 768));
    CHECK_OK(fl_residual_layernorm_forward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                           nullptr, nullptr, 0, 7, 1e-5f));
    CHECK_OK(fl_gelu_forward(ctx, nullptr, nullptr, 0));
    CHECK_OK(fl_gelu_backward(ctx, nullptr, nullptr, nullptr, 0));
    CHECK_OK(fl_gelu_erf_forward(ctx, nullptr, nullptr, 0));
    CHECK_OK(fl_gelu_erf_backward(ctx, nullptr, nullptr, nullptr, 0));
    CHECK_OK(fl_add(ctx, nullptr, nullptr, nullptr, 0));
    CHECK_OK(fl_scale(ctx, nullptr, 2.f, 0));
    CHECK_OK(fl_softmax_forward(ctx, nullptr, nullptr, 0, 50257));
    CHECK_OK(fl_softmax_backward(ctx, nullptr, nullptr, nullptr, 0, 7));
    CHECK_OK(fl_cross_entropy_forward(ctx, &m, &count, nullptr, nullptr, nullptr, nullptr, 0, 50257, -100));
    CHECK(m == 0.f && count == 0);
    CHECK_OK(fl_cross_entropy_backward(ctx, nullptr, nullptr, nullptr, nullptr, 0, 7, -100, 1.f, 0));
    CHECK_OK(fl_embedding_forward(ctx, nullptr, nullptr, nullptr, nullptr, 0, 7, 7));
    CHECK_OK(fl_embedding_backward(ctx, &x, &x, nullptr, nullptr, 3, 0, 7));
    CHECK_OK(fl_grad_norm(ctx, &m, nullptr, 0));
    CHECK(m == 0.f);
    CHECK_OK(fl_adamw_step(ctx, nullptr, nullptr, nullptr, nullptr, 0, seg, dec, 0, 1e-3f, 0.9f,
                           0.999f, 1e-8f, 0.1f, 1, 1.f));
    CHECK(x == 42.f);
  };
  run(ref);
  for_each_cpu_config([&](fl_context *ctx, const std::string &) { run(ctx); });
}
