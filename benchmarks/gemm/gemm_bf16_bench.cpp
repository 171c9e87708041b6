// fl_gemm_bf16 (bf16 A and B) against fl_sgemm on the same values widened to float32, side by side in
// one run, on the GEMMs of GPT-2 124M training. For each shape the two alternate over ROUNDS rounds
// (gemm_bf16 first in odd rounds, sgemm first in even ones); each timing is the median of repeated
// calls; the line shows the median over rounds for each and their ratio (gemm_bf16 GFLOP/s over
// sgemm GFLOP/s: above 1 means bf16 is faster), and the best single call of each.
//
// Shapes, as a linear layer (inp (M x K) -> out (M x N), W (N x K)) uses them, for M = 256 and 1024
// rows (batch x sequence) and (K, N) in {(768, 2304) qkv, (768, 768) attention proj, (768, 3072) fc,
// (3072, 768) fc proj, (768, 50257) lm head}:
//   fwd  out = inp W^T     (M, N, K)  trans_b
//   bwdD dinp = dout W     (M, K, N)  no transposes (NN)
//   bwdW dW = dout^T inp   (N, K, M)  trans_a (TN)
//
// Build (against a CMake build of native/ in $BUILD, e.g. target/native-build):
//   c++ -O2 -std=c++17 -I native/include -o /tmp/gemm_bf16_bench benchmarks/gemm/gemm_bf16_bench.cpp \
//       -L$BUILD -lfuselm -Wl,-rpath,$BUILD
// Usage: gemm_bf16_bench [--threads T] [--rounds R] [--isa I] [--m 256,1024] [--quick]
//        gemm_bf16_bench --hash   prints a hash of fl_sgemm / fl_sgemm_bias / fl_sgemm_bf16w outputs
//                                 on fixed shapes (to compare two builds bit for bit)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuselm.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void check(int status, const char *what) {
  if (status != FL_OK) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, status, fl_last_error());
    std::exit(1);
  }
}

// Random bf16 values in (-1, 1) and the same values widened.
void random_bf16(int64_t n, unsigned seed, std::vector<uint16_t> *h, std::vector<float> *f) {
  h->resize(size_t(n));
  f->resize(size_t(n));
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    float x = float((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    uint32_t u;
    std::memcpy(&u, &x, 4);
    (*h)[size_t(i)] = uint16_t(u >> 16);
    u &= 0xffff0000u;
    std::memcpy(&(*f)[size_t(i)], &u, 4);
  }
}

struct Case {
  const char *use;
  int ta, tb;
  int64_t m, n, k;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of `reps` calls of f after one warm-up call.
template <typename F>
double time_median(F f, int reps, double *best) {
  f();
  std::vector<double> t;
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    f();
    t.push_back(now_s() - t0);
  }
  *best = std::min(*best, *std::min_element(t.begin(), t.end()));
  return median(t);
}

uint64_t fnv(uint64_t h, const std::vector<float> &v) {
  const unsigned char *p = reinterpret_cast<const unsigned char *>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Bit-identity aid: one hash over fl_sgemm, fl_sgemm_bias and fl_sgemm_bf16w outputs for every ISA
// level, 1 and 3 threads, all trans combinations, a few shapes (small-M, edge tiles, K blocks).
int hash_mode() {
  const int64_t shapes[][3] = {{3, 65, 129}, {63, 65, 129}, {250, 40, 300}, {256, 768, 768},
                               {130, 2304, 70}, {40, 1000, 64}};
  int best = 0;
  check(fl_cpu_best_isa(&best), "fl_cpu_best_isa");
  uint64_t h = 1469598103934665603ull;
  for (int isa = 0; isa <= std::min(best, int(FL_ISA_AVX512)); isa++)
    for (int threads : {1, 3})
      for (const auto &s : shapes)
        for (int ta = 0; ta < 2; ta++)
          for (int tb = 0; tb < 2; tb++) {
            const int64_t m = s[0], n = s[1], k = s[2];
            fl_context *ctx = nullptr;
            check(fl_context_create(FL_BACKEND_CPU, 0, &ctx), "fl_context_create");
            check(fl_context_set_isa(ctx, isa), "fl_context_set_isa");
            check(fl_context_set_threads(ctx, threads), "fl_context_set_threads");
            std::vector<uint16_t> a16, b16, c16;
            std::vector<float> a, b, c0, bias;
            random_bf16(m * k, 1, &a16, &a);
            random_bf16(k * n, 2, &b16, &b);
            random_bf16(m * n, 3, &c16, &c0);
            random_bf16(n, 4, &c16, &bias);
            const int64_t lda = ta ? m : k, ldb = tb ? k : n;
            std::vector<float> c = c0;
            check(fl_sgemm(ctx, ta, tb, m, n, k, 0.75f, a.data(), lda, b.data(), ldb, 0.5f,
                           c.data(), n), "fl_sgemm");
            h = fnv(h, c);
            check(fl_sgemm_bias(ctx, ta, tb, m, n, k, a.data(), lda, b.data(), ldb, bias.data(),
                                c.data(), n), "fl_sgemm_bias");
            h = fnv(h, c);
            c = c0;
            check(fl_sgemm_bf16w(ctx, ta, tb, m, n, k, 1.f, a.data(), lda, b16.data(), ldb, 0.f,
                                 bias.data(), c.data(), n), "fl_sgemm_bf16w");
            h = fnv(h, c);
            fl_context_destroy(ctx);
          }
  std::printf("%016llx\n", static_cast<unsigned long long>(h));
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 1, rounds = 3, isa = -1;
  bool quick = false;
  std::vector<int64_t> ms = {256, 1024};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (!std::strcmp(a, "--hash")) return hash_mode();
    if (!std::strcmp(a, "--threads")) threads = std::atoi(v), i++;
    else if (!std::strcmp(a, "--rounds")) rounds = std::atoi(v), i++;
    else if (!std::strcmp(a, "--isa")) isa = std::atoi(v), i++;
    else if (!std::strcmp(a, "--quick")) quick = true;
    else if (!std::strcmp(a, "--m")) {
      ms.clear();
      for (const char *p = v; *p;) {
        ms.push_back(std::atoll(p));
        const char *comma = std::strchr(p, ',');
        if (!comma) break;
        p = comma + 1;
      }
      i++;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads T] [--rounds R] [--isa I] [--m 256,1024] [--quick] | --hash\n",
                   argv[0]);
      return 2;
    }
  }
  fl_context *ctx = nullptr;
  check(fl_context_create(FL_BACKEND_CPU, 0, &ctx), "fl_context_create");
  check(fl_context_set_threads(ctx, threads), "fl_context_set_threads");
  if (isa >= 0) check(fl_context_set_isa(ctx, isa), "fl_context_set_isa");
  int cur_isa = 0;
  check(fl_context_isa(ctx, &cur_isa), "fl_context_isa");

  const int64_t kn[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50257}};
  std::vector<Case> cases;
  for (int64_t m : ms)
    for (const auto &p : kn) {
      const int64_t k = p[0], n = p[1];
      cases.push_back({"fwd ", 0, 1, m, n, k});
      cases.push_back({"bwdD", 0, 0, m, k, n});
      cases.push_back({"bwdW", 1, 0, n, k, m});
      if (quick) break;
    }
  std::printf("threads=%d isa=%d rounds=%d; GFLOP/s median over rounds (best call)\n", threads,
              cur_isa, rounds);
  std::printf("%-4s %2s %6s %6s %6s %9s %9s %7s %9s %9s\n", "use", "tr", "M", "N", "K",
              "bf16", "sgemm", "ratio", "bf16_max", "sg_max");
  for (const Case &cs : cases) {
    std::vector<uint16_t> a16, b16, c16;
    std::vector<float> a, b, c;
    random_bf16(cs.m * cs.k, 1, &a16, &a);
    random_bf16(cs.k * cs.n, 2, &b16, &b);
    c.assign(size_t(cs.m * cs.n), 0.f);
    const int64_t lda = cs.ta ? cs.m : cs.k, ldb = cs.tb ? cs.k : cs.n;
    const double flop = 2.0 * double(cs.m) * double(cs.n) * double(cs.k);
    // about 0.3 s of calls per timing
    const int reps = std::max(3, std::min(50, int(0.3 / (flop / (threads * 60e9)))));
    auto bf16 = [&] {
      check(fl_gemm_bf16(ctx, cs.ta, cs.tb, cs.m, cs.n, cs.k, 1.f, a16.data(), lda, b16.data(),
                         ldb, 0.f, nullptr, c.data(), cs.n), "fl_gemm_bf16");
    };
    auto sg = [&] {
      check(fl_sgemm(ctx, cs.ta, cs.tb, cs.m, cs.n, cs.k, 1.f, a.data(), lda, b.data(), ldb, 0.f,
                     c.data(), cs.n), "fl_sgemm");
    };
    std::vector<double> tb16, tsg;
    double best_b = 1e30, best_s = 1e30;
    for (int r = 0; r < rounds; r++) {
      if (r % 2 == 0) {
        tb16.push_back(time_median(bf16, reps, &best_b));
        tsg.push_back(time_median(sg, reps, &best_s));
      } else {
        tsg.push_back(time_median(sg, reps, &best_s));
        tb16.push_back(time_median(bf16, reps, &best_b));
      }
    }
    const double gb = flop / median(tb16) / 1e9, gs = flop / median(tsg) / 1e9;
    std::printf("%-4s %s%s %6lld %6lld %6lld %9.1f %9.1f %7.3f %9.1f %9.1f\n", cs.use,
                cs.ta ? "T" : "N", cs.tb ? "T" : "N", (long long)cs.m, (long long)cs.n,
                (long long)cs.k, gb, gs, gb / gs, flop / best_b / 1e9, flop / best_s / 1e9);
    std::fflush(stdout);
  }
  fl_context_destroy(ctx);
  return 0;
}
