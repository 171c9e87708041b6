// The AVX-512 decode GEMV kernels (cpu/gemv_avx512.cpp: fl_sgemm / fl_sgemm_bias / fl_sgemm_bf16w
// with M <= 8) on awkward sizes, strides, both B layouts, float32 and bf16 B, alpha / beta / bias,
// 1 and 3 threads; also run in the SIMDe build (AVX-512 emulated).
//
// Tolerances:
//  - against a plain double-precision reference written here (exact products of the widened
//    weights): |got - want| <= (K + 3) 2^-24 mag + 1e-30, mag = |alpha| sum_p |x_p b_p| + |beta c|
//    + |bias|: the float32 error bound of a sum of K products in any order plus the epilogue's
//    (alpha, beta, bias) roundings;
//  - against the previous small-M kernels (FUSELM_GEMV=0, gemm_small_impl.h): bit for bit
//    (tolerance 0), for every thread count: the new kernels do the same float32 operations.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "testing.h"

namespace {

struct Case {
  int64_t m, n, k;
  int trans_b;
};

uint16_t to_bf16(float f) {  // round to nearest even (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float from_bf16(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

struct Problem {
  Case s;
  int64_t ldx, ldb, ldc;
  std::vector<float> x, b, bias, c0;
  std::vector<uint16_t> b16;
  Problem(const Case &cs, uint32_t seed) : s(cs) {
    ldx = s.k + int64_t(seed % 3);
    ldb = (s.trans_b ? s.k : s.n) + int64_t(seed % 2) * 5;
    ldc = s.n + int64_t(seed % 4);
    x = fltest::random_floats(size_t(s.m * ldx), seed, -1.f, 1.f);
    const int64_t rows = s.trans_b ? s.n : s.k;
    b = fltest::random_floats(size_t(rows * ldb), seed + 1, -1.f, 1.f);
    b16.resize(b.size());
    for (size_t i = 0; i < b.size(); i++) b16[i] = to_bf16(b[i]);
    bias = fltest::random_floats(size_t(s.n), seed + 2, -1.f, 1.f);
    c0 = fltest::random_floats(size_t(s.m * ldc), seed + 3, -1.f, 1.f);
  }
  float bv(bool bf16, int64_t p, int64_t j) const {
    const size_t i = size_t(s.trans_b ? j * ldb + p : p * ldb + j);
    return bf16 ? from_bf16(b16[i]) : b[i];
  }
  // The reference and the error bound of each output.
  void reference(bool bf16, float alpha, float beta, bool use_bias, std::vector<float> &want,
                 std::vector<float> &bound) const {
    want = c0;
    bound.assign(c0.size(), 0.f);
    for (int64_t i = 0; i < s.m; i++)
      for (int64_t j = 0; j < s.n; j++) {
        double acc = 0, mag = 0;
        for (int64_t p = 0; p < s.k; p++) {
          const double t = double(x[size_t(i * ldx + p)]) * bv(bf16, p, j);
          acc += t;
          mag += std::fabs(t);
        }
        const size_t o = size_t(i * ldc + j);
        double v = alpha * acc + (beta != 0.f ? double(beta) * c0[o] : 0.0);
        mag = std::fabs(alpha) * mag + (beta != 0.f ? std::fabs(beta * c0[o]) : 0.0);
        if (use_bias) {
          v += bias[size_t(j)];
          mag += std::fabs(bias[size_t(j)]);
        }
        want[o] = float(v);
        bound[o] = float(double(s.k + 3) * std::ldexp(1.0, -24) * mag + 1e-30);
      }
  }
  // C (with C's padding and, when beta == 0, NaN in C: it must not be read)
  std::vector<float> run(fl_context *ctx, bool bf16, float alpha, float beta,
                         bool use_bias) const {
    std::vector<float> c = c0;
    if (beta == 0.f)
      for (int64_t i = 0; i < s.m; i++)
        for (int64_t j = 0; j < s.n; j++) c[size_t(i * ldc + j)] = NAN;
    const float *bp = use_bias ? bias.data() : nullptr;
    if (bf16)
      CHECK_OK(fl_sgemm_bf16w(ctx, 0, s.trans_b, s.m, s.n, s.k, alpha, x.data(), ldx, b16.data(),
                              ldb, beta, bp, c.data(), ldc));
    else if (use_bias && alpha == 1.f && beta == 0.f)
      CHECK_OK(fl_sgemm_bias(ctx, 0, s.trans_b, s.m, s.n, s.k, x.data(), ldx, b.data(), ldb, bp,
                             c.data(), ldc));
    else
      CHECK_OK(fl_sgemm(ctx, 0, s.trans_b, s.m, s.n, s.k, alpha, x.data(), ldx, b.data(), ldb,
                        beta, c.data(), ldc));
    return c;
  }
};

std::string describe(const Case &s, bool bf16, float alpha, float beta, bool bias, int threads) {
  std::ostringstream os;
  os << (bf16 ? "bf16" : "fp32") << " M=" << s.m << " N=" << s.n << " K=" << s.k
     << " trans_b=" << s.trans_b << " alpha=" << alpha << " beta=" << beta << " bias=" << bias
     << " threads=" << threads;
  return os.str();
}

void with_gemv(const char *value) { setenv("FUSELM_GEMV", value, 1); }

}  // namespace

TEST(gemv_avx512_matches_reference_and_previous_kernels) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  if (best < FL_ISA_AVX512) fltest::skip("this CPU (and build) has no AVX-512");
  std::vector<Case> cases;
  for (int64_t m : {1, 2, 3, 5, 8})
    for (int tb = 0; tb < 2; tb++)
      for (int64_t n : {1, 15, 16, 17, 33, 64, 100, 130})
        for (int64_t k : {1, 3, 4, 7, 17, 40}) cases.push_back({m, n, k, tb});
  // decode-like shapes: long rows, several 64-column units per thread, a prefetch distance inside
  cases.push_back({1, 1100, 96, 0});
  cases.push_back({2, 2304, 64, 0});
  cases.push_back({1, 777, 300, 1});
  cases.push_back({3, 200, 770, 1});
  uint32_t seed = 700;
  for (const Case &s : cases) {
    Problem pr(s, seed);
    struct Epi {
      float alpha, beta;
      bool bias;
    };
    const Epi epis[] = {{1.f, 0.f, true}, {0.5f, 1.f, false}, {-2.f, 0.25f, true}};
    const Epi &e = epis[seed % 3];
    seed++;
    for (bool bf16 : {false, true}) {
      // fl_sgemm has no bias: float32 B takes one through fl_sgemm_bias (alpha 1, beta 0) only
      const bool bias = e.bias && (bf16 || (e.alpha == 1.f && e.beta == 0.f));
      std::vector<float> want, bound;
      pr.reference(bf16, e.alpha, e.beta, bias, want, bound);
      std::vector<float> first;
      for (int threads : {1, 3}) {
        fltest::Context ctx(FL_BACKEND_CPU);
        CHECK_OK(fl_context_set_isa(ctx, FL_ISA_AVX512));
        CHECK_OK(fl_context_set_threads(ctx, threads));
        const std::string what = describe(s, bf16, e.alpha, e.beta, bias, threads);
        with_gemv("1");
        std::vector<float> got = pr.run(ctx, bf16, e.alpha, e.beta, bias);
        with_gemv("0");
        std::vector<float> old = pr.run(ctx, bf16, e.alpha, e.beta, bias);
        unsetenv("FUSELM_GEMV");
        for (size_t o = 0; o < got.size(); o++) {
          if (!(std::fabs(got[o] - want[o]) <= bound[o]))
            throw fltest::Failure(what + ": element " + std::to_string(o) + " is " +
                                  std::to_string(got[o]) + ", reference " +
                                  std::to_string(want[o]));
          if (std::memcmp(&got[o], &old[o], sizeof(float)) != 0)
            throw fltest::Failure(what + ": element " + std::to_string(o) +
                                  " differs from FUSELM_GEMV=0's");
        }
        if (first.empty())
          first = got;
        else
          CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
      }
    }
  }
}

