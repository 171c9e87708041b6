// The small-M GEMM path (M <= kSmallM rows, e.g. one token per sequence in KV-cached generation):
// C(m, n) = alpha * X(m, k) op(B)(k, n) [+ beta C] [+ bias], X dense with row stride ldx. No packing:
// at these shapes the time is reading B once from memory, so B is streamed straight from its
// storage and each element of B is loaded from DRAM once (and from L1 for the other row pairs of X).
//   trans_b = 1 (B is (n, k), e.g. a linear layer's W): every output is a dot product of a row of X
//     with a contiguous row of B; 4 rows of B at a time, 2 rows of X, 8 independent vector
//     accumulators, one horizontal sum per output at the end.
//   trans_b = 0 (B is (k, n), Hugging Face Conv1D): an axpy over the rows of B into a register
//     block of 2 rows x 4 vectors of outputs; each row of B contributes a 4-vector run.
// Per output, the arithmetic (vector lanes over k, then the horizontal sum, then the k tail; or one
// sequential chain over k per column) does not depend on which tile or thread computed it, so the
// results are the same for every thread count.
//
// Written once, included INSIDE a per-ISA anonymous namespace (gemm_avx2.cpp, gemm_avx512.cpp,
// and gemm.cpp for the portable path) after defining the same `Vec` as gemm_x86_impl.h plus
//   static float hsum(T);   // sum of the lanes
// No #include here on purpose: this file is included inside a namespace.

template <int MB, int R>
void small_dot_tile(int64_t k, const float *x, int64_t ldx, const float *b, int64_t ldb,
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
      for (int64_t q = p; q < k; q++) s += x[i * ldx + q] * b[r * ldb + q];
      float v = alpha * s;
      if (beta != 0.f) v += beta * c[i * ldc + r];
      if (bias) v += bias[r];
      c[i * ldc + r] = v;
    }
}

template <int MB, int NV>
void small_axpy_tile(int64_t k, const float *x, int64_t ldx, const float *b, int64_t ldb,
                     float alpha, float beta, const float *bias, float *c, int64_t ldc) {
  constexpr int W = Vec::W;
  typename Vec::T acc[MB][NV];
  for (int i = 0; i < MB; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = Vec::zero();
  for (int64_t p = 0; p < k; p++, b += ldb) {
    typename Vec::T bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = Vec::load(b + v * W);
    for (int i = 0; i < MB; i++) {
      typename Vec::T xv = Vec::set1(x[i * ldx + p]);
      for (int v = 0; v < NV; v++) acc[i][v] = Vec::fma(xv, bv[v], acc[i][v]);
    }
  }
  const typename Vec::T va = Vec::set1(alpha), vb = Vec::set1(beta);
  for (int i = 0; i < MB; i++)
    for (int v = 0; v < NV; v++) {
      float *cp = c + i * ldc + v * W;
      typename Vec::T o = alpha == 1.f ? acc[i][v] : Vec::mul(va, acc[i][v]);
      if (beta != 0.f) o = Vec::fma(vb, Vec::load(cp), o);
      if (bias) o = Vec::add(o, Vec::load(bias + v * W));
      Vec::store(cp, o);
    }
}

// Columns [0, cols) with cols < W: one scalar chain over k per output.
inline void small_axpy_scalar(int64_t m, int64_t cols, int64_t k, const float *x, int64_t ldx,
                              const float *b, int64_t ldb, float alpha, float beta,
                              const float *bias, float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < cols; j++) {
      float s = 0.f;
      for (int64_t p = 0; p < k; p++) s += x[i * ldx + p] * b[p * ldb + j];
      float v = alpha * s;
      if (beta != 0.f) v += beta * c[i * ldc + j];
      if (bias) v += bias[j];
      c[i * ldc + j] = v;
    }
}

// All m rows, columns [0, n) (the caller offsets b, bias and c to the first column).
inline void small_m_impl(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *x, int64_t ldx, const float *b, int64_t ldb, float beta,
                         const float *bias, float *c, int64_t ldc) {
  if (trans_b) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
      const float *bj = b + j * ldb;
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
      const float *bj = b + j * ldb;
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
  int64_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W) {
    const float *bias_j = bias ? bias + j : nullptr;
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      small_axpy_tile<2, 4>(k, x + i * ldx, ldx, b + j, ldb, alpha, beta, bias_j,
                            c + i * ldc + j, ldc);
    if (i < m)
      small_axpy_tile<1, 4>(k, x + i * ldx, ldx, b + j, ldb, alpha, beta, bias_j,
                            c + i * ldc + j, ldc);
  }
  for (; j + W <= n; j += W) {
    const float *bias_j = bias ? bias + j : nullptr;
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      small_axpy_tile<2, 1>(k, x + i * ldx, ldx, b + j, ldb, alpha, beta, bias_j,
                            c + i * ldc + j, ldc);
    if (i < m)
      small_axpy_tile<1, 1>(k, x + i * ldx, ldx, b + j, ldb, alpha, beta, bias_j,
                            c + i * ldc + j, ldc);
  }
  if (j < n)
    small_axpy_scalar(m, n - j, k, x, ldx, b + j, ldb, alpha, beta, bias ? bias + j : nullptr,
                      c + j, ldc);
}
