package dev.fuselm.nn;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * The position-wise MLP of a block: GPT-2's {@code mlp.c_fc} (C, 4C), GELU (tanh approximation),
 * {@code mlp.c_proj} (4C, C) over {@link Linear}s, or BERT's ({@link #bert})
 * {@code intermediate.dense} (I, C), exact erf GELU, {@code output.dense} (C, I) over {@link Dense}
 * layers.
 */
public final class FeedForward {
  private final Linear cFc;
  private final Linear cProj;
  private final Projection up;
  private final Projection down;
  private final boolean erfGelu;

  /** GPT-2's MLP. */
  public FeedForward(Linear cFc, Linear cProj) {
    this(cFc, cProj, Projection.of(cFc), Projection.of(cProj), false);
  }

  private FeedForward(Linear cFc, Linear cProj, Projection up, Projection down, boolean erfGelu) {
    this.cFc = cFc;
    this.cProj = cProj;
    this.up = up;
    this.down = down;
    this.erfGelu = erfGelu;
  }

  /** BERT's MLP: intermediate (I, C) and output (C, I) dense layers around an exact erf GELU. */
  public static FeedForward bert(Dense intermediate, Dense output) {
    return new FeedForward(null, null, intermediate, output, true);
  }

  /** GPT-2's first projection; null in a BERT MLP. */
  public Linear cFc() {
    return cFc;
  }

  /** GPT-2's second projection; null in a BERT MLP. */
  public Linear cProj() {
    return cProj;
  }

  /** inp (N, C) -> out (N, C); saves h (N, 4C; BERT: N, I) before and hGelu after the GELU. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor h, Tensor hGelu) {
    forward(ctx, out, inp, h, hGelu, null, null);
  }

  /**
   * {@link #forward} in mixed precision when inpBf16 and hGeluBf16 (bfloat16 copies of inp and
   * hGelu, saved for the backward) are given; null both: float32.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor h, Tensor hGelu,
      Tensor inpBf16, Tensor hGeluBf16) {
    up.forward(ctx, h, inp, inpBf16);
    if (erfGelu) {
      PointwiseOps.geluErfForward(ctx, hGelu, h);
    } else {
      PointwiseOps.geluForward(ctx, hGelu, h);
    }
    down.forward(ctx, out, hGelu, hGeluBf16);
  }

  /**
   * Inference: inp (N, C) -> out (N, C) with the GELU in the first GEMM's epilogue (hGelu (N, 4C;
   * BERT: N, I) receives the activation; the pre-activation is never written). bf16Weights: both
   * GEMMs on the layers' bf16 weight copies. Float32 is bit for bit {@link #forward}'s out.
   */
  public void forwardInference(ComputeContext ctx, Tensor out, Tensor inp, Tensor hGelu,
      boolean bf16Weights) {
    up.forwardInference(ctx, hGelu, inp, erfGelu ? GemmOps.Act.GELU_ERF : GemmOps.Act.GELU_TANH,
        bf16Weights);
    down.forwardInference(ctx, out, hGelu, GemmOps.Act.NONE, bf16Weights);
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
    backward(ctx, dinp, false, dout, inp, h, hGelu, dh, dhGelu, inpBf16, hGeluBf16, doutBf16);
  }

  /**
   * {@link #backward}; with accumulate the input gradient is ADDED into dinp instead of
   * overwriting it (a post-LN residual branch; {@link Dense} projections only).
   */
  public void backward(ComputeContext ctx, Tensor dinp, boolean accumulate, Tensor dout,
      Tensor inp, Tensor h, Tensor hGelu, Tensor dh, Tensor dhGelu, Tensor inpBf16,
      Tensor hGeluBf16, Tensor doutBf16) {
    down.backward(ctx, dhGelu, dout, hGelu, false, hGeluBf16, doutBf16);
    dh.zero();
    if (erfGelu) {
      PointwiseOps.geluErfBackward(ctx, dh, h, dhGelu);
    } else {
      PointwiseOps.geluBackward(ctx, dh, h, dhGelu);
    }
    up.backward(ctx, dinp, dh, inp, accumulate, inpBf16, doutBf16);
  }
}
