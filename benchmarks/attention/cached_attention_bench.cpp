// Timing driver for decode-time attention over a KV cache (fl_attention_forward_cached), GPT-2
// small's layout (C = 768, NH = 12, hs = 64), one query (batch 1, Tq = 1) over T cached positions,
// one layer's call. Alternates, per round, the CPU backend at AVX2 (the plain body, the bits the
// replay records) and at the best ISA of this CPU (AVX-512: attention_cached_avx512.cpp), and prints
// one JSON line per T with the best-of-rounds thread CPU time per call of each (us) and their ratio.
// The cache is larger than the last-level cache when --cold is given (a fresh slot per call, as in
// decoding, where the weights stream through the caches between two layers' attention).
//
// Build (after building libfuselm into $BUILD, e.g. target/native-build):
//   g++ -O2 -std=c++17 -I native/include benchmarks/attention/cached_attention_bench.cpp \
//       -L$BUILD -lfuselm -Wl,-rpath,$BUILD -o /tmp/cached_attention_bench
// Run:  /tmp/cached_attention_bench [--threads N] [--cold]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "fuselm.h"

namespace {
double thread_cpu_ns() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
double wall_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
void ok(int st) {
  if (st != FL_OK) {
    std::fprintf(stderr, "fuselm: %s\n", fl_last_error());
    std::exit(1);
  }
}
}  // namespace

int main(int argc, char **argv) {
  int threads = 1;
  bool cold = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--cold")) cold = true;
    else { std::fprintf(stderr, "usage: %s [--threads N] [--cold]\n", argv[0]); return 2; }
  }
  const int64_t C = 768, NH = 12, Tmax = 1024;
  const int slots = cold ? 24 : 1;  // 24 slots x 9 MiB: past any L3 here
  std::vector<float> cache(static_cast<size_t>(slots) * Tmax * 3 * C), out(C);
  for (size_t i = 0; i < cache.size(); i++) cache[i] = float((i * 2654435761u) % 1000) / 1000.f - 0.5f;
  int best = 0;
  ok(fl_cpu_best_isa(&best));
  fl_context *ctx[2];
  const int isas[2] = {FL_ISA_AVX2, best};
  for (int v = 0; v < 2; v++) {
    ok(fl_context_create(FL_BACKEND_CPU, 0, &ctx[v]));
    ok(fl_context_set_isa(ctx[v], isas[v]));
    ok(fl_context_set_threads(ctx[v], threads));
  }
  for (int64_t T : {17, 40, 128, 512, 1024}) {
    double cpu[2] = {1e30, 1e30}, wall[2] = {1e30, 1e30};
    const int reps = int(20000 / T) + 20;
    for (int round = 0; round < 5; round++)
      for (int v = 0; v < 2; v++) {
        const double c0 = thread_cpu_ns(), w0 = wall_ns();
        for (int r = 0; r < reps; r++)
          ok(fl_attention_forward_cached(ctx[v], out.data(), cache.data() + (r % slots) * Tmax * 3 * C,
                                         1, T, Tmax, 1, C, NH));
        const double c = (thread_cpu_ns() - c0) / reps / 1e3, w = (wall_ns() - w0) / reps / 1e3;
        if (c < cpu[v]) cpu[v] = c;
        if (w < wall[v]) wall[v] = w;
      }
    std::printf("{\"T\":%lld,\"threads\":%d,\"cold\":%s,\"avx2_cpu_us\":%.2f,\"best_isa\":%d,"
                "\"best_cpu_us\":%.2f,\"avx2_wall_us\":%.2f,\"best_wall_us\":%.2f,\"cpu_ratio\":%.2f}\n",
                (long long)T, threads, cold ? "true" : "false", cpu[0], best, cpu[1], wall[0],
                wall[1], cpu[0] / cpu[1]);
  }
  for (auto *c : ctx) fl_context_destroy(c);
  return 0;
}
