// The AVX-512 decode GEMV kernels (gemv.h): C(m, n) = alpha * X(m, k) op(B)(k, n) [+ beta C]
// [+ bias] for small m, B float32 or bf16, streamed once from memory with software prefetch.
// Same results as gemm_small_impl.h's AVX-512 instantiation, bit for bit (see gemv.h); tested
// against the reference backend and against FUSELM_GEMV=0 in native/tests/test_gemv.cpp.
// Compiled with AVX-512 flags; called only after gemm.cpp checked ctx.isa >= FL_ISA_AVX512.
#include "x86_intrin.h"

#include "avx512_hsum.h"

#include <cstdint>

#include "gemv.h"

namespace fl {
namespace cpu {
namespace gemv {
namespace {

constexpr int W = 16;              // floats per vector
constexpr int kRows = 8;           // rows of X per pass over B (their accumulators: 32 KiB)
constexpr int kCols = 1024;        // columns per block of B (k, n)
constexpr int64_t kAhead = 16384;  // prefetch distance in bytes of the thread's column block

inline float widen(float v) { return v; }
inline float widen(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

inline void prefetch(const void *p) { _mm_prefetch(static_cast<const char *>(p), _MM_HINT_T0); }

// The horizontal sum gemm_avx512.cpp's Vec::hsum uses too (avx512_hsum.h: the same bits).
inline float hsum(__m512 x) { return fl_hsum512(x); }

inline __m512 load16(const float *p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t *p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  __m512i w = _mm512_maskz_cvtepu16_epi32(0xFFFF, h);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, w, 16));
}

// The epilogue of one output: alpha * s (+ beta c) (+ bias), in gemm_small_impl.h's order.
inline float finish(float s, float alpha, float beta, const float *c, const float *bias) {
  float v = alpha * s;
  if (beta != 0.f) v = __builtin_fmaf(beta, *c, v);
  if (bias) v = v + *bias;
  return v;
}

// ---- B (n, k): dot products -------------------------------------------------------------------

// Rows [0, MB) of X against R rows of B; prefetches the 4 rows 2R below (the tile after next).
template <int MB, int R, typename BT>
void dot_tile(int64_t k, const float *x, int64_t ldx, const BT *b, int64_t ldb, float alpha,
              float beta, const float *bias, float *c, int64_t ldc, bool ahead) {
  __m512 acc[MB][R];
  for (int i = 0; i < MB; i++)
    for (int r = 0; r < R; r++) acc[i][r] = _mm512_setzero_ps();
  // 64 bytes of each row per prefetch: every step for float32, every other step for bf16
  constexpr int64_t kStep = 64 / sizeof(BT);
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    if (ahead && p % kStep == 0)
      for (int r = 0; r < 4; r++) prefetch(b + (2 * R + r) * ldb + p);
    __m512 bv[R];
    for (int r = 0; r < R; r++) bv[r] = load16(b + r * ldb + p);
    for (int i = 0; i < MB; i++) {
      const __m512 xv = _mm512_loadu_ps(x + i * ldx + p);
      for (int r = 0; r < R; r++) acc[i][r] = _mm512_fmadd_ps(xv, bv[r], acc[i][r]);
    }
  }
  for (int i = 0; i < MB; i++)
    for (int r = 0; r < R; r++) {
      float s = hsum(acc[i][r]);
      for (int64_t q = p; q < k; q++) s = __builtin_fmaf(x[i * ldx + q], widen(b[r * ldb + q]), s);
      c[i * ldc + r] = finish(s, alpha, beta, c + i * ldc + r, bias ? bias + r : nullptr);
    }
}

template <typename BT>
void dot_all(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t ldx,
             const BT *b, int64_t ldb, float beta, const float *bias, float *c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const BT *bj = b + j * ldb;
    const float *bias_j = bias ? bias + j : nullptr;
    const bool ahead = j + 12 <= n;  // rows j + 8 .. j + 11 are still this call's
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      dot_tile<2, 4>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j, ldc,
                     ahead && i == 0);
    if (i < m)
      dot_tile<1, 4>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j, ldc,
                     ahead && i == 0);
  }
  for (; j < n; j++) {
    const BT *bj = b + j * ldb;
    const float *bias_j = bias ? bias + j : nullptr;
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      dot_tile<2, 1>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j, ldc,
                     false);
    if (i < m)
      dot_tile<1, 1>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j, ldc,
                     false);
  }
}

// ---- B (k, n): axpys over the rows of B --------------------------------------------------------

// One 64-byte line of a row of B as float32 vectors: 16 columns (float32), or 32 columns in
// (even, odd) order (bf16: lane l holds columns 2l and 2l + 1; exact widening, no shuffle).
struct LineF32 {
  using BT = float;
  static constexpr int kCols = 16, kVecs = 1;
  static void load(const float *p, __m512 *v) { v[0] = _mm512_loadu_ps(p); }
  // accumulator lane order -> column order (identity)
  static void unshuffle(const float *acc, float *out) {
    for (int l = 0; l < 16; l++) out[l] = acc[l];
  }
};
struct LineBf16 {
  using BT = uint16_t;
  static constexpr int kCols = 32, kVecs = 2;
  static void load(const uint16_t *p, __m512 *v) {
    const __m512i w = _mm512_loadu_si512(p);
    // the maskz form: GCC 12 warns about the unmasked one (see gemm_avx512.cpp)
    v[0] = _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, w, 16));
    v[1] = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(int32_t(0xffff0000u))));
  }
  static void unshuffle(const float *acc, float *out) {
    for (int l = 0; l < 16; l++) {
      out[2 * l] = acc[l];
      out[2 * l + 1] = acc[16 + l];
    }
  }
};

// Columns [0, lines * L::kCols) of one block for rows [0, m) of X, m <= kRows: acc[i][col] = the
// fused chain over p of x[i][p] * b[p][col], in order of p (as gemm_small_impl.h).
template <typename L>
void axpy_block(int64_t m, int64_t lines, int64_t k, const float *x, int64_t ldx,
                const typename L::BT *b, int64_t ldb, float alpha, float beta, const float *bias,
                float *c, int64_t ldc) {
  using BT = typename L::BT;
  constexpr int V = L::kVecs;
  alignas(64) float acc[kRows][kCols];
  const int64_t nacc = lines * V;  // accumulator vectors per row of X
  for (int64_t i = 0; i < m; i++)
    for (int64_t v = 0; v < nacc; v++) _mm512_store_ps(acc[i] + v * W, _mm512_setzero_ps());
  const int64_t row_bytes = lines * 64;
  int64_t ahead = (kAhead / row_bytes + 3) / 4 * 4;  // rows, a multiple of the 4-row step
  if (ahead < 4) ahead = 4;
  const int64_t pf = ahead * ldb;  // elements from a row to the row prefetched
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    const BT *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    const bool fetch = p + ahead < k;
    for (int64_t i = 0; i < m; i++) {
      const float *xi = x + i * ldx + p;
      const __m512 x0 = _mm512_set1_ps(xi[0]), x1 = _mm512_set1_ps(xi[1]),
                   x2 = _mm512_set1_ps(xi[2]), x3 = _mm512_set1_ps(xi[3]);
      float *ai = acc[i];
      for (int64_t l = 0; l < lines; l++) {
        const int64_t o = l * L::kCols;
        if (i == 0 && fetch) {
          prefetch(b0 + pf + o);
          prefetch(b1 + pf + o);
          prefetch(b2 + pf + o);
          prefetch(b3 + pf + o);
        }
        __m512 w0[V], w1[V], w2[V], w3[V];
        L::load(b0 + o, w0);
        L::load(b1 + o, w1);
        L::load(b2 + o, w2);
        L::load(b3 + o, w3);
        for (int h = 0; h < V; h++) {
          float *ap = ai + (l * V + h) * W;
          __m512 a = _mm512_load_ps(ap);
          a = _mm512_fmadd_ps(x0, w0[h], a);
          a = _mm512_fmadd_ps(x1, w1[h], a);
          a = _mm512_fmadd_ps(x2, w2[h], a);
          a = _mm512_fmadd_ps(x3, w3[h], a);
          _mm512_store_ps(ap, a);
        }
      }
    }
  }
  for (; p < k; p++) {
    const BT *b0 = b + p * ldb;
    for (int64_t i = 0; i < m; i++) {
      const __m512 x0 = _mm512_set1_ps(x[i * ldx + p]);
      float *ai = acc[i];
      for (int64_t l = 0; l < lines; l++) {
        __m512 w0[V];
        L::load(b0 + l * L::kCols, w0);
        for (int h = 0; h < V; h++) {
          float *ap = ai + (l * V + h) * W;
          _mm512_store_ps(ap, _mm512_fmadd_ps(x0, w0[h], _mm512_load_ps(ap)));
        }
      }
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t i = 0; i < m; i++)
    for (int64_t l = 0; l < lines; l++) {
      alignas(64) float out[L::kCols];
      L::unshuffle(acc[i] + l * V * W, out);
      for (int h = 0; h < V; h++) {
        const int64_t col = l * L::kCols + h * W;
        float *cp = c + i * ldc + col;
        const __m512 a = _mm512_load_ps(out + h * W);
        __m512 o = alpha == 1.f ? a : _mm512_mul_ps(va, a);
        if (beta != 0.f) o = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cp), o);
        if (bias) o = _mm512_add_ps(o, _mm512_loadu_ps(bias + col));
        _mm512_storeu_ps(cp, o);
      }
    }
}

// Columns [0, cols): one scalar fused chain over k per output (the columns past the last line).
template <typename BT>
void axpy_scalar(int64_t m, int64_t cols, int64_t k, const float *x, int64_t ldx, const BT *b,
                 int64_t ldb, float alpha, float beta, const float *bias, float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < cols; j++) {
      float s = 0.f;
      for (int64_t p = 0; p < k; p++) s = __builtin_fmaf(x[i * ldx + p], widen(b[p * ldb + j]), s);
      c[i * ldc + j] = finish(s, alpha, beta, c + i * ldc + j, bias ? bias + j : nullptr);
    }
}

template <typename L>
void axpy_all(int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t ldx,
              const typename L::BT *b, int64_t ldb, float beta, const float *bias, float *c,
              int64_t ldc) {
  const int64_t lines_total = n / L::kCols;
  const int64_t line_cols = lines_total * L::kCols;
  constexpr int64_t kMaxLines = kCols / L::kCols;
  // equal blocks, every row run of B as long as it can be
  const int64_t blocks = (lines_total + kMaxLines - 1) / kMaxLines;
  const int64_t per = blocks == 0 ? 0 : (lines_total + blocks - 1) / blocks;
  for (int64_t i0 = 0; i0 < m; i0 += kRows) {
    const int64_t mb = m - i0 < kRows ? m - i0 : kRows;
    const float *xb = x + i0 * ldx;
    float *cb = c + i0 * ldc;
    for (int64_t l0 = 0; l0 < lines_total; l0 += per) {
      const int64_t lines = lines_total - l0 < per ? lines_total - l0 : per;
      const int64_t j = l0 * L::kCols;
      axpy_block<L>(mb, lines, k, xb, ldx, b + j, ldb, alpha, beta, bias ? bias + j : nullptr,
                    cb + j, ldc);
    }
  }
  if (line_cols < n)
    axpy_scalar(m, n - line_cols, k, x, ldx, b + line_cols, ldb, alpha, beta,
                bias ? bias + line_cols : nullptr, c + line_cols, ldc);
}

}  // namespace

void small_m_avx512(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                    int64_t ldx, const float *b, int64_t ldb, float beta, const float *bias,
                    float *c, int64_t ldc) {
  if (trans_b)
    dot_all(m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
  else
    axpy_all<LineF32>(m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

void small_m_bf16_avx512(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *x, int64_t ldx, const uint16_t *b, int64_t ldb, float beta,
                         const float *bias, float *c, int64_t ldc) {
  if (trans_b)
    dot_all(m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
  else
    axpy_all<LineBf16>(m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

}  // namespace gemv
}  // namespace cpu
}  // namespace fl
