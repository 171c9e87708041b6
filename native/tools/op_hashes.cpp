// fuselm_op_hashes: runs every op of fuselm.h on fixed inputs through the public C API, on the
// REFERENCE backend and on the CPU backend at every ISA level this CPU has (generic, AVX2, AVX-512,
// AVX512_BF16) with 1 and 2 threads, and prints one FNV-1a 64 digest of each op's outputs per line:
//   <backend> <isa> <threads> <op> <digest>
// A refactor of the native layer that must not change numerics keeps these lines identical
// (benchmarks/replay/native_hash.sh compares them with benchmarks/replay/native_hashes.txt).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuselm.h"

namespace {

void ok(int st, const char *what) {
  if (st != FL_OK) {
    std::fprintf(stderr, "%s failed: %s\n", what, fl_last_error());
    std::exit(1);
  }
}

struct Hash {
  uint64_t h = 1469598103934665603ull;
  template <typename T>
  void add(const std::vector<T> &v) { add(v.data(), v.size() * sizeof(T)); }
  void add(const void *p, size_t n) {
    const unsigned char *b = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  }
};

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(s >> 33);
  }
  float uni() { return static_cast<float>(next() & 0xffffff) / 8388608.0f - 1.0f; }  // [-1, 1)
};

std::vector<float> randf(size_t n, uint64_t seed, float scale = 1.f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto &x : v) x = r.uni() * scale;
  return v;
}

std::vector<uint16_t> randbf16(size_t n, uint64_t seed) {
  std::vector<float> f = randf(n, seed);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &f[i], 4);
    v[i] = static_cast<uint16_t>(u >> 16);
  }
  return v;
}

std::vector<int32_t> randi(size_t n, uint64_t seed, int32_t mod) {
  Rng r(seed);
  std::vector<int32_t> v(n);
  for (auto &x : v) x = static_cast<int32_t>(r.next() % static_cast<uint32_t>(mod));
  return v;
}

void emit(const char *backend, int isa, int threads, const char *op, const Hash &h) {
  std::printf("%s %d %d %s %016llx\n", backend, isa, threads, op,
              static_cast<unsigned long long>(h.h));
}

void run_all(fl_context *ctx, const char *bk, int isa, int th) {
#define EMIT(op) emit(bk, isa, th, op, h)
  // GEMM: one small awkward shape and one past the packing block sizes, every transpose
  {
    const int64_t shapes[2][3] = {{7, 13, 5}, {97, 131, 300}};
    for (auto &s : shapes) {
      const int64_t M = s[0], N = s[1], K = s[2];
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
          auto A = randf(M * K, 1), B = randf(K * N, 2), bias = randf(N, 3);
          auto C = randf(M * N, 4);
          int64_t lda = ta ? M : K, ldb = tb ? K : N;
          Hash h;
          ok(fl_sgemm(ctx, ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, 0.5f, C.data(), N), "sgemm");
          h.add(C);
          std::vector<float> C2(M * N);
          ok(fl_sgemm_bias(ctx, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, bias.data(), C2.data(), N), "sgemm_bias");
          h.add(C2);
          auto Bh = randbf16(K * N, 5), Ah = randbf16(M * K, 6);
          std::vector<float> C3 = randf(M * N, 7);
          ok(fl_sgemm_bf16w(ctx, ta, tb, M, N, K, 1.25f, A.data(), lda, Bh.data(), ldb, 0.5f, bias.data(), C3.data(), N), "sgemm_bf16w");
          h.add(C3);
          std::vector<float> C4 = randf(M * N, 8);
          ok(fl_gemm_bf16(ctx, ta, tb, M, N, K, 0.5f, Ah.data(), lda, Bh.data(), ldb, 1.0f, bias.data(), C4.data(), N), "gemm_bf16");
          h.add(C4);
          std::vector<float> C5(M * N);
          ok(fl_gemm_bf16(ctx, ta, tb, M, N, K, 1.0f, Ah.data(), lda, Bh.data(), ldb, 0.0f, nullptr, C5.data(), N), "gemm_bf16");
          h.add(C5);
          std::string name = "gemm_family_" + std::to_string(M) + "_t" + std::to_string(ta) + std::to_string(tb);
          emit(bk, isa, th, name.c_str(), h);
        }
    }
    // decode shape (M = 1) for sgemm_bf16w / sgemm
    {
      const int64_t M = 1, N = 200, K = 96;
      auto A = randf(K, 9), B = randf(K * N, 10), bias = randf(N, 11);
      auto Bh = randbf16(K * N, 12);
      Hash h;
      std::vector<float> C(N);
      ok(fl_sgemm_bias(ctx, 0, 1, M, N, K, A.data(), K, B.data(), K, bias.data(), C.data(), N), "sgemm_bias");
      h.add(C);
      ok(fl_sgemm_bf16w(ctx, 0, 1, M, N, K, 1.f, A.data(), K, Bh.data(), K, 0.f, bias.data(), C.data(), N), "sgemm_bf16w");
      h.add(C);
      EMIT("gemm_decode");
    }
    {
      auto dout = randf(37 * 45, 13);
      std::vector<float> db = randf(45, 14);
      ok(fl_bias_backward(ctx, db.data(), dout.data(), 37, 45), "bias_backward");
      Hash h; h.add(db); EMIT("bias_backward");
    }
  }
  // layer norm
  {
    const int64_t N = 19, C = 77;
    auto inp = randf(N * C, 20), w = randf(C, 21), b = randf(C, 22), dout = randf(N * C, 23);
    std::vector<float> out(N * C), mean(N), rstd(N);
    ok(fl_layernorm_forward(ctx, out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5f), "ln fwd");
    Hash h; h.add(out); h.add(mean); h.add(rstd); EMIT("layernorm_forward");
    auto dinp = randf(N * C, 24), dw = randf(C, 25), dbb = randf(C, 26);
    ok(fl_layernorm_backward(ctx, dinp.data(), dw.data(), dbb.data(), dout.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C), "ln bwd");
    Hash h2; h2.add(dinp); h2.add(dw); h2.add(dbb); emit(bk, isa, th, "layernorm_backward", h2);
    auto a = randf(N * C, 27);
    std::vector<float> res(N * C), out2(N * C), m2(N), r2(N);
    ok(fl_residual_layernorm_forward(ctx, res.data(), out2.data(), m2.data(), r2.data(), a.data(), inp.data(), w.data(), b.data(), N, C, 1e-5f), "rln");
    Hash h3; h3.add(res); h3.add(out2); h3.add(m2); h3.add(r2); emit(bk, isa, th, "residual_layernorm_forward", h3);
  }
  // attention
  {
    const int64_t B = 2, T = 37, C = 48, NH = 3;
    auto qkv = randf(B * T * 3 * C, 30), dout = randf(B * T * C, 31);
    std::vector<int32_t> mask(B * T, 1);
    for (int64_t t = 30; t < T; t++) mask[1 * T + t] = 0;
    for (int causal = 0; causal < 2; causal++)
      for (int masked = 0; masked < 2; masked++)
        for (int drop = 0; drop < 2; drop++) {
          const int32_t *km = masked ? mask.data() : nullptr;
          std::vector<float> out(B * T * C), lse(B * NH * T);
          auto dqkv = randf(B * T * 3 * C, 32);
          if (drop) {
            ok(fl_attention_forward_dropout(ctx, out.data(), lse.data(), qkv.data(), km, B, T, C, NH, causal, 0.25f, 1234), "attn fwd d");
            ok(fl_attention_backward_dropout(ctx, dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), km, B, T, C, NH, causal, 0.25f, 1234), "attn bwd d");
          } else {
            ok(fl_attention_forward(ctx, out.data(), lse.data(), qkv.data(), km, B, T, C, NH, causal), "attn fwd");
            ok(fl_attention_backward(ctx, dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), km, B, T, C, NH, causal), "attn bwd");
          }
          Hash h; h.add(out); h.add(lse); h.add(dqkv);
          std::string name = std::string("attention_c") + std::to_string(causal) + "_m" + std::to_string(masked) + "_d" + std::to_string(drop);
          emit(bk, isa, th, name.c_str(), h);
        }
    {
      const int64_t Tmax = 50, Tc = 41, Tq = 3;
      auto cache = randf(B * Tmax * 3 * C, 33);
      std::vector<float> out(B * Tq * C);
      ok(fl_attention_forward_cached(ctx, out.data(), cache.data(), B, Tc, Tmax, Tq, C, NH), "attn cached");
      Hash h; h.add(out);
      std::vector<float> out1(B * C);
      ok(fl_attention_forward_cached(ctx, out1.data(), cache.data(), B, Tc, Tmax, 1, C, NH), "attn cached 1");
      h.add(out1);
      EMIT("attention_forward_cached");
    }
    if (std::strcmp(bk, "cuda") != 0) {
      std::vector<int32_t> cu = {0, 5, 5, 40, 41};
      auto q = randf(41 * 3 * C, 34);
      std::vector<float> out(41 * C);
      ok(fl_attention_forward_varlen(ctx, out.data(), q.data(), cu.data(), 4, C, NH), "varlen");
      Hash h; h.add(out); EMIT("attention_forward_varlen");
    }
  }
  // pointwise
  {
    const int64_t n = 1003;
    auto x = randf(n, 40, 4.f), d = randf(n, 41);
    std::vector<float> o(n);
    Hash h;
    ok(fl_gelu_forward(ctx, o.data(), x.data(), n), "gelu"); h.add(o);
    auto di = randf(n, 42);
    ok(fl_gelu_backward(ctx, di.data(), x.data(), d.data(), n), "gelu b"); h.add(di);
    EMIT("gelu");
    Hash h2;
    ok(fl_gelu_erf_forward(ctx, o.data(), x.data(), n), "gelu erf"); h2.add(o);
    di = randf(n, 42);
    ok(fl_gelu_erf_backward(ctx, di.data(), x.data(), d.data(), n), "gelu erf b"); h2.add(di);
    emit(bk, isa, th, "gelu_erf", h2);
    Hash h3;
    ok(fl_add(ctx, o.data(), x.data(), d.data(), n), "add"); h3.add(o);
    ok(fl_scale(ctx, o.data(), 0.37f, n), "scale"); h3.add(o);
    emit(bk, isa, th, "add_scale", h3);
  }
  // softmax and cross-entropy
  {
    const int64_t N = 13, V = 517;
    auto x = randf(N * V, 50, 6.f), d = randf(N * V, 51);
    std::vector<float> o(N * V);
    ok(fl_softmax_forward(ctx, o.data(), x.data(), N, V), "softmax");
    auto di = randf(N * V, 52);
    ok(fl_softmax_backward(ctx, di.data(), o.data(), d.data(), N, V), "softmax b");
    Hash h; h.add(o); h.add(di); EMIT("softmax");
    auto tg = randi(N, 53, V);
    tg[4] = -100;
    float mean = 0; int64_t count = 0;
    std::vector<float> losses(N), lse(N);
    ok(fl_cross_entropy_forward(ctx, &mean, &count, losses.data(), lse.data(), x.data(), tg.data(), N, V, -100), "ce");
    std::vector<float> dl(N * V);
    ok(fl_cross_entropy_backward(ctx, dl.data(), x.data(), lse.data(), tg.data(), N, V, -100, 1.5f, count), "ce b");
    Hash h2; h2.add(&mean, 4); h2.add(&count, 8); h2.add(losses); h2.add(lse); h2.add(dl);
    emit(bk, isa, th, "cross_entropy", h2);
  }
  // embeddings
  {
    const int64_t B = 3, T = 11, C = 40, V = 29;
    auto ids = randi(B * T, 60, V);
    auto wte = randf(V * C, 61), wpe = randf(T * C, 62), dout = randf(B * T * C, 63);
    std::vector<float> out(B * T * C);
    ok(fl_embedding_forward(ctx, out.data(), ids.data(), wte.data(), wpe.data(), B, T, C), "emb");
    auto dwte = randf(V * C, 64), dwpe = randf(T * C, 65);
    ok(fl_embedding_backward(ctx, dwte.data(), dwpe.data(), dout.data(), ids.data(), B, T, C), "emb b");
    Hash h; h.add(out); h.add(dwte); h.add(dwpe); EMIT("embedding");
  }
  // optimizer
  {
    const int64_t n = 2051;
    auto p = randf(n, 70), g = randf(n, 71), m = randf(n, 72, 0.1f), v = randf(n, 73, 0.1f);
    for (auto &x : v) x = x * x;
    float norm = 0;
    ok(fl_grad_norm(ctx, &norm, g.data(), n), "grad_norm");
    std::vector<int64_t> seg = {0, 100, 1500, n};
    std::vector<uint8_t> dec = {1, 0, 1};
    ok(fl_adamw_step(ctx, p.data(), g.data(), m.data(), v.data(), n, seg.data(), dec.data(), 3, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 0.8f), "adamw");
    Hash h; h.add(&norm, 4); h.add(p); h.add(m); h.add(v); EMIT("grad_norm_adamw");
  }
  // bf16 conversions
  {
    const int64_t n = 1031;
    auto x = randf(n, 80, 100.f);
    std::vector<uint16_t> b(n);
    std::vector<float> back(n);
    ok(fl_f32_to_bf16(ctx, b.data(), x.data(), n), "f32_to_bf16");
    ok(fl_bf16_to_f32(ctx, back.data(), b.data(), n), "bf16_to_f32");
    Hash h; h.add(b); h.add(back); EMIT("bf16_convert");
  }
  // int8 weights
  if (std::strcmp(bk, "cuda") != 0) {
    const int64_t K = 96, N = 37;
    for (int kn = 0; kn < 2; kn++) {
      auto W = randf(K * N, 90 + kn);
      std::vector<uint8_t> blocks(N * (K / 32) * FL_Q8_0_BLOCK_BYTES);
      ok(fl_q8_0_quantize(ctx, blocks.data(), W.data(), K, N, kn), "q8 quantize");
      int64_t pb = 0;
      ok(fl_q8_0_packed_bytes(K, N, &pb), "q8 bytes");
      std::vector<uint8_t> packed(pb);
      ok(fl_q8_0_repack(ctx, packed.data(), blocks.data(), K, N), "q8 repack");
      const int64_t M = 3;
      auto X = randf(M * K, 92), bias = randf(N, 93);
      std::vector<float> Y(M * N);
      ok(fl_gemv_q8_0(ctx, M, N, K, X.data(), K, packed.data(), bias.data(), Y.data(), N), "gemv q8");
      Hash h; h.add(blocks); h.add(packed); h.add(Y);
      emit(bk, isa, th, kn ? "q8_0_kn" : "q8_0_nk", h);
    }
  }
#undef EMIT
}

}  // namespace

int main() {
  fl_context *ctx = nullptr;
  ok(fl_context_create(FL_BACKEND_REFERENCE, 0, &ctx), "create reference");
  run_all(ctx, "reference", 0, 1);
  fl_context_destroy(ctx);
  int best = 0;
  ok(fl_cpu_best_isa(&best), "best isa");
  ok(fl_context_create(FL_BACKEND_CPU, 0, &ctx), "create cpu");
  for (int isa = FL_ISA_GENERIC; isa <= best; isa++)
    for (int th = 1; th <= 2; th++) {
      ok(fl_context_set_isa(ctx, isa), "set isa");
      ok(fl_context_set_threads(ctx, th), "set threads");
      run_all(ctx, "cpu", isa, th);
    }
  fl_context_destroy(ctx);
  return 0;
}
