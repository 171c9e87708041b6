package dev.fuselm.nn;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A linear layer in PyTorch {@code nn.Linear} layout, as Hugging Face BERT stores it: weight
 * (out, in), bias (out) or none, {@code out = inp * weight^T + bias}. (GPT-2's Conv1D layout, weight
 * (in, out), is {@link Linear}.) Inputs and outputs are 2-D (rows, features) views.
 */
public final class Dense implements Projection {
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor dweight;
  private final Tensor dbias;
  private final Bf16Copy bf16;

  /** dweight/dbias may be null (frozen, or inference only); bias may be null (no bias). */
  public Dense(Tensor weight, Tensor bias, Tensor dweight, Tensor dbias) {
    if (weight.rank() != 2) {
      throw new IllegalArgumentException("Dense weight must be (out, in), got " + weight.describe());
    }
    this.weight = weight;
    this.bias = bias;
    this.dweight = dweight;
    this.dbias = bias == null ? null : dbias;
    this.bf16 = Bf16Copy.of(weight);
  }

  public long in() {
    return weight.dim(1);
  }

  public long out() {
    return weight.dim(0);
  }

  public Tensor weight() {
    return weight;
  }

  public Tensor bias() {
    return bias;
  }

  /** out (M, out) = inp (M, in) * weight^T + bias. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp) {
    GemmOps.sgemmBias(ctx, false, true, inp, weight, bias, out);
  }

  /**
   * Inference: out (M, out) = act(inp * weight^T + bias) in one GEMM with the bias and activation
   * in its epilogue ({@link GemmOps#gemmBiasAct}); bf16: with the bf16 copy of the weight (made on
   * first use) and inp rounded to bf16 inside the GEMM, else float32 (bit for bit {@link #forward}
   * then the activation).
   */
  @Override
  public void forwardInference(ComputeContext ctx, Tensor out, Tensor inp, GemmOps.Act act,
      boolean bf16Weights) {
    GemmOps.gemmBiasAct(ctx, true, inp, bf16Weights ? bf16.get(ctx) : weight, bias, act, out);
  }

  /** The float32 weight was written (training, loading): the bf16 copy is rounded again. */
  public void weightChanged() {
    bf16.markStale();
  }

  /** Native bytes of the bf16 copy (0 without one). */
  public long bf16CopyBytes() {
    return bf16.ownedBytes();
  }

  /** Frees the bf16 copy (the next bf16 use makes it again). */
  public void releaseBf16Copy() {
    bf16.release();
  }

  /**
   * Parameter gradients are ADDED (dweight += dout^T inp, dbias += column sums of dout). The input
   * gradient dinp (M, in) = dout * weight is OVERWRITTEN, or ADDED when accumulate is set (a
   * residual branch); null: not wanted.
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, boolean accumulate) {
    if (dweight != null) {
      GemmOps.sgemm(ctx, true, false, 1f, dout, inp, 1f, dweight);
    }
    if (dbias != null) {
      GemmOps.biasBackward(ctx, dbias, dout);
    }
    if (dinp != null) {
      GemmOps.sgemm(ctx, false, false, 1f, dout, weight, accumulate ? 1f : 0f, dinp);
    }
  }

  /** {@link #forward}; a Dense layer has no mixed-precision path, so inpBf16 must be null. */
  @Override
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor inpBf16) {
    float32Only(inpBf16);
    forward(ctx, out, inp);
  }

  /** {@link #backward}; float32 only, so inpBf16 and doutBf16 must be null. */
  @Override
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp,
      boolean accumulate, Tensor inpBf16, Tensor doutBf16) {
    float32Only(inpBf16);
    float32Only(doutBf16);
    backward(ctx, dinp, dout, inp, accumulate);
  }

  private static void float32Only(Tensor bf16) {
    if (bf16 != null) {
      throw new IllegalArgumentException("a Dense layer computes in float32 only");
    }
  }
}
