// libFuzzer target for the fl_* entry points that take sizes, ids and offsets from their callers.
// Each input picks an op and its arguments; the harness allocates every buffer at exactly the size
// the header's contract gives (so AddressSanitizer flags any read or write beyond it), runs the CPU
// backend at an ISA level the input picks, and compares with the REFERENCE backend:
//   - GEMMs (fp32, bf16 weights, bf16 x bf16): inputs are k/16 with |k| <= 128 and K <= 40, so every
//     product and partial sum is a multiple of 2^-8 below 2^16: exact in float32 in any order, and
//     the results must be identical (up to the sign of a zero);
//   - bf16 conversions: identical on any bit pattern (NaN compared as NaN);
//   - embeddings: forward exact (copies and one add), backward sums of k/16 terms: exact too;
//   - softmax, layer norm, cross-entropy: exp/log/sqrt differ in the last bits between kernels:
//     |cpu - ref| <= 1e-5 + 1e-4 |ref| (values O(1), rows <= 64 wide);
//   - arguments outside the contract the API can see (negative sizes, C not divisible by NH,
//     Tq > T, seg_offsets not from 0 to n) must be refused with FL_ERR_INVALID_ARGUMENT and a message.
// Built with clang's -fsanitize=fuzzer (CMake option FUSELM_FUZZ); fuzz_driver.cpp runs the same
// function on seeded random inputs where libFuzzer is not available. A failed check aborts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuselm.h"

namespace {

struct Input {
  const uint8_t *p;
  size_t n;
  size_t i = 0;
  uint8_t u8() { return i < n ? p[i++] : 0; }
  int range(int lo, int hi) { return lo + u8() % (hi - lo + 1); }  // [lo, hi]
  float small() { return static_cast<int8_t>(u8()) / 16.0f; }  // k/16, |k| <= 128
  float unit() { return (static_cast<int>(u8()) - 128) / 64.0f; }
  uint32_t bits() { return u8() | (u8() << 8) | (u8() << 16) | (static_cast<uint32_t>(u8()) << 24); }
};

[[noreturn]] void fail(const char *what, long a = 0, long b = 0) {
  std::fprintf(stderr, "fuzz_ops: %s (%ld, %ld); last error: %s\n", what, a, b, fl_last_error());
  std::abort();
}

void ok(int status, const char *what) {
  if (status != FL_OK) fail(what, status);
}

void refused(int status, const char *what) {
  if (status != FL_ERR_INVALID_ARGUMENT || fl_last_error()[0] == '\0') fail(what, status);
}

struct Contexts {
  fl_context *ref = nullptr;
  std::vector<fl_context *> cpu;  // one per ISA level up to the best, 1 thread; then 3 threads
  Contexts() {
    ok(fl_context_create(FL_BACKEND_REFERENCE, 0, &ref), "reference context");
    int best = 0;
    ok(fl_cpu_best_isa(&best), "best isa");
    for (int threads : {1, 3}) {
      for (int isa = 0; isa <= best; isa++) {
        fl_context *c = nullptr;
        ok(fl_context_create(FL_BACKEND_CPU, 0, &c), "cpu context");
        ok(fl_context_set_isa(c, isa), "set isa");
        ok(fl_context_set_threads(c, threads), "set threads");
        cpu.push_back(c);
      }
    }
  }
  ~Contexts() {  // at exit, before LeakSanitizer looks
    for (fl_context *c : cpu) fl_context_destroy(c);
    fl_context_destroy(ref);
  }
};

Contexts &contexts() {
  static Contexts c;
  return c;
}

void same_bits(const float *a, const float *b, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    // == also takes -0 for +0: alpha * 0 keeps the sign in one kernel and not in another
    if (!(a[i] == b[i])) fail(what, static_cast<long>(i));
  }
}

void close(const float *a, const float *b, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++) {
    if (!(std::fabs(a[i] - b[i]) <= 1e-5f + 1e-4f * std::fabs(b[i]))) fail(what, static_cast<long>(i));
  }
}

uint16_t to_bf16(float f) {  // k/16 values are exact in bf16: truncation is the value
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}

// One GEMM of the four kinds: 0 fl_sgemm, 1 fl_sgemm_bias, 2 fl_sgemm_bf16w, 3 fl_gemm_bf16.
void gemm(Input &in, fl_context *cpu, int kind) {
  const int ta = in.u8() & 1, tb = in.u8() & 1;
  const int64_t M = in.range(0, 40), N = in.range(0, 40), K = in.range(0, 40);
  const int64_t rowsA = ta ? K : M, colsA = ta ? M : K, rowsB = tb ? N : K, colsB = tb ? K : N;
  const int64_t lda = colsA + in.range(0, 3), ldb = colsB + in.range(0, 3), ldc = N + in.range(0, 3);
  static const float alphas[] = {1.f, 0.5f, 0.f, -1.f}, betas[] = {0.f, 1.f, 0.5f, 0.f};
  const float alpha = kind == 1 ? 1.f : alphas[in.u8() % 4];
  const float beta = kind == 1 ? 0.f : betas[in.u8() % 4];
  const bool reads_ab = alpha != 0.f && K > 0;
  // exactly the extent the contract covers: the last row of each matrix ends at its last column
  auto extent = [](int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; };
  std::vector<float> A(extent(rowsA, colsA, lda)), B(extent(rowsB, colsB, ldb));
  for (auto &x : A) x = in.small();
  for (auto &x : B) x = in.small();
  std::vector<uint16_t> A16(A.size()), B16(B.size());
  for (size_t i = 0; i < A.size(); i++) A16[i] = to_bf16(A[i]);
  for (size_t i = 0; i < B.size(); i++) B16[i] = to_bf16(B[i]);
  std::vector<float> bias;
  if ((kind != 0) && (in.u8() & 1)) {
    bias.resize(N);
    for (auto &x : bias) x = in.small();
  }
  const size_t csize = extent(M, N, ldc);
  std::vector<float> C0(csize);
  for (auto &x : C0) x = beta == 0.f ? NAN : in.small();  // beta == 0: C is not read
  std::vector<float> Cr = C0, Cc = C0;
  // A and B may be null when they are not read (alpha == 0 or K == 0)
  const float *a = reads_ab ? A.data() : nullptr, *b = reads_ab ? B.data() : nullptr;
  const uint16_t *a16 = reads_ab ? A16.data() : nullptr, *b16 = reads_ab ? B16.data() : nullptr;
  const float *bp = bias.empty() ? nullptr : bias.data();
  if (std::getenv("FUSELM_FUZZ_VERBOSE")) {  // for replaying a finding
    int isa = -1, threads = -1;
    fl_context_isa(cpu, &isa);
    fl_context_threads(cpu, &threads);
    std::fprintf(stderr, "gemm kind %d ta %d tb %d M %ld N %ld K %ld lda %ld ldb %ld ldc %ld alpha %g beta %g bias %d isa %d threads %d\n",
                 kind, ta, tb, (long)M, (long)N, (long)K, (long)lda, (long)ldb, (long)ldc, alpha, beta,
                 !bias.empty(), isa, threads);
  }
  for (int pass = 0; pass < 2; pass++) {
    fl_context *ctx = pass == 0 ? contexts().ref : cpu;
    float *c = pass == 0 ? Cr.data() : Cc.data();
    switch (kind) {
      case 0: ok(fl_sgemm(ctx, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc), "fl_sgemm"); break;
      case 1: ok(fl_sgemm_bias(ctx, ta, tb, M, N, K, a, lda, b, ldb, bp, c, ldc), "fl_sgemm_bias"); break;
      case 2: ok(fl_sgemm_bf16w(ctx, ta, tb, M, N, K, alpha, a, lda, b16, ldb, beta, bp, c, ldc), "fl_sgemm_bf16w"); break;
      default: ok(fl_gemm_bf16(ctx, ta, tb, M, N, K, alpha, a16, lda, b16, ldb, beta, bp, c, ldc), "fl_gemm_bf16"); break;
    }
  }
  // compare the M x N results only: the padding columns of C are the caller's
  for (int64_t i = 0; i < M && N > 0; i++) {
    if (std::getenv("FUSELM_FUZZ_VERBOSE"))
      for (int64_t j = 0; j < N; j++) if (std::memcmp(&Cc[i * ldc + j], &Cr[i * ldc + j], 4))
        std::fprintf(stderr, "C[%ld][%ld]: cpu %.9g ref %.9g\n", (long)i, (long)j, Cc[i * ldc + j], Cr[i * ldc + j]);
    same_bits(Cc.data() + i * ldc, Cr.data() + i * ldc, N, "gemm differs from the reference");
  }
  if (in.u8() % 8 == 0) refused(fl_sgemm(cpu, ta, tb, -1 - M, N, K, 1.f, a, lda, b, ldb, 0.f, Cc.data(), ldc), "negative M");
}

void bf16(Input &in, fl_context *cpu) {
  const int64_t n = in.range(0, 200);
  std::vector<float> src(n);
  std::vector<uint16_t> h(n), hr(n), hc(n);
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = in.bits();
    std::memcpy(&src[i], &u, 4);
    h[i] = static_cast<uint16_t>(u);
  }
  ok(fl_f32_to_bf16(contexts().ref, hr.data(), src.data(), n), "f32_to_bf16 ref");
  ok(fl_f32_to_bf16(cpu, hc.data(), src.data(), n), "f32_to_bf16 cpu");
  for (int64_t i = 0; i < n; i++) {
    bool nan_r = (hr[i] & 0x7f80) == 0x7f80 && (hr[i] & 0x7f), nan_c = (hc[i] & 0x7f80) == 0x7f80 && (hc[i] & 0x7f);
    if (nan_r != nan_c || (!nan_r && hr[i] != hc[i])) fail("f32_to_bf16 differs from the reference", i);
  }
  std::vector<float> fr(n), fc(n);
  ok(fl_bf16_to_f32(contexts().ref, fr.data(), h.data(), n), "bf16_to_f32 ref");
  ok(fl_bf16_to_f32(cpu, fc.data(), h.data(), n), "bf16_to_f32 cpu");
  same_bits(fc.data(), fr.data(), n, "bf16_to_f32 differs from the reference");
  if (in.u8() % 8 == 0) refused(fl_bf16_to_f32(cpu, fc.data(), h.data(), -1 - n), "negative n");
}

void embedding(Input &in, fl_context *cpu) {
  const int64_t B = in.range(0, 4), T = in.range(0, 8), C = in.range(0, 24), V = in.range(1, 20);
  const bool pos = in.u8() & 1;
  const int64_t maxT = T + in.range(0, 2);
  std::vector<int32_t> ids(B * T);
  for (auto &x : ids) x = in.u8() % V;  // the contract: ids in [0, V) (checked in Java)
  std::vector<float> wte(V * C), wpe(pos ? maxT * C : 0), dout(B * T * C);
  for (auto &x : wte) x = in.small();
  for (auto &x : wpe) x = in.small();
  for (auto &x : dout) x = in.small();
  const float *wp = pos ? wpe.data() : nullptr;
  std::vector<float> outr(B * T * C), outc(B * T * C);
  ok(fl_embedding_forward(contexts().ref, outr.data(), ids.data(), wte.data(), wp, B, T, C), "embedding ref");
  ok(fl_embedding_forward(cpu, outc.data(), ids.data(), wte.data(), wp, B, T, C), "embedding cpu");
  same_bits(outc.data(), outr.data(), outr.size(), "embedding forward differs");
  std::vector<float> dwr(V * C), dwc(V * C), dpr(wpe.size()), dpc(wpe.size());
  ok(fl_embedding_backward(contexts().ref, dwr.data(), pos ? dpr.data() : nullptr, dout.data(), ids.data(), B, T, C), "embedding bwd ref");
  ok(fl_embedding_backward(cpu, dwc.data(), pos ? dpc.data() : nullptr, dout.data(), ids.data(), B, T, C), "embedding bwd cpu");
  same_bits(dwc.data(), dwr.data(), dwr.size(), "embedding backward (dwte) differs");
  same_bits(dpc.data(), dpr.data(), dpr.size(), "embedding backward (dwpe) differs");
  if (in.u8() % 8 == 0) refused(fl_embedding_forward(cpu, outc.data(), ids.data(), wte.data(), wp, B, -1, C), "negative T");
}

void rows(Input &in, fl_context *cpu) {
  const int64_t N = in.range(0, 6), V = in.range(0, 64);
  std::vector<float> x(N * V);
  for (auto &v : x) v = in.unit() * 4;
  std::vector<float> sr(N * V), sc(N * V);
  ok(fl_softmax_forward(contexts().ref, sr.data(), x.data(), N, V), "softmax ref");
  ok(fl_softmax_forward(cpu, sc.data(), x.data(), N, V), "softmax cpu");
  close(sc.data(), sr.data(), sr.size(), "softmax differs");
  if (V > 0) {
    std::vector<float> w(V), b(V), lr(N * V), lc(N * V), mr(N), mc(N), rr(N), rc(N);
    for (auto &v : w) v = in.unit();
    for (auto &v : b) v = in.unit();
    ok(fl_layernorm_forward(contexts().ref, lr.data(), mr.data(), rr.data(), x.data(), w.data(), b.data(), N, V, 1e-5f), "ln ref");
    ok(fl_layernorm_forward(cpu, lc.data(), mc.data(), rc.data(), x.data(), w.data(), b.data(), N, V, 1e-5f), "ln cpu");
    // (x - mean) cancels: one ulp of the mean, times rstd (up to 1/sqrt(eps) = 316 for a nearly
    // constant row), moves the output by far more than 1e-5, so the bound scales with both
    // (CI's finding: a row of 24 equal values, output differing by 1.5e-4 from the reference)
    for (int64_t r = 0; r < N; r++) {
      float amax = 0;
      for (int64_t j = 0; j < V; j++) amax = std::max(amax, std::fabs(x[r * V + j]));
      for (int64_t j = 0; j < V; j++) {
        const size_t i = static_cast<size_t>(r * V + j);
        const float tol = 1e-5f + 1e-4f * std::fabs(lr[i]) + 8 * 0x1p-23f * amax * rr[r] * std::fabs(w[j]);
        if (!(std::fabs(lc[i] - lr[i]) <= tol)) fail("layernorm differs", static_cast<long>(i));
      }
    }
    close(rc.data(), rr.data(), rr.size(), "layernorm rstd differs");
    std::vector<int32_t> t(N);
    for (auto &v : t) v = in.u8() % (V + 1) == static_cast<uint8_t>(V) ? -100 : in.u8() % V;
    float loss_r = 0, loss_c = 0;
    int64_t cnt_r = 0, cnt_c = 0;
    std::vector<float> lser(N), lsec(N), dr(N * V), dc(N * V);
    ok(fl_cross_entropy_forward(contexts().ref, &loss_r, &cnt_r, nullptr, lser.data(), x.data(), t.data(), N, V, -100), "xent ref");
    ok(fl_cross_entropy_forward(cpu, &loss_c, &cnt_c, nullptr, lsec.data(), x.data(), t.data(), N, V, -100), "xent cpu");
    if (cnt_r != cnt_c) fail("cross-entropy count differs", cnt_c, cnt_r);
    close(&loss_c, &loss_r, 1, "cross-entropy loss differs");
    ok(fl_cross_entropy_backward(contexts().ref, dr.data(), x.data(), lser.data(), t.data(), N, V, -100, 1.f, cnt_r), "xent bwd ref");
    ok(fl_cross_entropy_backward(cpu, dc.data(), x.data(), lser.data(), t.data(), N, V, -100, 1.f, cnt_r), "xent bwd cpu");
    close(dc.data(), dr.data(), dr.size(), "cross-entropy backward differs");
  }
  if (in.u8() % 8 == 0) refused(fl_softmax_forward(cpu, sc.data(), x.data(), -1 - N, V), "negative N");
}

void attention(Input &in, fl_context *cpu) {
  const int64_t B = in.range(1, 2), T = in.range(1, 9), NH = in.range(1, 4), C = NH * in.range(1, 6);
  if (in.u8() % 8 == 0) {  // C not a multiple of NH: refused, nothing read
    refused(fl_attention_forward(cpu, nullptr, nullptr, nullptr, nullptr, B, T, 2 * C + 1, 2, 1), "C % NH");
  }
  const int causal = in.u8() & 1;
  std::vector<float> qkv(B * T * 3 * C);
  for (auto &v : qkv) v = in.unit();
  std::vector<int32_t> mask;
  if (in.u8() & 1) {
    mask.resize(B * T);
    for (auto &m : mask) m = in.u8() & 1;
  }
  const int32_t *mk = mask.empty() ? nullptr : mask.data();
  std::vector<float> outr(B * T * C), outc(B * T * C), lr(B * NH * T), lc(B * NH * T);
  ok(fl_attention_forward(contexts().ref, outr.data(), lr.data(), qkv.data(), mk, B, T, C, NH, causal), "attention ref");
  ok(fl_attention_forward(cpu, outc.data(), lc.data(), qkv.data(), mk, B, T, C, NH, causal), "attention cpu");
  close(outc.data(), outr.data(), outr.size(), "attention differs");
  // the cached form: Tq last positions of T, cache of Tmax rows; Tq > T or T > Tmax refused
  const int64_t Tmax = T + in.range(0, 3), Tq = in.range(1, static_cast<int>(T));
  std::vector<float> cache(B * Tmax * 3 * C), cr(B * Tq * C), cc(B * Tq * C);
  for (int64_t b = 0; b < B; b++)
    std::memcpy(&cache[b * Tmax * 3 * C], &qkv[b * T * 3 * C], sizeof(float) * T * 3 * C);
  ok(fl_attention_forward_cached(contexts().ref, cr.data(), cache.data(), B, T, Tmax, Tq, C, NH), "cached ref");
  ok(fl_attention_forward_cached(cpu, cc.data(), cache.data(), B, T, Tmax, Tq, C, NH), "cached cpu");
  close(cc.data(), cr.data(), cr.size(), "cached attention differs");
  if (in.u8() % 4 == 0) {
    refused(fl_attention_forward_cached(cpu, cc.data(), cache.data(), B, T, Tmax, T + 1, C, NH), "Tq > T");
    refused(fl_attention_forward_cached(cpu, cc.data(), cache.data(), B, Tmax + 1, Tmax, Tq, C, NH), "T > Tmax");
  }
}

void adamw(Input &in, fl_context *cpu) {
  const int64_t n = in.range(0, 100), nseg = in.range(1, 5);
  std::vector<int64_t> off(nseg + 1);
  off[0] = 0;
  const bool sorted_offsets = in.u8() & 1;  // unsorted ones may also point past n: refused
  for (int64_t s = 1; s < nseg; s++) off[s] = in.u8() % (n + (sorted_offsets ? 1 : 4));
  off[nseg] = n;
  if (sorted_offsets) std::sort(off.begin(), off.end());
  std::vector<uint8_t> decay(nseg);
  for (auto &d : decay) d = in.u8() & 1;
  std::vector<float> p(n), g(n), m(n), v(n);
  for (auto &x : p) x = in.unit();
  for (auto &x : g) x = in.unit();
  std::vector<float> pr = p, mr = m, vr = v;
  const int64_t t = in.range(1, 5);
  int sr = fl_adamw_step(contexts().ref, pr.data(), g.data(), mr.data(), vr.data(), n, off.data(), decay.data(), nseg, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 1.f);
  int sc = fl_adamw_step(cpu, p.data(), g.data(), m.data(), v.data(), n, off.data(), decay.data(), nseg, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 1.f);
  bool monotonic = true;
  for (int64_t s = 0; s < nseg; s++) monotonic = monotonic && off[s] <= off[s + 1];
  if (!monotonic) {
    refused(sr, "adamw: decreasing seg_offsets (reference)");
    refused(sc, "adamw: decreasing seg_offsets (cpu)");
    return;
  }
  ok(sr, "adamw ref");
  ok(sc, "adamw cpu");
  close(p.data(), pr.data(), n, "adamw params differ");
  close(m.data(), mr.data(), n, "adamw m differs");
  close(v.data(), vr.data(), n, "adamw v differs");
  refused(fl_adamw_step(cpu, p.data(), g.data(), m.data(), v.data(), n, off.data(), decay.data(), nseg, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 0, 1.f), "adamw t = 0");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Input in{data, size};
  Contexts &cx = contexts();
  const int op = in.u8() % 9;
  fl_context *cpu = cx.cpu[in.u8() % cx.cpu.size()];
  switch (op) {
    case 0: case 1: case 2: case 3: gemm(in, cpu, op); break;
    case 4: bf16(in, cpu); break;
    case 5: embedding(in, cpu); break;
    case 6: rows(in, cpu); break;
    case 7: attention(in, cpu); break;
    default: adamw(in, cpu); break;
  }
  return 0;
}
