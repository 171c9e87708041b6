// Reference int8 weights (fuselm.h "int8 weights"): plain loops over the layouts of cpu/q8.h, the
// oracle for the CPU kernels. Quantization and repacking are shared by both backends (they are
// exact: the same bits everywhere); the GEMV here reads the packed form one byte at a time.
#include <vector>

#include "q8.h"
#include "internal.h"

namespace fl {
namespace ref {

void q8_0_quantize(uint8_t *blocks, const float *W, int64_t K, int64_t N, int w_is_kn) {
  const int64_t nb = K / q8::kBlock;
  for (int64_t j = 0; j < N; j++)
    for (int64_t b = 0; b < nb; b++) {
      uint8_t *blk = blocks + (j * nb + b) * q8::kBlockBytes;
      float v[q8::kBlock], amax = 0.f;
      for (int i = 0; i < q8::kBlock; i++) {
        const int64_t p = b * q8::kBlock + i;
        v[i] = w_is_kn ? W[p * N + j] : W[j * K + p];
        const float a = v[i] < 0 ? -v[i] : v[i];
        if (a > amax) amax = a;
      }
      const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
      const uint16_t h = q8::float_to_half(d);
      blk[0] = uint8_t(h & 0xff);
      blk[1] = uint8_t(h >> 8);
      for (int i = 0; i < q8::kBlock; i++) blk[2 + i] = uint8_t(q8::round_q(v[i] * id));
    }
}

void q8_0_repack(uint8_t *packed, const uint8_t *blocks, int64_t K, int64_t N) {
  const int64_t nb = K / q8::kBlock;
  for (int64_t g = 0; g < q8::groups(N); g++)
    for (int64_t b = 0; b < nb; b++) {
      uint8_t *chunk = packed + (g * nb + b) * q8::kChunkBytes;
      for (int64_t c = 0; c < q8::kGroup; c++) {
        const int64_t j = g * q8::kGroup + c;
        const uint8_t *blk = j < N ? blocks + (j * nb + b) * q8::kBlockBytes : nullptr;
        chunk[2 * c] = blk ? blk[0] : 0;
        chunk[2 * c + 1] = blk ? blk[1] : 0;
        for (int i = 0; i < q8::kBlock; i++)
          chunk[32 + (i / 4) * 64 + c * 4 + i % 4] = uint8_t((blk ? blk[2 + i] : 0) ^ 0x80);
      }
    }
}

void gemv_q8_0(int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx, const uint8_t *packed,
               const float *bias, float *Y, int64_t ldy) {
  const int64_t nb = K / q8::kBlock;
  std::vector<int8_t> xq(K);
  std::vector<float> dx(nb);
  std::vector<int32_t> sx(nb);
  for (int64_t m = 0; m < M; m++) {
    q8::quantize_activations(X + m * ldx, K, xq.data(), dx.data(), sx.data());
    for (int64_t j = 0; j < N; j++) {
      const int64_t g = j / q8::kGroup, c = j % q8::kGroup;
      float acc = 0.f;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t *chunk = packed + (g * nb + b) * q8::kChunkBytes;
        const float d = q8::half_to_float(uint16_t(chunk[2 * c] | chunk[2 * c + 1] << 8));
        int32_t dot = 0;
        for (int i = 0; i < q8::kBlock; i++) {
          const int q = int(chunk[32 + (i / 4) * 64 + c * 4 + i % 4]) - 128;
          dot += q * xq[b * q8::kBlock + i];
        }
        acc = __builtin_fmaf(float(dot), d * dx[b], acc);
      }
      Y[m * ldy + j] = bias ? acc + bias[j] : acc;
    }
  }
}

}  // namespace ref
}  // namespace fl
