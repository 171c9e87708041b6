// Timing driver for the fused attention kernels (fl_attention_forward / fl_attention_backward),
// GPT-2 small head layout: B = 4, NH = 12, hs = 64 (C = 768), T = 64 .. 1024, causal.
// Prints one JSON line per T: median milliseconds of the forward and of forward + backward, and the
// peak scratch memory the kernels allocate (measured, see below) next to the size of the T x T
// score matrices a non-fused implementation would store (B * NH * T * T * 4 bytes).
//
// Build (after building libfuselm into $BUILD, e.g. /tmp/nb):
//   g++ -O2 -std=c++17 -I native/include benchmarks/attention/attention_bench.cpp \
//       -L$BUILD -lfuselm -Wl,-rpath,$BUILD -o /tmp/attention_bench
// Run:  /tmp/attention_bench [--threads N] [--noncausal] [--min-ms MS]
//
// Scratch measurement: this executable interposes malloc/free/calloc/realloc (glibc's __libc_*
// underneath) and, only while one kernel call runs, tracks the bytes live on the heap; the peak of
// that is everything the kernel allocated for itself (its per-thread tiles), excluding the caller's
// inputs and outputs.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fuselm.h"

extern "C" {
void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
}

namespace {
std::atomic<bool> g_tracking{false};
std::atomic<long long> g_live{0}, g_peak{0};

void note_alloc(void *p) {
  if (p == nullptr || !g_tracking.load(std::memory_order_relaxed)) return;
  long long now = g_live.fetch_add(static_cast<long long>(malloc_usable_size(p))) +
                  static_cast<long long>(malloc_usable_size(p));
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
void note_free(void *p) {
  if (p == nullptr || !g_tracking.load(std::memory_order_relaxed)) return;
  g_live.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
}
}  // namespace

extern "C" {
void *malloc(size_t n) {
  void *p = __libc_malloc(n);
  note_alloc(p);
  return p;
}
void free(void *p) {
  note_free(p);
  __libc_free(p);
}
void *calloc(size_t n, size_t m) {
  void *p = __libc_calloc(n, m);
  note_alloc(p);
  return p;
}
void *realloc(void *p, size_t n) {
  note_free(p);
  void *q = __libc_realloc(p, n);
  note_alloc(q);
  return q;
}
}

namespace {

#define OK(call)                                                              \
  do {                                                                        \
    if ((call) != FL_OK) {                                                    \
      std::fprintf(stderr, "%s failed: %s\n", #call, fl_last_error());        \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Median of repeated runs; repeats until min_ms of total time and at least 5 runs.
template <class F>
double median_ms(F f, double min_ms) {
  f();  // warm-up
  std::vector<double> t;
  double total = 0;
  while (t.size() < 5 || (total < min_ms && t.size() < 200)) {
    double t0 = now_ms();
    f();
    double dt = now_ms() - t0;
    t.push_back(dt);
    total += dt;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class F>
long long peak_scratch(F f) {
  g_live = 0;
  g_peak = 0;
  g_tracking = true;
  f();
  g_tracking = false;
  return g_peak.load();
}

}  // namespace

int main(int argc, char **argv) {
  int threads = 0, causal = 1;
  double min_ms = 1000;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--noncausal")) causal = 0;
    else if (!std::strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--noncausal] [--min-ms MS]\n", argv[0]);
      return 2;
    }
  }
  const int64_t B = 4, NH = 12, hs = 64, C = NH * hs;
  fl_context *ctx = nullptr;
  OK(fl_context_create(FL_BACKEND_CPU, 0, &ctx));
  OK(fl_context_set_threads(ctx, threads));
  int isa = 0, nthreads = 0;
  OK(fl_context_isa(ctx, &isa));
  OK(fl_context_threads(ctx, &nthreads));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t T : {64, 128, 256, 512, 1024}) {
    std::vector<float> qkv(B * T * 3 * C), out(B * T * C), lse(B * NH * T), dout(B * T * C),
        dqkv(B * T * 3 * C, 0.f);
    for (auto &x : qkv) x = dist(rng);
    for (auto &x : dout) x = dist(rng);
    auto fwd = [&] {
      OK(fl_attention_forward(ctx, out.data(), lse.data(), qkv.data(), nullptr, B, T, C, NH, causal));
    };
    auto bwd = [&] {
      OK(fl_attention_backward(ctx, dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(),
                               nullptr, B, T, C, NH, causal));
    };
    const double fwd_ms = median_ms(fwd, min_ms);
    const double fwdbwd_ms = median_ms([&] { fwd(); bwd(); }, min_ms);
    const long long peak_fwd = peak_scratch(fwd), peak_bwd = peak_scratch(bwd);
    const long long peak = std::max(peak_fwd, peak_bwd);
    const long long scores = B * NH * T * T * 4;
    std::printf(
        "{\"op\":\"attention\",\"B\":%lld,\"NH\":%lld,\"hs\":%lld,\"T\":%lld,\"causal\":%d,"
        "\"threads\":%d,\"isa\":%d,\"fwd_ms\":%.3f,\"fwd_bwd_ms\":%.3f,"
        "\"scratch_peak_bytes_fwd\":%lld,\"scratch_peak_bytes_bwd\":%lld,"
        "\"scores_bytes_BxNHxTxTx4\":%lld,\"scratch_over_scores\":%.4f}\n",
        (long long)B, (long long)NH, (long long)hs, (long long)T, causal, nthreads, isa, fwd_ms,
        fwdbwd_ms, peak_fwd, peak_bwd, scores, static_cast<double>(peak) / scores);
    std::fflush(stdout);
  }
  fl_context_destroy(ctx);
  return 0;
}
