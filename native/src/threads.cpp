// A small persistent thread pool. Kernels call fl::parallel_for; workers sleep between calls.
#include "internal.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#if defined(__linux__)
#include <sched.h>
#endif
#include <mutex>
#include <thread>
#include <vector>

#include "threads.h"

namespace fl {

namespace {

// Workers and the caller spin this long for the next job / the helpers' end before sleeping on the
// condition variable: a decode step issues about a hundred small parallel regions a few
// microseconds apart, and a futex wake-up of a sleeping thread costs about as much as one of them.
// FUSELM_SPIN_US=<n> sets it (0: sleep at once, as before); a pool with more threads than the
// machine has cores never spins.
int64_t spin_ns_from_env() {
  const char *e = std::getenv("FUSELM_SPIN_US");
  if (e == nullptr || e[0] == 0) return 100 * 1000;
  const long long us = std::atoll(e);
  return us < 0 ? 0 : us * 1000;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins while pred() holds, for at most ns; true if pred() stopped holding.
template <typename Pred>
bool spin_while(int64_t ns, Pred pred) {
  if (ns <= 0) return !pred();
  const auto end = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  for (int i = 0;; i++) {
    if (!pred()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= end) return !pred();
  }
}

// Cores this process may use: the affinity mask, capped by a cgroup v2 CPU quota (a container
// limited to 2 CPUs on a 64-core host must not spin as if it had 64). 0 when unknown.
unsigned usable_cores() {
  unsigned cores = 0;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = unsigned(CPU_COUNT(&set));
  if (FILE *f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {
    long long quota = 0, period = 0;
    if (std::fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
      const unsigned limit = unsigned((quota + period - 1) / period);
      if (cores == 0 || limit < cores) cores = limit;
    }
    std::fclose(f);  // "max 100000" (no quota) fails the first conversion and keeps the mask
  }
#endif
  if (cores == 0) cores = std::thread::hardware_concurrency();
  return cores;
}

}  // namespace

ThreadPool::ThreadPool(int workers) : spin_ns_(spin_ns_from_env()) {
  // more threads than cores: a spinning thread would hold a core another one needs
  const unsigned cores = usable_cores();
  if (cores != 0 && unsigned(workers) + 1 > cores) spin_ns_ = 0;
  for (int i = 0; i < workers; i++) threads_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto &t : threads_) t.join();
}

// Claims chunks of the current job until none are left.
void ThreadPool::run_chunks(const Job &job) {
  for (;;) {
    int64_t c = job.next->fetch_add(1);
    if (c >= job.chunks) return;
    int64_t begin = c * job.chunk_size;
    int64_t end = begin + job.chunk_size < job.n ? begin + job.chunk_size : job.n;
    (*job.fn)(begin, end);
  }
}

void ThreadPool::worker_loop() {
  in_worker_ = true;
  uint64_t seen = 0;
  for (;;) {
    Job job;
    spin_while(spin_ns_, [&] { return published_.load(std::memory_order_acquire) == seen; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      if (job.helpers_wanted <= 0) continue;  // this call needs fewer threads than the pool has
      job_.helpers_wanted--;
      active_++;
      running_.fetch_add(1, std::memory_order_relaxed);
    }
    run_chunks(job);
    running_.fetch_sub(1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_--;
    }
    done_.notify_all();
  }
}

void ThreadPool::run(int64_t n, int64_t chunk_size, int helpers,
                     const std::function<void(int64_t, int64_t)> &fn) {
  std::lock_guard<std::mutex> call_lock(call_mu_);  // one parallel region at a time per pool
  std::atomic<int64_t> next{0};
  Job job{&fn, &next, n, chunk_size, (n + chunk_size - 1) / chunk_size, helpers};
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    generation_++;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  in_worker_ = true;
  run_chunks(job);
  in_worker_ = false;
  spin_while(spin_ns_, [&] { return running_.load(std::memory_order_acquire) != 0; });
  std::unique_lock<std::mutex> lock(mu_);
  job_.helpers_wanted = 0;  // late wakers must not join a finished job
  done_.wait(lock, [&] { return active_ == 0; });
}

void parallel_for(const CpuContext &ctx, int64_t n, int64_t grain,
                  const std::function<void(int64_t, int64_t)> &fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t max_chunks = (n + grain - 1) / grain;
  int threads = ctx.threads;
  if (threads > max_chunks) threads = static_cast<int>(max_chunks);
  if (threads <= 1 || ctx.pool == nullptr || ThreadPool::in_worker()) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balances uneven work without much scheduling overhead.
  int64_t chunks = threads * 4 < max_chunks ? threads * 4 : max_chunks;
  int64_t chunk_size = (n + chunks - 1) / chunks;
  ctx.pool->run(n, chunk_size, threads - 1, fn);
}

thread_local bool ThreadPool::in_worker_ = false;

}  // namespace fl
