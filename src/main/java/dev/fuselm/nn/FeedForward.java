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
    cFc.forward(ctx, h, inp);
    PointwiseOps.geluForward(ctx, hGelu, h);
    cProj.forward(ctx, out, hGelu);
  }

  /** dinp OVERWRITTEN; parameter gradients added; dh and dhGelu are scratch shaped like h. */
  public void backward(
      ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor h, Tensor hGelu, Tensor dh,
      Tensor dhGelu) {
    cProj.backward(ctx, dhGelu, dout, hGelu);
    dh.zero();
    PointwiseOps.geluBackward(ctx, dh, h, dhGelu);
    cFc.backward(ctx, dinp, dh, inp);
  }
}
