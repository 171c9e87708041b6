package dev.fuselm.nn;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A linear layer in Hugging Face GPT-2's Conv1D layout: weight (in, out), bias (out) or none, so
 * {@code out = inp * weight + bias} is a GEMM without transposes and checkpoints load as stored.
 * Inputs and outputs are 2-D (rows, features) views. An optional {@link LoraAdapter} adds its
 * low-rank update to the output (and its gradients in backward).
 */
public final class Linear {
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor dweight;
  private final Tensor dbias;
  private LoraAdapter adapter;

  /** dweight/dbias may be null (frozen, or inference only); bias may be null (no bias). */
  public Linear(Tensor weight, Tensor bias, Tensor dweight, Tensor dbias) {
    if (weight.rank() != 2) {
      throw new IllegalArgumentException("Linear weight must be (in, out), got " + weight.describe());
    }
    this.weight = weight;
    this.bias = bias;
    this.dweight = dweight;
    this.dbias = bias == null ? null : dbias;
  }

  public long in() {
    return weight.dim(0);
  }

  public long out() {
    return weight.dim(1);
  }

  public Tensor weight() {
    return weight;
  }

  /** Adds a LoRA adapter to this projection's forward and backward (null: none, the default). */
  public void setAdapter(LoraAdapter adapter) {
    this.adapter = adapter;
  }

  public LoraAdapter adapter() {
    return adapter;
  }

  /** out (M, out) = inp (M, in) * weight + bias. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp) {
    GemmOps.sgemmBias(ctx, false, false, inp, weight, bias, out);
    if (adapter != null) {
      adapter.forward(ctx, out, inp);
    }
  }

  /**
   * Parameter gradients are ADDED (dweight += inp^T dout, dbias += column sums of dout); the input
   * gradient is OVERWRITTEN: dinp (M, in) = dout weight^T (null: not wanted).
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp) {
    if (dweight != null) {
      GemmOps.sgemm(ctx, true, false, 1f, inp, dout, 1f, dweight);
    }
    if (dbias != null) {
      GemmOps.biasBackward(ctx, dbias, dout);
    }
    if (dinp != null) {
      GemmOps.sgemm(ctx, false, true, 1f, dout, weight, 0f, dinp);
    }
    if (adapter != null) {
      adapter.backward(ctx, dinp, dout, inp);
    }
  }
}
