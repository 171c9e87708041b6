// The x86 GEMM micro-kernel, packing routines and column sum, written once and compiled once per
// ISA: gemm_avx2.cpp and gemm_avx512.cpp each include this file INSIDE their own anonymous namespace
// (fl::cpu::<isa>_gemm::{anon}), after <immintrin.h> and after defining
//   struct Vec { using T = <vector type>; static constexpr int W = <floats per vector>;
//                static T zero(); static T load(const float *); static T bcast(const float *);
//                static T set1(float); static T fma(T a, T b, T c); static T mul(T, T);
//                static T add(T, T); static void store(float *, T); };
// so every symbol here is a distinct, internal one per ISA (no ODR sharing with baseline code).
// The micro-kernel is generic over Vec; the packing uses 256-bit AVX2 intrinsics, which both ISA
// files may use. No #include here on purpose: this file is included inside a namespace.
//
// Packed layouts (see gemm_kernels.h): A panels of MR rows, element (r, p) at p*MR + r; B panels of
// NR columns, element (p, c) at p*NR + c.

// ---- micro-kernel: C[MR x NR] (=|+=) alpha * A_panel * B_panel (+ bias) ---------------------
// PF > 0: prefetch the A panel PF floats ahead of the k step (the AVX-512 kernel; the AVX2 one
// runs without, as measured on Zen 3).
template <int MR, int NV, int PF = 0>
void micro_kernel_t(int64_t kc, const float *__restrict a, const float *__restrict b, float *c,
                    int64_t ldc, float alpha, float beta, const float *bias) {
  constexpr int W = Vec::W;
  constexpr int NR = NV * W;
  typename Vec::T acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++) {
    _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc + NR - 1), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int o = 16; o < NR - 1; o += 16)  // the lines between (tiles wider than a line and a half)
      _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc + o), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = Vec::zero();
  }
  // Not unrolled on purpose: GCC keeps all MR*NV accumulators in registers only for the plain loop
  // (unrolled, it spills two of the twelve AVX2 accumulators to the stack).
  for (int64_t p = 0; p < kc; p++) {
    typename Vec::T bv[NV];
    if constexpr (PF > 0) _mm_prefetch(reinterpret_cast<const char *>(a + PF), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = Vec::load(b + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
      typename Vec::T ar = Vec::bcast(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = Vec::fma(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += NR;
  }
  // Write-back, fused: scale, add beta*C (C untouched as input when beta == 0), add the bias.
  const typename Vec::T va = Vec::set1(alpha), vb = Vec::set1(beta);
  typename Vec::T bias_v[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) bias_v[v] = bias ? Vec::load(bias + v * W) : Vec::zero();
#pragma GCC unroll 32
  for (int r = 0; r < MR; r++) {
    float *cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      typename Vec::T x = alpha == 1.f ? acc[r][v] : Vec::mul(va, acc[r][v]);
      if (beta != 0.f) x = Vec::fma(vb, Vec::load(cr + v * W), x);
      if (bias) x = Vec::add(x, bias_v[v]);
      Vec::store(cr + v * W, x);
    }
  }
}

// ---- packing helpers (256-bit) ---------------------------------------------------------------
// The packers read float32 sources, or bf16 ones (uint16_t, the high half of a float32: fl_gemm_bf16)
// which they widen exactly as they load (a zero-extend and a 16-bit shift), so the packed panels
// and everything after them are the same as for float32 sources holding the widened values.
inline float widen(float v) { return v; }
inline float widen(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}
inline __m256 load8(const float *s) { return _mm256_loadu_ps(s); }
inline __m256 load8(const uint16_t *s) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline __m128 load4(const float *s) { return _mm_loadu_ps(s); }
inline __m128 load4(const uint16_t *s) {
  __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(s));
  return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(h), 16));
}

// 4 rows of 8 floats (row stride ld) -> 8 columns of 4 floats, column q at d + q*ds.
template <typename T>
inline void transpose_4x8(const T *s, int64_t ld, float *d, int64_t ds) {
  __m256 r0 = load8(s), r1 = load8(s + ld);
  __m256 r2 = load8(s + 2 * ld), r3 = load8(s + 3 * ld);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  _mm_storeu_ps(d + 0 * ds, _mm256_castps256_ps128(u0));
  _mm_storeu_ps(d + 1 * ds, _mm256_castps256_ps128(u1));
  _mm_storeu_ps(d + 2 * ds, _mm256_castps256_ps128(u2));
  _mm_storeu_ps(d + 3 * ds, _mm256_castps256_ps128(u3));
  _mm_storeu_ps(d + 4 * ds, _mm256_extractf128_ps(u0, 1));
  _mm_storeu_ps(d + 5 * ds, _mm256_extractf128_ps(u1, 1));
  _mm_storeu_ps(d + 6 * ds, _mm256_extractf128_ps(u2, 1));
  _mm_storeu_ps(d + 7 * ds, _mm256_extractf128_ps(u3, 1));
}

// 2 rows of 8 floats -> 8 columns of 2 floats.
template <typename T>
inline void transpose_2x8(const T *s, int64_t ld, float *d, int64_t ds) {
  __m256 r0 = load8(s), r1 = load8(s + ld);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m128 l0 = _mm256_castps256_ps128(t0), h0 = _mm256_extractf128_ps(t0, 1);
  __m128 l1 = _mm256_castps256_ps128(t1), h1 = _mm256_extractf128_ps(t1, 1);
  _mm_storel_pi(reinterpret_cast<__m64 *>(d + 0 * ds), l0);
  _mm_storeh_pi(reinterpret_cast<__m64 *>(d + 1 * ds), l0);
  _mm_storel_pi(reinterpret_cast<__m64 *>(d + 2 * ds), l1);
  _mm_storeh_pi(reinterpret_cast<__m64 *>(d + 3 * ds), l1);
  _mm_storel_pi(reinterpret_cast<__m64 *>(d + 4 * ds), h0);
  _mm_storeh_pi(reinterpret_cast<__m64 *>(d + 5 * ds), h0);
  _mm_storel_pi(reinterpret_cast<__m64 *>(d + 6 * ds), h1);
  _mm_storeh_pi(reinterpret_cast<__m64 *>(d + 7 * ds), h1);
}

// 8 rows of 8 floats -> 8 columns of 8 floats.
template <typename T>
inline void transpose_8x8(const T *s, int64_t ld, float *d, int64_t ds) {
  __m256 r0 = load8(s + 0 * ld), r1 = load8(s + 1 * ld);
  __m256 r2 = load8(s + 2 * ld), r3 = load8(s + 3 * ld);
  __m256 r4 = load8(s + 4 * ld), r5 = load8(s + 5 * ld);
  __m256 r6 = load8(s + 6 * ld), r7 = load8(s + 7 * ld);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(d + 0 * ds, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(d + 1 * ds, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(d + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(d + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(d + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(d + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(d + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(d + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// Copies n (compile-time) contiguous floats without touching anything past s[n-1].
template <int n>
inline void copy_floats(const float *s, float *d) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
  if (n - i >= 4) {
    _mm_storeu_ps(d + i, _mm_loadu_ps(s + i));
    i += 4;
  }
  if (n - i >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64 *>(d + i),
                  _mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64 *>(s + i)));
    i += 2;
  }
  if (n - i >= 1) d[i] = s[i];
}
// The same from n contiguous bf16 values, widened.
template <int n>
inline void copy_floats(const uint16_t *s, float *d) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, load8(s + i));
  if (n - i >= 4) {
    _mm_storeu_ps(d + i, load4(s + i));
    i += 4;
  }
  for (; i < n; i++) d[i] = widen(s[i]);
}

// ---- packing -------------------------------------------------------------------------------
// When a panel is a strip of a few columns of a row-major source (A transposed, B not), reading
// one panel after the other walks down the rows at a large stride, which defeats the hardware
// prefetchers and the TLB. Groups of panels covering ~128 floats of each row are packed together,
// row by row: the reads become 512-byte runs, the writes a few sequential streams.
template <int W>
constexpr int64_t strip_group() {
  return 128 / W > 0 ? 128 / W : 1;
}

template <int MR, typename T>
void pack_a_t(const T *a, int64_t lda, int trans, int64_t panels, int64_t kc, float *dst) {
  if (trans) {
    // op(A)(i, p) = a[p*lda + i]: each p contributes MR contiguous floats to a panel.
    constexpr int64_t G = strip_group<MR>();
    for (int64_t q0 = 0; q0 < panels; q0 += G) {
      int64_t q1 = q0 + G < panels ? q0 + G : panels;
      for (int64_t p = 0; p < kc; p++)
        for (int64_t q = q0; q < q1; q++)
          copy_floats<MR>(a + p * lda + q * MR, dst + q * MR * kc + p * MR);
    }
    return;
  }
  // op(A)(i, p) = a[i*lda + p]: transpose row groups of 4 (then 2, 1) in 8-column steps.
  for (int64_t q = 0; q < panels; q++, dst += MR * kc) {
    const T *s = a + q * MR * lda;
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      int r = 0;
      for (; r + 4 <= MR; r += 4) transpose_4x8(s + r * lda + p, lda, dst + p * MR + r, MR);
      for (; r + 2 <= MR; r += 2) transpose_2x8(s + r * lda + p, lda, dst + p * MR + r, MR);
      for (; r < MR; r++)
        for (int k = 0; k < 8; k++) dst[(p + k) * MR + r] = widen(s[r * lda + p + k]);
    }
    for (; p < kc; p++)
      for (int r = 0; r < MR; r++) dst[p * MR + r] = widen(s[r * lda + p]);
  }
}

template <int NR, typename T>
void pack_b_t(const T *b, int64_t ldb, int trans, int64_t panels, int64_t kc, float *dst) {
  static_assert(NR % 8 == 0, "B panels are whole 8-float vectors");
  if (!trans) {
    // op(B)(p, j) = b[p*ldb + j]: each p contributes NR contiguous floats to a panel.
    constexpr int64_t G = strip_group<NR>();
    for (int64_t q0 = 0; q0 < panels; q0 += G) {
      int64_t q1 = q0 + G < panels ? q0 + G : panels;
      for (int64_t p = 0; p < kc; p++)
        for (int64_t q = q0; q < q1; q++)
          copy_floats<NR>(b + p * ldb + q * NR, dst + q * NR * kc + p * NR);
    }
    return;
  }
  // op(B)(p, j) = b[j*ldb + p]: transpose 8 x 8 blocks (rows of b are columns of op(B)).
  for (int64_t q = 0; q < panels; q++, dst += NR * kc) {
    const T *s = b + q * NR * ldb;
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8)
      for (int c = 0; c < NR; c += 8) transpose_8x8(s + c * ldb + p, ldb, dst + p * NR + c, NR);
    for (; p < kc; p++)
      for (int c = 0; c < NR; c++) dst[p * NR + c] = widen(s[c * ldb + p]);
  }
}

// ---- bias gradient: dbias[j] += sum_i dout[i*ld + j] ------------------------------------------
inline void colsum_impl(float *dbias, const float *dout, int64_t ld, int64_t m, int64_t n) {
  constexpr int W = Vec::W;
  int64_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W) {
    typename Vec::T s0 = Vec::zero(), s1 = Vec::zero(), s2 = Vec::zero(), s3 = Vec::zero();
    const float *p = dout + j;
    for (int64_t i = 0; i < m; i++, p += ld) {
      s0 = Vec::add(s0, Vec::load(p));
      s1 = Vec::add(s1, Vec::load(p + W));
      s2 = Vec::add(s2, Vec::load(p + 2 * W));
      s3 = Vec::add(s3, Vec::load(p + 3 * W));
    }
    Vec::store(dbias + j, Vec::add(Vec::load(dbias + j), s0));
    Vec::store(dbias + j + W, Vec::add(Vec::load(dbias + j + W), s1));
    Vec::store(dbias + j + 2 * W, Vec::add(Vec::load(dbias + j + 2 * W), s2));
    Vec::store(dbias + j + 3 * W, Vec::add(Vec::load(dbias + j + 3 * W), s3));
  }
  for (; j + W <= n; j += W) {
    typename Vec::T s0 = Vec::zero();
    const float *p = dout + j;
    for (int64_t i = 0; i < m; i++, p += ld) s0 = Vec::add(s0, Vec::load(p));
    Vec::store(dbias + j, Vec::add(Vec::load(dbias + j), s0));
  }
  for (; j < n; j++) {
    float s = 0.f;
    for (int64_t i = 0; i < m; i++) s += dout[i * ld + j];
    dbias[j] += s;
  }
}
