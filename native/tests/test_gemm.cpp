// GEMM, fused-bias GEMM and bias gradient: the CPU backend (every ISA level, 1 and 3 threads, plus a
// few wider thread counts) against the reference backend.
//
// Tolerance. Every optimised path sums the K products in a different order than the reference (FMA,
// K blocking, vector lanes). For an inner product of length K computed in float in ANY order,
// |fl(s) - s| <= gamma_K * sum_p |a_p b_p| with gamma_K = K u / (1 - K u), u = 2^-24 (Higham,
// "Accuracy and Stability of Numerical Algorithms", section 3.1). Scaling by alpha, adding beta*C and
// the bias, and the reference's own final rounding add a few more roundings, so each element is
// checked against
//     |got - want| <= (K + 6) * u * (|alpha| sum_p |a_ip b_pj| + |beta c_ij| + |bias_j|)
// which is a worst-case bound, not a fudge factor. A wrong index or a missed/double-counted K block
// gives errors of the order of the magnitude term itself, far above this bound.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "testing.h"

namespace {

constexpr float kU = 1.0f / 16777216.0f;  // 2^-24, unit roundoff of float
const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 12345.5f;  // fills C's padding columns, which must stay untouched

struct Shape {
  int64_t M, N, K;
};

// Shapes: degenerate (1), odd (7, 63, 65, 129), exactly one register tile (6x16, 12x32, 8x48), K
// split into several K blocks (257, 300; kc is 256 for AVX2, 192 for AVX-512), M over one mc block
// (250; mc is 144 / 256), ragged tails of the AVX-512 8 x 48 tile in M, N and K at once (17 x 97 x
// 193: one row, one column and one k past whole tiles and blocks; 263 x 50: past one mc block of
// 256 into an uneven second one), N over one nc block (4200; nc is 4096), and shapes big enough to
// be split over 3 threads by rows (1000 x 16: one column panel) or by columns (40 x 1000).
const Shape kShapes[] = {{1, 1, 1},     {7, 7, 7},     {1, 129, 63},    {129, 1, 65},
                         {63, 65, 129}, {65, 63, 7},   {6, 16, 256},    {12, 32, 1},
                         {8, 48, 9},    {17, 97, 193}, {263, 50, 20},   {13, 33, 257},
                         {37, 4200, 5}, {250, 40, 300}, {1000, 16, 50}, {40, 1000, 64}};

std::string describe(const std::string &cfg, int ta, int tb, const Shape &s, float alpha,
                     float beta) {
  std::ostringstream os;
  os << cfg << " trans_a=" << ta << " trans_b=" << tb << " M=" << s.M << " N=" << s.N
     << " K=" << s.K << " alpha=" << alpha << " beta=" << beta;
  return os.str();
}

// Operands of one GEMM with padded leading dimensions. Padding of A and B holds NaN (reading it
// would poison the result); padding of C holds kSentinel (writing it is caught).
struct Problem {
  int ta, tb;
  Shape s;
  int64_t lda, ldb, ldc;
  std::vector<float> A, B, C0, bias;
  std::vector<float> mag;  // |alpha| sum |a||b| + |beta c| + |bias|, per element, for the bound

  Problem(int ta_, int tb_, Shape s_, int64_t pad, uint32_t seed) : ta(ta_), tb(tb_), s(s_) {
    int64_t a_rows = ta ? s.K : s.M, a_cols = ta ? s.M : s.K;
    int64_t b_rows = tb ? s.N : s.K, b_cols = tb ? s.K : s.N;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = s.N + pad;
    A = padded(a_rows, a_cols, lda, seed, kNaN);
    B = padded(b_rows, b_cols, ldb, seed + 1, kNaN);
    C0 = padded(s.M, s.N, ldc, seed + 2, kSentinel);
    bias = fltest::random_floats(size_t(std::max<int64_t>(s.N, 1)), seed + 3);
  }

  static std::vector<float> padded(int64_t rows, int64_t cols, int64_t ld, uint32_t seed,
                                   float pad_value) {
    std::vector<float> v(size_t(std::max<int64_t>(rows * ld, 1)), pad_value);
    std::vector<float> r = fltest::random_floats(size_t(rows * cols) + 1, seed);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) v[size_t(i * ld + j)] = r[size_t(i * cols + j)];
    return v;
  }

  float a(int64_t i, int64_t p) const { return ta ? A[size_t(p * lda + i)] : A[size_t(i * lda + p)]; }
  float b(int64_t p, int64_t j) const { return tb ? B[size_t(j * ldb + p)] : B[size_t(p * ldb + j)]; }

  // sum_p |op(A)_ip| |op(B)_pj|, computed once per problem (i-p-j loop order over dense copies:
  // this runs at -O0 under the sanitizers too).
  std::vector<float> abs_prod;
  void compute_abs_prod() {
    std::vector<float> aa(size_t(s.M * s.K)), bb(size_t(s.K * s.N));
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t p = 0; p < s.K; p++) aa[size_t(i * s.K + p)] = std::fabs(a(i, p));
    for (int64_t p = 0; p < s.K; p++)
      for (int64_t j = 0; j < s.N; j++) bb[size_t(p * s.N + j)] = std::fabs(b(p, j));
    abs_prod.assign(size_t(s.M * s.N), 0.f);
    float *out = abs_prod.data();
    const float *pa = aa.data(), *pb = bb.data();
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t p = 0; p < s.K; p++) {
        float x = pa[i * s.K + p];
        float *o = out + i * s.N;
        const float *brow = pb + p * s.N;
        for (int64_t j = 0; j < s.N; j++) o[j] += x * brow[j];
      }
  }

  void compute_mag(float alpha, float beta, const float *bias_or_null, const std::vector<float> &c) {
    if (abs_prod.empty()) compute_abs_prod();
    mag.assign(size_t(s.M * s.N), 0.f);
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        // abs_prod is summed in float: its own relative error is below K u, negligible here.
        float m = std::fabs(alpha) * abs_prod[size_t(i * s.N + j)];
        if (beta != 0.f) m += std::fabs(beta * c[size_t(i * ldc + j)]);
        if (bias_or_null) m += std::fabs(bias_or_null[j]);
        mag[size_t(i * s.N + j)] = m;
      }
  }

  // Checks got against want inside the M x N region with the bound above, and that C's padding
  // columns are untouched.
  void check(const std::string &what, const std::vector<float> &got,
             const std::vector<float> &want) const {
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        float g = got[size_t(i * ldc + j)], w = want[size_t(i * ldc + j)];
        float tol = float(s.K + 6) * kU * mag[size_t(i * s.N + j)] + 1e-30f;
        if (!(std::fabs(g - w) <= tol)) {
          std::ostringstream os;
          os << what << ": C[" << i << "][" << j << "] = " << g << ", expected " << w
             << " (tolerance " << tol << ")";
          throw fltest::Failure(os.str());
        }
      }
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = s.N; j < ldc; j++)
        if (!(got[size_t(i * ldc + j)] == kSentinel)) {
          std::ostringstream os;
          os << what << ": padding C[" << i << "][" << j << "] was overwritten";
          throw fltest::Failure(os.str());
        }
  }
};

}  // namespace

// The tm x tn thread grids other than 1 x 3 and 3 x 1 (4 and 6 threads), and repeated calls that
// reuse the thread-local packing buffer with different shapes.
TEST(gemm_wider_thread_grids) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  const Shape shapes[] = {{200, 200, 64}, {97, 515, 40}, {515, 97, 200}, {64, 64, 64}};
  uint32_t seed = 900;
  for (int threads : {2, 4, 6})
    for (const Shape &s : shapes)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
          Problem pr(ta, tb, s, 1, seed++);
          pr.compute_mag(1.f, 1.f, nullptr, pr.C0);
          std::vector<float> want = pr.C0, got = pr.C0;
          fltest::Context ref(FL_BACKEND_REFERENCE);
          CHECK_OK(fl_sgemm(ref, ta, tb, s.M, s.N, s.K, 1.f, pr.A.data(), pr.lda, pr.B.data(),
                            pr.ldb, 1.f, want.data(), pr.ldc));
          fltest::Context ctx(FL_BACKEND_CPU);
          CHECK_OK(fl_context_set_isa(ctx, best));
          CHECK_OK(fl_context_set_threads(ctx, threads));
          CHECK_OK(fl_sgemm(ctx, ta, tb, s.M, s.N, s.K, 1.f, pr.A.data(), pr.lda, pr.B.data(),
                            pr.ldb, 1.f, got.data(), pr.ldc));
          pr.check(describe("cpu isa=" + std::to_string(best) + " threads=" + std::to_string(threads),
                            ta, tb, s, 1.f, 1.f),
                   got, want);
        }
}

// K == 0 and alpha == 0: C = beta * C, and A, B are not read (here they are NULL or all NaN).
// M == 0 or N == 0: nothing is touched (all pointers NULL).
TEST(gemm_degenerate_sizes) {
  const int64_t M = 7, N = 65;
  std::vector<float> c0 = fltest::random_floats(M * N, 5);
  std::vector<float> nan_ab(M * 3 + N * 3, kNaN);
  fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
    for (float beta : {0.f, 1.f, -0.5f}) {
      std::vector<float> c = c0;
      if (beta == 0.f) std::fill(c.begin(), c.end(), kNaN);
      CHECK_OK(fl_sgemm(ctx, 0, 1, M, N, 0, 1.f, nullptr, 1, nullptr, 1, beta, c.data(), N));
      for (int64_t i = 0; i < M * N; i++) CHECK(c[size_t(i)] == beta * c0[size_t(i)] || beta == 0.f);
      if (beta == 0.f)
        for (float x : c) CHECK(x == 0.f);
      c = c0;
      CHECK_OK(fl_sgemm(ctx, 1, 0, M, N, 3, 0.f, nan_ab.data(), M, nan_ab.data(), N, beta,
                        c.data(), N));
      for (int64_t i = 0; i < M * N; i++) CHECK(c[size_t(i)] == beta * c0[size_t(i)]);
    }
    CHECK_OK(fl_sgemm(ctx, 0, 0, 0, 5, 5, 1.f, nullptr, 5, nullptr, 5, 0.f, nullptr, 5));
    CHECK_OK(fl_sgemm(ctx, 0, 0, 5, 0, 5, 1.f, nullptr, 5, nullptr, 1, 0.f, nullptr, 1));
    CHECK_OK(fl_sgemm_bias(ctx, 0, 1, 0, 5, 5, nullptr, 5, nullptr, 5, nullptr, nullptr, 5));
    // sgemm_bias with K == 0: C = bias broadcast (or 0), C not read.
    std::vector<float> bias = fltest::random_floats(N, 6);
    std::vector<float> c(M * N, kNaN);
    CHECK_OK(fl_sgemm_bias(ctx, 0, 1, M, N, 0, nullptr, 1, nullptr, 1, bias.data(), c.data(), N));
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) CHECK(c[size_t(i * N + j)] == bias[size_t(j)]);
    std::fill(c.begin(), c.end(), kNaN);
    CHECK_OK(fl_sgemm_bias(ctx, 0, 1, M, N, 0, nullptr, 1, nullptr, 1, nullptr, c.data(), N));
    for (float x : c) CHECK(x == 0.f);
    (void)cfg;
  });
}

// The reference against a direct computation, so the oracle itself is checked once.
TEST(gemm_reference_small_exact) {
  // A (2x3) = [1 2 3; 4 5 6], B (3x2) = [7 8; 9 10; 11 12] -> A B = [58 64; 139 154]
  const float A[] = {1, 2, 3, 4, 5, 6}, At[] = {1, 4, 2, 5, 3, 6};
  const float B[] = {7, 8, 9, 10, 11, 12}, Bt[] = {7, 9, 11, 8, 10, 12};
  const float bias[] = {0.5f, -1.f};
  fltest::Context ref(FL_BACKEND_REFERENCE);
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      float C[4] = {1, 1, 1, 1};
      CHECK_OK(fl_sgemm(ref, ta, tb, 2, 2, 3, 2.f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B,
                        tb ? 3 : 2, 0.5f, C, 2));
      CHECK(C[0] == 116.5f && C[1] == 128.5f && C[2] == 278.5f && C[3] == 308.5f);
      CHECK_OK(fl_sgemm_bias(ref, ta, tb, 2, 2, 3, ta ? At : A, ta ? 2 : 3, tb ? Bt : B,
                             tb ? 3 : 2, bias, C, 2));
      CHECK(C[0] == 58.5f && C[1] == 63.f && C[2] == 139.5f && C[3] == 153.f);
    }
  float db[2] = {1.f, 2.f};
  CHECK_OK(fl_bias_backward(ref, db, A, 3, 2));  // dout (3x2) = [1 2; 3 4; 5 6]
  CHECK(db[0] == 10.f && db[1] == 14.f);
}

// dbias += column sums: pre-filled dbias (accumulate, not overwrite), awkward widths around the
// vector and 64-column block sizes, and M == 0 / N == 0 as no-ops. Tolerance: the same
// any-order summation bound, (M + 2) u (sum_i |dout_ij| + |dbias_j|).
TEST(gemm_bias_backward_accumulates) {
  const int64_t shapes[][2] = {{1, 1}, {7, 65}, {129, 63}, {3, 129}, {256, 2305}, {1000, 7}, {65, 200}};
  uint32_t seed = 500;
  for (auto &sh : shapes) {
    int64_t M = sh[0], N = sh[1];
    std::vector<float> dout = fltest::random_floats(size_t(M * N), seed++);
    std::vector<float> db0 = fltest::random_floats(size_t(N), seed++, 2.f, 3.f);
    std::vector<float> want = db0;
    fltest::Context ref(FL_BACKEND_REFERENCE);
    CHECK_OK(fl_bias_backward(ref, want.data(), dout.data(), M, N));
    std::vector<float> tol(static_cast<size_t>(N));
    for (int64_t j = 0; j < N; j++) {
      double m = std::fabs(db0[size_t(j)]);
      for (int64_t i = 0; i < M; i++) m += std::fabs(dout[size_t(i * N + j)]);
      tol[size_t(j)] = float(M + 2) * kU * float(m);
    }
    fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      std::vector<float> got = db0;
      CHECK_OK(fl_bias_backward(ctx, got.data(), dout.data(), M, N));
      for (int64_t j = 0; j < N; j++)
        if (!(std::fabs(got[size_t(j)] - want[size_t(j)]) <= tol[size_t(j)])) {
          std::ostringstream os;
          os << cfg << " M=" << M << " N=" << N << ": dbias[" << j << "] = " << got[size_t(j)]
             << ", expected " << want[size_t(j)];
          throw fltest::Failure(os.str());
        }
      std::vector<float> same = db0;
      CHECK_OK(fl_bias_backward(ctx, same.data(), dout.data(), 0, N));
      CHECK(same == db0);
      CHECK_OK(fl_bias_backward(ctx, nullptr, nullptr, M, 0));
    });
  }
}

// The AVX-512 kernel cannot run on AVX2-only machines. FUSELM_GEMM_AVX512_LAYOUT=1 runs its 8 x 48
// tile, 8-row / 48-column packing and blocking (mc 256, kc 192) with 256-bit vectors at the AVX2
// level, so everything but the 512-bit vector wrapper is tested here too.
TEST(gemm_avx512_layout_on_avx2) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  if (best < FL_ISA_AVX2) fltest::skip("this CPU has no AVX2");
  setenv("FUSELM_GEMM_AVX512_LAYOUT", "1", 1);
  try {
    const Shape shapes[] = {{1, 1, 1},      {8, 48, 192},  {9, 49, 193},  {63, 65, 129},
                            {250, 70, 400}, {263, 97, 7},  {37, 4200, 5}, {900, 32, 20},
                            {30, 700, 50}};
    uint32_t seed = 1300;
    for (const Shape &s : shapes)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
          Problem pr(ta, tb, s, int64_t(seed % 3), seed);
          seed++;
          std::vector<float> want = pr.C0, want_bias = pr.C0;
          fltest::Context ref(FL_BACKEND_REFERENCE);
          CHECK_OK(fl_sgemm(ref, ta, tb, s.M, s.N, s.K, 0.5f, pr.A.data(), pr.lda, pr.B.data(),
                            pr.ldb, 1.f, want.data(), pr.ldc));
          CHECK_OK(fl_sgemm_bias(ref, ta, tb, s.M, s.N, s.K, pr.A.data(), pr.lda, pr.B.data(),
                                 pr.ldb, pr.bias.data(), want_bias.data(), pr.ldc));
          for (int threads : {1, 3}) {
            fltest::Context ctx(FL_BACKEND_CPU);
            CHECK_OK(fl_context_set_isa(ctx, FL_ISA_AVX2));
            CHECK_OK(fl_context_set_threads(ctx, threads));
            std::string cfg = "avx512 layout threads=" + std::to_string(threads);
            std::vector<float> got = pr.C0;
            CHECK_OK(fl_sgemm(ctx, ta, tb, s.M, s.N, s.K, 0.5f, pr.A.data(), pr.lda, pr.B.data(),
                              pr.ldb, 1.f, got.data(), pr.ldc));
            pr.compute_mag(0.5f, 1.f, nullptr, pr.C0);
            pr.check(describe(cfg, ta, tb, s, 0.5f, 1.f), got, want);
            got = pr.C0;
            CHECK_OK(fl_sgemm_bias(ctx, ta, tb, s.M, s.N, s.K, pr.A.data(), pr.lda, pr.B.data(),
                                   pr.ldb, pr.bias.data(), got.data(), pr.ldc));
            pr.compute_mag(1.f, 0.f, pr.bias.data(), pr.C0);
            pr.check(describe(cfg + " bias", ta, tb, s, 1.f, 0.f), got, want_bias);
          }
        }
  } catch (...) {
    unsetenv("FUSELM_GEMM_AVX512_LAYOUT");
    throw;
  }
  unsetenv("FUSELM_GEMM_AVX512_LAYOUT");
}

// The small-M path splits N into 64-column units over the threads and computes each output the
// same way whatever its unit's position: results are bit-identical for 1, 2 and 3 threads. The
// shapes are large enough (N * K) to be split.
TEST(gemm_small_m_thread_count_invariant) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  const Shape shapes[] = {{1, 3001, 768}, {5, 2049, 300}, {8, 777, 1025}};
  uint32_t seed = 3000;
  for (int isa = FL_ISA_GENERIC; isa <= best; isa++)
    for (const Shape &s : shapes)
      for (int tb = 0; tb < 2; tb++) {
        Problem pr(0, tb, s, 3, seed++);
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
          fltest::Context ctx(FL_BACKEND_CPU);
          CHECK_OK(fl_context_set_isa(ctx, isa));
          CHECK_OK(fl_context_set_threads(ctx, threads));
          std::vector<float> got = pr.C0;
          CHECK_OK(fl_sgemm_bias(ctx, 0, tb, s.M, s.N, s.K, pr.A.data(), pr.lda, pr.B.data(),
                                 pr.ldb, pr.bias.data(), got.data(), pr.ldc));
          if (first.empty())
            first = got;
          else
            CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
        }
      }
}

// ---- bf16 weights: conversions and fl_sgemm_bf16w ---------------------------------------------

namespace {

float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint16_t to_bf16(fl_context *ctx, float x) {
  uint16_t h = 0;
  CHECK_OK(fl_f32_to_bf16(ctx, &h, &x, 1));
  return h;
}

// B of a Problem rounded to bf16 (NaN padding stays NaN), and B replaced by its widened values, so
// the Problem's float helpers (magnitudes for the bound) see exactly what the bf16 GEMM multiplies.
std::vector<uint16_t> narrow_b(Problem &pr) {
  fltest::Context ref(FL_BACKEND_REFERENCE);
  std::vector<uint16_t> b16(pr.B.size());
  CHECK_OK(fl_f32_to_bf16(ref, b16.data(), pr.B.data(), int64_t(b16.size())));
  CHECK_OK(fl_bf16_to_f32(ref, pr.B.data(), b16.data(), int64_t(b16.size())));
  return b16;
}

}  // namespace

// Round to nearest, ties to even, on the values where it matters, for every backend: ties at 1
// (between 1 and 1 + 2^-7, even is 1; between 1 + 2^-7 and 1 + 2^-6, even is 1 + 2^-6), just
// below/above a tie, overflow of the largest floats to infinity, subnormals, signed zero, inf, NaN.
TEST(bf16_conversion_rounds_to_nearest_even) {
  struct Case {
    uint32_t in;
    uint16_t out;
  };
  const Case cases[] = {
      {0x3f800000u, 0x3f80},  // 1
      {0x3f808000u, 0x3f80},  // 1 + 2^-8: tie, down to even
      {0x3f818000u, 0x3f82},  // 1 + 3 * 2^-8: tie, up to even
      {0x3f807fffu, 0x3f80},  // just below a tie
      {0x3f808001u, 0x3f81},  // just above a tie
      {0xbf808001u, 0xbf81},  // the same, negative
      {0x7f7fffffu, 0x7f80},  // largest float: rounds to inf
      {0x7f7f7fffu, 0x7f7f},  // just below the tie with 2^128: largest bf16
      {0x7f7f8000u, 0x7f80},  // the tie, odd mantissa: up, to inf
      {0x00000001u, 0x0000},  // smallest subnormal float: to +0
      {0x00008000u, 0x0000},  // subnormal tie, down to even
      {0x00018000u, 0x0002},  // subnormal tie, up to even
      {0x80000000u, 0x8000},  // -0
      {0x7f800000u, 0x7f80},  // inf
      {0xff800000u, 0xff80},  // -inf
  };
  for (int backend : {FL_BACKEND_REFERENCE, FL_BACKEND_CPU}) {
    fltest::Context ctx(backend);
    for (const Case &c : cases) {
      const uint16_t got = to_bf16(ctx, bits_to_f32(c.in));
      if (got != c.out) {
        std::ostringstream os;
        os << "backend " << backend << ": bf16(0x" << std::hex << c.in << ") = 0x" << got
           << ", expected 0x" << c.out;
        throw fltest::Failure(os.str());
      }
    }
    for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7fff0000u}) {
      const uint16_t h = to_bf16(ctx, bits_to_f32(nan));
      CHECK((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0);  // still NaN
      CHECK((h & 0x8000) == ((nan >> 16) & 0x8000));     // same sign
    }
  }
}

// The CPU conversions against the reference on random bit patterns (every exponent, NaNs
// included): narrowing bit-identical, widening exact, and narrowing within half a bf16 ulp.
TEST(bf16_conversion_matches_reference_on_random_bits) {
  const size_t n = 200003;
  std::mt19937 rng(77);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; i++) x[i] = bits_to_f32(uint32_t(rng()));
  std::vector<uint16_t> want(n), got(n);
  std::vector<float> wide_want(n), wide_got(n);
  fltest::Context ref(FL_BACKEND_REFERENCE);
  CHECK_OK(fl_f32_to_bf16(ref, want.data(), x.data(), int64_t(n)));
  CHECK_OK(fl_bf16_to_f32(ref, wide_want.data(), want.data(), int64_t(n)));
  for (int threads : {1, 3}) {
    fltest::Context cpu(FL_BACKEND_CPU);
    CHECK_OK(fl_context_set_threads(cpu, threads));
    CHECK_OK(fl_f32_to_bf16(cpu, got.data(), x.data(), int64_t(n)));
    CHECK_OK(fl_bf16_to_f32(cpu, wide_got.data(), want.data(), int64_t(n)));
    for (size_t i = 0; i < n; i++) {
      if (std::isnan(x[i])) {
        CHECK((got[i] & 0x7f80) == 0x7f80 && (got[i] & 0x7f) != 0);
        continue;
      }
      if (got[i] != want[i]) {
        std::ostringstream os;
        os << "f32_to_bf16 element " << i << ": cpu 0x" << std::hex << got[i] << ", reference 0x"
           << want[i];
        throw fltest::Failure(os.str());
      }
      CHECK(std::memcmp(&wide_got[i], &wide_want[i], 4) == 0);
      uint32_t u;
      std::memcpy(&u, &wide_want[i], 4);
      CHECK(u == uint32_t(want[i]) << 16);
      // normal results: |widen(narrow(x)) - x| <= 2^-8 |x| (bf16's unit roundoff: 8 significant bits)
      if (std::isfinite(wide_want[i]) && std::fabs(x[i]) >= 1.2e-38f)
        CHECK(std::fabs(double(wide_want[i]) - double(x[i])) <= std::ldexp(std::fabs(double(x[i])), -8));
    }
  }
}

// The small-M bf16 path computes exactly what the float32 small-M path computes on the widened
// weights: bit-identical results (same ISA, same threads), and the same for 1, 2 and 3 threads.
TEST(gemm_bf16w_small_m_equals_sgemm_on_widened_weights) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  const Shape shapes[] = {{1, 2304, 768}, {1, 3001, 65}, {5, 2049, 300}, {8, 777, 1025}};
  uint32_t seed = 6000;
  for (int isa = FL_ISA_GENERIC; isa <= best; isa++)
    for (const Shape &s : shapes)
      for (int tb = 0; tb < 2; tb++) {
        Problem pr(0, tb, s, 3, seed++);
        const std::vector<uint16_t> b16 = narrow_b(pr);  // pr.B now holds the widened weights
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
          fltest::Context ctx(FL_BACKEND_CPU);
          CHECK_OK(fl_context_set_isa(ctx, isa));
          CHECK_OK(fl_context_set_threads(ctx, threads));
          std::vector<float> got = pr.C0, want = pr.C0;
          CHECK_OK(fl_sgemm_bf16w(ctx, 0, tb, s.M, s.N, s.K, 1.f, pr.A.data(), pr.lda, b16.data(),
                                  pr.ldb, 0.f, pr.bias.data(), got.data(), pr.ldc));
          CHECK_OK(fl_sgemm_bias(ctx, 0, tb, s.M, s.N, s.K, pr.A.data(), pr.lda, pr.B.data(),
                                 pr.ldb, pr.bias.data(), want.data(), pr.ldc));
          for (size_t i = 0; i < got.size(); i++)
            if (std::memcmp(&got[i], &want[i], 4) != 0) {
              std::ostringstream os;
              os << "isa " << isa << " threads " << threads << " tb " << tb << " M " << s.M
                 << " N " << s.N << " K " << s.K << ": element " << i << " bf16w " << got[i]
                 << ", sgemm on widened " << want[i];
              throw fltest::Failure(os.str());
            }
          if (first.empty())
            first = got;
          else
            CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
        }
      }
}

TEST(gemm_bf16w_degenerate_sizes) {
  fltest::Context cpu(FL_BACKEND_CPU);
  std::vector<uint16_t> nan_b(64, 0x7fc0);
  std::vector<float> nan_a(64, kNaN), c(16, 2.f), bias(4, 1.f);
  // K == 0: C = beta C + bias, A and B not read
  CHECK_OK(fl_sgemm_bf16w(cpu, 0, 0, 4, 4, 0, 1.f, nan_a.data(), 1, nan_b.data(), 4, 0.5f,
                          bias.data(), c.data(), 4));
  for (float v : c) CHECK(v == 2.f);
  // alpha == 0 likewise
  CHECK_OK(fl_sgemm_bf16w(cpu, 0, 1, 4, 4, 8, 0.f, nan_a.data(), 8, nan_b.data(), 8, 0.f, nullptr,
                          c.data(), 4));
  for (float v : c) CHECK(v == 0.f);
  // M == 0 / N == 0: nothing happens; negative sizes are rejected
  CHECK_OK(fl_sgemm_bf16w(cpu, 0, 0, 0, 4, 4, 1.f, nan_a.data(), 4, nan_b.data(), 4, 0.f, nullptr,
                          c.data(), 4));
  CHECK(fl_sgemm_bf16w(cpu, 0, 0, 4, -1, 4, 1.f, nan_a.data(), 4, nan_b.data(), 4, 0.f, nullptr,
                       c.data(), 4) == FL_ERR_INVALID_ARGUMENT);
  CHECK(fl_f32_to_bf16(cpu, nan_b.data(), nan_a.data(), -1) == FL_ERR_INVALID_ARGUMENT);
}
