package dev.fuselm.nn;

import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/** GPT-2's MLP: {@code mlp.c_fc} (C, 4C), GELU (tanh approximation), {@code mlp.c_proj} (4C, C). */
public final class FeedForward {
  private final Linear cFc;
  private final Linear cProj;

  public FeedForward(Linear cFc, Linear cProj) {
    this.cFc = cFc;
    this.cProj = cProj;
  }

  public Linear cFc() {
    return cFc;
  }

  public Linear cProj() {
    return cProj;
  }

  /** inp (N, C) -> out (N, C); saves h (N, 4C) before and hGelu after the GELU. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor h, Tensor hGelu) {
    forward(ctx, out, inp, h, hGelu, null, null);
  }

  /**
   * {@link #forward} in mixed precision when inpBf16 and hGeluBf16 (bfloat16 copies of inp and
   * hGelu, saved for the backward) are given; null both: float32.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor h, Tensor hGelu,
      Tensor inpBf16, Tensor hGeluBf16) {
    cFc.forward(ctx, h, inp, inpBf16);
    PointwiseOps.geluForward(ctx, hGelu, h);
    cProj.forward(ctx, out, hGelu, hGeluBf16);
  }

  /** dinp OVERWRITTEN; parameter gradients added; dh and dhGelu are scratch shaped like h. */
  public void backward(
      ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor h, Tensor hGelu, Tensor dh,
      Tensor dhGelu) {
    backward(ctx, dinp, dout, inp, h, hGelu, dh, dhGelu, null, null, null);
  }

  /**
   * {@link #backward} of a mixed-precision forward: inpBf16 and hGeluBf16 as saved by it, doutBf16
   * bfloat16 scratch of at least h's element count (null all three: float32).
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor h,
      Tensor hGelu, Tensor dh, Tensor dhGelu, Tensor inpBf16, Tensor hGeluBf16, Tensor doutBf16) {
    cProj.backward(ctx, dhGelu, dout, hGelu, hGeluBf16, doutBf16);
    dh.zero();
    PointwiseOps.geluBackward(ctx, dh, h, dhGelu);
    cFc.backward(ctx, dinp, dh, inp, inpBf16, doutBf16);
  }
}
