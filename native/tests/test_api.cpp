// The API layer itself: contexts, memory, error reporting, thread and ISA settings.
#include <cstring>
#include <string>

#include "testing.h"

TEST(api_context_rejects_bad_arguments) {
  fl_context *ctx = nullptr;
  CHECK(fl_context_create(42, 0, &ctx) == FL_ERR_UNSUPPORTED);
  CHECK(ctx == nullptr);
  CHECK(std::string(fl_last_error()).find("backend 42") != std::string::npos);
  CHECK(fl_sgemm(nullptr, 0, 0, 1, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1) ==
        FL_ERR_INVALID_ARGUMENT);
  CHECK(std::string(fl_last_error()).find("null context") != std::string::npos);
  fltest::Context c(FL_BACKEND_CPU);
  CHECK(fl_sgemm(c, 0, 0, -1, 1, 1, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1) ==
        FL_ERR_INVALID_ARGUMENT);
  CHECK(std::string(fl_last_error()).find("M = -1") != std::string::npos);
  CHECK(fl_context_set_isa(c, 99) == FL_ERR_UNSUPPORTED);
}

TEST(api_threads_and_memory) {
  fltest::Context c(FL_BACKEND_CPU);
  int threads = 0;
  CHECK_OK(fl_context_set_threads(c, 5));
  CHECK_OK(fl_context_threads(c, &threads));
  CHECK(threads == 5);
  CHECK_OK(fl_context_set_threads(c, 0));
  CHECK_OK(fl_context_threads(c, &threads));
  CHECK(threads >= 1);
  void *p = nullptr;
  CHECK_OK(fl_malloc(c, 1000, &p));
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
  CHECK(static_cast<unsigned char *>(p)[999] == 0);
  std::memset(p, 7, 1000);
  CHECK_OK(fl_memset_zero(c, p, 1000));
  CHECK(static_cast<unsigned char *>(p)[500] == 0);
  CHECK_OK(fl_free(c, p));
  CHECK(fl_malloc(c, -5, &p) == FL_ERR_INVALID_ARGUMENT);
}

// Fuzzing finding (native/fuzz): fl_adamw_step checked only the first and last segment offset;
// decreasing ones in between were accepted, and the CPU kernel's binary search over them could
// index outside seg_offsets and seg_decay. Both backends now refuse them.
TEST(api_adamw_refuses_decreasing_segment_offsets) {
  for (int backend : {FL_BACKEND_REFERENCE, FL_BACKEND_CPU}) {
    fl_context *c = nullptr;
    CHECK_OK(fl_context_create(backend, 0, &c));
    std::vector<float> p(8, 1.f), g(8, 0.5f), m(8), v(8);
    const int64_t bad[] = {0, 6, 2, 8}, past_n[] = {0, 11, 8}, good[] = {0, 2, 2, 8};
    const uint8_t decay[] = {1, 0, 1};
    CHECK(fl_adamw_step(c, p.data(), g.data(), m.data(), v.data(), 8, bad, decay, 3, 1e-3f, 0.9f, 0.999f,
                        1e-8f, 0.1f, 1, 1.f) == FL_ERR_INVALID_ARGUMENT);
    CHECK(std::string(fl_last_error()).find("must not decrease") != std::string::npos);
    CHECK(fl_adamw_step(c, p.data(), g.data(), m.data(), v.data(), 8, past_n, decay, 2, 1e-3f, 0.9f, 0.999f,
                        1e-8f, 0.1f, 1, 1.f) == FL_ERR_INVALID_ARGUMENT);
    CHECK(p[0] == 1.f);  // refused before any update
    CHECK_OK(fl_adamw_step(c, p.data(), g.data(), m.data(), v.data(), 8, good, decay, 3, 1e-3f, 0.9f, 0.999f,
                           1e-8f, 0.1f, 1, 1.f));
    CHECK(p[0] != 1.f);
    CHECK_OK(fl_context_destroy(c));
  }
}
