package dev.fuselm.model;

import dev.fuselm.nn.Bf16Copy;
import dev.fuselm.nn.Int8Copy;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * The LM head: logits (rows, V) = hidden (rows, C) x weight^T, with weight (V, C) the token
 * embedding when tied, else {@code lm_head.weight}. Like {@link dev.fuselm.nn.Linear} it owns the
 * precision of its weight: the float32 master, a {@link Bf16Copy} made on first bf16 use and an
 * {@link Int8Copy} made on first int8 use.
 */
final class LmHead {
  private final Tensor weight;
  private final Tensor dweight; // null: no gradient (frozen or inference only)
  private final Bf16Copy bf16;
  private final Int8Copy int8;

  LmHead(Tensor weight, Tensor dweight) {
    this.weight = weight;
    this.dweight = dweight;
    this.bf16 = Bf16Copy.of(weight);
    this.int8 = Int8Copy.of(weight, false);
  }

  Tensor weight() {
    return weight;
  }

  /** logits = hidden x weight^T in float32. */
  void forward(ComputeContext ctx, Tensor logits, Tensor hidden) {
    GemmOps.sgemm(ctx, false, true, 1f, hidden, weight, 0f, logits);
  }

  /** Mixed precision: hidden is rounded into hiddenBf16 (kept for the backward), bf16 GEMM. */
  void forwardBf16(ComputeContext ctx, Tensor logits, Tensor hidden, Tensor hiddenBf16) {
    if (GemmOps.hasGemmMixed(ctx)) { // hidden rounded inside the GEMM; hiddenBf16 not written
      GemmOps.gemmMixed(ctx, false, true, 1f, hidden, bf16.get(ctx), 0f, null, logits);
      return;
    }
    Bf16Ops.narrow(ctx, hiddenBf16, hidden);
    GemmOps.gemmBf16(ctx, false, true, 1f, hiddenBf16, bf16.get(ctx), 0f, null, logits);
  }

  /** Decoding with bf16 weights: float32 hidden times the bf16 weight, float32 sums. */
  void forwardBf16Weight(ComputeContext ctx, Tensor logits, Tensor hidden) {
    GemmOps.sgemmBf16w(ctx, false, true, 1f, hidden, bf16.get(ctx), 0f, null, logits);
  }

  /** Decoding with int8 weights: float32 hidden (quantized per block in the kernel) x Q8_0. */
  void forwardInt8Weight(ComputeContext ctx, Tensor logits, Tensor hidden) {
    Int8Ops.gemv(ctx, logits, hidden, int8.get(ctx), int8.in(), int8.out(), null);
  }

  /** dhidden = dlogits x weight (overwritten); dweight += dlogits^T hidden when it has one. */
  void backward(ComputeContext ctx, Tensor dhidden, Tensor dlogits, Tensor hidden) {
    GemmOps.sgemm(ctx, false, false, 1f, dlogits, weight, 0f, dhidden);
    if (dweight != null) {
      GemmOps.sgemm(ctx, true, false, 1f, dlogits, hidden, 1f, dweight);
    }
  }

  /**
   * {@link #backward} in mixed precision: dlogits is rounded once into dlogitsBf16, for both
   * GEMMs; hiddenBf16 is the forward's rounded input. Where the backend has {@link
   * GemmOps#gemmMixed} the GEMMs round dlogits and hidden (the forward's input) as they read them
   * instead, and neither bf16 buffer is used.
   */
  void backwardBf16(ComputeContext ctx, Tensor dhidden, Tensor dlogits, Tensor dlogitsBf16,
      Tensor hidden, Tensor hiddenBf16) {
    if (GemmOps.hasGemmMixed(ctx)) { // dlogits and hidden rounded inside the GEMMs (same bits)
      GemmOps.gemmMixed(ctx, false, false, 1f, dlogits, bf16.get(ctx), 0f, null, dhidden);
      if (dweight != null) {
        GemmOps.gemmMixed(ctx, true, false, 1f, dlogits, hidden, 1f, null, dweight);
      }
      return;
    }
    Bf16Ops.narrow(ctx, dlogitsBf16, dlogits);
    GemmOps.gemmBf16(ctx, false, false, 1f, dlogitsBf16, bf16.get(ctx), 0f, null, dhidden);
    if (dweight != null) {
      GemmOps.gemmBf16(ctx, true, false, 1f, dlogitsBf16, hiddenBf16, 1f, null, dweight);
    }
  }

  void allocateBf16Copy(ComputeContext ctx) {
    bf16.allocate(ctx);
  }

  void weightChanged() {
    bf16.markStale();
    int8.markStale();
  }

  void allocateInt8Copy(ComputeContext ctx) {
    int8.allocate(ctx);
  }

  long int8CopyBytes() {
    return int8.ownedBytes();
  }

  void releaseInt8Copy() {
    int8.release();
  }

  long bf16CopyBytes() {
    return bf16.ownedBytes();
  }

  void releaseBf16Copy() {
    bf16.release();
  }
}
