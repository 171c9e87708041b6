// A minimal test harness for the native kernels: TEST registers a function, CHECK fails it.
// Each test_*.cpp adds its own tests; main.cpp runs them all (optionally filtered by a substring).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuselm.h"

namespace fltest {

struct TestCase {
  const char *name;
  std::function<void()> fn;
};
std::vector<TestCase> &registry();

struct Register {
  Register(const char *name, std::function<void()> fn) { registry().push_back({name, fn}); }
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown by skip(): the runner reports the test as SKIP with the reason, never as PASS.
struct Skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void skip(const std::string &reason) { throw Skipped(reason); }

#define FL_CONCAT2(a, b) a##b
#define FL_CONCAT(a, b) FL_CONCAT2(a, b)
#define TEST(name)                                                           \
  static void name();                                                        \
  static ::fltest::Register FL_CONCAT(register_, name)(#name, name);         \
  static void name()

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::ostringstream os_;                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond;                      \
      throw ::fltest::Failure(os_.str());                                                   \
    }                                                                                       \
  } while (0)

// Fails with the native error message when a fuselm call does not return FL_OK.
#define CHECK_OK(call)                                                                      \
  do {                                                                                      \
    int st_ = (call);                                                                       \
    if (st_ != FL_OK) {                                                                     \
      std::ostringstream os_;                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": " #call " returned " << st_ << ": "        \
          << fl_last_error();                                                               \
      throw ::fltest::Failure(os_.str());                                                   \
    }                                                                                       \
  } while (0)

// Deterministic random data.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> random_ints(size_t n, uint32_t seed, int32_t lo, int32_t hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  std::vector<int32_t> v(n);
  for (auto &x : v) x = dist(rng);
  return v;
}

// Checks |got - want| <= atol + rtol * |want| elementwise; the message names the first bad index.
inline void check_close(const char *what, const float *got, const float *want, size_t n, float rtol,
                        float atol) {
  for (size_t i = 0; i < n; i++) {
    float g = got[i], w = want[i];
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w))) {
      std::ostringstream os;
      os << what << ": element " << i << " of " << n << " is " << g << ", expected " << w
         << " (rtol " << rtol << ", atol " << atol << ")";
      throw Failure(os.str());
    }
  }
}

inline void check_close(const char *what, const std::vector<float> &got,
                        const std::vector<float> &want, float rtol, float atol) {
  CHECK(got.size() == want.size());
  check_close(what, got.data(), want.data(), got.size(), rtol, atol);
}

// An owned context; destroyed at scope exit.
struct Context {
  fl_context *ctx = nullptr;
  explicit Context(int backend) { CHECK_OK(fl_context_create(backend, 0, &ctx)); }
  ~Context() { fl_context_destroy(ctx); }
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;
  operator fl_context *() const { return ctx; }
};

// Runs body(ctx, description) for every optimised configuration to test against the reference:
// the CPU backend at each ISA level this machine supports, with 1 and 3 threads.
inline void for_each_cpu_config(const std::function<void(fl_context *, const std::string &)> &body) {
  int best = 0;
  CHECK_OK(fl_cpu_best_isa(&best));
  for (int isa = FL_ISA_GENERIC; isa <= best; isa++) {
    for (int threads : {1, 3}) {
      Context ctx(FL_BACKEND_CPU);
      CHECK_OK(fl_context_set_isa(ctx, isa));
      CHECK_OK(fl_context_set_threads(ctx, threads));
      body(ctx, "cpu isa=" + std::to_string(isa) + " threads=" + std::to_string(threads));
    }
  }
}

}  // namespace fltest
