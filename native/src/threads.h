#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fl {

class ThreadPool {
 public:
  explicit ThreadPool(int workers);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  // Runs fn over [0, n) in chunks of chunk_size with up to `helpers` pool threads plus the caller.
  void run(int64_t n, int64_t chunk_size, int helpers,
           const std::function<void(int64_t, int64_t)> &fn);
  int workers() const { return static_cast<int>(threads_.size()); }
  // Nested parallel_for inside a kernel's chunk runs serially.
  static bool in_worker() { return in_worker_; }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)> *fn = nullptr;
    std::atomic<int64_t> *next = nullptr;
    int64_t n = 0, chunk_size = 1, chunks = 0;
    int helpers_wanted = 0;
  };
  static void run_chunks(const Job &job);
  void worker_loop();

  std::vector<std::thread> threads_;
  std::mutex call_mu_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  Job job_;
  uint64_t generation_ = 0;
  int active_ = 0;
  // Spin-then-sleep (decode): generation_ and "helpers still running" as atomics, read without mu_
  std::atomic<uint64_t> published_{0};
  std::atomic<int> running_{0};
  int64_t spin_ns_ = 0;
  bool stop_ = false;
  static thread_local bool in_worker_;
};

}  // namespace fl
