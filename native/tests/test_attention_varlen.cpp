// Tests of fl_attention_forward_varlen (packed variable-length sequences, BERT inference): every CPU
// configuration against the reference (tolerance as test_attention.cpp: 2e-5 relative + 2e-5
// absolute), the reference against the padded reference, and the CPU result bitwise against
// fl_attention_forward on the same sequences padded with masked keys (the property that lets
// BertModel pack its batches without changing a bit).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "testing.h"

using namespace fltest;

namespace {

constexpr float kRtol = 2e-5f, kAtol = 2e-5f;

struct Case {
  std::vector<int32_t> lens;  // awkward: empty, 1, block edges 63/64/65, two key blocks and more
  int64_t NH, hs;
};

const std::vector<Case> kCases = {
    {{5}, 1, 4},
    {{1, 0, 7, 13}, 3, 5},
    {{12, 31, 8, 27, 3, 16}, 12, 32},  // MiniLM's heads, short sentences
    {{63, 64, 65, 1}, 2, 17},
    {{130, 0, 200, 70}, 4, 8},
};

std::vector<int32_t> cumulative(const std::vector<int32_t> &lens) {
  std::vector<int32_t> cu(lens.size() + 1, 0);
  for (size_t i = 0; i < lens.size(); i++) cu[i + 1] = cu[i] + lens[i];
  return cu;
}

std::vector<float> varlen(fl_context *ctx, const std::vector<float> &qkv,
                          const std::vector<int32_t> &cu, int64_t C, int64_t NH) {
  std::vector<float> out(static_cast<size_t>(cu.back() * C), 12345.f);  // all overwritten
  CHECK_OK(fl_attention_forward_varlen(ctx, out.data(), qkv.data(), cu.data(),
                                       static_cast<int64_t>(cu.size()) - 1, C, NH));
  return out;
}

// The same sequences padded to T (garbage in the padding rows, masked) through fl_attention_forward;
// returns the real rows packed back.
std::vector<float> padded(fl_context *ctx, const std::vector<float> &qkv,
                          const std::vector<int32_t> &cu, int64_t T, int64_t C, int64_t NH) {
  const int64_t B = static_cast<int64_t>(cu.size()) - 1;
  std::vector<float> pq = random_floats(static_cast<size_t>(B * T * 3 * C), 77, -3.f, 3.f);
  std::vector<int32_t> mask(static_cast<size_t>(B * T), 0);
  for (int64_t b = 0; b < B; b++) {
    const int64_t len = cu[b + 1] - cu[b];
    std::memcpy(&pq[b * T * 3 * C], &qkv[cu[b] * 3 * C], sizeof(float) * len * 3 * C);
    for (int64_t t = 0; t < len; t++) mask[b * T + t] = 1;
  }
  std::vector<float> pout(static_cast<size_t>(B * T * C));
  CHECK_OK(fl_attention_forward(ctx, pout.data(), nullptr, pq.data(), mask.data(), B, T, C, NH, 0));
  std::vector<float> out(static_cast<size_t>(cu.back() * C));
  for (int64_t b = 0; b < B; b++)
    std::memcpy(&out[cu[b] * C], &pout[b * T * C], sizeof(float) * (cu[b + 1] - cu[b]) * C);
  return out;
}

}  // namespace

TEST(attention_varlen_cpu_matches_reference_and_padded_bitwise) {
  Context ref(FL_BACKEND_REFERENCE);
  uint32_t seed = 4000;
  for (const Case &c : kCases) {
    const std::vector<int32_t> cu = cumulative(c.lens);
    const int64_t C = c.NH * c.hs;
    const std::vector<float> qkv =
        random_floats(static_cast<size_t>(cu.back() * 3 * C), seed++, -1.5f, 1.5f);
    int64_t longest = 0;
    for (int32_t l : c.lens) longest = std::max<int64_t>(longest, l);
    const std::string shape = "lens=" + std::to_string(c.lens.size()) + " seqs, longest " +
                              std::to_string(longest) + " NH=" + std::to_string(c.NH) +
                              " hs=" + std::to_string(c.hs);
    const std::vector<float> want = varlen(ref, qkv, cu, C, c.NH);
    // the reference itself against the padded reference (masked keys drop out exactly)
    check_close(("reference varlen vs padded " + shape).c_str(), want,
                padded(ref, qkv, cu, longest + 3, C, c.NH), 1e-6f, 1e-6f);
    for_each_cpu_config([&](fl_context *ctx, const std::string &cfg) {
      const std::string what = cfg + " " + shape;
      const std::vector<float> got = varlen(ctx, qkv, cu, C, c.NH);
      check_close(what.c_str(), got, want, kRtol, kAtol);
      for (int64_t extra : {0, 5, 64}) {  // padding inside the last key block, and a whole block
        const std::vector<float> pad = padded(ctx, qkv, cu, longest + extra, C, c.NH);
        CHECK(std::memcmp(pad.data(), got.data(), sizeof(float) * got.size()) == 0);
      }
    });
  }
}

TEST(attention_varlen_rejects_bad_offsets) {
  Context ctx(FL_BACKEND_CPU);
  std::vector<float> qkv(3 * 4 * 12, 0.f), out(4 * 12);
  const int32_t decreasing[] = {0, 3, 2};
  CHECK(fl_attention_forward_varlen(ctx, out.data(), qkv.data(), decreasing, 2, 12, 3) ==
        FL_ERR_INVALID_ARGUMENT);
  CHECK(std::string(fl_last_error()).find("decreases") != std::string::npos);
  const int32_t offset[] = {1, 3};
  CHECK(fl_attention_forward_varlen(ctx, out.data(), qkv.data(), offset, 1, 12, 3) ==
        FL_ERR_INVALID_ARGUMENT);
  const int32_t ok[] = {0, 4};
  CHECK(fl_attention_forward_varlen(ctx, out.data(), qkv.data(), ok, 1, 12, 5) ==
        FL_ERR_INVALID_ARGUMENT);  // 12 is not a multiple of 5 heads
  CHECK_OK(fl_attention_forward_varlen(ctx, out.data(), qkv.data(), ok, 0, 12, 3));  // no sequences
}
