// Reference fl_attention_forward_varlen: each packed sequence through the reference attention alone
// (B = 1, no mask, not causal), in double inside as that one is.
#include "internal.h"

namespace fl::ref {

void attention_forward_varlen(float *out, const float *qkv, const int32_t *cu_seqlens, int64_t nseq,
                              int64_t C, int64_t NH) {
  for (int64_t s = 0; s < nseq; s++) {
    const int64_t len = cu_seqlens[s + 1] - cu_seqlens[s];
    if (len == 0) continue;
    attention_forward(out + cu_seqlens[s] * C, nullptr, qkv + cu_seqlens[s] * 3 * C, nullptr, 1,
                      len, C, NH, 0, 0.f, 0);
  }
}

}  // namespace fl::ref
