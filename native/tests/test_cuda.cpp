// CUDA conformance (the ops not in the case table of test_cases.cpp, whose cuda_case_table_* test
// runs the rest): each op on the CUDA backend against the REFERENCE backend (plain loops, double
// accumulation) on awkward shapes, through the public API only. Gradient outputs are pre-filled with
// random values, so "+=" versus "=" is checked too.
//
// Where no CUDA device is usable (no driver, no GPU, or a build without CUDA) every cuda_* test
// reports SKIP with the reason; `fuselm_tests cuda_` then exits 77, which CTest shows as Skipped.
//
// Tolerances (|got - want| <= atol + rtol |want|), from the error of fp32 arithmetic (u = 2^-24 ~ 6e-8)
// against double references:
//   sgemm fp32   atol = max(1e-5, 2 u K sqrt(K)): a K-term fp32 dot product of values in [-1, 1] has
//                partial sums up to ~sqrt(K) and accumulates ~K roundings of that size (a bound; typical
//                errors are sqrt(K) smaller). rtol 1e-4.
//   sgemm TF32   atol = 4e-3 sqrt(K), rtol 1e-2: each TF32 operand keeps 10 explicit mantissa bits,
//                a product is off by up to ~2^-10 relative; K products with random signs add up to
//                ~2^-10 sqrt(K) |product|, and 4e-3 is about 4 standard deviations of that.
//   gemm_bf16    atol = 4 u K sqrt(K) + 1e-5, rtol 1e-4 (bf16 inputs, exact products, tensor-core
//                fp32 accumulation that truncates: see the test).
//   layer norm   1e-4 / 1e-4: fp32 row statistics over C <= 1600 values (two-pass variance).
//   attention    out, lse 2e-4 / 2e-4 (online softmax rescaling, fp32 dots over hs <= 200, exp2f);
//                dqkv 5e-4 / 5e-4 (fp32 sums over up to 129 keys of products of the above).
//   pointwise    GELU 1e-5 / 1e-6 (expf, a few ulp); add/scale exact up to 1 ulp.
//   softmax, CE  2e-5 / 1e-6: double row sums, expf; the mean loss 1e-5 relative.
//   embedding    1e-5 / 1e-6: the same rows summed in the same (row) order, grouped differently.
//   grad norm    1e-6 relative: double accumulation on both sides.
//   AdamW        1e-6 / 1e-7: elementwise float, same order as the reference; FMA contraction on the
//                GPU moves results by at most an ulp or two.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "testing.h"
#include "device_buf.h"

// Harness self-check: compiled with -DFUSELM_TEST_CUDA_ON_CPU, these tests run the CPU backend where
// they would run CUDA, which checks the test code itself (buffer sizes, indexing, tolerances) on a
// machine without a GPU. Never a substitute for running them on a GPU.
#ifdef FUSELM_TEST_CUDA_ON_CPU
#define FL_TEST_GPU FL_BACKEND_CPU
#else
#define FL_TEST_GPU FL_BACKEND_CUDA
#endif

namespace {

using fltest::Buf;
using fltest::concat;
using fltest::dims;
using fltest::expect_close;

// Skips the calling test when the CUDA backend cannot run here, with the reason.
void require_cuda() {
#ifdef FUSELM_TEST_CUDA_ON_CPU
  return;
#endif
  int avail = 0;
  CHECK_OK(fl_backend_available(FL_BACKEND_CUDA, &avail));
  if (avail) return;
  fl_context *c = nullptr;
  std::string reason = "no CUDA device";
  if (fl_context_create(FL_BACKEND_CUDA, 0, &c) != FL_OK) {
    reason = fl_last_error();
  } else {
    fl_context_destroy(c);
  }
  fltest::skip(reason);
}

// Runs fn on the reference backend and on a CUDA context (created with the given TF32 setting) and
// compares the returned vectors.
template <typename Fn>
void compare(const std::string &what, float rtol, float atol, Fn fn, bool tf32 = false) {
  fltest::Context ref(FL_BACKEND_REFERENCE);
  const std::vector<float> want = fn(static_cast<fl_context *>(ref));
  if (tf32) setenv("FUSELM_CUDA_TF32", "1", 1);
  std::unique_ptr<fltest::Context> gpu;
  try {
    gpu.reset(new fltest::Context(FL_TEST_GPU));
  } catch (...) {
    unsetenv("FUSELM_CUDA_TF32");
    throw;
  }
  unsetenv("FUSELM_CUDA_TF32");
  const std::vector<float> got = fn(static_cast<fl_context *>(*gpu));
  CHECK_OK(fl_context_synchronize(*gpu));
  expect_close(what, got, want, rtol, atol);
}

}  // namespace

// Runs everywhere: without a device the CUDA backend must fail cleanly and the CPU one still work.
TEST(api_gpu_backend_availability_is_reported_cleanly) {
  int avail = -1;
  CHECK_OK(fl_backend_available(FL_BACKEND_CUDA, &avail));
  CHECK(avail == 0 || avail == 1);
  fl_context *c = nullptr;
  const int st = fl_context_create(FL_BACKEND_CUDA, 0, &c);
  if (avail) {
    CHECK(st == FL_OK && c != nullptr);
    fl_context *bad = nullptr;
    CHECK(fl_context_create(FL_BACKEND_CUDA, 1 << 20, &bad) == FL_ERR_INVALID_ARGUMENT);
    CHECK(bad == nullptr);
    fl_context_destroy(c);
  } else {
    CHECK(st == FL_ERR_UNSUPPORTED);
    CHECK(c == nullptr);
    CHECK(std::string(fl_last_error()).size() > 10);
  }
  fltest::Context cpu(FL_BACKEND_CPU);
  float x[3] = {1, 2, 3};
  CHECK_OK(fl_scale(cpu, x, 2.f, 3));
  CHECK(x[2] == 6.f);
}

TEST(cuda_memory_roundtrip) {
  require_cuda();
  fltest::Context gpu(FL_TEST_GPU);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(1) << 20}) {
    Buf zero(gpu, n * 4 + 4);
    for (float v : zero.get()) CHECK(v == 0.f);  // fl_malloc zero-fills
    std::vector<float> h = fltest::random_floats(n, 3);
    Buf a(gpu, h), b(gpu, n * 4);
    CHECK_OK(fl_memcpy(gpu, b.p, a.p, static_cast<int64_t>(n * 4), 2));
    CHECK(b.get() == h);
    CHECK_OK(fl_memset_zero(gpu, a.p, static_cast<int64_t>(n * 4)));
    for (float v : a.get()) CHECK(v == 0.f);
  }
  void *p = nullptr;
  CHECK(fl_malloc(gpu, -1, &p) == FL_ERR_INVALID_ARGUMENT);
  CHECK_OK(fl_context_synchronize(gpu));
}

// fp32 GEMM shapes are rows of the case table; here TF32 (with its own tolerance) on all of them,
// and fp32 on enough 128 x 128 tiles to fill an A100 / H100 (the large SIMT tile), which the table
// leaves out (its reference takes a minute on the CPU configurations).
TEST(cuda_sgemm_tf32_and_large_tiles_match_reference) {
  require_cuda();
  struct Case { int64_t M, N, K; int ta, tb; int64_t pad; };
  const Case cases[] = {{1, 1, 1, 0, 0, 0},     {7, 63, 65, 0, 1, 0},  {65, 7, 129, 1, 0, 3},
                        {63, 129, 7, 1, 1, 1},  {129, 65, 63, 0, 1, 0}, {256, 96, 200, 1, 0, 0},
                        {300, 257, 1000, 0, 1, 5}, {513, 1030, 129, 0, 0, 0}, {5, 3, 0, 0, 0, 0},
                        // enough 128 x 128 tiles to fill an A100 / H100: the large SIMT tile
                        {2048, 1100, 40, 0, 1, 0}, {1200, 2100, 33, 1, 0, 2}};
  for (bool tf32 : {false, true}) {
    for (const Case &c : cases) {
      if (!tf32 && c.M < 1000) continue;
      const int64_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K;
      const int64_t br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
      const int64_t lda = ac + c.pad, ldb = bc + c.pad, ldc = c.N + c.pad;
      const auto A = fltest::random_floats(ar * lda, 1), B = fltest::random_floats(br * ldb, 2);
      const auto C0 = fltest::random_floats(c.M * ldc, 3), bias = fltest::random_floats(c.N, 4);
      std::vector<float> nan_c(c.M * ldc, std::numeric_limits<float>::quiet_NaN());
      const double K = static_cast<double>(c.K);
      const float atol = tf32 ? static_cast<float>(4e-3 * std::sqrt(K) + 1e-5)
                              : static_cast<float>(std::fmax(1e-5, 2 * 6e-8 * K * std::sqrt(K)));
      const float rtol = tf32 ? 1e-2f : 1e-4f;
      const std::string name = std::string(tf32 ? "tf32 " : "fp32 ") +
                               dims({c.M, c.N, c.K}) + " ta=" + std::to_string(c.ta) +
                               " tb=" + std::to_string(c.tb) + " pad=" + std::to_string(c.pad);
      compare("sgemm " + name, rtol, atol, [&](fl_context *ctx) {
        Buf a(ctx, A), b(ctx, B), cc(ctx, C0), cz(ctx, nan_c);
        CHECK_OK(fl_sgemm(ctx, c.ta, c.tb, c.M, c.N, c.K, 0.5f, a.f(), lda, b.f(), ldb, 0.25f, cc.f(), ldc));
        // beta = 0: C holds NaN and must not be read
        CHECK_OK(fl_sgemm(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.f, a.f(), lda, b.f(), ldb, 0.f, cz.f(), ldc));
        std::vector<float> r1 = cc.get(), r2 = cz.get();
        // padding columns keep their input (NaN for cz): compare the M x N part only
        std::vector<float> out;
        for (int64_t m = 0; m < c.M; m++)
          for (int64_t n = 0; n < c.N; n++) {
            out.push_back(r1[m * ldc + n]);
            out.push_back(r2[m * ldc + n]);
          }
        return out;
      }, tf32);
      compare("sgemm_bias " + name, rtol, atol, [&](fl_context *ctx) {
        Buf a(ctx, A), b(ctx, B), tb(ctx, bias), cz(ctx, nan_c), cn(ctx, nan_c);
        CHECK_OK(fl_sgemm_bias(ctx, c.ta, c.tb, c.M, c.N, c.K, a.f(), lda, b.f(), ldb, tb.f(), cz.f(), ldc));
        CHECK_OK(fl_sgemm_bias(ctx, c.ta, c.tb, c.M, c.N, c.K, a.f(), lda, b.f(), ldb, nullptr, cn.f(), ldc));
        std::vector<float> r1 = cz.get(), r2 = cn.get(), out;
        for (int64_t m = 0; m < c.M; m++)
          for (int64_t n = 0; n < c.N; n++) {
            out.push_back(r1[m * ldc + n]);
            out.push_back(r2[m * ldc + n]);
          }
        return out;
      }, tf32);
    }
  }
}

TEST(cuda_attention_rejects_unsupported_head_size) {
  require_cuda();
#ifdef FUSELM_TEST_CUDA_ON_CPU
  return;  // the CPU backend takes any head size
#endif
  fltest::Context gpu(FL_TEST_GPU);
  Buf qkv(gpu, 3 * 300 * 4), out(gpu, 300 * 4), lse(gpu, 4);
  CHECK(fl_attention_forward(gpu, out.f(), lse.f(), qkv.f(), nullptr, 1, 1, 300, 1, 1) == FL_ERR_UNSUPPORTED);
  CHECK(std::string(fl_last_error()).find("head size") != std::string::npos);
  CHECK_OK(fl_context_synchronize(gpu));  // the context is still usable
}

// The layer norm, pointwise, softmax / cross-entropy and embedding comparisons are rows of the one
// case table (test_cases.cpp: cuda_case_table_matches_reference).

// The scalar results of the cross-entropy may also be device memory.
TEST(cuda_cross_entropy_scalars_in_device_memory) {
  require_cuda();
  fltest::Context gpu(FL_TEST_GPU);
  const auto logits = fltest::random_floats(5 * 17, 27);
  const std::vector<int32_t> targets = {1, -100, 16, 0, 3};
  Buf x(gpu, logits), tt(gpu, targets), lse(gpu, 5 * 4), dmean(gpu, 4), dcount(gpu, 8);
  float mean = 0.f;
  int64_t count = 0;
  CHECK_OK(fl_cross_entropy_forward(gpu, &mean, &count, nullptr, lse.f(), x.f(), tt.i(), 5, 17, -100));
  CHECK_OK(fl_cross_entropy_forward(gpu, dmean.f(), static_cast<int64_t *>(dcount.p), nullptr, lse.f(), x.f(),
                                    tt.i(), 5, 17, -100));
  CHECK(count == 4 && dcount.get<int64_t>()[0] == 4 && dmean.get()[0] == mean);
}

TEST(cuda_grad_norm_and_adamw_match_reference) {
  require_cuda();
  for (int64_t n : {0, 1, 7, 1029, (1 << 20) + 3}) {
    const auto g = fltest::random_floats(n, 34);
    compare("grad_norm n=" + std::to_string(n), 1e-6f, 0.f, [&](fl_context *ctx) {
      Buf tg(ctx, g);
      float norm = -1.f;
      CHECK_OK(fl_grad_norm(ctx, &norm, tg.f(), n));
      return std::vector<float>{norm};
    });
  }
  // segments: decay, decay, no decay, empty, no decay, decay, then many small alternating ones
  std::vector<int64_t> offsets = {0, 7, 137, 138, 138, 638, 702};
  std::vector<uint8_t> decay = {1, 1, 0, 0, 0, 1};
  for (int s = 0; s < 300; s++) {
    offsets.push_back(offsets.back() + 1 + (s * 37) % 1000);
    decay.push_back(static_cast<uint8_t>(s % 3 != 0));
  }
  const int64_t n = offsets.back(), nseg = static_cast<int64_t>(decay.size());
  const auto p0 = fltest::random_floats(n, 35), g = fltest::random_floats(n, 36);
  compare("adamw n=" + std::to_string(n), 1e-6f, 1e-7f, [&](fl_context *ctx) {
    Buf params(ctx, p0), grads(ctx, g), m(ctx, n * 4), v(ctx, n * 4);
    for (int64_t t = 1; t <= 3; t++)
      CHECK_OK(fl_adamw_step(ctx, params.f(), grads.f(), m.f(), v.f(), n, offsets.data(), decay.data(), nseg,
                             1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 0.5f));
    return concat({params.get(), m.get(), v.get()});
  });
}

TEST(cuda_reductions_are_deterministic) {
  require_cuda();
  fltest::Context gpu(FL_TEST_GPU);
  const int64_t n = 3000001;
  Buf g(gpu, fltest::random_floats(n, 37));
  float a = 0.f, b = 1.f;
  CHECK_OK(fl_grad_norm(gpu, &a, g.f(), n));
  CHECK_OK(fl_grad_norm(gpu, &b, g.f(), n));
  CHECK(a == b);
  const int64_t B = 8, T = 256, C = 64, V = 11;  // few ids: long runs of repeats
  const auto ids = fltest::random_ints(B * T, 38, 0, V - 1);
  Buf tids(gpu, ids), dout(gpu, fltest::random_floats(B * T * C, 39)), d1(gpu, V * C * 4), d2(gpu, V * C * 4);
  CHECK_OK(fl_embedding_backward(gpu, d1.f(), nullptr, dout.f(), tids.i(), B, T, C));
  CHECK_OK(fl_embedding_backward(gpu, d2.f(), nullptr, dout.f(), tids.i(), B, T, C));
  CHECK(d1.get() == d2.get());
}

TEST(cuda_zero_sizes_are_no_ops) {
  require_cuda();
  fltest::Context gpu(FL_TEST_GPU);
  Buf x(gpu, 64);
  CHECK_OK(fl_sgemm(gpu, 0, 0, 0, 5, 3, 1.f, x.f(), 3, x.f(), 5, 0.f, x.f(), 5));
  CHECK_OK(fl_sgemm(gpu, 0, 0, 5, 0, 3, 1.f, x.f(), 3, x.f(), 1, 0.f, x.f(), 1));
  CHECK_OK(fl_gelu_forward(gpu, x.f(), x.f(), 0));
  CHECK_OK(fl_gelu_erf_forward(gpu, x.f(), x.f(), 0));
  CHECK_OK(fl_layernorm_forward(gpu, x.f(), nullptr, nullptr, x.f(), x.f(), x.f(), 0, 5, 1e-5f));
  CHECK_OK(fl_softmax_forward(gpu, x.f(), x.f(), 0, 5));
  CHECK_OK(fl_attention_forward(gpu, x.f(), x.f(), x.f(), nullptr, 0, 5, 6, 2, 1));
  CHECK_OK(fl_embedding_forward(gpu, x.f(), x.i(), x.f(), nullptr, 0, 3, 4));
  CHECK_OK(fl_adamw_step(gpu, x.f(), x.f(), x.f(), x.f(), 0, std::vector<int64_t>{0, 0}.data(),
                         std::vector<uint8_t>{1}.data(), 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.f, 1, 1.f));
  float mean = -1.f;
  int64_t count = -1;
  CHECK_OK(fl_cross_entropy_forward(gpu, &mean, &count, nullptr, x.f(), x.f(), x.i(), 0, 5, -100));
  CHECK(mean == 0.f && count == 0);
  CHECK_OK(fl_context_synchronize(gpu));
}

// bf16 weights: the conversions bit-exact against the reference (random bit patterns, NaNs
// compared as NaN). fl_sgemm_bf16w is a row of the case table (test_cases.cpp).
TEST(cuda_bf16_conversion_matches_reference) {
  require_cuda();
  const size_t n = 100003;
  std::mt19937 rng(91);
  std::vector<uint32_t> bits(n);
  for (auto &b : bits) b = static_cast<uint32_t>(rng());
  std::vector<float> x(n);
  std::memcpy(x.data(), bits.data(), n * 4);
  auto narrow = [&](fl_context *ctx) {
    Buf src(ctx, x), dst(ctx, n * 2);
    CHECK_OK(fl_f32_to_bf16(ctx, static_cast<uint16_t *>(dst.p), src.f(), static_cast<int64_t>(n)));
    return dst.get<uint16_t>();
  };
  fltest::Context ref(FL_BACKEND_REFERENCE), gpu(FL_TEST_GPU);
  const std::vector<uint16_t> want = narrow(ref), got = narrow(gpu);
  for (size_t i = 0; i < n; i++) {
    if (std::isnan(x[i])) {
      CHECK((got[i] & 0x7f80) == 0x7f80 && (got[i] & 0x7f) != 0);
    } else if (got[i] != want[i]) {
      throw fltest::Failure("f32_to_bf16 differs from the reference at element " + std::to_string(i));
    }
  }
  {
    Buf src(gpu, want), dst(gpu, n * 4);
    CHECK_OK(fl_bf16_to_f32(gpu, dst.f(), static_cast<const uint16_t *>(src.p), static_cast<int64_t>(n)));
    const std::vector<uint32_t> wide = dst.get<uint32_t>();
    for (size_t i = 0; i < n; i++) CHECK(wide[i] == static_cast<uint32_t>(want[i]) << 16);
  }
}

// fl_gemm_bf16 (bf16 A and B, fp32 C, fp32 accumulation on bf16 tensor cores) against the reference
// (double accumulation of the same widened bf16 values). The inputs are exactly representable on
// both sides (random floats narrowed to bf16 first) and every product of two bf16 is exact in fp32,
// so only the accumulation differs. Tolerance atol = 4 u K sqrt(K) + 1e-5 (u = 2^-24), rtol 1e-4:
// the tensor cores add each k step's products to the fp32 accumulator aligned to the largest
// addend and (on A100 / H100, as measured in the literature) truncated rather than rounded, so each
// of the K products can lose up to one ulp (2u relative) of the running sum, whose size is about
// sqrt(K) for inputs in [-1, 1] with random signs; truncation errors do not cancel, so they add up
// linearly: 2u K sqrt(K), and a factor 2 of headroom. That is twice the fp32 SIMT bound above and,
// at K = 1000, 8e-3 against results of size ~sqrt(K) ~ 30: a wrong fragment, tile edge or transpose
// moves results by O(1).
//
// Shapes: the sgemm cases (odd and tiny M, N, K; K not a multiple of 16 or 32; both tile sizes);
// pad 0 with widths that are multiples of 8 exercises the aligned 16-byte loads; odd leading
// dimensions and base pointers offset by 1, 3 or 6 elements the misaligned (two-block, shifted)
// loads; the matrix edges the bounds-checked 16-bit loads.
TEST(cuda_gemm_bf16_large_tiles_match_reference) {
  require_cuda();
  struct Case { int64_t M, N, K; int ta, tb; int64_t pad, offset; };
  // the other shapes (odd and tiny sizes, K not a multiple of 16 or 32, aligned and misaligned
  // loads, every transpose) are rows of the case table (test_cases.cpp); here the large tiles whose
  // reference is too slow for the table's CPU configurations
  const Case cases[] = {{513, 1030, 129, 0, 0, 0, 1}, {64, 768, 3072, 0, 0, 0, 0},
                        {2048, 1100, 40, 0, 1, 0, 0}, {1200, 2100, 33, 1, 0, 2, 0}};
  fltest::Context ref(FL_BACKEND_REFERENCE);
  auto to_bf16 = [&](const std::vector<float> &x) {
    std::vector<uint16_t> h(x.size());
    CHECK_OK(fl_f32_to_bf16(ref, h.data(), x.data(), static_cast<int64_t>(x.size())));
    return h;
  };
  for (const Case &c : cases) {
    const int64_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K;
    const int64_t br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
    const int64_t lda = ac + c.pad, ldb = bc + c.pad, ldc = c.N + c.pad;
    // `offset` leading elements before each operand: the operands start misaligned
    const auto A = to_bf16(fltest::random_floats(ar * lda + c.offset, 41));
    const auto B = to_bf16(fltest::random_floats(br * ldb + c.offset, 42));
    const auto C0 = fltest::random_floats(c.M * ldc, 43), bias = fltest::random_floats(c.N, 44);
    std::vector<float> nan_c(c.M * ldc, std::numeric_limits<float>::quiet_NaN());
    const double K = static_cast<double>(c.K);
    const float atol = static_cast<float>(4 * 6e-8 * K * std::sqrt(K) + 1e-5);
    const std::string name = dims({c.M, c.N, c.K}) + " ta=" + std::to_string(c.ta) + " tb=" +
                             std::to_string(c.tb) + " pad=" + std::to_string(c.pad) +
                             " offset=" + std::to_string(c.offset);
    compare("gemm_bf16 " + name, 1e-4f, atol, [&](fl_context *ctx) {
      Buf a(ctx, A), b(ctx, B), cc(ctx, C0), cz(ctx, nan_c), cb(ctx, nan_c), tbias(ctx, bias);
      const uint16_t *pa = static_cast<const uint16_t *>(a.p) + c.offset;
      const uint16_t *pb = static_cast<const uint16_t *>(b.p) + c.offset;
      // alpha, beta and bias together; beta = 0 with NaN in C (C must not be read); bias alone
      CHECK_OK(fl_gemm_bf16(ctx, c.ta, c.tb, c.M, c.N, c.K, 0.5f, pa, lda, pb, ldb, 0.25f, tbias.f(), cc.f(), ldc));
      CHECK_OK(fl_gemm_bf16(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.f, pa, lda, pb, ldb, 0.f, nullptr, cz.f(), ldc));
      CHECK_OK(fl_gemm_bf16(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.f, pa, lda, pb, ldb, 0.f, tbias.f(), cb.f(), ldc));
      std::vector<float> r1 = cc.get(), r2 = cz.get(), r3 = cb.get(), out;
      for (int64_t m = 0; m < c.M; m++)
        for (int64_t n = 0; n < c.N; n++) {
          out.push_back(r1[m * ldc + n]);
          out.push_back(r2[m * ldc + n]);
          out.push_back(r3[m * ldc + n]);
        }
      // padding columns are never written: they still hold the input (NaN in cz)
      for (int64_t m = 0; m < c.M; m++)
        for (int64_t n = c.N; n < ldc; n++) CHECK(std::isnan(r2[m * ldc + n]) && r1[m * ldc + n] == C0[m * ldc + n]);
      return out;
    });
  }
  // alpha = 0 (A and B not read): a case-table row (run_gemm_bf16)
  // zero sizes are no-ops (nothing read or written)
  fltest::Context gpu(FL_TEST_GPU);
  Buf x(gpu, 64);
  const uint16_t *xh = static_cast<const uint16_t *>(x.p);
  CHECK_OK(fl_gemm_bf16(gpu, 0, 0, 0, 5, 3, 1.f, xh, 3, xh, 5, 0.f, nullptr, x.f(), 5));
  CHECK_OK(fl_gemm_bf16(gpu, 1, 1, 5, 0, 3, 1.f, xh, 5, xh, 3, 0.f, nullptr, x.f(), 1));
  CHECK_OK(fl_context_synchronize(gpu));
}
