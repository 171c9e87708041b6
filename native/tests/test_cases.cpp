// The one conformance case table: (op, sizes, tolerance) rows, each run on the REFERENCE backend (the
// oracle) and compared with the CPU backend at every ISA level this machine has (1 and 3 threads),
// and with the CUDA backend where one can run. Natively and in the SIMDe build (CI), which runs the
// AVX-512 levels on AVX2 machines.
//
// A row's runner (below) builds fixed random inputs from the sizes, runs the op (and its companions:
// backward, in-place and NULL-output forms) through the public API on the given context, and
// returns every output concatenated, padding included (padding of inputs holds NaN, of outputs a
// sentinel: a read or write past the edge shows). Gradient outputs start from random values, so
// "+=" versus "=" is checked too. Tolerances |got - want| <= atol + rtol |want|, written (and
// argued) at the rows; the CUDA backend has looser ones where its arithmetic differs (exp2f, bf16
// tensor cores). A backend runs a row only if fl_backend_supports says it has every op the row's
// runner calls (CUDA has no HOST op): no hand list of exceptions.
//
// To cover a new op: a runner in kRunners (with the ops it calls) and rows in cases(). What the
// other test files keep is what a reference comparison cannot say: finite-difference gradients,
// bitwise identity (across thread counts, ISA levels, fused and unfused forms, padded and packed
// attention), argument checks and error codes, specific bit patterns, TF32, dropout statistics.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "device_buf.h"
#include "testing.h"

namespace {

using fltest::Buf;
using fltest::concat;
using Sizes = std::vector<int64_t>;
using Runner = std::function<std::vector<float>(fl_context *, const Sizes &)>;

struct OpCase {
  const char *op;  // a key of kRunners
  Sizes sizes;
  float rtol, atol;
  float gpu_rtol = 0.f, gpu_atol = 0.f;  // the CUDA backend's, where looser; 0: rtol, atol
};

// Random inputs are the same for every configuration of a row, and drawing them (mt19937) costs
// more than most ops: the runners below draw through this cache, which run_table clears per row.
std::map<std::tuple<size_t, uint32_t, float, float>, std::vector<float>> &input_cache() {
  static std::map<std::tuple<size_t, uint32_t, float, float>, std::vector<float>> cache;
  return cache;
}
const std::vector<float> &inputs(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  auto key = std::make_tuple(n, seed, lo, hi);
  auto it = input_cache().find(key);
  if (it == input_cache().end()) it = input_cache().emplace(key, fltest::random_floats(n, seed, lo, hi)).first;
  return it->second;
}

std::vector<float> run_layernorm(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], C = s[1];
  const auto x = inputs(N * C, 8), w = inputs(C, 9),
             b = inputs(C, 10), dy = inputs(N * C, 11),
             dx0 = inputs(N * C, 13), dw0 = inputs(C, 14),
             db0 = inputs(C, 15);
  Buf inp(ctx, x), tw(ctx, w), tb(ctx, b), out(ctx, N * C * 4), mean(ctx, N * 4), rstd(ctx, N * 4),
      dout(ctx, dy), dx(ctx, dx0), dw(ctx, dw0), dbias(ctx, db0);
  CHECK_OK(fl_layernorm_forward(ctx, out.f(), mean.f(), rstd.f(), inp.f(), tw.f(), tb.f(), N, C, 1e-5f));
  CHECK_OK(fl_layernorm_backward(ctx, dx.f(), dw.f(), dbias.f(), dout.f(), inp.f(), tw.f(), mean.f(),
                                 rstd.f(), N, C));
  // inference form: no saved statistics; backward wanting only dinp
  Buf out2(ctx, N * C * 4), dx2(ctx, dx0);
  CHECK_OK(fl_layernorm_forward(ctx, out2.f(), nullptr, nullptr, inp.f(), tw.f(), tb.f(), N, C, 1e-5f));
  CHECK_OK(fl_layernorm_backward(ctx, dx2.f(), nullptr, nullptr, dout.f(), inp.f(), tw.f(), mean.f(),
                                 rstd.f(), N, C));
  return concat({out.get(), mean.get(), rstd.get(), dx.get(), dw.get(), dbias.get(), out2.get(), dx2.get()});
}

std::vector<float> run_residual_layernorm(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], C = s[1];
  const auto x = inputs(N * C, 8), w = inputs(C, 9),
             b = inputs(C, 10), x2 = inputs(N * C, 12);
  Buf a(ctx, x), bb(ctx, x2), tw(ctx, w), tb(ctx, b), res(ctx, N * C * 4), out(ctx, N * C * 4),
      mean(ctx, N * 4), rstd(ctx, N * 4);
  CHECK_OK(fl_residual_layernorm_forward(ctx, res.f(), out.f(), mean.f(), rstd.f(), a.f(), bb.f(), tw.f(),
                                         tb.f(), N, C, 1e-5f));
  // in place: residual_out aliases a
  Buf a2(ctx, x), out2(ctx, N * C * 4);
  CHECK_OK(fl_residual_layernorm_forward(ctx, a2.f(), out2.f(), nullptr, nullptr, a2.f(), bb.f(), tw.f(),
                                         tb.f(), N, C, 1e-5f));
  return concat({res.get(), out.get(), mean.get(), rstd.get(), a2.get(), out2.get()});
}

std::vector<float> run_pointwise(fl_context *ctx, const Sizes &s) {
  const int64_t n = s[0];
  auto x = inputs(n, 20, -6.f, 6.f);  // the tails of GELU
  if (n > 3) { x[0] = -30.f; x[1] = 30.f; x[2] = 0.f; }
  const auto y = inputs(n, 21), dy = inputs(n, 22);
  Buf tx(ctx, x), ty(ctx, y), out(ctx, n * 4), dx(ctx, y), dout(ctx, dy), sum(ctx, n * 4), inplace(ctx, x);
  CHECK_OK(fl_gelu_forward(ctx, out.f(), tx.f(), n));
  CHECK_OK(fl_gelu_backward(ctx, dx.f(), tx.f(), dout.f(), n));
  Buf erf_out(ctx, n * 4), erf_dx(ctx, y);
  CHECK_OK(fl_gelu_erf_forward(ctx, erf_out.f(), tx.f(), n));
  CHECK_OK(fl_gelu_erf_backward(ctx, erf_dx.f(), tx.f(), dout.f(), n));
  CHECK_OK(fl_add(ctx, sum.f(), tx.f(), ty.f(), n));
  CHECK_OK(fl_scale(ctx, sum.f(), 0.5f, n));
  CHECK_OK(fl_add(ctx, inplace.f(), inplace.f(), ty.f(), n));  // out aliases a
  return concat({out.get(), dx.get(), erf_out.get(), erf_dx.get(), sum.get(), inplace.get()});
}

std::vector<float> run_softmax(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], V = s[1];
  const auto logits = inputs(N * V, 23, -8.f, 8.f);
  const auto dy = inputs(N * V, 24), dx0 = inputs(N * V, 25);
  Buf x(ctx, logits), out(ctx, N * V * 4), dout(ctx, dy), dx(ctx, dx0), inplace(ctx, logits);
  CHECK_OK(fl_softmax_forward(ctx, out.f(), x.f(), N, V));
  CHECK_OK(fl_softmax_backward(ctx, dx.f(), out.f(), dout.f(), N, V));
  CHECK_OK(fl_softmax_forward(ctx, inplace.f(), inplace.f(), N, V));
  return concat({out.get(), dx.get(), inplace.get()});
}

std::vector<float> run_cross_entropy(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], V = s[1];
  const auto logits = inputs(N * V, 23, -8.f, 8.f);
  auto targets = fltest::random_ints(N, 26, 0, static_cast<int32_t>(V - 1));
  if (N > 2) targets[1] = -100;
  Buf x(ctx, logits), tt(ctx, targets), lse(ctx, N * 4), losses(ctx, N * 4), lse2(ctx, N * 4);
  float mean = -1.f, mean2 = -1.f;
  int64_t count = -1, count2 = -1;
  CHECK_OK(fl_cross_entropy_forward(ctx, &mean, &count, losses.f(), lse.f(), x.f(), tt.i(), N, V, -100));
  CHECK_OK(fl_cross_entropy_forward(ctx, &mean2, &count2, nullptr, lse2.f(), x.f(), tt.i(), N, V, -100));
  CHECK(count == count2 && mean == mean2);
  // the backward in place (dlogits == logits), then with count = 0 (all zeros)
  Buf x2(ctx, logits);
  CHECK_OK(fl_cross_entropy_backward(ctx, x.f(), x.f(), lse.f(), tt.i(), N, V, -100, 1.f, count));
  CHECK_OK(fl_cross_entropy_backward(ctx, x2.f(), x2.f(), lse.f(), tt.i(), N, V, -100, 1.f, 0));
  return concat({{mean, static_cast<float>(count)}, losses.get(), lse.get(), lse2.get(), x.get(), x2.get()});
}

std::vector<float> run_embedding(fl_context *ctx, const Sizes &s) {
  const int64_t B = s[0], T = s[1], C = s[2], V = s[3];
  const auto wte = inputs(V * C, 28), wpe = inputs(T * C, 29),
             dy = inputs(B * T * C, 30), dwte0 = inputs(V * C, 31),
             dwpe0 = inputs(T * C, 32);
  const auto ids = fltest::random_ints(B * T, 33, 0, static_cast<int32_t>(V - 1));
  Buf tids(ctx, ids), twte(ctx, wte), twpe(ctx, wpe), out(ctx, B * T * C * 4), out2(ctx, B * T * C * 4),
      dout(ctx, dy), dwte(ctx, dwte0), dwpe(ctx, dwpe0), dwte2(ctx, dwte0);
  CHECK_OK(fl_embedding_forward(ctx, out.f(), tids.i(), twte.f(), twpe.f(), B, T, C));
  CHECK_OK(fl_embedding_forward(ctx, out2.f(), tids.i(), twte.f(), nullptr, B, T, C));
  CHECK_OK(fl_embedding_backward(ctx, dwte.f(), dwpe.f(), dout.f(), tids.i(), B, T, C));
  CHECK_OK(fl_embedding_backward(ctx, dwte2.f(), nullptr, dout.f(), tids.i(), B, T, C));
  return concat({out.get(), out2.get(), dwte.get(), dwpe.get(), dwte2.get()});
}

std::vector<float> run_bias_backward(fl_context *ctx, const Sizes &s) {
  const int64_t M = s[0], N = s[1];
  const auto dy = inputs(M * N, 40), db0 = inputs(N, 41);
  Buf dout(ctx, dy), db(ctx, db0);
  CHECK_OK(fl_bias_backward(ctx, db.f(), dout.f(), M, N));
  return db.get();
}

// ---- GEMM ---------------------------------------------------------------------------------------
// Operands with padded leading dimensions: the padding of A and B holds NaN (reading it poisons the
// result), the padding of C holds kSentinel (every runner returns C whole, padding included, so a
// write past column N shows as a mismatch). beta == 0 runs on a C whose M x N part is NaN.
constexpr float kSentinel = 12345.f;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> padded(size_t rows, int64_t cols, int64_t ld, uint32_t seed, float pad_value,
                          bool nan_inside = false) {
  std::vector<float> v = inputs(rows * static_cast<size_t>(ld), seed);
  for (size_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < ld; c++)
      if (c >= cols) v[r * ld + c] = pad_value;
      else if (nan_inside) v[r * ld + c] = kNaN;
  return v;
}

std::map<std::string, std::vector<uint16_t>> &bf16_cache() {  // cleared with input_cache()
  static std::map<std::string, std::vector<uint16_t>> cache;
  return cache;
}

std::vector<uint16_t> to_bf16(const std::vector<float> &x) {  // on the host, by the reference
  std::string key(reinterpret_cast<const char *>(x.data()), x.size() * sizeof(float));
  auto it = bf16_cache().find(key);
  if (it != bf16_cache().end()) return it->second;
  fltest::Context ref(FL_BACKEND_REFERENCE);
  std::vector<uint16_t> h(x.size());
  CHECK_OK(fl_f32_to_bf16(ref, h.data(), x.data(), static_cast<int64_t>(x.size())));
  return bf16_cache().emplace(std::move(key), std::move(h)).first->second;
}

// One GEMM's shapes: sizes {M, N, K, pad (extra columns of every leading dimension), offset
// (elements before each operand: misaligned base pointers; gemm_bf16 only), and optionally which of
// the four (trans_a, trans_b) to run, bit 2 trans_a + trans_b (default all: 15)}.
struct Gemm {
  int64_t M, N, K, ta, tb, pad, offset, ar, ac, br, bc, lda, ldb, ldc;
  Gemm(const Sizes &s, int64_t trans_a, int64_t trans_b)
      : M(s[0]), N(s[1]), K(s[2]), ta(trans_a), tb(trans_b), pad(s[3]), offset(0),
        ar(ta ? K : M), ac(ta ? M : K), br(tb ? N : K), bc(tb ? K : N), lda(ac + pad), ldb(bc + pad),
        ldc(N + pad) {}
  std::vector<float> a(uint32_t seed) const { return padded(ar, ac, lda, seed, kNaN); }
  std::vector<float> b(uint32_t seed) const { return padded(br, bc, ldb, seed, kNaN); }
  std::vector<float> c(uint32_t seed, bool nan_inside = false) const {
    return padded(M, N, ldc, seed, kSentinel, nan_inside);
  }
};
// sgemm and sgemm_bf16w rows are {M, N, K, pad, transposes}; gemm_bf16 rows {M, N, K, pad, offset}.
bool runs(const Sizes &s, size_t at, int ta, int tb) { return s.size() <= at || (s[at] >> (2 * ta + tb) & 1); }

// Every row runs the four (trans_a, trans_b) combinations: fl_sgemm with alpha and beta; beta == 0
// on a NaN C; alpha == 0 on NaN A and B (not read: C = beta C); fl_sgemm_bias with and without a
// bias (C write-only: NaN).
std::vector<float> run_sgemm(fl_context *ctx, const Sizes &s) {
  std::vector<float> all;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      if (!runs(s, 4, ta, tb)) continue;
      const Gemm g(s, ta, tb);
      Buf a(ctx, g.a(50)), b(ctx, g.b(51)), c1(ctx, g.c(52)), c2(ctx, g.c(53, true)), c3(ctx, g.c(54)),
          c4(ctx, g.c(55, true)), c5(ctx, g.c(56, true)), bias(ctx, inputs(g.N, 57)),
          anan(ctx, std::vector<float>(g.ar * g.lda, kNaN)), bnan(ctx, std::vector<float>(g.br * g.ldb, kNaN));
      CHECK_OK(fl_sgemm(ctx, ta, tb, g.M, g.N, g.K, -1.25f, a.f(), g.lda, b.f(), g.ldb, 0.75f, c1.f(), g.ldc));
      CHECK_OK(fl_sgemm(ctx, ta, tb, g.M, g.N, g.K, 1.f, a.f(), g.lda, b.f(), g.ldb, 0.f, c2.f(), g.ldc));
      CHECK_OK(fl_sgemm(ctx, ta, tb, g.M, g.N, g.K, 0.f, anan.f(), g.lda, bnan.f(), g.ldb, 0.5f, c3.f(), g.ldc));
      CHECK_OK(fl_sgemm_bias(ctx, ta, tb, g.M, g.N, g.K, a.f(), g.lda, b.f(), g.ldb, bias.f(), c4.f(), g.ldc));
      CHECK_OK(fl_sgemm_bias(ctx, ta, tb, g.M, g.N, g.K, a.f(), g.lda, b.f(), g.ldb, nullptr, c5.f(), g.ldc));
      all = concat({all, c1.get(), c2.get(), c3.get(), c4.get(), c5.get()});
    }
  return all;
}

// fl_sgemm_bf16w, four transposes: B rounded to bf16 (NaN padding stays NaN); alpha, beta and bias
// together, then beta == 0 on a NaN C without a bias. The reference widens the same bf16 B.
std::vector<float> run_sgemm_bf16w(fl_context *ctx, const Sizes &s) {
  std::vector<float> all;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      if (!runs(s, 4, ta, tb)) continue;
      const Gemm g(s, ta, tb);
      Buf a(ctx, g.a(60)), b(ctx, to_bf16(g.b(61))), c1(ctx, g.c(62)), c2(ctx, g.c(63, true)),
          bias(ctx, inputs(g.N, 64));
      const auto *pb = static_cast<const uint16_t *>(b.p);
      CHECK_OK(fl_sgemm_bf16w(ctx, ta, tb, g.M, g.N, g.K, -1.25f, a.f(), g.lda, pb, g.ldb, 0.75f, bias.f(),
                              c1.f(), g.ldc));
      CHECK_OK(fl_sgemm_bf16w(ctx, ta, tb, g.M, g.N, g.K, 1.f, a.f(), g.lda, pb, g.ldb, 0.f, nullptr, c2.f(),
                              g.ldc));
      all = concat({all, c1.get(), c2.get()});
    }
  return all;
}

// fl_gemm_bf16, four transposes: A and B bf16 (the same bf16 values on every backend), operands
// starting `offset` elements into their buffers; alpha, beta and bias; beta == 0 on NaN C; bias
// alone; alpha == 0 on NaN A and B (C = beta C + bias).
std::vector<float> run_gemm_bf16(fl_context *ctx, const Sizes &s) {
  std::vector<float> all;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      if (!runs(s, 5, ta, tb)) continue;
      Gemm g(s, ta, tb);
      g.offset = s[4];
      std::vector<float> af = g.a(70), bf = g.b(71);
      af.insert(af.begin(), g.offset, kNaN);
      bf.insert(bf.begin(), g.offset, kNaN);
      Buf a(ctx, to_bf16(af)), b(ctx, to_bf16(bf)), c1(ctx, g.c(72)), c2(ctx, g.c(73, true)),
          c3(ctx, g.c(74, true)), c4(ctx, g.c(75)), bias(ctx, inputs(g.N, 76)),
          nan(ctx, std::vector<uint16_t>(std::max(af.size(), bf.size()), 0x7fc0));
      const uint16_t *pa = static_cast<const uint16_t *>(a.p) + g.offset,
                     *pb = static_cast<const uint16_t *>(b.p) + g.offset,
                     *pn = static_cast<const uint16_t *>(nan.p);
      CHECK_OK(fl_gemm_bf16(ctx, ta, tb, g.M, g.N, g.K, 0.5f, pa, g.lda, pb, g.ldb, 0.25f, bias.f(), c1.f(), g.ldc));
      CHECK_OK(fl_gemm_bf16(ctx, ta, tb, g.M, g.N, g.K, 1.f, pa, g.lda, pb, g.ldb, 0.f, nullptr, c2.f(), g.ldc));
      CHECK_OK(fl_gemm_bf16(ctx, ta, tb, g.M, g.N, g.K, 1.f, pa, g.lda, pb, g.ldb, 0.f, bias.f(), c3.f(), g.ldc));
      CHECK_OK(fl_gemm_bf16(ctx, ta, tb, g.M, g.N, g.K, 0.f, pn, g.lda, pn, g.ldb, 0.5f, bias.f(), c4.f(), g.ldc));
      all = concat({all, c1.get(), c2.get(), c3.get(), c4.get()});
    }
  return all;
}

// fl_gemm_bias_act, sizes {M, N, K, pad}: A (M, K) float32, both trans_b, B float32 and bf16 (the
// same bf16 values on every backend), each activation, with a bias and without.
std::vector<float> run_gemm_bias_act(fl_context *ctx, const Sizes &s) {
  std::vector<float> all;
  for (int tb = 0; tb < 2; tb++) {
    const Gemm g(s, 0, tb);
    const std::vector<float> bf = g.b(81);
    Buf a(ctx, g.a(80)), b32(ctx, bf), b16(ctx, to_bf16(bf)), bias(ctx, inputs(g.N, 84));
    for (int b_bf16 = 0; b_bf16 < 2; b_bf16++)
      for (int act : {FL_ACT_NONE, FL_ACT_GELU_TANH, FL_ACT_GELU_ERF}) {
        Buf c1(ctx, g.c(82, true)), c2(ctx, g.c(83));
        const void *pb = b_bf16 ? b16.p : b32.p;
        CHECK_OK(fl_gemm_bias_act(ctx, tb, g.M, g.N, g.K, a.f(), g.lda, pb, b_bf16, g.ldb, bias.f(), act, c1.f(),
                                  g.ldc));
        CHECK_OK(fl_gemm_bias_act(ctx, tb, g.M, g.N, g.K, a.f(), g.lda, pb, b_bf16, g.ldb, nullptr, act, c2.f(),
                                  g.ldc));
        all = concat({all, c1.get(), c2.get()});
      }
  }
  return all;
}

// ---- attention ----------------------------------------------------------------------------------
// sizes {B, T, NH, hs, dropout p in thousandths}; every row runs causal and not, with and without a
// key mask (the mask of test_attention.cpp: keys 0 and 1 of every batch and, when B > 1, the whole
// last batch masked, so some queries see no key: their out is 0, their lse -inf). p == 0 goes
// through fl_attention_forward / _backward, p > 0 through the _dropout entry points.
struct Attn {
  int64_t B, T, NH, hs, C;
  float p;
  uint64_t seed = 0x1234567890abcdefull;
  explicit Attn(const Sizes &s)
      : B(s[0]), T(s[1]), NH(s[2]), hs(s[3]), C(s[2] * s[3]), p(static_cast<float>(s[4]) / 1000.f) {}
  std::vector<int32_t> mask() const {
    std::vector<int32_t> m = fltest::random_ints(static_cast<size_t>(B * T), 90, 0, 9);
    for (auto &x : m) x = x >= 3;
    for (int64_t b = 0; b < B; b++)
      for (int64_t j = 0; j < T; j++)
        if (j < 2 || (B > 1 && b == B - 1)) m[b * T + j] = 0;
    return m;
  }
  int forward(fl_context *ctx, float *out, float *lse, const float *qkv, const int32_t *m, int causal) const {
    return p == 0.f ? fl_attention_forward(ctx, out, lse, qkv, m, B, T, C, NH, causal)
                    : fl_attention_forward_dropout(ctx, out, lse, qkv, m, B, T, C, NH, causal, p, seed);
  }
};

// out and lse (out filled with a sentinel first: every element must be written), then out again
// with lse NULL (inference).
std::vector<float> run_attention_forward(fl_context *ctx, const Sizes &s) {
  const Attn at(s);
  const auto qkv = inputs(at.B * at.T * 3 * at.C, 91, -1.5f, 1.5f);
  const auto mask = at.mask();
  Buf tq(ctx, qkv), km(ctx, mask);
  std::vector<float> all;
  for (int causal : {0, 1})
    for (bool masked : {false, true}) {
      Buf out(ctx, std::vector<float>(at.B * at.T * at.C, kSentinel)), lse(ctx, at.B * at.NH * at.T * 4),
          out2(ctx, at.B * at.T * at.C * 4);
      CHECK_OK(at.forward(ctx, out.f(), lse.f(), tq.f(), masked ? km.i() : nullptr, causal));
      CHECK_OK(at.forward(ctx, out2.f(), nullptr, tq.f(), masked ? km.i() : nullptr, causal));
      all = concat({all, out.get(), lse.get(), out2.get()});
    }
  return all;
}

// dqkv (pre-filled: the backward ADDs) from the reference forward's out and lse on every backend, so
// the backward is checked on its own.
std::vector<float> run_attention_backward(fl_context *ctx, const Sizes &s) {
  const Attn at(s);
  const auto qkv = inputs(at.B * at.T * 3 * at.C, 92, -1.5f, 1.5f),
             dy = inputs(at.B * at.T * at.C, 93),
             dq0 = inputs(at.B * at.T * 3 * at.C, 94);
  const auto mask = at.mask();
  fltest::Context ref(FL_BACKEND_REFERENCE);
  Buf tq(ctx, qkv), km(ctx, mask), dout(ctx, dy);
  std::vector<float> all;
  for (int causal : {0, 1})
    for (bool masked : {false, true}) {
      const int32_t *hm = masked ? mask.data() : nullptr;
      std::vector<float> out_ref(at.B * at.T * at.C), lse_ref(at.B * at.NH * at.T);
      CHECK_OK(at.forward(ref, out_ref.data(), lse_ref.data(), qkv.data(), hm, causal));
      Buf out(ctx, out_ref), lse(ctx, lse_ref), dq(ctx, dq0);
      const int32_t *m = masked ? km.i() : nullptr;
      if (at.p == 0.f)
        CHECK_OK(fl_attention_backward(ctx, dq.f(), dout.f(), tq.f(), out.f(), lse.f(), m, at.B, at.T, at.C,
                                       at.NH, causal));
      else
        CHECK_OK(fl_attention_backward_dropout(ctx, dq.f(), dout.f(), tq.f(), out.f(), lse.f(), m, at.B, at.T,
                                               at.C, at.NH, causal, at.p, at.seed));
      all = concat({all, dq.get()});
    }
  return all;
}

// sizes {B, T, Tmax, Tq, C, NH}: rows T..Tmax-1 of the cache hold NaN (never read).
std::vector<float> run_attention_cached(fl_context *ctx, const Sizes &s) {
  const int64_t B = s[0], T = s[1], Tmax = s[2], Tq = s[3], C = s[4], NH = s[5];
  auto cache = inputs(B * Tmax * 3 * C, 95, -1.5f, 1.5f);
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = T * 3 * C; j < Tmax * 3 * C; j++) cache[b * Tmax * 3 * C + j] = kNaN;
  Buf tc(ctx, cache), out(ctx, std::vector<float>(B * Tq * C, kSentinel));
  CHECK_OK(fl_attention_forward_cached(ctx, out.f(), tc.f(), B, T, Tmax, Tq, C, NH));
  return out.get();
}

// sizes {NH, hs, then the sequence lengths (0 = an empty sequence)}
std::vector<float> run_attention_varlen(fl_context *ctx, const Sizes &s) {
  const int64_t NH = s[0], C = s[0] * s[1], nseq = static_cast<int64_t>(s.size()) - 2;
  std::vector<int32_t> cu(1, 0);
  for (size_t i = 2; i < s.size(); i++) cu.push_back(cu.back() + static_cast<int32_t>(s[i]));
  Buf qkv(ctx, inputs(cu.back() * 3 * C, 96, -1.5f, 1.5f)), tcu(ctx, cu),
      out(ctx, std::vector<float>(cu.back() * C, kSentinel));
  CHECK_OK(fl_attention_forward_varlen(ctx, out.f(), qkv.f(), tcu.i(), nseq, C, NH));
  return out.get();
}

// ---- int8 weights (host memory on every backend that has them) ---------------------------------
std::vector<float> bytes_as_floats(const std::vector<uint8_t> &b) { return {b.begin(), b.end()}; }

std::vector<uint8_t> q8_blocks(fl_context *ctx, int64_t K, int64_t N, int w_is_kn, uint32_t seed) {
  auto w = inputs(K * N, seed, -2.f, 2.f);
  if (K >= 32 && N > 1)  // one all-zero block (d = 0) of column 1
    for (int64_t p = 0; p < 32; p++) w[w_is_kn ? p * N + 1 : K + p] = 0.f;
  std::vector<uint8_t> blocks(N * (K / 32) * FL_Q8_0_BLOCK_BYTES, 0xcd);
  CHECK_OK(fl_q8_0_quantize(ctx, blocks.data(), w.data(), K, N, w_is_kn));
  return blocks;
}

std::vector<uint8_t> q8_packed(fl_context *ctx, const std::vector<uint8_t> &blocks, int64_t K, int64_t N) {
  int64_t bytes = 0;
  CHECK_OK(fl_q8_0_packed_bytes(K, N, &bytes));
  std::vector<uint8_t> packed(bytes, 0xcd);
  CHECK_OK(fl_q8_0_repack(ctx, packed.data(), blocks.data(), K, N));
  return packed;
}

// sizes {K, N}: both weight layouts
std::vector<float> run_q8_0_quantize(fl_context *ctx, const Sizes &s) {
  return concat({bytes_as_floats(q8_blocks(ctx, s[0], s[1], 1, 97)), bytes_as_floats(q8_blocks(ctx, s[0], s[1], 0, 97))});
}

// sizes {K, N}: the reference's blocks repacked here
std::vector<float> run_q8_0_repack(fl_context *ctx, const Sizes &s) {
  fltest::Context ref(FL_BACKEND_REFERENCE);
  return bytes_as_floats(q8_packed(ctx, q8_blocks(ref, s[0], s[1], 1, 98), s[0], s[1]));
}

// sizes {M, N, K}: the reference's packed weights; X and Y with padded rows (ldx = K + 3, ldy = N +
// 2: Y's padding must keep its sentinel); with a bias and without.
std::vector<float> run_gemv_q8_0(fl_context *ctx, const Sizes &s) {
  const int64_t M = s[0], N = s[1], K = s[2], ldx = K + 3, ldy = N + 2;
  fltest::Context ref(FL_BACKEND_REFERENCE);
  const std::vector<uint8_t> packed = q8_packed(ref, q8_blocks(ref, K, N, 1, 99), K, N);
  const auto x = inputs(M * ldx, 100, -3.f, 3.f), bias = inputs(N, 101);
  std::vector<float> y1(M * ldy, kSentinel), y2(M * ldy, kSentinel);
  CHECK_OK(fl_gemv_q8_0(ctx, M, N, K, x.data(), ldx, packed.data(), bias.data(), y1.data(), ldy));
  CHECK_OK(fl_gemv_q8_0(ctx, M, N, K, x.data(), ldx, packed.data(), nullptr, y2.data(), ldy));
  return concat({y1, y2});
}

// fl_gemm_mixed, every (trans_a, trans_b) and operand-type combination (float32 operands are rounded
// to bf16 as they are read; the reference rounds, then multiplies). HOST only: CUDA skips the rows.
std::vector<float> run_gemm_mixed(fl_context *ctx, const Sizes &s) {
  const int64_t M = s[0], N = s[1], K = s[2];
  const auto a = inputs(M * K, 42), b = inputs(K * N, 43), bias = inputs(N, 44), c0 = inputs(M * N, 45);
  Buf ta(ctx, a), tb(ctx, b), tbias(ctx, bias), ah(ctx, M * K * 2), bh(ctx, K * N * 2);
  CHECK_OK(fl_f32_to_bf16(ctx, static_cast<uint16_t *>(ah.p), ta.f(), M * K));
  CHECK_OK(fl_f32_to_bf16(ctx, static_cast<uint16_t *>(bh.p), tb.f(), K * N));
  std::vector<float> out;
  for (int t = 0; t < 16; t++) {
    const int trans_a = t & 1, trans_b = (t >> 1) & 1, a_bf16 = (t >> 2) & 1, b_bf16 = t >> 3;
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const float beta = t % 3 == 0 ? 0.f : 0.5f;
    Buf c(ctx, c0);
    CHECK_OK(fl_gemm_mixed(ctx, trans_a, trans_b, M, N, K, 0.75f, a_bf16 ? ah.p : ta.p, a_bf16, lda,
                           b_bf16 ? bh.p : tb.p, b_bf16, ldb, beta, t % 2 ? tbias.f() : nullptr, c.f(), N));
    const std::vector<float> got = c.get();
    out.insert(out.end(), got.begin(), got.end());
  }
  return out;
}

// Each runner with the ops it calls: a backend runs a row only if fl_backend_supports says it has
// every one of them (the CUDA backend has no HOST op).
struct RunnerInfo {
  Runner run;
  std::vector<const char *> ops;
};

const std::map<std::string, RunnerInfo> kRunners = {
    {"layernorm", {run_layernorm, {"layernorm_forward", "layernorm_backward"}}},
    {"residual_layernorm", {run_residual_layernorm, {"residual_layernorm_forward"}}},
    {"pointwise", {run_pointwise, {"gelu_forward", "gelu_backward", "gelu_erf_forward", "gelu_erf_backward",
                                   "add", "scale"}}},
    {"softmax", {run_softmax, {"softmax_forward", "softmax_backward"}}},
    {"cross_entropy", {run_cross_entropy, {"cross_entropy_forward", "cross_entropy_backward"}}},
    {"embedding", {run_embedding, {"embedding_forward", "embedding_backward"}}},
    {"bias_backward", {run_bias_backward, {"bias_backward"}}},
    {"sgemm", {run_sgemm, {"sgemm", "sgemm_bias"}}},
    {"sgemm_bf16w", {run_sgemm_bf16w, {"sgemm_bf16w"}}},
    {"gemm_bf16", {run_gemm_bf16, {"gemm_bf16"}}},
    {"gemm_bias_act", {run_gemm_bias_act, {"gemm_bias_act"}}},
    {"attention_forward", {run_attention_forward, {"attention_forward", "attention_forward_dropout"}}},
    {"attention_backward", {run_attention_backward, {"attention_backward", "attention_backward_dropout"}}},
    {"attention_cached", {run_attention_cached, {"attention_forward_cached"}}},
    {"attention_varlen", {run_attention_varlen, {"attention_forward_varlen"}}},
    {"q8_0_quantize", {run_q8_0_quantize, {"q8_0_quantize"}}},
    {"q8_0_repack", {run_q8_0_repack, {"q8_0_repack"}}},
    {"gemv_q8_0", {run_gemv_q8_0, {"gemv_q8_0"}}},
    {"gemm_mixed", {run_gemm_mixed, {"gemm_mixed"}}},
};

// GEMM tolerance (fp32 sums of K products of values in [-1, 1], partial sums up to ~sqrt(K), in an
// order that differs from the reference's double sum): atol = max(1e-5, 2 u K sqrt(K)), u = 2^-24,
// rtol 1e-4 (test_cuda.cpp's sgemm bound, which holds for every CPU blocking as well). bf16 inputs:
// products of two bf16 values are exact in fp32, so the same bound; the reference multiplies the
// same bf16 values. CUDA's bf16 tensor cores truncate the accumulation: 4 u K sqrt(K) + 1e-5
// (test_cuda.cpp, cuda_gemm_bf16).
float gemm_atol(double K) { return static_cast<float>(std::fmax(1e-5, 2 * 5.9604645e-8 * K * std::sqrt(K))); }
float gemm_bf16_atol(double K) { return static_cast<float>(4 * 5.9604645e-8 * K * std::sqrt(K) + 1e-5); }

// op, sizes, rtol, atol (and the looser CUDA tolerance where it has one: gpu_rtol, gpu_atol)
const std::vector<OpCase> &cases() {
  static const std::vector<OpCase> table = [] {
    std::vector<OpCase> t = {
    {"layernorm", {1, 1}, 1e-4f, 1e-4f},          {"layernorm", {7, 63}, 1e-4f, 1e-4f},
    {"layernorm", {65, 129}, 1e-4f, 1e-4f},       {"layernorm", {3, 768}, 1e-4f, 1e-4f},
    {"layernorm", {33, 1600}, 1e-4f, 1e-4f},      {"layernorm", {300, 65}, 1e-4f, 1e-4f},
    {"residual_layernorm", {1, 1}, 1e-4f, 1e-4f}, {"residual_layernorm", {7, 63}, 1e-4f, 1e-4f},
    {"residual_layernorm", {65, 129}, 1e-4f, 1e-4f}, {"residual_layernorm", {33, 1600}, 1e-4f, 1e-4f},
    {"pointwise", {1}, 1e-5f, 1e-6f},             {"pointwise", {7}, 1e-5f, 1e-6f},
    {"pointwise", {65}, 1e-5f, 1e-6f},            {"pointwise", {1029}, 1e-5f, 1e-6f},
    {"pointwise", {100003}, 1e-5f, 1e-6f},
    {"softmax", {1, 1}, 2e-5f, 1e-6f},            {"softmax", {7, 63}, 2e-5f, 1e-6f},
    {"softmax", {65, 129}, 2e-5f, 1e-6f},         {"softmax", {3, 1000}, 2e-5f, 1e-6f},
    {"softmax", {4, 50257}, 2e-5f, 1e-6f},
    {"cross_entropy", {1, 1}, 2e-5f, 1e-6f},      {"cross_entropy", {7, 63}, 2e-5f, 1e-6f},
    {"cross_entropy", {65, 129}, 2e-5f, 1e-6f},   {"cross_entropy", {3, 1000}, 2e-5f, 1e-6f},
    {"cross_entropy", {4, 50257}, 2e-5f, 1e-6f},
    {"embedding", {1, 1, 1, 1}, 1e-5f, 1e-6f},    {"embedding", {2, 7, 13, 5}, 1e-5f, 1e-6f},
    {"embedding", {3, 65, 129, 7}, 1e-5f, 1e-6f}, {"embedding", {4, 64, 768, 1003}, 1e-5f, 1e-6f},
    {"embedding", {2, 300, 64, 3}, 1e-5f, 1e-6f},
    // dbias sums M rows: fp32 sums of M values in [-1, 1]
    {"bias_backward", {1, 1}, 1e-5f, 1e-5f},      {"bias_backward", {65, 129}, 1e-5f, 1e-5f},
    {"bias_backward", {1000, 33}, 1e-5f, 1e-4f},
    // the same at M = 1000 and 4096 rows (CUDA sums slices of rows, then in order): 1e-6 M + 1e-5
    {"bias_backward", {1000, 7}, 1e-4f, 1e-3f + 1e-5f}, {"bias_backward", {4096, 768}, 1e-4f, 4.096e-3f + 1e-5f},
    // bf16 products are exact; fp32 sums of K of them (|terms| <= 1) against the double reference
    {"gemm_mixed", {1, 1, 1}, 1e-5f, 1e-5f},      {"gemm_mixed", {7, 65, 129}, 1e-4f, 1e-4f},
    {"gemm_mixed", {70, 40, 777}, 1e-4f, 4e-4f},
    };
    // fl_sgemm / fl_sgemm_bias, sizes {M, N, K, pad}, each in all four transposes (run_sgemm).
    // Degenerate (1), odd (7, 63, 65, 129), exactly one register tile (6x16, 12x32, 8x48), K split
    // into several K blocks (257, 300; kc is 256 for AVX2, 192 for AVX-512), M over one mc block
    // (250; mc is 144 / 256), ragged tails of the AVX-512 8 x 48 tile in M, N and K at once (17 x 97 x
    // 193; 263 x 50: past one mc block of 256 into an uneven second one), N over one nc block (4200;
    // nc is 4096), split over 3 threads by rows (1000 x 16) or columns (40 x 1000); K = 0; CUDA's
    // tiles (256 x 96, 129 x 260; its large SIMT tile stays in test_cuda.cpp); the GPT-2 decode
    // shapes (a Conv1D product, the LM head: their own transposes only; the reference is slow).
    const Sizes gemm_shapes[] = {
        {1, 1, 1, 0},       {7, 7, 7, 1},        {1, 129, 63, 2},    {129, 1, 65, 3},   {63, 65, 129, 4},
        {65, 63, 7, 0},     {6, 16, 256, 1},     {12, 32, 1, 2},     {8, 48, 9, 0},     {17, 97, 193, 3},
        {263, 50, 20, 4},   {13, 33, 257, 0},    {37, 4200, 5, 1},   {250, 40, 300, 2}, {1000, 16, 50, 0},
        {40, 1000, 64, 3},  {5, 3, 0, 0},        {256, 96, 200, 0},  {300, 257, 1000, 5, 3},
        {129, 260, 65, 0},  {1, 3072, 768, 0, 1}, {1, 768, 3072, 0, 1}, {1, 4000, 768, 1, 2}};
    for (const Sizes &s : gemm_shapes) t.push_back({"sgemm", s, 1e-4f, gemm_atol(s[2])});
    // The small-M path (M <= 8, no packing): M = 1 and one of 2..8 (cycled) against every N, K in
    // {1, 7, 63, 65, 129, 3001} (3001 x 3001 left out), leading dimensions padded by 0..3.
    const int64_t small[] = {1, 7, 63, 65, 129, 3001};
    int idx = 0;
    for (int64_t N : small)
      for (int64_t K : small) {
        if (N == 3001 && K == 3001) continue;
        for (int64_t M : {int64_t(1), int64_t(2 + idx % 7)})
          t.push_back({"sgemm", {M, N, K, idx++ % 4}, 1e-4f, gemm_atol(double(K))});
      }
    // fl_sgemm_bf16w, sizes {M, N, K, pad}, four transposes: small M (the generation path, incl. the
    // GPT-2 decode shapes) and packed M.
    const Sizes bf16w_shapes[] = {
        {1, 1, 1, 0},     {1, 129, 63, 1},  {1, 3001, 65, 2}, {3, 65, 300, 3},  {8, 777, 129, 0},
        {9, 63, 7, 1},    {13, 33, 257, 2}, {40, 1000, 64, 3}, {65, 300, 129, 0}, {7, 63, 65, 3},
        {129, 65, 63, 1}, {300, 257, 1000, 5, 3}, {1, 2304, 768, 0, 1}, {1, 3072, 768, 0, 1},
        {1, 768, 3072, 0, 1}, {1, 4000, 768, 1, 2}};
    for (const Sizes &s : bf16w_shapes) t.push_back({"sgemm_bf16w", s, 1e-4f, gemm_atol(double(s[2]))});
    // fl_gemm_bf16, sizes {M, N, K, pad, offset}, four transposes: odd sizes in every role; K = 1
    // and odd K (an unpaired last k for the k-pair kernels); N not a multiple of any tile; small M;
    // one exact 12 x 32 (k-pair) and 8 x 48 (AVX-512) tile and one row, column and k past them; K
    // over several K blocks with an odd last one (777); M over one mc block; 3-thread splits; CUDA's
    // aligned and misaligned (offset) loads and tiles.
    const Sizes bf16_shapes[] = {
        {1, 1, 1, 0, 0},      {7, 7, 7, 1, 0},       {1, 129, 63, 2, 0},    {5, 33, 1, 3, 0},
        {8, 65, 129, 0, 0},   {9, 7, 65, 1, 0},      {12, 32, 384, 2, 0},   {63, 65, 129, 3, 0},
        {65, 63, 7, 0, 0},    {129, 257, 1, 1, 0},   {257, 129, 63, 2, 0},  {13, 33, 257, 3, 0},
        {30, 70, 777, 0, 0},  {250, 40, 300, 1, 0},  {300, 16, 50, 2, 0},   {40, 1000, 64, 3, 0},
        {8, 48, 9, 0, 0},     {17, 97, 193, 1, 0},   {5, 3, 0, 0, 0},       {256, 96, 200, 0, 0},
        {300, 257, 1000, 5, 0, 3}, {129, 260, 65, 0, 1}, {1, 2304, 768, 0, 0, 3}, {64, 256, 1030, 0, 0, 5},
        {200, 136, 256, 8, 0}, {33, 40, 17, 0, 1},   {50, 70, 300, 1, 3},   {90, 60, 301, 0, 6}};
    for (const Sizes &s : bf16_shapes)
      t.push_back({"gemm_bf16", s, 1e-4f, gemm_atol(double(s[2])), 1e-4f, gemm_bf16_atol(double(s[2]))});
    // fl_gemm_bias_act, sizes {M, N, K, pad}: small M, edge tiles, odd K, K over every kc (700).
    // GELU's slope is at most 1.13: the GEMM bound times 1.2 (its own error, ~4e-7, is in atol).
    const Sizes act_shapes[] = {{1, 37, 19, 3}, {8, 64, 32, 0}, {9, 50, 33, 3},    {37, 100, 64, 1},
                                {64, 96, 700, 3}, {130, 200, 129, 2}, {20, 385, 384, 0}, {33, 1537, 96, 3}};
    for (const Sizes &s : act_shapes) t.push_back({"gemm_bias_act", s, 1e-4f, 1.2f * gemm_atol(double(s[2]))});
    // Attention, sizes {B, T, NH, hs, dropout p in thousandths}, causal or not x masked or not.
    // Every T in {1, 7, 63, 65, 129} (65, 129 cross the CPU kernel's 64-row block), hs in {1, 3, 7,
    // 8, 32, 64, 100, 128, 200} (CUDA's D = 64 / 128 / 256 kernels), NH in {1, 2, 3, 4, 12}.
    // CPU tolerances (test_attention.cpp): out and lse 2e-5 / 2e-5 (float dots, online softmax, a
    // ~2 ulp polynomial exp; measured maxima 3e-7 / 5e-7), dqkv 1e-4 / 1e-4 (sums over up to T
    // products; measured 2e-6). CUDA (exp2f, hs up to 200): 2e-4 / 2e-4 and 5e-4 / 5e-4.
    const Sizes attn_shapes[] = {
        {1, 1, 1, 1, 0},    {2, 1, 3, 64, 0},   {1, 7, 3, 3, 0},    {2, 7, 12, 7, 0},   {1, 63, 1, 64, 0},
        {2, 63, 3, 7, 0},   {1, 65, 12, 3, 0},  {2, 65, 1, 1, 0},   {1, 129, 3, 64, 0}, {2, 129, 1, 7, 0},
        {1, 129, 12, 1, 0}, {2, 65, 3, 64, 0},  {1, 1, 1, 3, 0},    {2, 63, 2, 32, 0},  {1, 129, 3, 8, 0},
        {2, 97, 12, 64, 0}, {2, 70, 2, 100, 0}, {1, 33, 2, 128, 0}, {2, 40, 2, 200, 0}, {2, 45, 2, 200, 0},
        {1, 1, 3, 1, 0},    {2, 7, 3, 7, 0},    {1, 65, 4, 3, 0},
        // dropout (p = 0.2, 0.25): the same keep mask on every backend
        {1, 7, 3, 3, 200},  {2, 65, 3, 7, 200}, {1, 129, 3, 64, 200}, {2, 129, 1, 7, 200}, {2, 63, 12, 7, 200},
        {2, 7, 3, 7, 250},  {1, 65, 4, 3, 250}, {2, 97, 12, 64, 250}, {2, 70, 2, 100, 250}};
    for (const Sizes &s : attn_shapes) {
      t.push_back({"attention_forward", s, 2e-5f, 2e-5f, 2e-4f, 2e-4f});
      t.push_back({"attention_backward", s, 1e-4f, 1e-4f, 5e-4f, 5e-4f});
    }
    // KV-cache attention, sizes {B, T, Tmax, Tq, C, NH}: T = 1 (the first token), odd head size 3, a
    // cache larger than its filled part, Tq = T, GPT-2's heads, hs = 128. Short fp32 sums over <=
    // 129 keys: 1e-5 on the CPU, CUDA's attention tolerance 2e-4.
    const Sizes cached_shapes[] = {{1, 1, 4, 1, 3, 1},     {2, 7, 9, 1, 9, 3},     {2, 40, 48, 2, 12, 3},
                                   {2, 65, 65, 5, 24, 2},   {1, 129, 200, 129, 16, 4}, {3, 100, 128, 1, 768, 12},
                                   {1, 50, 64, 3, 256, 2}};
    for (const Sizes &s : cached_shapes) t.push_back({"attention_cached", s, 1e-5f, 1e-5f, 2e-4f, 2e-4f});
    // Packed variable-length attention, sizes {NH, hs, sequence lengths...}: empty sequences, 1, the
    // 64-key block edges, two key blocks and more. Tolerance as attention's out.
    const Sizes varlen_shapes[] = {{1, 4, 5}, {3, 5, 1, 0, 7, 13}, {12, 32, 12, 31, 8, 27, 3, 16},
                                   {2, 17, 63, 64, 65, 1}, {4, 8, 130, 0, 200, 70}};
    for (const Sizes &s : varlen_shapes) t.push_back({"attention_varlen", s, 2e-5f, 2e-5f});
    // Q8_0: quantization and repacking are exact integer/bit manipulations, and the GEMV does the
    // same exact integer dot per block and the same float32 operations in the same order on every
    // backend (q8.h): all three bit for bit (tolerance 0). Sizes {K, N} and {M, N, K}: one block,
    // N around the 16-column groups, GPT-2's decode shapes, M > 8.
    const Sizes q8_shapes[] = {{32, 1}, {96, 37}, {64, 50}, {128, 16}, {768, 771}};
    for (const Sizes &s : q8_shapes) {
      t.push_back({"q8_0_quantize", s, 0.f, 0.f});
      t.push_back({"q8_0_repack", s, 0.f, 0.f});
    }
    const Sizes gemv_shapes[] = {{1, 768, 768}, {1, 2304, 768}, {1, 771, 3072}, {2, 50, 96}, {3, 17, 64},
                                 {4, 33, 32},   {5, 40, 128},   {9, 16, 96},    {12, 100, 160}};
    for (const Sizes &s : gemv_shapes) t.push_back({"gemv_q8_0", s, 0.f, 0.f});
    return t;
  }();
  return table;
}

std::string describe(const OpCase &c) {
  std::string s = c.op;
  for (size_t i = 0; i < c.sizes.size(); i++) s += (i ? "x" : " ") + std::to_string(c.sizes[i]);
  return s;
}

// Runs every row against the reference on each configuration for_each_config gives (a context, its
// name and its backend); a row whose ops the backend lacks (fl_backend_supports) is skipped there.
using ConfigBody = std::function<void(fl_context *, const std::string &, int backend)>;
void run_table(const std::function<void(const ConfigBody &)> &for_each_config) {
  fltest::Context ref(FL_BACKEND_REFERENCE);
  for (const OpCase &c : cases()) {
#if defined(__SANITIZE_ADDRESS__)
    // The sanitizer build (CI: ASan + UBSan) runs the rows up to 2e6 in the product of their sizes:
    // every edge case is among them; the big rows (minutes under ASan) run in the other builds.
    double work = 1;
    for (int64_t x : c.sizes) work *= x > 0 ? static_cast<double>(x) : 1.0;
    if (work > 2e6) continue;
#endif
    const RunnerInfo &runner = kRunners.at(c.op);
    input_cache().clear();
    bf16_cache().clear();
    const std::vector<float> want = runner.run(ref, c.sizes);
    CHECK(!want.empty());
    for_each_config([&](fl_context *ctx, const std::string &config, int backend) {
      for (const char *op : runner.ops) {
        int has = 0;
        CHECK_OK(fl_backend_supports(backend, op, &has));
        if (!has) return;
      }
      const std::vector<float> got = runner.run(ctx, c.sizes);
      CHECK_OK(fl_context_synchronize(ctx));
      const bool gpu = backend == FL_BACKEND_CUDA && c.gpu_atol > 0.f;
      fltest::expect_close(describe(c) + " on " + config, got, want, gpu ? c.gpu_rtol : c.rtol,
                           gpu ? c.gpu_atol : c.atol);
    });
  }
}

}  // namespace

TEST(cases_cpu_every_isa_matches_reference) {
  run_table([](const ConfigBody &body) {
    fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) { body(ctx, cfg, FL_BACKEND_CPU); });
  });
}

// Named cuda_* so that `fuselm_tests cuda_` (the CUDA CTest) runs it; skipped without a device.
TEST(cuda_case_table_matches_reference) {
  int avail = 0;
  CHECK_OK(fl_backend_available(FL_BACKEND_CUDA, &avail));
  if (!avail) fltest::skip("no usable CUDA device (or a build without CUDA)");
  run_table([](const ConfigBody &body) {
    fltest::Context gpu(FL_BACKEND_CUDA);
    body(gpu, "cuda", FL_BACKEND_CUDA);
  });
}

// fl_backend_supports over every line of the op table: the host backends have every op, CUDA has
// every ALL op when it is compiled in (none otherwise) and never a HOST one.
TEST(api_backend_supports_every_op_of_the_table) {
  struct Op { const char *name; bool all; };
  const Op ops[] = {
#define FL_API(name, kernel, where, params, kernel_args, checks) {#name, FL_CASES_IS_ALL_##where},
#define FL_CASES_IS_ALL_ALL true
#define FL_CASES_IS_ALL_HOST false
#include "fuselm_ops.def"
#undef FL_API
  };
  CHECK(sizeof(ops) / sizeof(ops[0]) >= 30);
  int cuda_built = 0;
  CHECK_OK(fl_backend_supports(FL_BACKEND_CUDA, "sgemm", &cuda_built));
  for (const Op &op : ops) {
    int out = -1;
    CHECK_OK(fl_backend_supports(FL_BACKEND_REFERENCE, op.name, &out));
    CHECK(out == 1);
    CHECK_OK(fl_backend_supports(FL_BACKEND_CPU, (std::string("fl_") + op.name).c_str(), &out));
    CHECK(out == 1);
    CHECK_OK(fl_backend_supports(FL_BACKEND_CUDA, op.name, &out));
    CHECK(out == (op.all ? cuda_built : 0));
    CHECK_OK(fl_backend_supports(42, op.name, &out));
    CHECK(out == 0);
  }
  int out = -1;
  CHECK(fl_backend_supports(FL_BACKEND_CPU, "no_such_op", &out) == FL_ERR_INVALID_ARGUMENT);
  CHECK(std::string(fl_last_error()).find("no_such_op") != std::string::npos);
  CHECK(fl_backend_supports(FL_BACKEND_CPU, nullptr, &out) == FL_ERR_INVALID_ARGUMENT);
}
