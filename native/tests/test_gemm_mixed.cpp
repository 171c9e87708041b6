// fl_gemm_mixed (each operand float32 or bf16, float32 ones rounded to bf16 as they are read) against
// the sequence it replaces: fl_f32_to_bf16 of the float32 operands, then fl_gemm_bf16, on the same
// context. The two must give the same bits (memcmp of C): every ISA level this CPU has (the SIMDe
// build runs the AVX-512 ones on any CPU), 1 and 3 threads, the portable k-pair kernel
// (FUSELM_GEMM_BF16_PAIRS=1, which runs the rounding k-pair packers on any CPU), every trans and
// operand-type combination, leading dimensions past the minimum, alpha / beta / bias, and inputs with
// the values whose rounding is delicate: ties (odd and even), subnormals, values that round to
// infinity, infinities and NaNs (quiet and signalling). The comparison with the reference backend,
// within a tolerance, is a row of test_cases.cpp.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "testing.h"

namespace {

struct Shape {
  int64_t M, N, K;
};

// Small M (<= 8, the unpacked path); odd K (an unpaired last k); one exact 12 x 32 k-pair tile and
// edges past it; K over several kc = 384 blocks with an odd last one; M over one mc = 264 block; N
// over one nc = 4096 block; enough work for 3 threads by rows and by columns.
const Shape kShapes[] = {{1, 1, 1},     {5, 33, 7},     {8, 65, 129},  {9, 7, 65},
                         {12, 32, 384}, {13, 33, 257},  {63, 65, 129}, {30, 70, 777},
                         {270, 40, 50}, {300, 16, 50},  {40, 1000, 64}, {17, 4200, 19}};

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Random values in [-1, 1] with the delicate ones sprinkled in (seeded: the same every run).
std::vector<float> operand(size_t n, uint32_t seed, bool specials) {
  std::vector<float> v = fltest::random_floats(n, seed);
  if (!specials) return v;
  const float delicate[] = {
      from_bits(0x3f808000u),  // a tie, even neighbour below: rounds down
      from_bits(0x3f818000u),  // a tie, odd neighbour below: rounds up
      from_bits(0xbf808001u),  // just above a tie
      from_bits(0x00012345u),  // subnormal
      from_bits(0x807f8000u),  // negative subnormal, a tie
      from_bits(0x007fffffu),  // the largest subnormal (rounds to the smallest normal)
      from_bits(0x7f7fffffu),  // FLT_MAX: rounds to infinity
      -std::numeric_limits<float>::infinity(),
      std::numeric_limits<float>::quiet_NaN(),
      from_bits(0x7f800001u),  // a signalling NaN whose payload is all in the dropped half
      from_bits(0xff812345u),  // a negative signalling NaN
      0.f,
      -0.f,
  };
  const size_t nd = sizeof(delicate) / sizeof(delicate[0]);
  // infinities and NaNs poison their row or column of C: a few only, the other values often
  for (size_t i = 0, k = 0; i < n; i += 7, k++) {
    const float d = delicate[k % nd];
    if (std::isfinite(d) || k % 37 == 0) v[i] = d;
  }
  return v;
}

std::vector<uint16_t> to_bf16(fl_context *ctx, const std::vector<float> &x) {
  std::vector<uint16_t> h(x.size());
  CHECK_OK(fl_f32_to_bf16(ctx, h.data(), x.data(), int64_t(x.size())));
  return h;
}

// One call of fl_gemm_mixed and the rounded-copies sequence on ctx; C compared bit for bit.
void check_one(fl_context *ctx, const std::string &cfg, const Shape &s, int ta, int tb, int a_bf16,
               int b_bf16, float alpha, float beta, bool with_bias, bool specials, uint32_t seed) {
  const int64_t M = s.M, N = s.N, K = s.K;
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = a_cols + 3, ldb = b_cols + 5, ldc = N + 2;
  const std::vector<float> A = operand(size_t(a_rows * lda), seed, specials),
                           B = operand(size_t(b_rows * ldb), seed + 1, specials),
                           bias = fltest::random_floats(size_t(N), seed + 2),
                           C0 = fltest::random_floats(size_t(M * ldc), seed + 3);
  const std::vector<uint16_t> Ah = to_bf16(ctx, A), Bh = to_bf16(ctx, B);
  std::vector<float> got = C0, want = C0;
  const void *a = a_bf16 ? static_cast<const void *>(Ah.data()) : A.data();
  const void *b = b_bf16 ? static_cast<const void *>(Bh.data()) : B.data();
  const float *bp = with_bias ? bias.data() : nullptr;
  CHECK_OK(fl_gemm_mixed(ctx, ta, tb, M, N, K, alpha, a, a_bf16, lda, b, b_bf16, ldb, beta, bp,
                         got.data(), ldc));
  CHECK_OK(fl_gemm_bf16(ctx, ta, tb, M, N, K, alpha, Ah.data(), lda, Bh.data(), ldb, beta, bp,
                        want.data(), ldc));
  if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) != 0) {
    size_t i = 0;
    while (std::memcmp(&got[i], &want[i], sizeof(float)) == 0) i++;
    throw fltest::Failure(cfg + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                          " K=" + std::to_string(K) + " trans_a=" + std::to_string(ta) +
                          " trans_b=" + std::to_string(tb) + " a_bf16=" + std::to_string(a_bf16) +
                          " b_bf16=" + std::to_string(b_bf16) + ": C[" + std::to_string(i) +
                          "] = " + std::to_string(got[i]) + ", narrow + fl_gemm_bf16 gives " +
                          std::to_string(want[i]));
  }
}

void check_all(fl_context *ctx, const std::string &cfg) {
  uint32_t seed = 9000;
  for (const Shape &s : kShapes)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int types = 0; types < 4; types++, seed += 4) {
          const bool odd = (seed / 4) % 2 != 0;
          check_one(ctx, cfg, s, ta, tb, types & 1, types >> 1, odd ? 0.75f : 1.f,
                    odd ? 0.5f : 0.f, !odd, true, seed);
        }
  // the GPT-2 shapes of bf16 training (M = B*T = 256): forward, and both backward GEMMs
  check_one(ctx, cfg, {256, 2304, 768}, 0, 1, 0, 1, 1.f, 0.f, true, false, 9500);
  check_one(ctx, cfg, {256, 768, 3072}, 0, 0, 0, 1, 1.f, 0.f, false, false, 9510);
  check_one(ctx, cfg, {768, 3072, 256}, 1, 0, 0, 0, 1.f, 1.f, false, false, 9520);
}

struct ScopedEnv {
  const char *name;
  ScopedEnv(const char *n, const char *value) : name(n) { setenv(n, value, 1); }
  ~ScopedEnv() { unsetenv(name); }
};

}  // namespace

TEST(gemm_mixed_equals_narrow_then_gemm_bf16_every_isa) { fltest::for_each_cpu_config(check_all); }

// The k-pair packers that round (the AVX512_BF16 path's) with the portable k-pair kernel: any CPU.
TEST(gemm_mixed_k_pairs_emulated_equals_narrow_then_gemm_bf16) {
  ScopedEnv pairs("FUSELM_GEMM_BF16_PAIRS", "1");
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  for (int threads : {1, 3}) {
    fltest::Context ctx(FL_BACKEND_CPU);
    CHECK_OK(fl_context_set_isa(ctx, best < FL_ISA_AVX512 ? best : FL_ISA_AVX512));
    CHECK_OK(fl_context_set_threads(ctx, threads));
    check_all(ctx, "cpu k-pairs emulated threads=" + std::to_string(threads));
  }
}

TEST(gemm_mixed_degenerate_and_bad_sizes) {
  fltest::Context ctx(FL_BACKEND_CPU);
  std::vector<float> C = {1.f, 2.f}, bias = {0.5f, 0.25f};
  // K == 0: C = beta * C + bias, A and B not read (null)
  CHECK_OK(fl_gemm_mixed(ctx, 0, 0, 1, 2, 0, 1.f, nullptr, 0, 1, nullptr, 1, 2, 2.f, bias.data(),
                         C.data(), 2));
  CHECK(C[0] == 2.5f && C[1] == 4.25f);
  CHECK(fl_gemm_mixed(ctx, 0, 0, -1, 2, 2, 1.f, nullptr, 0, 2, nullptr, 0, 2, 0.f, nullptr,
                      C.data(), 2) == FL_ERR_INVALID_ARGUMENT);
  int cuda = -1;
  CHECK_OK(fl_backend_supports(FL_BACKEND_CUDA, "gemm_mixed", &cuda));
  CHECK(cuda == 0);
}
