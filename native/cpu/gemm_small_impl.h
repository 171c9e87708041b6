// The small-M GEMM path (M <= kSmallM rows, e.g. one token per sequence in KV-cached generation):
// C(m, n) = alpha * X(m, k) op(B)(k, n) [+ beta C] [+ bias], X dense with row stride ldx. No packing:
// at these shapes the time is reading B once from memory, so B is streamed straight from its
// storage and each element of B is loaded from DRAM once (and from L1 for the other rows of X).
// B is float32, or bf16 (uint16_t, the high half of a float32: generation with bf16 weights, half
// the bytes to stream); a bf16 element is widened exactly (a 16-bit shift) before it is used, so the
// bf16 path computes the same products and sums as the float32 path on the widened weights.
//   trans_b = 1 (B is (n, k), e.g. a linear layer's W): every output is a dot product of a row of X
//     with a contiguous row of B; 4 rows of B at a time, 2 rows of X, 8 independent vector
//     accumulators, one horizontal sum per output at the end.
//   trans_b = 0 (B is (k, n), Hugging Face Conv1D): axpys over the rows of B, streamed row by row:
//     a block of up to kAxpyCols columns keeps its m x cols accumulators in L1, and 4 rows of B at a
//     time each contribute one contiguous run of the block (so memory sees a few long sequential
//     streams, not one 128-byte piece per row as a register tile walking down k would read).
// Per output, the arithmetic (vector lanes over k, then the horizontal sum, then the k tail; or one
// sequential fused chain over k per column) does not depend on which block or thread computed it,
// so the results are the same for every thread count. Scalar chains use explicit fused multiply-adds
// (never left to the compiler's contraction, which may differ between the float and bf16
// instantiations), so the bf16 path is bit-identical to the float path on widened weights.
//
// Written once, included INSIDE a per-ISA anonymous namespace (gemm_avx2.cpp, gemm_avx512.cpp,
// and gemm.cpp for the portable path) after defining the same `Vec` as gemm_x86_impl.h plus
//   static float hsum(T);             // sum of the lanes
//   static T load(const uint16_t *);  // W bf16 values widened to float32
// No #include here on purpose: this file is included inside a namespace.

inline float b_value(float v) { return v; }
inline float b_value(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

template <int MB, int R, typename BT>
void small_dot_tile(int64_t k, const float *x, int64_t ldx, const BT *b, int64_t ldb,
                    float alpha, float beta, const float *bias, float *c, int64_t ldc) {
  constexpr int W = Vec::W;
  typename Vec::T acc[MB][R];
  for (int i = 0; i < MB; i++)
    for (int r = 0; r < R; r++) acc[i][r] = Vec::zero();
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    typename Vec::T bv[R];
    for (int r = 0; r < R; r++) bv[r] = Vec::load(b + r * ldb + p);
    for (int i = 0; i < MB; i++) {
      typename Vec::T xv = Vec::load(x + i * ldx + p);
      for (int r = 0; r < R; r++) acc[i][r] = Vec::fma(xv, bv[r], acc[i][r]);
    }
  }
  for (int i = 0; i < MB; i++)
    for (int r = 0; r < R; r++) {
      float s = Vec::hsum(acc[i][r]);
      for (int64_t q = p; q < k; q++) s = __builtin_fmaf(x[i * ldx + q], b_value(b[r * ldb + q]), s);
      float v = alpha * s;
      if (beta != 0.f) v = __builtin_fmaf(beta, c[i * ldc + r], v);
      if (bias) v = v + bias[r];
      c[i * ldc + r] = v;
    }
}

// Columns [0, cols) with cols < W: one scalar fused chain over k per output.
template <typename BT>
void small_axpy_scalar(int64_t m, int64_t cols, int64_t k, const float *x, int64_t ldx,
                       const BT *b, int64_t ldb, float alpha, float beta, const float *bias,
                       float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < cols; j++) {
      float s = 0.f;
      for (int64_t p = 0; p < k; p++) s = __builtin_fmaf(x[i * ldx + p], b_value(b[p * ldb + j]), s);
      float v = alpha * s;
      if (beta != 0.f) v = __builtin_fmaf(beta, c[i * ldc + j], v);
      if (bias) v = v + bias[j];
      c[i * ldc + j] = v;
    }
}

// Columns of one block, `nv` vectors wide (nv * W <= kAxpyCols), all m <= kAxpyRows rows of X:
// acc[i][j] = sum over p of x[i][p] * b[p][j], one fused chain per column in order of p.
constexpr int kAxpyRows = 8;
constexpr int kAxpyCols = 1024;  // 4 KiB of accumulators per row of X (32 KiB at 8 rows)
template <typename BT>
void small_axpy_block(int64_t m, int64_t nv, int64_t k, const float *x, int64_t ldx, const BT *b,
                      int64_t ldb, float alpha, float beta, const float *bias, float *c,
                      int64_t ldc) {
  constexpr int W = Vec::W;
  alignas(64) float acc[kAxpyRows][kAxpyCols];
  for (int64_t i = 0; i < m; i++)
    for (int64_t v = 0; v < nv; v++) Vec::store(acc[i] + v * W, Vec::zero());
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    const BT *b0 = b + p * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    for (int64_t i = 0; i < m; i++) {
      const float *xi = x + i * ldx + p;
      const typename Vec::T x0 = Vec::set1(xi[0]), x1 = Vec::set1(xi[1]), x2 = Vec::set1(xi[2]),
                            x3 = Vec::set1(xi[3]);
      float *ai = acc[i];
      for (int64_t v = 0; v < nv; v++) {
        typename Vec::T a = Vec::load(ai + v * W);
        a = Vec::fma(x0, Vec::load(b0 + v * W), a);
        a = Vec::fma(x1, Vec::load(b1 + v * W), a);
        a = Vec::fma(x2, Vec::load(b2 + v * W), a);
        a = Vec::fma(x3, Vec::load(b3 + v * W), a);
        Vec::store(ai + v * W, a);
      }
    }
  }
  for (; p < k; p++) {
    const BT *b0 = b + p * ldb;
    for (int64_t i = 0; i < m; i++) {
      const typename Vec::T x0 = Vec::set1(x[i * ldx + p]);
      float *ai = acc[i];
      for (int64_t v = 0; v < nv; v++)
        Vec::store(ai + v * W, Vec::fma(x0, Vec::load(b0 + v * W), Vec::load(ai + v * W)));
    }
  }
  const typename Vec::T va = Vec::set1(alpha), vb = Vec::set1(beta);
  for (int64_t i = 0; i < m; i++)
    for (int64_t v = 0; v < nv; v++) {
      float *cp = c + i * ldc + v * W;
      typename Vec::T a = Vec::load(acc[i] + v * W);
      typename Vec::T o = alpha == 1.f ? a : Vec::mul(va, a);
      if (beta != 0.f) o = Vec::fma(vb, Vec::load(cp), o);
      if (bias) o = Vec::add(o, Vec::load(bias + v * W));
      Vec::store(cp, o);
    }
}

// All m rows, columns [0, n) (the caller offsets b, bias and c to the first column).
template <typename BT>
void small_m_impl(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                  int64_t ldx, const BT *b, int64_t ldb, float beta, const float *bias, float *c,
                  int64_t ldc) {
  if (trans_b) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
      const BT *bj = b + j * ldb;
      const float *bias_j = bias ? bias + j : nullptr;
      int64_t i = 0;
      for (; i + 2 <= m; i += 2)
        small_dot_tile<2, 4>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j,
                             ldc);
      if (i < m)
        small_dot_tile<1, 4>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j,
                             ldc);
    }
    for (; j < n; j++) {
      const BT *bj = b + j * ldb;
      const float *bias_j = bias ? bias + j : nullptr;
      int64_t i = 0;
      for (; i + 2 <= m; i += 2)
        small_dot_tile<2, 1>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j,
                             ldc);
      if (i < m)
        small_dot_tile<1, 1>(k, x + i * ldx, ldx, bj, ldb, alpha, beta, bias_j, c + i * ldc + j,
                             ldc);
    }
    return;
  }
  constexpr int W = Vec::W;
  const int64_t vec_cols = n / W * W;
  for (int64_t i0 = 0; i0 < m; i0 += kAxpyRows) {
    const int64_t mb = m - i0 < kAxpyRows ? m - i0 : kAxpyRows;
    const float *xb = x + i0 * ldx;
    float *cb = c + i0 * ldc;
    // equal blocks (1152 columns: 2 x 576, not 1024 + 128): every row run of B stays long
    const int64_t blocks = (vec_cols + kAxpyCols - 1) / kAxpyCols;
    const int64_t width = blocks == 0 ? 0 : ((vec_cols + blocks - 1) / blocks + W - 1) / W * W;
    for (int64_t j = 0; j < vec_cols; j += width) {
      const int64_t cols = vec_cols - j < width ? vec_cols - j : width;
      small_axpy_block(mb, cols / W, k, xb, ldx, b + j, ldb, alpha, beta,
                       bias ? bias + j : nullptr, cb + j, ldc);
    }
  }
  if (vec_cols < n)
    small_axpy_scalar(m, n - vec_cols, k, x, ldx, b + vec_cols, ldb, alpha, beta,
                      bias ? bias + vec_cols : nullptr, c + vec_cols, ldc);
}
