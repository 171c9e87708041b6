package dev.fuselm.nn;

import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * A linear layer in Hugging Face GPT-2's Conv1D layout: weight (in, out), bias (out) or none, so
 * {@code out = inp * weight + bias} is a GEMM without transposes and checkpoints load as stored.
 * Inputs and outputs are 2-D (rows, features) views. An optional {@link LoraAdapter} adds its
 * low-rank update to the output (and its gradients in backward).
 *
 * <p>The layer owns the precision of its weight: the float32 master, and its {@link Bf16Copy}
 * (made on first bf16 use, rounded again after {@link #weightChanged()}). The forward and backward
 * overloads that take bf16 scratch (mixed-precision training) run their GEMMs on bf16 operands with
 * float32 accumulation ({@link GemmOps#gemmBf16}); {@link #forwardBf16Weight} (decoding) multiplies
 * float32 inputs with the bf16 weight ({@link GemmOps#sgemmBf16w}). The bias, the bias gradient and
 * all outputs stay float32. A layer built over a bfloat16 weight (a model loaded with bf16
 * matrices) has no float32 master and runs only {@link #forwardBf16Weight}. Beside the bf16 copy,
 * an {@link Int8Copy} (Q8_0, made on first int8 use, quantized again after {@link
 * #weightChanged()}) serves {@link #forwardInt8Weight} (decoding with int8 weights).
 */
public final class Linear {
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor dweight;
  private final Tensor dbias;
  private LoraAdapter adapter;
  private final Bf16Copy bf16;
  private final Int8Copy int8; // null for a bf16-only layer

  /**
   * dweight/dbias may be null (frozen, or inference only); bias may be null (no bias). A bfloat16
   * weight makes a bf16-only layer (no float32 master; decoding only).
   */
  public Linear(Tensor weight, Tensor bias, Tensor dweight, Tensor dbias) {
    if (weight.rank() != 2) {
      throw new IllegalArgumentException("Linear weight must be (in, out), got " + weight.describe());
    }
    this.weight = weight;
    this.bias = bias;
    this.dweight = dweight;
    this.dbias = bias == null ? null : dbias;
    this.bf16 = weight.dtype() == DType.BFLOAT16 ? Bf16Copy.fixed(weight) : Bf16Copy.of(weight);
    this.int8 = weight.dtype() == DType.FLOAT32 ? Int8Copy.of(weight, true) : null;
  }

  // an int8-only layer: the packed Q8_0 weight is all it holds (no master, no bf16 copy)
  private Linear(Int8Copy fixed, Tensor bias) {
    this.weight = null;
    this.bias = bias;
    this.dweight = null;
    this.dbias = null;
    this.bf16 = null;
    this.int8 = fixed;
  }

  /**
   * An int8-only layer (decoding with int8 weights only): packed is the decode kernel's form of an
   * in x out Q8_0 matrix ({@link Int8Copy#fixed}), loaded by the caller, who frees it.
   */
  public static Linear int8Only(Tensor packed, long in, long out, Tensor bias) {
    return new Linear(Int8Copy.fixed(packed, in, out), bias);
  }

  public long in() {
    return weight == null ? int8.in() : weight.dim(0);
  }

  public long out() {
    return weight == null ? int8.out() : weight.dim(1);
  }

  /** The float32 master (in, out); for a bf16-only layer, its bfloat16 weight; int8-only: null. */
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

  /** The bfloat16 weight (in, out): the copy of the master, rounded first if it is stale. */
  public Tensor bf16Weight(ComputeContext ctx) {
    requireNotInt8Only("bf16 weights");
    return bf16.get(ctx);
  }

  /** Allocates the bf16 copy now (it is rounded on first use). */
  public void allocateBf16Copy(ComputeContext ctx) {
    if (bf16 != null && bf16.hasMaster()) {
      bf16.allocate(ctx);
    }
  }

  /** The float32 master was written: the bf16 copy is rounded again on its next use. */
  public void weightChanged() {
    if (bf16 != null) {
      bf16.markStale();
    }
    if (int8 != null) {
      int8.markStale();
    }
  }

  /** Allocates the int8 copy now (quantized on first use); not for a bf16-only layer. */
  public void allocateInt8Copy(ComputeContext ctx) {
    requireInt8();
    int8.allocate(ctx);
  }

  /** Native bytes of the int8 copy (0 without one). */
  public long int8CopyBytes() {
    return int8 == null ? 0 : int8.ownedBytes();
  }

  /** Frees the int8 copy (the next int8 use makes it again). */
  public void releaseInt8Copy() {
    if (int8 != null) {
      int8.release();
    }
  }

  /**
   * out (M, out) = inp (M, in) * int8 weight + bias: decoding with Q8_0 weights (about a quarter
   * of the float32 bytes read per token); inp is quantized to int8 per block of 32 in the kernel.
   * Not with a LoRA adapter attached.
   */
  public void forwardInt8Weight(ComputeContext ctx, Tensor out, Tensor inp) {
    if (adapter != null) {
      throw new IllegalStateException("LoRA adapters are attached: merge them into the model"
          + " (mergeLora) before decoding with int8 weights");
    }
    requireInt8();
    Int8Ops.gemv(ctx, out, inp, int8.get(ctx), in(), out(), bias);
  }

  private void requireNotInt8Only(String what) {
    if (bf16 == null) {
      throw new IllegalStateException("this layer holds only an int8 weight (loaded for int8"
          + " decoding): " + what + " need the float32 weights");
    }
  }

  private void requireInt8() {
    if (int8 == null) {
      throw new IllegalStateException("this layer holds only a bf16 weight: int8 weights are made"
          + " from a float32 master");
    }
  }

  /** Native bytes of the bf16 copy this layer made (0 without one, or for a bf16-only layer). */
  public long bf16CopyBytes() {
    return bf16 == null ? 0 : bf16.ownedBytes();
  }

  /** Frees the bf16 copy (the next bf16 use makes it again). */
  public void releaseBf16Copy() {
    if (bf16 != null) {
      bf16.release();
    }
  }

  /** out (M, out) = inp (M, in) * weight + bias. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp) {
    forward(ctx, out, inp, null);
  }

  /**
   * {@link #forward}; with inpBf16 (bfloat16, shaped like inp; null: float32 GEMM) in mixed
   * precision: inp is rounded to bf16 and multiplied with the bf16 weight copy, accumulating in
   * float32. Where the backend has {@link GemmOps#gemmMixed} the GEMM rounds inp as it reads it and
   * inpBf16 is not written (the backward then reads inp); elsewhere inp is rounded into inpBf16,
   * kept for the backward.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor inpBf16) {
    requireNotInt8Only("float32 and bf16 passes");
    if (inpBf16 == null) {
      GemmOps.sgemmBias(ctx, false, false, inp, weight, bias, out);
    } else if (GemmOps.hasGemmMixed(ctx)) {
      // inp rounded inside the GEMM (the same bits); inpBf16 is left unwritten
      GemmOps.gemmMixed(ctx, false, false, 1f, inp, bf16.get(ctx), 0f, bias, out);
    } else {
      Bf16Ops.narrow(ctx, inpBf16, inp);
      GemmOps.gemmBf16(ctx, false, false, 1f, inpBf16, bf16.get(ctx), 0f, bias, out);
    }
    if (adapter != null) {
      adapter.forward(ctx, out, inp);
    }
  }

  /**
   * Inference: out (M, out) = act(inp * weight + bias) in one GEMM with the bias and activation in
   * its epilogue ({@link GemmOps#gemmBiasAct}); bf16Weights: with the bf16 copy and inp rounded to
   * bf16 inside the GEMM, else float32 (bit for bit {@link #forward} then the activation). With a
   * LoRA adapter attached: the unfused float32 sequence.
   */
  public void forwardInference(ComputeContext ctx, Tensor out, Tensor inp, GemmOps.Act act,
      boolean bf16Weights) {
    if (adapter != null) {
      forward(ctx, out, inp);
      if (act == GemmOps.Act.GELU_TANH) {
        dev.fuselm.ops.PointwiseOps.geluForward(ctx, out, out);
      } else if (act == GemmOps.Act.GELU_ERF) {
        dev.fuselm.ops.PointwiseOps.geluErfForward(ctx, out, out);
      }
      return;
    }
    Tensor w = bf16Weights || weight.dtype() == DType.BFLOAT16 ? bf16.get(ctx) : weight;
    GemmOps.gemmBiasAct(ctx, false, inp, w, bias, act, out);
  }

  /**
   * out (M, out) = inp (M, in) * bf16 weight + bias, with float32 inputs and sums: decoding with
   * bf16 weights (half the bytes read per token). Not with a LoRA adapter attached.
   */
  public void forwardBf16Weight(ComputeContext ctx, Tensor out, Tensor inp) {
    if (adapter != null) {
      throw new IllegalStateException("LoRA adapters are attached: merge them into the model"
          + " (mergeLora) before decoding with bf16 weights");
    }
    requireNotInt8Only("bf16 weights");
    GemmOps.sgemmBf16w(ctx, false, false, 1f, inp, bf16.get(ctx), 0f, bias, out);
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
   * accumulated in float32. The bias gradient sums the float32 dout. Where the backend has {@link
   * GemmOps#gemmMixed} the GEMMs round inp and dout as they read them (the same bits): inp must then
   * still hold the forward's input, and neither scratch is used.
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor inpBf16,
      Tensor doutScratch) {
    if (inpBf16 != null && GemmOps.hasGemmMixed(ctx)) {
      if (doutScratch == null) { // the same contract on every backend
        throw new IllegalArgumentException("a bf16 backward needs bf16 scratch for dout");
      }
      backwardMixed(ctx, dinp, dout, inp);
    } else if (inpBf16 != null) {
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
    Tensor w = bf16.get(ctx);
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

  // The bf16 backward where the GEMMs round their float32 operands (GemmOps#gemmMixed): the same
  // bits as backwardBf16 on the forward's inp, without the rounded copies of inp and dout.
  private void backwardMixed(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp) {
    if (dout.rank() != 2) {
      throw new IllegalArgumentException("Linear dout must be 2-D, got " + dout.describe());
    }
    if (dweight != null) {
      GemmOps.gemmMixed(ctx, true, false, 1f, inp, dout, 1f, null, dweight);
    }
    if (dbias != null) {
      GemmOps.biasBackward(ctx, dbias, dout);
    }
    if (dinp != null) {
      GemmOps.gemmMixed(ctx, false, true, 1f, dout, bf16.get(ctx), 0f, null, dinp);
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
