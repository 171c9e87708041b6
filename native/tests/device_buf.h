// Test helpers for code that runs on any backend through the public API: buffers on a context's
// device, tolerant comparison, concatenation of outputs (test_cuda.cpp, test_cases.cpp).
#pragma once

#include <cmath>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "testing.h"

namespace fltest {

// A buffer on a context's device (host memory for the reference backend), freed at scope exit.
struct Buf {
  fl_context *ctx;
  void *p = nullptr;
  size_t bytes;
  Buf(fl_context *c, size_t nbytes) : ctx(c), bytes(nbytes) { CHECK_OK(fl_malloc(c, static_cast<int64_t>(nbytes), &p)); }
  template <typename T>
  Buf(fl_context *c, const std::vector<T> &host) : Buf(c, host.size() * sizeof(T)) {
    CHECK_OK(fl_memcpy(c, p, host.data(), static_cast<int64_t>(bytes), 0));
  }
  ~Buf() { fl_free(ctx, p); }
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
  float *f() const { return static_cast<float *>(p); }
  int32_t *i() const { return static_cast<int32_t *>(p); }
  template <typename T = float>
  std::vector<T> get() const {
    std::vector<T> h(bytes / sizeof(T));
    CHECK_OK(fl_memcpy(ctx, h.data(), p, static_cast<int64_t>(h.size() * sizeof(T)), 1));
    return h;
  }
};

// check_close that also accepts equal infinities (lse of a row with no visible key is -inf).
inline void expect_close(const std::string &what, const std::vector<float> &got, const std::vector<float> &want,
                  float rtol, float atol) {
  CHECK(got.size() == want.size());
  for (size_t i = 0; i < got.size(); i++) {
    const float g = got[i], w = want[i];
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w))) {
      std::ostringstream os;
      os << what << ": element " << i << " of " << got.size() << " is " << g << ", expected " << w
         << " (rtol " << rtol << ", atol " << atol << ")";
      throw Failure(os.str());
    }
  }
}

inline std::vector<float> concat(std::initializer_list<std::vector<float>> parts) {
  std::vector<float> out;
  for (const auto &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}


inline std::string dims(std::initializer_list<int64_t> xs) {
  std::string s;
  for (int64_t x : xs) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

}  // namespace fltest
