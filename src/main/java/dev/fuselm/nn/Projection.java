package dev.fuselm.nn;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A learned affine map inside a block, whichever layout its checkpoint uses: GPT-2's Conv1D
 * {@link Linear} (weight (in, out)) or BERT's {@link Dense} (weight (out, in)). Lets one
 * {@link CausalSelfAttention}, {@link FeedForward} and {@link TransformerBlock} serve both families.
 */
interface Projection {
  /**
   * out (M, out) = inp (M, in) mapped; inpBf16 (null: float32) is the mixed-precision input copy,
   * which only a {@link Linear} supports.
   */
  void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor inpBf16);

  /**
   * Inference: out = act(inp mapped) with the bias and activation fused into the GEMM; bf16Weights:
   * with the layer's bf16 weight copy (inp rounded to bf16 inside the GEMM).
   */
  void forwardInference(ComputeContext ctx, Tensor out, Tensor inp, GemmOps.Act act,
      boolean bf16Weights);

  /**
   * Parameter gradients are ADDED; the input gradient dinp is OVERWRITTEN, or ADDED when accumulate
   * is set (a residual branch of a post-LN block). inpBf16 and doutBf16: as in {@link Linear}.
   */
  void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, boolean accumulate,
      Tensor inpBf16, Tensor doutBf16);

  /** A GPT-2 {@link Linear} as a projection (its backward always overwrites dinp). */
  static Projection of(Linear linear) {
    return new Projection() {
      @Override
      public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor inpBf16) {
        linear.forward(ctx, out, inp, inpBf16);
      }

      @Override
      public void forwardInference(ComputeContext ctx, Tensor out, Tensor inp, GemmOps.Act act,
          boolean bf16Weights) {
        linear.forwardInference(ctx, out, inp, act, bf16Weights);
      }

      @Override
      public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp,
          boolean accumulate, Tensor inpBf16, Tensor doutBf16) {
        if (accumulate) {
          throw new IllegalStateException("a Linear overwrites its input gradient; no block"
              + " built from Linear layers asks it to accumulate");
        }
        linear.backward(ctx, dinp, dout, inp, inpBf16, doutBf16);
      }
    };
  }
}
