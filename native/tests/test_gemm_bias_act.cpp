// fl_gemm_bias_act (the linear layer's inference forward: bias and GELU in the GEMM epilogue) on
// the CPU backend, every ISA level this CPU has, 1 and 3 threads, against two oracles:
//
// 1. The unfused sequence on the same context, bit for bit: fl_sgemm_bias (float32 B) or
//    fl_f32_to_bf16 of A then fl_gemm_bf16 (bf16 B), then fl_gelu_forward / fl_gelu_erf_forward
//    over C. The epilogue runs the pointwise kernels' own per-element code on each tile, so any
//    difference at all is a bug (a tile missed or done twice, an epilogue before the last K block).
// 2. The reference backend (double sums, A rounded to bf16 by the reference's own rounding for a
//    bf16 B), with the tolerance of test_gemm_bf16.cpp for the sums, carried through the GELU:
//        pre-activation: |got - want| <= e = (K + 6) u (sum_p |a_ip b_pj| + |bias_j|), u = 2^-24;
//        after GELU (|gelu'| <= 1.13 everywhere): 1.13 e + 4e-7 max(|x|, 1),
//    the last term the pointwise kernels' own stated GELU error (<= 1.5e-7 max(|x|, 1) each side).
//    A float32 B's products are not exact, which adds at most K u sum |a b| more: (2K + 6) u there.
// Shapes cover the small-M path (M <= 8), edge tiles (M, N not multiples of any tile), odd K, K
// split into several K blocks (K = 700 > every kernel's kc), both layouts of B, padded lda.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "testing.h"

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24

float widen(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

struct ActCase {
  int64_t M, N, K;
  int trans_b;
};

const ActCase kCases[] = {{1, 37, 19, 1},    {8, 64, 32, 0},    {9, 50, 33, 1},
                          {37, 100, 64, 0},  {64, 96, 700, 1},  {130, 200, 129, 1},
                          {200, 385, 384, 1}, {33, 1537, 96, 0}};

struct Data {
  ActCase c;
  int64_t lda, ldb;
  std::vector<float> A, Bf, bias;
  std::vector<uint16_t> Bh;
  explicit Data(const ActCase &cs, uint32_t seed) : c(cs) {
    lda = c.K + 3;
    const int64_t brows = c.trans_b ? c.N : c.K, bcols = c.trans_b ? c.K : c.N;
    ldb = bcols;
    A = fltest::random_floats(size_t(c.M * lda), seed, -2.f, 2.f);
    Bf = fltest::random_floats(size_t(brows * bcols), seed + 1, -0.2f, 0.2f);
    bias = fltest::random_floats(size_t(c.N), seed + 2, -1.f, 1.f);
    Bh.resize(Bf.size());
    CHECK_OK(fl_f32_to_bf16(fltest::Context(FL_BACKEND_REFERENCE), Bh.data(), Bf.data(),
                            int64_t(Bf.size())));
  }
  float b_at(bool bf16, int64_t p, int64_t j) const {
    int64_t i = c.trans_b ? j * ldb + p : p * ldb + j;
    return bf16 ? widen(Bh[size_t(i)]) : Bf[size_t(i)];
  }
};

// The unfused sequence on ctx (oracle 1).
std::vector<float> unfused(fl_context *ctx, const Data &d, bool bf16, int act) {
  const ActCase &c = d.c;
  std::vector<float> C(size_t(c.M * c.N));
  if (bf16) {
    std::vector<uint16_t> a16(size_t(c.M * c.K));
    for (int64_t i = 0; i < c.M; i++)
      CHECK_OK(fl_f32_to_bf16(ctx, a16.data() + i * c.K, d.A.data() + i * d.lda, c.K));
    CHECK_OK(fl_gemm_bf16(ctx, 0, c.trans_b, c.M, c.N, c.K, 1.f, a16.data(), c.K, d.Bh.data(),
                          d.ldb, 0.f, d.bias.data(), C.data(), c.N));
  } else {
    CHECK_OK(fl_sgemm_bias(ctx, 0, c.trans_b, c.M, c.N, c.K, d.A.data(), d.lda, d.Bf.data(), d.ldb,
                           d.bias.data(), C.data(), c.N));
  }
  if (act == FL_ACT_GELU_TANH) CHECK_OK(fl_gelu_forward(ctx, C.data(), C.data(), c.M * c.N));
  if (act == FL_ACT_GELU_ERF) CHECK_OK(fl_gelu_erf_forward(ctx, C.data(), C.data(), c.M * c.N));
  return C;
}

std::vector<float> fused(fl_context *ctx, const Data &d, bool bf16, int act) {
  const ActCase &c = d.c;
  std::vector<float> C(size_t(c.M * c.N), 12345.5f);
  const void *B = bf16 ? static_cast<const void *>(d.Bh.data()) : d.Bf.data();
  CHECK_OK(fl_gemm_bias_act(ctx, c.trans_b, c.M, c.N, c.K, d.A.data(), d.lda, B, bf16 ? 1 : 0,
                            d.ldb, d.bias.data(), act, C.data(), c.N));
  return C;
}

// Per-element tolerances against the reference (oracle 2), computed once per problem.
struct Expected {
  std::vector<float> want;
  std::vector<double> tol;
};

Expected reference(const Data &d, bool bf16, int act) {
  const ActCase &c = d.c;
  fltest::Context ref(FL_BACKEND_REFERENCE);
  Expected x;
  x.want = fused(ref, d, bf16, act);
  std::vector<float> pre = act == FL_ACT_NONE ? x.want : fused(ref, d, bf16, FL_ACT_NONE);
  std::vector<uint16_t> a16(d.A.size());
  CHECK_OK(fl_f32_to_bf16(ref, a16.data(), d.A.data(), int64_t(d.A.size())));
  x.tol.resize(x.want.size());
  for (int64_t i = 0; i < c.M; i++)
    for (int64_t j = 0; j < c.N; j++) {
      double mag = std::fabs(d.bias[size_t(j)]);
      for (int64_t p = 0; p < c.K; p++) {
        float a = bf16 ? widen(a16[size_t(i * d.lda + p)]) : d.A[size_t(i * d.lda + p)];
        mag += std::fabs(double(a) * double(d.b_at(bf16, p, j)));
      }
      double e = double(bf16 ? c.K + 6 : 2 * c.K + 6) * kU * mag;
      double v = pre[size_t(i * c.N + j)];
      x.tol[size_t(i * c.N + j)] =
          act == FL_ACT_NONE ? e : 1.13 * e + 4e-7 * std::max(std::fabs(v), 1.0);
    }
  return x;
}

void check_against_reference(const std::string &what, const Data &d, const Expected &x,
                             const std::vector<float> &got) {
  for (size_t k = 0; k < got.size(); k++) {
    double g = got[k], w = x.want[k];
    if (!(std::fabs(g - w) <= x.tol[k])) {
      throw fltest::Failure(what + ": C(" + std::to_string(int64_t(k) / d.c.N) + "," +
                            std::to_string(int64_t(k) % d.c.N) + ") = " + std::to_string(g) +
                            ", reference " + std::to_string(w) + ", tolerance " +
                            std::to_string(x.tol[k]));
    }
  }
}

void run_all(const char *label) {
  uint32_t seed = 100;
  for (const ActCase &c : kCases) {
    Data d(c, seed += 10);
    for (bool bf16 : {false, true})
      for (int act : {FL_ACT_NONE, FL_ACT_GELU_TANH, FL_ACT_GELU_ERF}) {
        const Expected x = reference(d, bf16, act);
        fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
          std::string what = std::string(label) + " " + cfg + " M=" + std::to_string(c.M) +
                             " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
                             " trans_b=" + std::to_string(c.trans_b) + (bf16 ? " bf16" : " f32") +
                             " act=" + std::to_string(act);
          std::vector<float> got = fused(ctx, d, bf16, act);
          std::vector<float> seq = unfused(ctx, d, bf16, act);
          if (std::memcmp(got.data(), seq.data(), got.size() * sizeof(float)) != 0)
            throw fltest::Failure(what + ": differs from the unfused sequence");
          check_against_reference(what, d, x, got);
        });
      }
  }
}

}  // namespace

TEST(gemm_bias_act_matches_unfused_and_reference) { run_all("gemm_bias_act"); }

// The k-pair path (AVX512_BF16's layout) through its portable vdpbf16ps emulation, on any CPU.
TEST(gemm_bias_act_bf16_pairs_emulated) {
  setenv("FUSELM_GEMM_BF16_PAIRS", "1", 1);
  try {
    run_all("gemm_bias_act (k pairs emulated)");
  } catch (...) {
    unsetenv("FUSELM_GEMM_BF16_PAIRS");
    throw;
  }
  unsetenv("FUSELM_GEMM_BF16_PAIRS");
}

TEST(gemm_bias_act_rejects_unknown_act) {
  fltest::Context ctx(FL_BACKEND_CPU);
  float a = 1.f, b = 1.f, c = 0.f;
  CHECK(fl_gemm_bias_act(ctx, 0, 1, 1, 1, &a, 1, &b, 0, 1, nullptr, 7, &c, 1) ==
        FL_ERR_INVALID_ARGUMENT);
}
