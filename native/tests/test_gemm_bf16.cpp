// fl_gemm_bf16 (A and B bf16, fp32 accumulation) on the CPU backend against the reference backend
// (double accumulation): every ISA level this CPU has, 1, 2 and 3 threads, the k-pair path through
// its portable vdpbf16ps emulation (FUSELM_GEMM_BF16_PAIRS=1), and, where the CPU has AVX512_BF16,
// the vdpbf16ps kernel itself (skipped, saying so, elsewhere).
//
// Tolerance. A product of two bf16 values (8 significant bits each) is exact in float32, so the only
// errors are those of summing the K exact products in float32, in whatever order the kernel uses (FMA
// chains over k blocks, vector lanes; vdpbf16ps adds the two products of a k pair one after the
// other, each with one rounding, which is again a float32 sum of the K products). For any order,
// |fl(s) - s| <= gamma_K * sum_p |a_p b_p|, gamma_K = K u / (1 - K u), u = 2^-24 (Higham, section
// 3.1); alpha, beta * C, the bias and the final rounding add a few roundings more, so each element is
// checked against
//     |got - want| <= (K + 6) u (|alpha| sum_p |a_ip b_pj| + |beta c_ij| + |bias_j|) + K 2^-126.
// The last term covers vdpbf16ps's flushing of denormals (inputs read as zero, results flushed): at
// most 2^-126 per step; the random data here (|x| in [2^-8, 1]) has no denormals, so in practice it is
// the relative term that counts. A wrong index, a lost or doubled k (an odd K's last pair, a K block)
// or a misplaced column gives errors of the order of the magnitude term itself.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "testing.h"

namespace {

constexpr float kU = 1.0f / 16777216.0f;          // 2^-24
constexpr float kFlush = 1.17549435e-38f;         // 2^-126, the smallest normal float
const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint16_t kNaN16 = 0x7fc0;               // a bf16 NaN: fills A's and B's padding
constexpr float kSentinel = 12345.5f;             // fills C's padding, which must stay untouched

float widen(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Random bf16 values with |x| in [2^-8, 1) and random signs (no zeros, no denormals).
std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::vector<float> f = fltest::random_floats(n, seed, 1.f / 256.f, 1.f);
  std::vector<int32_t> sign = fltest::random_ints(n, seed + 77, 0, 1);
  std::vector<uint16_t> h(n);
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &f[i], sizeof u);
    h[i] = uint16_t((u >> 16) | (sign[i] ? 0x8000u : 0u));  // truncation: any bf16 will do
  }
  return h;
}

struct Shape {
  int64_t M, N, K;
};

// One problem: bf16 A and B with padded leading dimensions (padding holds NaN), C with padded rows
// (padding holds kSentinel), a bias.
struct Problem {
  int ta, tb;
  Shape s;
  int64_t lda, ldb, ldc;
  std::vector<uint16_t> A, B;
  std::vector<float> C0, bias;

  Problem(int ta_, int tb_, Shape s_, int64_t pad, uint32_t seed) : ta(ta_), tb(tb_), s(s_) {
    const int64_t a_rows = ta ? s.K : s.M, a_cols = ta ? s.M : s.K;
    const int64_t b_rows = tb ? s.N : s.K, b_cols = tb ? s.K : s.N;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = s.N + pad;
    A = padded16(a_rows, a_cols, lda, seed);
    B = padded16(b_rows, b_cols, ldb, seed + 1);
    std::vector<float> c = fltest::random_floats(size_t(s.M * s.N) + 1, seed + 2);
    C0.assign(size_t(std::max<int64_t>(s.M * ldc, 1)), kSentinel);
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) C0[size_t(i * ldc + j)] = c[size_t(i * s.N + j)];
    bias = fltest::random_floats(size_t(std::max<int64_t>(s.N, 1)), seed + 3);
  }

  static std::vector<uint16_t> padded16(int64_t rows, int64_t cols, int64_t ld, uint32_t seed) {
    std::vector<uint16_t> v(size_t(std::max<int64_t>(rows * ld, 1)), kNaN16);
    std::vector<uint16_t> r = random_bf16(size_t(rows * cols) + 1, seed);
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) v[size_t(i * ld + j)] = r[size_t(i * cols + j)];
    return v;
  }

  float a(int64_t i, int64_t p) const { return widen(ta ? A[size_t(p * lda + i)] : A[size_t(i * lda + p)]); }
  float b(int64_t p, int64_t j) const { return widen(tb ? B[size_t(j * ldb + p)] : B[size_t(p * ldb + j)]); }

  // op(A) and op(B) widened to float32, in the same storage orientation and leading dimensions (for
  // comparing with fl_sgemm on the same values).
  std::vector<float> widened(const std::vector<uint16_t> &x) const {
    std::vector<float> f(x.size());
    for (size_t i = 0; i < x.size(); i++) f[i] = widen(x[i]);
    return f;
  }

  // |alpha| sum_p |a_ip b_pj| + |beta c_ij| + |bias_j| per element (i-p-j order over dense copies).
  std::vector<float> magnitude(float alpha, float beta, const float *bias_or_null) const {
    std::vector<float> aa(size_t(s.M * s.K)), bb(size_t(s.K * s.N)), m(size_t(s.M * s.N), 0.f);
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t p = 0; p < s.K; p++) aa[size_t(i * s.K + p)] = std::fabs(a(i, p));
    for (int64_t p = 0; p < s.K; p++)
      for (int64_t j = 0; j < s.N; j++) bb[size_t(p * s.N + j)] = std::fabs(b(p, j));
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t p = 0; p < s.K; p++) {
        const float x = aa[size_t(i * s.K + p)];
        for (int64_t j = 0; j < s.N; j++) m[size_t(i * s.N + j)] += x * bb[size_t(p * s.N + j)];
      }
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        float &v = m[size_t(i * s.N + j)];
        v *= std::fabs(alpha);
        if (beta != 0.f) v += std::fabs(beta * C0[size_t(i * ldc + j)]);
        if (bias_or_null) v += std::fabs(bias_or_null[j]);
      }
    return m;
  }

  void check(const std::string &what, const std::vector<float> &got, const std::vector<float> &want,
             const std::vector<float> &mag) const {
    for (int64_t i = 0; i < s.M; i++)
      for (int64_t j = 0; j < s.N; j++) {
        const float g = got[size_t(i * ldc + j)], w = want[size_t(i * ldc + j)];
        const float tol = float(s.K + 6) * kU * mag[size_t(i * s.N + j)] + float(s.K) * kFlush;
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

std::string describe(const std::string &cfg, const Problem &pr, float alpha, float beta, bool bias) {
  std::ostringstream os;
  os << cfg << " trans_a=" << pr.ta << " trans_b=" << pr.tb << " M=" << pr.s.M << " N=" << pr.s.N
     << " K=" << pr.s.K << " lda=" << pr.lda << " ldb=" << pr.ldb << " ldc=" << pr.ldc
     << " alpha=" << alpha << " beta=" << beta << (bias ? " bias" : "");
  return os.str();
}

// Sets an environment variable for the lifetime of the object.
struct ScopedEnv {
  const char *name;
  ScopedEnv(const char *n, const char *value) : name(n) { setenv(n, value, 1); }
  ~ScopedEnv() { unsetenv(name); }
};

// Shapes: 1; odd sizes (7, 63, 65, 129, 257) in every role; K = 1 and odd K (an unpaired last k for
// the k-pair kernels); N not a multiple of any register tile (16, 32); small M (<= 8: the unpacked
// path); one exact 12 x 32 tile (the k-pair kernels) and 8 x 48 tile (AVX-512 fp32), and one row,
// column and k past them (17 x 97 x 193); K over several K blocks (kc: 256 AVX2 and generic, 192
// AVX-512, 384 k-pairs), with an odd last block (777 = 264 + 264 + 249); M over one mc block (250); enough
// work to spread over 3 threads by rows (300 x 16) and by columns (40 x 1000).
const Shape kShapes[] = {{1, 1, 1},      {7, 7, 7},      {1, 129, 63},  {5, 33, 1},
                         {8, 65, 129},   {9, 7, 65},     {12, 32, 384}, {63, 65, 129},
                         {65, 63, 7},    {129, 257, 1},  {257, 129, 63}, {13, 33, 257},
                         {30, 70, 777},  {250, 40, 300}, {300, 16, 50}, {40, 1000, 64},
                         {8, 48, 9},     {17, 97, 193}};

struct AlphaBeta {
  float alpha, beta;
  bool bias;
};
// beta == 0 runs on a C full of NaN (it must not be read)
const AlphaBeta kAlphaBeta[] = {{1.f, 0.f, true}, {0.5f, 1.f, false}, {-1.25f, 0.75f, true},
                                {1.f, 0.f, false}, {2.f, 1.f, true}};

// Runs every shape x trans x (alpha, beta, bias) problem through `run` for each configuration and
// checks it against the reference. configs(body) calls body(ctx, name) once per configuration.
void check_against_reference(
    uint32_t seed0,
    const std::function<void(const std::function<void(fl_context *, const std::string &)> &)> &configs) {
  uint32_t seed = seed0;
  for (const Shape &s : kShapes)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        Problem pr(ta, tb, s, int64_t(seed % 4), seed);
        const AlphaBeta ab = kAlphaBeta[seed % 5];
        seed++;
        const float *bias = ab.bias ? pr.bias.data() : nullptr;
        std::vector<float> c_init = pr.C0;
        if (ab.beta == 0.f)
          for (int64_t i = 0; i < s.M; i++)
            for (int64_t j = 0; j < s.N; j++) c_init[size_t(i * pr.ldc + j)] = kNaN;
        std::vector<float> want = c_init;
        {
          fltest::Context ref(FL_BACKEND_REFERENCE);
          CHECK_OK(fl_gemm_bf16(ref, ta, tb, s.M, s.N, s.K, ab.alpha, pr.A.data(), pr.lda,
                                pr.B.data(), pr.ldb, ab.beta, bias, want.data(), pr.ldc));
        }
        const std::vector<float> mag = pr.magnitude(ab.alpha, ab.beta, bias);
        configs([&](fl_context *ctx, const std::string &cfg) {
          std::vector<float> got = c_init;
          CHECK_OK(fl_gemm_bf16(ctx, ta, tb, s.M, s.N, s.K, ab.alpha, pr.A.data(), pr.lda,
                                pr.B.data(), pr.ldb, ab.beta, bias, got.data(), pr.ldc));
          pr.check(describe(cfg, pr, ab.alpha, ab.beta, ab.bias), got, want, mag);
        });
      }
}

int best_isa() {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  return best;
}

// Every ISA level from `lo` to `hi` (inclusive) x 1, 2, 3 threads.
void for_isas_and_threads(int lo, int hi,
                          const std::function<void(fl_context *, const std::string &)> &body) {
  for (int isa = lo; isa <= hi; isa++)
    for (int threads : {1, 2, 3}) {
      fltest::Context ctx(FL_BACKEND_CPU);
      CHECK_OK(fl_context_set_isa(ctx, isa));
      CHECK_OK(fl_context_set_threads(ctx, threads));
      body(ctx, "cpu isa=" + std::to_string(isa) + " threads=" + std::to_string(threads));
    }
}

}  // namespace

// The AVX-512 kernel's tile, blocking and bf16 packers (8 x 48) run with 256-bit vectors on AVX2
// (FUSELM_GEMM_AVX512_LAYOUT=1, as gemm_avx512_layout_on_avx2 does for fl_sgemm).
TEST(gemm_bf16_avx512_layout_on_avx2) {
  if (best_isa() < FL_ISA_AVX2) fltest::skip("this CPU has no AVX2");
  ScopedEnv layout("FUSELM_GEMM_AVX512_LAYOUT", "1");
  check_against_reference(7050, [&](const auto &body) {
    for_isas_and_threads(FL_ISA_AVX2, FL_ISA_AVX2, body);
  });
}

// The k-pair path (layout, packing, blocking, edge tiles, write-back of the AVX512_BF16 kernel) with
// the portable emulation of vdpbf16ps in place of the intrinsic loop: runs on any CPU.
TEST(gemm_bf16_k_pairs_emulated_matches_reference) {
  ScopedEnv pairs("FUSELM_GEMM_BF16_PAIRS", "1");
  const int top = std::min(best_isa(), FL_ISA_AVX512);
  check_against_reference(7100, [&](const auto &body) { for_isas_and_threads(top, top, body); });
}

// The vdpbf16ps kernel itself: only where the CPU has AVX512_BF16.
TEST(gemm_bf16_avx512bf16_matches_reference) {
  if (best_isa() < FL_ISA_AVX512_BF16)
    fltest::skip("this CPU has no AVX512_BF16: the vdpbf16ps micro-kernel is compiled but not run "
                 "here (its k-pair packing and blocking run in gemm_bf16_k_pairs_emulated_*)");
  check_against_reference(7200, [&](const auto &body) {
    for_isas_and_threads(FL_ISA_AVX512_BF16, FL_ISA_AVX512_BF16, body);
  });
}

// Below AVX512_BF16 the packed panels are those of fl_sgemm on the widened operands, with the same
// blocking and kernels, and M <= 8 runs the same small-M kernels: the results are fl_sgemm's (and
// fl_sgemm_bias's) bit for bit, for every trans combination, ISA level and thread count.
TEST(gemm_bf16_equals_sgemm_on_widened_operands) {
  const int top = std::min(best_isa(), FL_ISA_AVX512);
  const Shape shapes[] = {{3, 65, 129}, {8, 33, 7}, {63, 65, 129}, {250, 40, 300}, {30, 70, 777}};
  uint32_t seed = 7300;
  for (const Shape &s : shapes)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        Problem pr(ta, tb, s, 2, seed++);
        const std::vector<float> a32 = pr.widened(pr.A), b32 = pr.widened(pr.B);
        for_isas_and_threads(FL_ISA_GENERIC, top, [&](fl_context *ctx, const std::string &cfg) {
          std::vector<float> got = pr.C0, want = pr.C0;
          CHECK_OK(fl_gemm_bf16(ctx, ta, tb, s.M, s.N, s.K, -0.75f, pr.A.data(), pr.lda,
                                pr.B.data(), pr.ldb, 0.5f, nullptr, got.data(), pr.ldc));
          CHECK_OK(fl_sgemm(ctx, ta, tb, s.M, s.N, s.K, -0.75f, a32.data(), pr.lda, b32.data(),
                            pr.ldb, 0.5f, want.data(), pr.ldc));
          CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
          got = pr.C0;
          want = pr.C0;
          CHECK_OK(fl_gemm_bf16(ctx, ta, tb, s.M, s.N, s.K, 1.f, pr.A.data(), pr.lda, pr.B.data(),
                                pr.ldb, 0.f, pr.bias.data(), got.data(), pr.ldc));
          CHECK_OK(fl_sgemm_bias(ctx, ta, tb, s.M, s.N, s.K, a32.data(), pr.lda, b32.data(),
                                 pr.ldb, pr.bias.data(), want.data(), pr.ldc));
          if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) != 0)
            throw fltest::Failure(describe(cfg + " bias: differs from fl_sgemm_bias", pr, 1.f, 0.f, true));
        });
      }
}

// vdpbf16ps reads bf16 denormals as zero; the widening path multiplies them exactly. 2^-133 (a bf16
// denormal, 0x0001) times 2^100 is 2^-33 exactly, which the reference gets; the k-pair kernels (the
// emulation, and the hardware where present) give 0: the deviation fuselm.h documents. In the SIMDe
// emulation build (cmake FUSELM_SIMDE_AVX512=ON) the AVX512_BF16 block below runs the real kernel on
// native/cpu/x86_simde_shim.h's vdpbf16ps (SDM semantics, DAZ/FTZ; SIMDe 0.7.4's own keeps
// denormals), so there it checks the kernel and that shim, not the hardware's flushing.
TEST(gemm_bf16_denormal_inputs) {
  const uint16_t a[2] = {0x0001, 0x0001};        // 2^-133, k = 0 and 1
  const uint16_t b[2 * 32] = {};                 // K = 2 rows, N = 32 columns, only column 0 set
  std::vector<uint16_t> bv(b, b + 64);
  bv[0] = 0x7180;                                // 2^100 (k = 0, column 0)
  const float exact = std::ldexp(1.f, -33);
  // M = 9 (> 8: the packed path) rows of A, each (2^-133, 2^-133)
  std::vector<uint16_t> av(9 * 2);
  for (int i = 0; i < 9; i++) av[size_t(i * 2)] = a[0], av[size_t(i * 2 + 1)] = a[1];
  auto run = [&](fl_context *ctx) {
    std::vector<float> c(9 * 32, kNaN);
    CHECK_OK(fl_gemm_bf16(ctx, 0, 0, 9, 32, 2, 1.f, av.data(), 2, bv.data(), 32, 0.f, nullptr,
                          c.data(), 32));
    return c;
  };
  {
    fltest::Context ref(FL_BACKEND_REFERENCE);
    CHECK(run(ref)[0] == exact);
  }
  const int best = best_isa();
  fltest::Context cpu(FL_BACKEND_CPU);
  CHECK_OK(fl_context_set_isa(cpu, std::min(best, FL_ISA_AVX512)));
  CHECK(run(cpu)[0] == exact);  // widened exactly, summed in float32
  {
    ScopedEnv pairs("FUSELM_GEMM_BF16_PAIRS", "1");
    std::vector<float> c = run(cpu);
    for (int i = 0; i < 9; i++) CHECK(c[size_t(i * 32)] == 0.f);
  }
  if (best >= FL_ISA_AVX512_BF16) {
    fltest::Context hw(FL_BACKEND_CPU);
    std::vector<float> c = run(hw);
    for (int i = 0; i < 9; i++) CHECK(c[size_t(i * 32)] == 0.f);
  }
}

// K == 0 or alpha == 0: C = beta C + bias without reading A or B (NaN); M == 0 or N == 0: nothing;
// negative sizes, null pointers and short leading dimensions are rejected.
TEST(gemm_bf16_degenerate_sizes) {
  for (int isa = FL_ISA_GENERIC; isa <= best_isa(); isa++) {
    fltest::Context cpu(FL_BACKEND_CPU);
    CHECK_OK(fl_context_set_isa(cpu, isa));
    std::vector<uint16_t> nan16(256, kNaN16);
    std::vector<float> c(16 * 4, 2.f), bias(4, 1.f);
    CHECK_OK(fl_gemm_bf16(cpu, 0, 0, 16, 4, 0, 1.f, nan16.data(), 1, nan16.data(), 4, 0.5f,
                          bias.data(), c.data(), 4));
    for (float v : c) CHECK(v == 2.f);
    CHECK_OK(fl_gemm_bf16(cpu, 1, 1, 16, 4, 8, 0.f, nan16.data(), 16, nan16.data(), 8, 0.f,
                          nullptr, c.data(), 4));
    for (float v : c) CHECK(v == 0.f);
    CHECK_OK(fl_gemm_bf16(cpu, 0, 0, 0, 4, 4, 1.f, nan16.data(), 4, nan16.data(), 4, 0.f, nullptr,
                          c.data(), 4));
    CHECK_OK(fl_gemm_bf16(cpu, 0, 0, 4, 0, 4, 1.f, nan16.data(), 4, nan16.data(), 4, 0.f, nullptr,
                          c.data(), 4));
    for (float v : c) CHECK(v == 0.f);
    CHECK(fl_gemm_bf16(cpu, 0, 0, 4, -1, 4, 1.f, nan16.data(), 4, nan16.data(), 4, 0.f, nullptr,
                       c.data(), 4) == FL_ERR_INVALID_ARGUMENT);
  }
}
