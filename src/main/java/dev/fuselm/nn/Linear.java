package dev.fuselm.nn;

import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;

/**
 * A linear layer in Hugging Face GPT-2's Conv1D layout: weight (in, out), bias (out) or none, so
 * {@code out = inp * weight + bias} is a GEMM without transposes and checkpoints load as stored.
 * Inputs and outputs are 2-D (rows, features) views. An optional {@link LoraAdapter} adds its
 * low-rank update to the output (and its gradients in backward).
 *
 * <p>Mixed precision: with a bfloat16 copy of the weight ({@link #setBf16Weight}) the forward and
 * backward overloads that take bf16 scratch run their GEMMs on bf16 operands with float32
 * accumulation ({@link GemmOps#gemmBf16}); the bias, the bias gradient and all outputs stay float32.
 */
public final class Linear {
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor dweight;
  private final Tensor dbias;
  private LoraAdapter adapter;
  private Tensor weightBf16;

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

  /**
   * The bfloat16 copy (in, out) of the weight that the bf16 overloads read (null: none). The owner
   * keeps it in step with the float32 weight.
   */
  public void setBf16Weight(Tensor w) {
    if (w != null && (w.dtype() != DType.BFLOAT16
        || !Arrays.equals(w.shape(), weight.shape()))) {
      throw new IllegalArgumentException("bf16 weight must be bfloat16 of shape "
          + Arrays.toString(weight.shape()) + ", got " + w.describe());
    }
    this.weightBf16 = w;
  }

  public Tensor bf16Weight() {
    return weightBf16;
  }

  /** out (M, out) = inp (M, in) * weight + bias. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp) {
    forward(ctx, out, inp, null);
  }

  /**
   * {@link #forward}; with inpBf16 (bfloat16, shaped like inp; null: float32 GEMM) in mixed
   * precision: inp is rounded into inpBf16 (kept for the backward) and multiplied with the bf16
   * weight copy, accumulating in float32.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor inpBf16) {
    if (inpBf16 == null) {
      GemmOps.sgemmBias(ctx, false, false, inp, weight, bias, out);
    } else {
      Bf16Ops.narrow(ctx, inpBf16, inp);
      GemmOps.gemmBf16(ctx, false, false, 1f, inpBf16, bf16WeightForGemm(), 0f, bias, out);
    }
    if (adapter != null) {
      adapter.forward(ctx, out, inp);
    }
  }

  private Tensor bf16WeightForGemm() {
    if (weightBf16 == null) {
      throw new IllegalStateException("a bf16 forward/backward needs setBf16Weight() first");
    }
    return weightBf16;
  }

  /**
   * Parameter gradients are ADDED (dweight += inp^T dout, dbias += column sums of dout); the input
   * gradient is OVERWRITTEN: dinp (M, in) = dout weight^T (null: not wanted).
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp) {
    backward(ctx, dinp, dout, inp, null, null);
  }

  /**
   * {@link #backward}; with inpBf16 (the forward's rounded input) and doutScratch (bfloat16 of at
   * least dout's element count; null both: float32 GEMMs) in mixed precision: dout is rounded once
   * into doutScratch and used for dweight += inpBf16^T dout and dinp = dout weightBf16^T, both
   * accumulated in float32. The bias gradient sums the float32 dout.
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor inpBf16,
      Tensor doutScratch) {
    if (inpBf16 != null) {
      backwardBf16(ctx, dinp, dout, inpBf16, doutScratch);
    } else {
      backwardFloat32(ctx, dinp, dout, inp);
    }
    if (adapter != null) {
      adapter.backward(ctx, dinp, dout, inp);
    }
  }

  private void backwardBf16(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inpBf16,
      Tensor doutScratch) {
    Tensor w = bf16WeightForGemm();
    if (dout.rank() != 2) {
      throw new IllegalArgumentException("Linear dout must be 2-D, got " + dout.describe());
    }
    if (doutScratch == null) {
      throw new IllegalArgumentException("a bf16 backward needs bf16 scratch for dout");
    }
    Tensor d16 = doutScratch.view(0, dout.dim(0), dout.dim(1));
    Bf16Ops.narrow(ctx, d16, dout);
    if (dweight != null) {
      GemmOps.gemmBf16(ctx, true, false, 1f, inpBf16, d16, 1f, null, dweight);
    }
    if (dbias != null) {
      GemmOps.biasBackward(ctx, dbias, dout);
    }
    if (dinp != null) {
      GemmOps.gemmBf16(ctx, false, true, 1f, d16, w, 0f, null, dinp);
    }
  }

  private void backwardFloat32(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp) {
    if (dweight != null) {
      GemmOps.sgemm(ctx, true, false, 1f, inp, dout, 1f, dweight);
    }
    if (dbias != null) {
      GemmOps.biasBackward(ctx, dbias, dout);
    }
    if (dinp != null) {
      GemmOps.sgemm(ctx, false, true, 1f, dout, weight, 0f, dinp);
    }
  }
}
