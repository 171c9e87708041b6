// Bidirectional attention over packed variable-length sequences (fl_attention_forward_varlen) on
// the CPU backend: BERT inference without padding.
//
// No kernel body of its own: every (sequence, head, query-block group) task runs the ISA build's
// forward_tasks of attention_kernel.h on that sequence alone (B = 1, T = its length, no key mask).
// That body walks keys in blocks of kAttnBlockK from the sequence's first row and pads each block's
// columns with -inf exactly as it does for masked keys, so a sequence's rows are bitwise those of
// fl_attention_forward on the same sequence padded (with masked keys) to any longer T: a masked key
// adds exp(-inf) = 0 to the softmax sum and 0 * v to the output, both exact.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "fuselm.h"
#include "attention_impl.h"
#include "internal.h"

namespace fl::cpu {
namespace {

struct VarlenKernels {
  int64_t (*vector_width)();
  int64_t (*scratch_floats)(const AttnArgs &);
  void (*tasks)(const AttnArgs &, float *, int64_t, int64_t);
};

VarlenKernels varlen_kernels_for(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512)
    return {attn_avx512::vector_width, attn_avx512::forward_scratch_floats,
            attn_avx512::forward_tasks};
  if (isa >= FL_ISA_AVX2)
    return {attn_avx2::vector_width, attn_avx2::forward_scratch_floats, attn_avx2::forward_tasks};
#endif
  (void)isa;
  return {attn_generic::vector_width, attn_generic::forward_scratch_floats,
          attn_generic::forward_tasks};
}

}  // namespace

void attention_forward_varlen(const CpuContext &ctx, float *out, const float *qkv,
                              const int32_t *cu_seqlens, int64_t nseq, int64_t C, int64_t NH) {
  if (nseq == 0 || C == 0 || cu_seqlens[nseq] == 0) return;
  const VarlenKernels k = varlen_kernels_for(ctx.isa);
  AttnArgs base{};  // as attention.cpp's make_args for B = 1, no mask, not causal, no dropout
  base.B = 1;
  base.C = C;
  base.NH = NH;
  base.hs = C / NH;
  const int64_t w = k.vector_width();
  base.hsp = (base.hs + w - 1) / w * w;
  base.scale = base.hs > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(base.hs))) : 1.f;
  base.keep_scale = 1.f;
  int64_t longest = 0;
  for (int64_t s = 0; s < nseq; s++)
    longest = std::max<int64_t>(longest, cu_seqlens[s + 1] - cu_seqlens[s]);
  // query blocks per task as attention_forward chooses them: up to 4, keeping >= 4 tasks a thread
  const int64_t nqb_max = (longest + kAttnBlockQ - 1) / kAttnBlockQ;
  std::vector<int64_t> first(static_cast<size_t>(nseq) + 1);  // first task of each sequence
  for (base.qgroup = std::min<int64_t>(nqb_max, 4);; base.qgroup--) {
    const int64_t G = base.qgroup * kAttnBlockQ;
    first[0] = 0;
    for (int64_t s = 0; s < nseq; s++)
      first[s + 1] = first[s] + NH * ((cu_seqlens[s + 1] - cu_seqlens[s] + G - 1) / G);
    if (base.qgroup == 1 || first[nseq] >= 4 * int64_t{ctx.threads}) break;
  }
  const int64_t floats = k.scratch_floats(base);
  parallel_for(ctx, first[nseq], 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> ws(new float[floats > 0 ? floats : 1]);
    int64_t s = std::upper_bound(first.begin(), first.end(), begin) - first.begin() - 1;
    for (int64_t t = begin; t < end; t++) {
      while (t >= first[s + 1]) s++;  // skips empty sequences (no tasks)
      AttnArgs a = base;
      a.T = cu_seqlens[s + 1] - cu_seqlens[s];
      a.qkv = qkv + cu_seqlens[s] * 3 * C;
      a.out = out + cu_seqlens[s] * C;
      k.tasks(a, ws.get(), t - first[s], t - first[s] + 1);
    }
  });
}

}  // namespace fl::cpu
