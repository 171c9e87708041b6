// int8 weights (fuselm.h "int8 weights"; layouts in cpu/q8.h): Q8_0 quantization, the repack, and
// fl_gemv_q8_0 on the CPU backend (every ISA level this CPU has: generic, AVX2, AVX-512 VNNI; 1 and
// 3 threads) against the reference backend.
//
// Tolerances. Quantization and repacking are exact integer/bit manipulations: compared bit for bit.
// The GEMV computes, on every backend, the same exact integer dot per block and the same float32
// operations in the same order (q8.h), so the CPU kernels must match the reference bit for bit
// (tolerance 0). Against the exact product of the dequantized weights with the float32 input (in
// double), the error is that of quantizing x: |x - dx xq| <= dx / 2 per element, so per output
// |err| <= sum over blocks of (dx_b / 2) sum_i |w_deq_i| + float32 rounding (K/32 + 2 roundings of
// at most the magnitude sum_i |w_deq_i x_i| + |bias|: (K/32 + 2) 2^-24 of it); checked with
// that bound plus 1e-6 slack.
#include <cmath>
#include <cstring>
#include <vector>

#include "../cpu/q8.h"
#include "testing.h"

namespace {

using fltest::Context;

std::vector<uint8_t> quantize(fl_context *ctx, const std::vector<float> &w, int64_t K, int64_t N,
                              int w_is_kn) {
  std::vector<uint8_t> blocks(size_t(N * (K / 32) * FL_Q8_0_BLOCK_BYTES));
  CHECK_OK(fl_q8_0_quantize(ctx, blocks.data(), w.data(), K, N, w_is_kn));
  return blocks;
}

std::vector<uint8_t> repack(fl_context *ctx, const std::vector<uint8_t> &blocks, int64_t K,
                            int64_t N) {
  int64_t bytes = 0;
  CHECK_OK(fl_q8_0_packed_bytes(K, N, &bytes));
  std::vector<uint8_t> packed(size_t(bytes), 0xcd);
  CHECK_OK(fl_q8_0_repack(ctx, packed.data(), blocks.data(), K, N));
  return packed;
}

float block_scale(const std::vector<uint8_t> &blocks, int64_t idx) {
  const uint8_t *b = blocks.data() + idx * FL_Q8_0_BLOCK_BYTES;
  return fl::q8::half_to_float(uint16_t(b[0] | b[1] << 8));
}

}  // namespace

TEST(q8_half_conversion_round_trips) {
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    CHECK(fl::q8::float_to_half(fl::q8::half_to_float(uint16_t(h))) == h);
  }
  CHECK(fl::q8::float_to_half(1.f / 3.f) == 0x3555);  // 0.333251953125, the nearest half
  CHECK(fl::q8::float_to_half(65520.f) == 0x7c00);    // halfway to 2^16 rounds to even: infinity
  CHECK(fl::q8::float_to_half(65519.f) == 0x7bff);
  CHECK(fl::q8::float_to_half(2.9802322e-08f) == 0x0000);  // 2^-25, a tie, rounds to even 0
  CHECK(fl::q8::float_to_half(4.4703484e-08f) == 0x0001);  // 1.5 * 2^-25 rounds up
}

TEST(q8_quantize_matches_llama_rule_and_both_layouts) {
  const int64_t K = 96, N = 37;
  std::vector<float> w = fltest::random_floats(size_t(K * N), 11, -2.f, 2.f);
  for (int64_t p = 0; p < 32; p++) w[size_t(p * N + 5)] = 0.f;  // an all-zero block: d = 0, q = 0
  std::vector<float> wt(w.size());
  for (int64_t p = 0; p < K; p++)
    for (int64_t j = 0; j < N; j++) wt[size_t(j * K + p)] = w[size_t(p * N + j)];
  Context ref(FL_BACKEND_REFERENCE), cpu(FL_BACKEND_CPU);
  CHECK_OK(fl_context_set_threads(cpu, 3));
  std::vector<uint8_t> a = quantize(ref, w, K, N, 1);
  CHECK(quantize(ref, wt, K, N, 0) == a);
  CHECK(quantize(cpu, w, K, N, 1) == a);
  CHECK(quantize(cpu, wt, K, N, 0) == a);
  for (int64_t j = 0; j < N; j++)
    for (int64_t b = 0; b < K / 32; b++) {
      const int64_t idx = j * (K / 32) + b;
      float amax = 0.f;
      for (int i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(w[size_t((b * 32 + i) * N + j)]));
      const float d = block_scale(a, idx);
      CHECK(fl::q8::float_to_half(amax / 127.f) == fl::q8::float_to_half(d));
      for (int i = 0; i < 32; i++) {
        const int8_t q = int8_t(a[size_t(idx * FL_Q8_0_BLOCK_BYTES + 2 + i)]);
        const float x = w[size_t((b * 32 + i) * N + j)];
        CHECK(q >= -127 && q <= 127);
        CHECK(std::fabs(d * q - x) <= 0.51f * d + 1e-3f * amax);  // d is the rounded fp16 scale
      }
    }
  CHECK(block_scale(a, 5 * (K / 32)) == 0.f);
  int64_t bytes = 0;
  CHECK(fl_q8_0_packed_bytes(33, 16, &bytes) == FL_ERR_INVALID_ARGUMENT);
  CHECK(fl_q8_0_quantize(ref, a.data(), w.data(), 33, N, 1) == FL_ERR_INVALID_ARGUMENT);
  CHECK_OK(fl_q8_0_packed_bytes(768, 50257, &bytes));
  CHECK(bytes == 3142LL * 24 * 544);
}

TEST(q8_repack_cpu_matches_reference) {
  const int64_t K = 64, N = 50;
  Context ref(FL_BACKEND_REFERENCE), cpu(FL_BACKEND_CPU);
  CHECK_OK(fl_context_set_threads(cpu, 3));
  std::vector<uint8_t> blocks = quantize(ref, fltest::random_floats(size_t(K * N), 3), K, N, 1);
  std::vector<uint8_t> packed = repack(ref, blocks, K, N);
  CHECK(repack(cpu, blocks, K, N) == packed);
  // column 49 (group 3, slot 1), block 1, value 5: run 1, byte 1
  const size_t chunk = size_t((3 * 2 + 1) * 544);
  CHECK(packed[chunk + 32 + 64 + 4 + 1] == uint8_t(blocks[size_t((49 * 2 + 1) * 34 + 2 + 5)] ^ 0x80));
  CHECK(packed[chunk + 2] == blocks[size_t((49 * 2 + 1) * 34)]);
  CHECK(packed[chunk + 2 * 15] == 0 && packed[chunk + 32 + 4 * 15] == 0x80);  // padding column
}

TEST(q8_gemv_cpu_matches_reference_and_exact_product) {
  struct Shape {
    int64_t M, N, K;
  };
  const Shape shapes[] = {{1, 768, 768}, {1, 2304, 768}, {1, 771, 3072}, {2, 50, 96},
                          {3, 17, 64},   {4, 33, 32},    {5, 40, 128},   {9, 16, 96}, {0, 16, 32}};
  Context ref(FL_BACKEND_REFERENCE);
  for (const Shape &s : shapes) {
    const int64_t ldx = s.K + 3, ldy = s.N + 2;
    std::vector<float> w = fltest::random_floats(size_t(s.K * s.N), 7 + uint32_t(s.N), -0.5f, 0.5f);
    std::vector<float> x = fltest::random_floats(size_t(s.M * ldx + 1), 9 + uint32_t(s.K), -3.f, 3.f);
    std::vector<float> bias = fltest::random_floats(size_t(s.N), 13);
    std::vector<uint8_t> blocks = quantize(ref, w, s.K, s.N, 1);
    std::vector<uint8_t> packed = repack(ref, blocks, s.K, s.N);
    std::vector<float> want(size_t(s.M * ldy + 1), 7.f);
    CHECK_OK(fl_gemv_q8_0(ref, s.M, s.N, s.K, x.data(), ldx, packed.data(), bias.data(), want.data(), ldy));
    // the reference against the exact product of the dequantized weights with x
    for (int64_t m = 0; m < s.M; m++)
      for (int64_t j = 0; j < s.N; j++) {
        double exact = bias[size_t(j)], bound = 0, mag = std::fabs(bias[size_t(j)]);
        for (int64_t b = 0; b < s.K / 32; b++) {
          const float d = block_scale(blocks, j * (s.K / 32) + b);
          double amax = 0, wsum = 0;
          for (int i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(x[size_t(m * ldx + b * 32 + i)]));
          for (int i = 0; i < 32; i++) {
            const double wd = double(d) * int8_t(blocks[size_t((j * (s.K / 32) + b) * 34 + 2 + i)]);
            const double xv = x[size_t(m * ldx + b * 32 + i)];
            exact += wd * xv;
            wsum += std::fabs(wd);
            mag += std::fabs(wd * xv);
          }
          bound += amax / 127 / 2 * wsum;
        }
        bound += (double(s.K / 32) + 2) * mag / 16777216.0 + 1e-6;
        const float got = want[size_t(m * ldy + j)];
        if (!(std::fabs(got - exact) <= bound)) {
          std::ostringstream os;
          os << "reference M=" << s.M << " N=" << s.N << " K=" << s.K << " (" << m << "," << j
             << "): " << got << " vs exact " << exact << ", bound " << bound;
          throw fltest::Failure(os.str());
        }
      }
    fltest::for_each_cpu_config([&](fl_context *ctx, const std::string &what) {
      std::vector<float> got(want.size(), 7.f);
      CHECK_OK(fl_gemv_q8_0(ctx, s.M, s.N, s.K, x.data(), ldx, packed.data(), bias.data(), got.data(), ldy));
      if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) != 0) {
        std::ostringstream os;
        os << what << " M=" << s.M << " N=" << s.N << " K=" << s.K << ": not bit-identical to the reference";
        fltest::check_close(os.str().c_str(), got, want, 0.f, 0.f);
        throw fltest::Failure(os.str());
      }
      // no bias
      std::vector<float> nb(want.size(), 7.f), nbw(want.size(), 7.f);
      CHECK_OK(fl_gemv_q8_0(ctx, s.M, s.N, s.K, x.data(), ldx, packed.data(), nullptr, nb.data(), ldy));
      CHECK_OK(fl_gemv_q8_0(ref, s.M, s.N, s.K, x.data(), ldx, packed.data(), nullptr, nbw.data(), ldy));
      CHECK(std::memcmp(nb.data(), nbw.data(), nb.size() * sizeof(float)) == 0);
    });
  }
}
