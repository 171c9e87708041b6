// Flash-attention style forward and backward, written once for every ISA.
//
// NOT a normal header: it is included (once per TU, no include guard) inside a namespace of its own
// (fl::cpu::attn_generic / attn_avx2 / attn_avx512) after that TU has defined, in an anonymous
// namespace, its vector primitives:
//   constexpr int W;  (lanes)         V  (vector type)
//   V vload(const float *)  void vstore(float *, V)  V vset1(float)  V vzero()
//   V vfma(V a, V b, V c) = a*b + c   V vadd/vsub/vmul/vmax(V, V)
//   float vhmax(V)  float vhsum(V)    V vexp(V)  (exp, exactly 0 for x < -87.3 and for -inf)
// Everything below except the five exported functions at the end has internal linkage.
//
// Layout: qkv (B, T, 3C); head h of q, k, v is the hs columns at h*hs, C + h*hs, 2C + h*hs of each
// row. The scratch tiles use a column stride of BK for score tiles and hsp (hs rounded up to
// W, zero padded) for row tiles, so every vector loop runs over whole vectors without tails.
//
// Forward, per task (b, h, query block of Bq rows): for each key block (Bk keys; blocks right of the
// causal diagonal are never visited, blocks whose keys are all masked are skipped): S = Q K^T
// (Bq x Bk), masked entries -inf, then the online softmax: m_new = max(m, rowmax(S)),
// P = exp(S - m_new), l = l * exp(m - m_new) + rowsum(P), O = O * exp(m - m_new) + P V. At the end
// out = O / l and lse = m + log(l); a row that saw no key (m = -inf) gets out = 0, lse = -inf.
//
// Backward (flash-attention 2): per (key block, query block) tile, P = exp(S - lse) recomputed from
// qkv and lse (a row with lse = -inf has P = 0), dV += P^T dO, dP = dO V^T, D = rowsum(dO * O),
// dS = P * (dP - D), dK += scale * dS^T Q, dQ += scale * dS K.
//
// Dropout (a.dropout): the forward multiplies each tile's P by Z (0 or 1 / (1 - p), from
// attention_dropout.h) after adding it into l, so lse is that of the undropped softmax; the backward
// recomputes Z and uses dV += (P o Z)^T dO, dS = P * (Z * dP - D) (see reference/attention.cpp).

namespace {

const float kNegInf = -__builtin_inff();
constexpr int64_t BQ = kAttnBlockQ;  // query rows per block
constexpr int64_t BK = kAttnBlockK;  // keys per block; also the column stride of score tiles

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t round_up_w(int64_t x) { return (x + W - 1) / W * W; }

// ---- micro-kernels -------------------------------------------------------------------------------

// S[r][c] = sum_d A[r*lda + d] * Bt[d*ldb + c] for R rows and NV*W columns (A read by broadcast).
template <int R, int NV>
inline void nt_block(int64_t K, const float *A, int64_t lda, const float *Bt, int64_t ldb, float *S,
                     int64_t lds) {
  V acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = vzero();
  for (int64_t d = 0; d < K; d++) {
    V bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = vload(Bt + d * ldb + v * W);
    for (int r = 0; r < R; r++) {
      V av = vset1(A[r * lda + d]);
      for (int v = 0; v < NV; v++) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) vstore(S + r * lds + v * W, acc[r][v]);
}

template <int NV>
inline void nt_rows(int64_t M, int64_t K, const float *A, int64_t lda, const float *Bt, int64_t ldb,
                    float *S, int64_t lds) {
  int64_t r = 0;
  for (; r + 4 <= M; r += 4) nt_block<4, NV>(K, A + r * lda, lda, Bt, ldb, S + r * lds, lds);
  switch (M - r) {
    case 3: nt_block<3, NV>(K, A + r * lda, lda, Bt, ldb, S + r * lds, lds); break;
    case 2: nt_block<2, NV>(K, A + r * lda, lda, Bt, ldb, S + r * lds, lds); break;
    case 1: nt_block<1, NV>(K, A + r * lda, lda, Bt, ldb, S + r * lds, lds); break;
    default: break;
  }
}

// S (M x N) = A (M x K, row stride lda) * Bt (K x N, row stride ldb); N is a multiple of W.
void gemm_nt(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bt,
             int64_t ldb, float *S, int64_t lds) {
  int64_t c = 0;
  for (; c + 2 * W <= N; c += 2 * W) nt_rows<2>(M, K, A, lda, Bt + c, ldb, S + c, lds);
  if (c < N) nt_rows<1>(M, K, A, lda, Bt + c, ldb, S + c, lds);
}

// Cm[r][c] += sum_k A[r*ars + k*acs] * Bp[k*ldb + c] for R rows and NV*W columns.
template <int R, int NV>
inline void nn_block(int64_t K, const float *A, int64_t ars, int64_t acs, const float *Bp,
                     int64_t ldb, float *Cm, int64_t ldc) {
  V acc[R][NV];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = vload(Cm + r * ldc + v * W);
  for (int64_t k = 0; k < K; k++) {
    V bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = vload(Bp + k * ldb + v * W);
    for (int r = 0; r < R; r++) {
      V av = vset1(A[r * ars + k * acs]);
      for (int v = 0; v < NV; v++) acc[r][v] = vfma(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++) vstore(Cm + r * ldc + v * W, acc[r][v]);
}

template <int NV>
inline void nn_rows(int64_t M, int64_t K, const float *A, int64_t ars, int64_t acs, const float *Bp,
                    int64_t ldb, float *Cm, int64_t ldc) {
  int64_t r = 0;
  for (; r + 4 <= M; r += 4) nn_block<4, NV>(K, A + r * ars, ars, acs, Bp, ldb, Cm + r * ldc, ldc);
  switch (M - r) {
    case 3: nn_block<3, NV>(K, A + r * ars, ars, acs, Bp, ldb, Cm + r * ldc, ldc); break;
    case 2: nn_block<2, NV>(K, A + r * ars, ars, acs, Bp, ldb, Cm + r * ldc, ldc); break;
    case 1: nn_block<1, NV>(K, A + r * ars, ars, acs, Bp, ldb, Cm + r * ldc, ldc); break;
    default: break;
  }
}

// Cm (M x N) += A (M x K, element (r, k) at A[r*ars + k*acs]) * Bp (K x N); N is a multiple of W.
// With ars = 1, acs = BK it multiplies by the transpose of a score tile.
void gemm_nn_acc(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars, int64_t acs,
                 const float *Bp, int64_t ldb, float *Cm, int64_t ldc) {
  int64_t c = 0;
  for (; c + 2 * W <= N; c += 2 * W) nn_rows<2>(M, K, A, ars, acs, Bp + c, ldb, Cm + c, ldc);
  if (c < N) nn_rows<1>(M, K, A, ars, acs, Bp + c, ldb, Cm + c, ldc);
}

// ---- packing ----------------------------------------------------------------------------------------

// dst (n x hsp) = n rows of hs floats at src (row stride ld), zero padded to hsp.
void pack_rows(const float *src, int64_t ld, int64_t n, int64_t hs, int64_t hsp, float *dst) {
  for (int64_t r = 0; r < n; r++) {
    const float *s = src + r * ld;
    float *d = dst + r * hsp;
    for (int64_t c = 0; c < hs; c++) d[c] = s[c];
    for (int64_t c = hs; c < hsp; c++) d[c] = 0.f;
  }
}

// dst (hs x BK, first np columns used) = transpose of n rows of hs floats; columns n..np-1 zero.
void pack_transposed(const float *src, int64_t ld, int64_t n, int64_t np, int64_t hs, float *dst) {
  for (int64_t r = 0; r < n; r++) {
    const float *s = src + r * ld;
    for (int64_t c = 0; c < hs; c++) dst[c * BK + r] = s[c];
  }
  for (int64_t c = 0; c < hs; c++)
    for (int64_t r = n; r < np; r++) dst[c * BK + r] = 0.f;
}

// Asks for the n rows of hs floats at src (row stride ld) to be brought into cache: rows of q/k/v
// sit 3C floats apart, a stride the hardware prefetchers do not follow, so the next key block is
// requested while the current one is being used.
void prefetch_rows(const float *src, int64_t ld, int64_t n, int64_t hs) {
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < hs; c += 16) __builtin_prefetch(src + r * ld + c);
}

// kb[j] = 0 for a visible key k0 + j (j < nk), -inf for a masked key or padding (nk <= j < nkp).
// Returns whether any key of the block is visible.
bool key_bias(const AttnArgs &a, int64_t b, int64_t k0, int64_t nk, int64_t nkp, float *kb) {
  bool any = false;
  const int32_t *mask = a.key_mask ? a.key_mask + b * a.T + k0 : nullptr;
  for (int64_t j = 0; j < nk; j++) {
    bool vis = mask == nullptr || mask[j] != 0;
    kb[j] = vis ? 0.f : kNegInf;
    any = any || vis;
  }
  for (int64_t j = nk; j < nkp; j++) kb[j] = kNegInf;
  return any;
}

// Z of row q of head bh against keys k0 .. k0 + n - 1, applied to the tile row p: p[j] *= Z.
void apply_dropout(const AttnArgs &a, int64_t bh, int64_t q, int64_t k0, int64_t n, float *p) {
  const uint64_t row = dropout_row_key(a.drop_key, bh, a.T, q);
  const float ks = a.keep_scale;  // locals, so that the loop vectorises
  const uint32_t threshold = a.drop_threshold;
  for (int64_t j = 0; j < n; j++) p[j] *= dropout_keep_col(row, k0 + j, threshold) ? ks : 0.f;
}

// Number of columns of a score-tile row that query q may see in the key block at k0 (causal).
inline int64_t row_limit(const AttnArgs &a, int64_t q, int64_t k0, int64_t nkp) {
  return a.causal ? imin(nkp, q - k0 + 1) : nkp;
}

// dst rows (stride ld) += factor * src rows (stride hsp), first hs columns.
void add_rows(float *dst, int64_t ld, const float *src, int64_t hsp, int64_t n, int64_t hs,
              float factor) {
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < hs; c++) dst[r * ld + c] += factor * src[r * hsp + c];
}

// ---- forward ----------------------------------------------------------------------------------------

// Online-softmax update of one query block (rows q0.., nq of them) against the key block at k0
// whose scores are in S; m, l, O are that block's running max, sum and unnormalised output.
void online_softmax_block(const AttnArgs &a, int64_t bh, float *S, const float *kb, int64_t q0,
                          int64_t nq, int64_t k0, int64_t nkp, float *m, float *l, float *O) {
  const int64_t hsp = a.hsp;
  const V vscale = vset1(a.scale);
  for (int64_t i = 0; i < nq; i++) {
    float *s = S + i * BK;
    const int64_t lim = row_limit(a, q0 + i, k0, nkp);
    for (int64_t j = lim < 0 ? 0 : lim; j < nkp; j++) s[j] = kNegInf;  // causal: future keys
    V vmx = vset1(kNegInf);
    for (int64_t j = 0; j < nkp; j += W) {
      V x = vfma(vload(s + j), vscale, vload(kb + j));
      vstore(s + j, x);
      vmx = vmax(vmx, x);
    }
    const float bmax = vhmax(vmx);
    const float mnew = bmax > m[i] ? bmax : m[i];
    if (mnew == kNegInf) {  // nothing visible to this row yet: P row is 0
      for (int64_t j = 0; j < nkp; j++) s[j] = 0.f;
      continue;
    }
    const float alpha = m[i] == kNegInf ? 0.f : expf(m[i] - mnew);
    const V vm = vset1(mnew);
    V vsum = vzero();
    for (int64_t j = 0; j < nkp; j += W) {
      V p = vexp(vsub(vload(s + j), vm));
      vstore(s + j, p);
      vsum = vadd(vsum, p);
    }
    l[i] = l[i] * alpha + vhsum(vsum);
    m[i] = mnew;
    if (a.dropout) apply_dropout(a, bh, q0 + i, k0, imin(nkp, a.T - k0), s);  // after the sum
    if (alpha != 1.f) {
      const V va = vset1(alpha);
      for (int64_t c = 0; c < hsp; c += W) vstore(O + i * hsp + c, vmul(vload(O + i * hsp + c), va));
    }
  }
}

// Rows [q0, q0 + nrows) of head (b, h); nrows <= a.qgroup * BQ. Each key block is packed once and
// used by every BQ-row query block of the group (packing costs O(Bk * hs) per key block).
void forward_rows(const AttnArgs &a, float *ws, int64_t b, int64_t h, int64_t q0, int64_t nrows) {
  const int64_t T = a.T, C = a.C, C3 = 3 * C, hs = a.hs, hsp = a.hsp, G = a.qgroup * BQ;
  float *S = ws;                 // BQ x BK scores, then probabilities
  float *Kt = S + BQ * BK;       // hs x BK
  float *Vp = Kt + hs * BK;      // BK x hsp
  float *kb = Vp + BK * hsp;     // BK key bias
  float *O = kb + BK;            // G x hsp unnormalised output
  float *m = O + G * hsp;        // G running max
  float *l = m + G;              // G running sum

  const float *Q = a.qkv + (b * T + q0) * C3 + h * hs;
  for (int64_t i = 0; i < nrows * hsp; i++) O[i] = 0.f;
  for (int64_t i = 0; i < nrows; i++) {
    m[i] = kNegInf;
    l[i] = 0.f;
  }
  const int64_t kend = a.causal ? q0 + nrows : T;  // key blocks right of the diagonal: never visited
  for (int64_t k0 = 0; k0 < kend; k0 += BK) {
    const int64_t nk = imin(BK, T - k0), nkp = round_up_w(nk);
    if (!key_bias(a, b, k0, nk, nkp, kb)) continue;  // every key of the block is padding
    const float *K = a.qkv + (b * T + k0) * C3 + C + h * hs;
    pack_transposed(K, C3, nk, nkp, hs, Kt);
    pack_rows(K + C, C3, nk, hs, hsp, Vp);
    if (k0 + BK < kend) {  // next key block's k and v rows
      prefetch_rows(K + BK * C3, C3, imin(BK, T - k0 - BK), hs);
      prefetch_rows(K + BK * C3 + C, C3, imin(BK, T - k0 - BK), hs);
    }
    for (int64_t r0 = 0; r0 < nrows; r0 += BQ) {
      const int64_t nq = imin(BQ, nrows - r0);
      if (a.causal && q0 + r0 + nq <= k0) continue;  // the whole query block is left of the keys
      gemm_nt(nq, nkp, hs, Q + r0 * C3, C3, Kt, BK, S, BK);  // S = Q K^T
      online_softmax_block(a, b * a.NH + h, S, kb, q0 + r0, nq, k0, nkp, m + r0, l + r0,
                           O + r0 * hsp);
      gemm_nn_acc(nq, hsp, nk, S, BK, 1, Vp, hsp, O + r0 * hsp, hsp);  // O += P V
    }
  }
  for (int64_t i = 0; i < nrows; i++) {
    float *o = a.out + (b * T + q0 + i) * C + h * hs;
    float lse;
    if (l[i] > 0.f) {  // m finite implies l >= 1 (the max entry contributes exp(0))
      const float inv = 1.f / l[i];
      for (int64_t c = 0; c < hs; c++) o[c] = O[i * hsp + c] * inv;
      lse = m[i] + logf(l[i]);
    } else {
      for (int64_t c = 0; c < hs; c++) o[c] = 0.f;
      lse = kNegInf;
    }
    if (a.lse) a.lse[(b * a.NH + h) * T + q0 + i] = lse;
  }
}

// ---- backward ---------------------------------------------------------------------------------------

struct BwdScratch {
  float *P, *dP, *Kt, *Vt, *Kp, *Qp, *dOp, *dK, *dV, *kb, *D, *dQ;
};

BwdScratch carve_backward(const AttnArgs &a, float *ws) {
  const int64_t hs = a.hs, hsp = a.hsp;
  BwdScratch s;
  s.P = ws;                  // BQ x BK
  s.dP = s.P + BQ * BK;      // BQ x BK, then dS
  s.Kt = s.dP + BQ * BK;     // hs x BK
  s.Vt = s.Kt + hs * BK;     // hs x BK
  s.Kp = s.Vt + hs * BK;     // BK x hsp
  s.Qp = s.Kp + BK * hsp;    // BQ x hsp
  s.dOp = s.Qp + BQ * hsp;   // BQ x hsp
  s.dK = s.dOp + BQ * hsp;   // BK x hsp
  s.dV = s.dK + BK * hsp;    // BK x hsp
  s.kb = s.dV + BK * hsp;    // BK
  s.D = s.kb + BK;           // T: rowsum(dO * O) of every query row of the head
  s.dQ = s.D + a.T;          // T x hsp (per-head mode) or BQ x hsp (query-block mode)
  return s;
}

// Packs the key block at k0 (nk keys): bias, K^T, V^T, K. Returns false if every key is masked.
bool prepare_keys(const AttnArgs &a, const BwdScratch &s, int64_t b, int64_t h, int64_t k0,
                  int64_t nk, int64_t nkp) {
  if (!key_bias(a, b, k0, nk, nkp, s.kb)) return false;
  const int64_t C3 = 3 * a.C;
  const float *K = a.qkv + (b * a.T + k0) * C3 + a.C + h * a.hs;
  pack_transposed(K, C3, nk, nkp, a.hs, s.Kt);
  pack_transposed(K + a.C, C3, nk, nkp, a.hs, s.Vt);
  pack_rows(K, C3, nk, a.hs, a.hsp, s.Kp);
  if (k0 + BK < a.T) {  // next key block's k and v rows
    prefetch_rows(K + BK * C3, C3, imin(BK, a.T - k0 - BK), a.hs);
    prefetch_rows(K + BK * C3 + a.C, C3, imin(BK, a.T - k0 - BK), a.hs);
  }
  return true;
}

// D[i] = rowsum(dO * O) for rows q0 .. q0 + n - 1 of head (b, h), indexed by row.
void row_dots(const AttnArgs &a, int64_t b, int64_t h, int64_t q0, int64_t n, float *D) {
  const int64_t C = a.C, hs = a.hs;
  const float *dO = a.dout + (b * a.T + q0) * C + h * hs;
  const float *O = a.fout + (b * a.T + q0) * C + h * hs;
  for (int64_t i = 0; i < n; i++) {
    const float *x = dO + i * C, *y = O + i * C;
    V acc = vzero();
    int64_t c = 0;
    for (; c + W <= hs; c += W) acc = vfma(vload(x + c), vload(y + c), acc);
    float d = vhsum(acc);
    for (; c < hs; c++) d += x[c] * y[c];
    D[q0 + i] = d;
  }
}

// One (query block, key block) tile. Adds into s.dK / s.dV (unscaled dK) when want_dkv, and into
// dQ (nq x hsp, unscaled) when dQ is not null.
void backward_tile(const AttnArgs &a, const BwdScratch &s, int64_t b, int64_t h, int64_t q0,
                   int64_t nq, int64_t k0, int64_t nk, int64_t nkp, bool want_dkv, float *dQ) {
  const int64_t T = a.T, C = a.C, C3 = 3 * C, hs = a.hs, hsp = a.hsp;
  const float *Q = a.qkv + (b * T + q0) * C3 + h * hs;
  const float *dO = a.dout + (b * T + q0) * C + h * hs;
  const float *L = a.flse + (b * a.NH + h) * T + q0;
  const float *Drow = s.D + q0;

  gemm_nt(nq, nkp, hs, Q, C3, s.Kt, BK, s.P, BK);  // S = Q K^T
  const V vscale = vset1(a.scale);
  bool any = false;
  for (int64_t i = 0; i < nq; i++) {
    float *p = s.P + i * BK;
    const int64_t lim = row_limit(a, q0 + i, k0, nkp);
    const float li = L[i];
    if (!(li > kNegInf) || lim <= 0) {  // row saw no key at all, or none of this block
      for (int64_t j = 0; j < nkp; j++) p[j] = 0.f;
      continue;
    }
    any = true;
    for (int64_t j = lim; j < nkp; j++) p[j] = kNegInf;
    const V vl = vset1(li);
    for (int64_t j = 0; j < nkp; j += W)
      vstore(p + j, vexp(vsub(vfma(vload(p + j), vscale, vload(s.kb + j)), vl)));
  }
  if (!any) return;  // P == 0: the tile contributes nothing

  gemm_nt(nq, nkp, hs, dO, C, s.Vt, BK, s.dP, BK);  // dP = dO V^T
  if (a.dropout) {
    // dS = P * (Z * dP - D) first, then P *= Z, so that dV below is (P o Z)^T dO
    const int64_t bh = b * a.NH + h;
    const float ks = a.keep_scale;  // locals, so that the loop vectorises
    const uint32_t threshold = a.drop_threshold;
    for (int64_t i = 0; i < nq; i++) {
      float *__restrict p = s.P + i * BK, *__restrict dp = s.dP + i * BK;
      const float Di = Drow[i];
      const uint64_t row = dropout_row_key(a.drop_key, bh, T, q0 + i);
      for (int64_t j = 0; j < nkp; j++) {
        const float z = dropout_keep_col(row, k0 + j, threshold) ? ks : 0.f;
        const float pj = p[j];
        dp[j] = pj * (z * dp[j] - Di);
        p[j] = pj * z;
      }
    }
    if (want_dkv) {
      pack_rows(dO, C, nq, hs, hsp, s.dOp);
      gemm_nn_acc(nk, hsp, nq, s.P, 1, BK, s.dOp, hsp, s.dV, hsp);  // dV += (P o Z)^T dO
    }
  } else {
    if (want_dkv) {
      pack_rows(dO, C, nq, hs, hsp, s.dOp);
      gemm_nn_acc(nk, hsp, nq, s.P, 1, BK, s.dOp, hsp, s.dV, hsp);  // dV += P^T dO
    }
    for (int64_t i = 0; i < nq; i++) {  // dS = P * (dP - D), D = rowsum(dO * O)
      const V vD = vset1(Drow[i]);
      float *p = s.P + i * BK, *dp = s.dP + i * BK;
      for (int64_t j = 0; j < nkp; j += W) vstore(dp + j, vmul(vload(p + j), vsub(vload(dp + j), vD)));
    }
  }
  if (want_dkv) {
    pack_rows(Q, C3, nq, hs, hsp, s.Qp);
    gemm_nn_acc(nk, hsp, nq, s.dP, 1, BK, s.Qp, hsp, s.dK, hsp);  // dK += dS^T Q
  }
  if (dQ) gemm_nn_acc(nq, hsp, nk, s.dP, BK, 1, s.Kp, hsp, dQ, hsp);  // dQ += dS K
}

// dK / dV of the key block at k0 against every query block that can see it, flushed into dqkv.
// dQ (T x hsp), when not null, also accumulates every tile's dQ.
void backward_key_block(const AttnArgs &a, const BwdScratch &s, int64_t b, int64_t h, int64_t k0,
                        float *dQ) {
  const int64_t T = a.T, C = a.C, C3 = 3 * C, hs = a.hs, hsp = a.hsp;
  const int64_t nk = imin(BK, T - k0), nkp = round_up_w(nk);
  if (!prepare_keys(a, s, b, h, k0, nk, nkp)) return;
  for (int64_t i = 0; i < nk * hsp; i++) s.dK[i] = s.dV[i] = 0.f;
  const int64_t qstart = a.causal ? k0 / BQ * BQ : 0;  // earlier queries cannot see these keys
  for (int64_t q0 = qstart; q0 < T; q0 += BQ) {
    const int64_t nq = imin(BQ, T - q0);
    backward_tile(a, s, b, h, q0, nq, k0, nk, nkp, true, dQ ? dQ + q0 * hsp : nullptr);
  }
  float *dk = a.dqkv + (b * T + k0) * C3 + C + h * hs;
  add_rows(dk, C3, s.dK, hsp, nk, hs, a.scale);
  add_rows(dk + C, C3, s.dV, hsp, nk, hs, 1.f);
}

}  // namespace

// ---- exported entry points (see attention_impl.h) ------------------------------------------------

int64_t vector_width() { return W; }

int64_t forward_scratch_floats(const AttnArgs &a) {
  const int64_t G = a.qgroup * BQ;
  return BQ * BK + a.hs * BK + BK * a.hsp + BK + G * a.hsp + 2 * G;
}

int64_t backward_scratch_floats(const AttnArgs &a, int mode) {
  const int64_t dq_rows = mode == kAttnBwdPerHead ? a.T : mode == kAttnBwdQueryBlocks ? BQ : 0;
  return 2 * BQ * BK + 2 * a.hs * BK + BK * a.hsp + 2 * BQ * a.hsp + 2 * BK * a.hsp + BK + a.T +
         dq_rows * a.hsp;
}

void forward_tasks(const AttnArgs &a, float *scratch, int64_t begin, int64_t end) {
  const int64_t G = a.qgroup * BQ, ngroups = (a.T + G - 1) / G;
  for (int64_t t = begin; t < end; t++) {
    const int64_t g = t % ngroups, bh = t / ngroups;
    forward_rows(a, scratch, bh / a.NH, bh % a.NH, g * G, imin(G, a.T - g * G));
  }
}

void backward_tasks(const AttnArgs &a, float *scratch, int mode, int64_t begin, int64_t end) {
  const int64_t T = a.T, C3 = 3 * a.C, hsp = a.hsp;
  const int64_t nqb = (T + BQ - 1) / BQ, nkb = (T + BK - 1) / BK;
  const BwdScratch s = carve_backward(a, scratch);
  for (int64_t t = begin; t < end; t++) {
    if (mode == kAttnBwdPerHead) {
      // one task owns all of head (b, h): dK/dV per key block, dQ accumulated over all of them
      const int64_t b = t / a.NH, h = t % a.NH;
      row_dots(a, b, h, 0, T, s.D);
      for (int64_t i = 0; i < T * hsp; i++) s.dQ[i] = 0.f;
      for (int64_t k0 = 0; k0 < T; k0 += BK) backward_key_block(a, s, b, h, k0, s.dQ);
      add_rows(a.dqkv + b * T * C3 + h * a.hs, C3, s.dQ, hsp, T, a.hs, a.scale);
    } else if (mode == kAttnBwdKeyBlocks) {
      const int64_t kbi = t % nkb, bh = t / nkb, b = bh / a.NH, h = bh % a.NH;
      const int64_t qstart = a.causal ? kbi * BK / BQ * BQ : 0;  // rows backward_key_block reads
      row_dots(a, b, h, qstart, T - qstart, s.D);
      backward_key_block(a, s, b, h, kbi * BK, nullptr);
    } else {
      // dQ of one query block: stream over the key blocks it can see
      const int64_t qbi = t % nqb, bh = t / nqb, b = bh / a.NH, h = bh % a.NH;
      const int64_t q0 = qbi * BQ, nq = imin(BQ, T - q0);
      row_dots(a, b, h, q0, nq, s.D);
      for (int64_t i = 0; i < nq * hsp; i++) s.dQ[i] = 0.f;
      const int64_t kend = a.causal ? q0 + nq : T;
      for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int64_t nk = imin(BK, T - k0), nkp = round_up_w(nk);
        if (!prepare_keys(a, s, b, h, k0, nk, nkp)) continue;
        backward_tile(a, s, b, h, q0, nq, k0, nk, nkp, false, s.dQ);
      }
      add_rows(a.dqkv + (b * T + q0) * C3 + h * a.hs, C3, s.dQ, hsp, nq, a.hs, a.scale);
    }
  }
}
