// The one conformance case table: (op, sizes, tolerance) rows, each run on the REFERENCE backend (the
// oracle) and compared with the CPU backend at every ISA level this machine has (1 and 3 threads),
// and with the CUDA backend where one can run. Natively and in the SIMDe build (CI), which runs the
// AVX-512 levels on AVX2 machines.
//
// A row's runner (below) builds fixed random inputs from the sizes, runs the op (and its companions:
// backward, in-place and NULL-output forms) through the public API on the given context, and
// returns every output concatenated. Gradient outputs start from random values, so "+=" versus "="
// is checked too. Tolerances |got - want| <= atol + rtol |want| (why these: test_cuda.cpp's header).
//
// To cover a new op: a runner in kRunners and rows in kCases. Ops with shapes or checks of their own
// (GEMM transposes and TF32, attention, AdamW, bf16, int8) keep their tests in test_ops.cpp,
// test_gemm*.cpp, test_attention*.cpp, test_q8.cpp, test_gemv.cpp and test_cuda.cpp.
#include <cstring>
#include <functional>
#include <map>
#include <string>
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
};

std::vector<float> run_layernorm(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], C = s[1];
  const auto x = fltest::random_floats(N * C, 8), w = fltest::random_floats(C, 9),
             b = fltest::random_floats(C, 10), dy = fltest::random_floats(N * C, 11),
             dx0 = fltest::random_floats(N * C, 13), dw0 = fltest::random_floats(C, 14),
             db0 = fltest::random_floats(C, 15);
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
  const auto x = fltest::random_floats(N * C, 8), w = fltest::random_floats(C, 9),
             b = fltest::random_floats(C, 10), x2 = fltest::random_floats(N * C, 12);
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
  auto x = fltest::random_floats(n, 20, -6.f, 6.f);  // the tails of GELU
  if (n > 3) { x[0] = -30.f; x[1] = 30.f; x[2] = 0.f; }
  const auto y = fltest::random_floats(n, 21), dy = fltest::random_floats(n, 22);
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
  const auto logits = fltest::random_floats(N * V, 23, -8.f, 8.f);
  const auto dy = fltest::random_floats(N * V, 24), dx0 = fltest::random_floats(N * V, 25);
  Buf x(ctx, logits), out(ctx, N * V * 4), dout(ctx, dy), dx(ctx, dx0), inplace(ctx, logits);
  CHECK_OK(fl_softmax_forward(ctx, out.f(), x.f(), N, V));
  CHECK_OK(fl_softmax_backward(ctx, dx.f(), out.f(), dout.f(), N, V));
  CHECK_OK(fl_softmax_forward(ctx, inplace.f(), inplace.f(), N, V));
  return concat({out.get(), dx.get(), inplace.get()});
}

std::vector<float> run_cross_entropy(fl_context *ctx, const Sizes &s) {
  const int64_t N = s[0], V = s[1];
  const auto logits = fltest::random_floats(N * V, 23, -8.f, 8.f);
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
  const auto wte = fltest::random_floats(V * C, 28), wpe = fltest::random_floats(T * C, 29),
             dy = fltest::random_floats(B * T * C, 30), dwte0 = fltest::random_floats(V * C, 31),
             dwpe0 = fltest::random_floats(T * C, 32);
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
  const auto dy = fltest::random_floats(M * N, 40), db0 = fltest::random_floats(N, 41);
  Buf dout(ctx, dy), db(ctx, db0);
  CHECK_OK(fl_bias_backward(ctx, db.f(), dout.f(), M, N));
  return db.get();
}

// fl_gemm_mixed, every (trans_a, trans_b) and operand-type combination. Where the backend has no
// fl_gemm_mixed (CUDA) it runs the fallback the Java layer takes there: fl_f32_to_bf16 of the
// float32 operands, then fl_gemm_bf16.
std::vector<float> run_gemm_mixed(fl_context *ctx, const Sizes &s) {
  const int64_t M = s[0], N = s[1], K = s[2];
  const auto a = fltest::random_floats(M * K, 42), b = fltest::random_floats(K * N, 43),
             bias = fltest::random_floats(N, 44), c0 = fltest::random_floats(M * N, 45);
  Buf ta(ctx, a), tb(ctx, b), tbias(ctx, bias), ah(ctx, M * K * 2), bh(ctx, K * N * 2);
  CHECK_OK(fl_f32_to_bf16(ctx, static_cast<uint16_t *>(ah.p), ta.f(), M * K));
  CHECK_OK(fl_f32_to_bf16(ctx, static_cast<uint16_t *>(bh.p), tb.f(), K * N));
  std::vector<float> out;
  for (int t = 0; t < 16; t++) {
    const int trans_a = t & 1, trans_b = (t >> 1) & 1, a_bf16 = (t >> 2) & 1, b_bf16 = t >> 3;
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const float beta = t % 3 == 0 ? 0.f : 0.5f;
    Buf c(ctx, c0);
    const int st = fl_gemm_mixed(ctx, trans_a, trans_b, M, N, K, 0.75f, a_bf16 ? ah.p : ta.p, a_bf16,
                                 lda, b_bf16 ? bh.p : tb.p, b_bf16, ldb, beta,
                                 t % 2 ? tbias.f() : nullptr, c.f(), N);
    if (st == FL_ERR_UNSUPPORTED)
      CHECK_OK(fl_gemm_bf16(ctx, trans_a, trans_b, M, N, K, 0.75f, static_cast<uint16_t *>(ah.p), lda,
                            static_cast<uint16_t *>(bh.p), ldb, beta, t % 2 ? tbias.f() : nullptr,
                            c.f(), N));
    else
      CHECK_OK(st);
    const std::vector<float> got = c.get();
    out.insert(out.end(), got.begin(), got.end());
  }
  return out;
}

const std::map<std::string, Runner> kRunners = {
    {"layernorm", run_layernorm},       {"residual_layernorm", run_residual_layernorm},
    {"pointwise", run_pointwise},       {"softmax", run_softmax},
    {"cross_entropy", run_cross_entropy}, {"embedding", run_embedding},
    {"bias_backward", run_bias_backward},
    {"gemm_mixed", run_gemm_mixed},
};

// op, sizes, rtol, atol
const OpCase kCases[] = {
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
    // bf16 products are exact; fp32 sums of K of them (|terms| <= 1) against the double reference
    {"gemm_mixed", {1, 1, 1}, 1e-5f, 1e-5f},      {"gemm_mixed", {7, 65, 129}, 1e-4f, 1e-4f},
    {"gemm_mixed", {70, 40, 777}, 1e-4f, 4e-4f},
};

std::string describe(const OpCase &c) {
  std::string s = c.op;
  for (size_t i = 0; i < c.sizes.size(); i++) s += (i ? "x" : " ") + std::to_string(c.sizes[i]);
  return s;
}

// Runs every row against the reference on the contexts make() gives (one per configuration).
void run_table(const std::function<void(const std::function<void(fl_context *, const std::string &)> &)>
                   &for_each_config) {
  fltest::Context ref(FL_BACKEND_REFERENCE);
  for (const OpCase &c : kCases) {
    const Runner &run = kRunners.at(c.op);
    const std::vector<float> want = run(ref, c.sizes);
    CHECK(!want.empty());
    for_each_config([&](fl_context *ctx, const std::string &config) {
      const std::vector<float> got = run(ctx, c.sizes);
      CHECK_OK(fl_context_synchronize(ctx));
      fltest::expect_close(describe(c) + " on " + config, got, want, c.rtol, c.atol);
    });
  }
}

}  // namespace

TEST(cases_cpu_every_isa_matches_reference) {
  run_table([](const std::function<void(fl_context *, const std::string &)> &body) {
    fltest::for_each_cpu_config(body);
  });
}

// Named cuda_* so that `fuselm_tests cuda_` (the CUDA CTest) runs it; skipped without a device.
TEST(cuda_case_table_matches_reference) {
  int avail = 0;
  CHECK_OK(fl_backend_available(FL_BACKEND_CUDA, &avail));
  if (!avail) fltest::skip("no usable CUDA device (or a build without CUDA)");
  run_table([](const std::function<void(fl_context *, const std::string &)> &body) {
    fltest::Context gpu(FL_BACKEND_CUDA);
    body(gpu, "cuda");
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
