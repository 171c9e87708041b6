// A small persistent thread pool. Kernels call fl::parallel_for; workers sleep between calls.
#include "internal.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "threads.h"

namespace fl {

ThreadPool::ThreadPool(int workers) {
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
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      if (job.helpers_wanted <= 0) continue;  // this call needs fewer threads than the pool has
      job_.helpers_wanted--;
      active_++;
    }
    run_chunks(job);
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
  }
  wake_.notify_all();
  in_worker_ = true;
  run_chunks(job);
  in_worker_ = false;
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
