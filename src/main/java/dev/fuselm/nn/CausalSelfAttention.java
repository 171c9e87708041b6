package dev.fuselm.nn;

import dev.fuselm.ops.AttentionOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * Causal multi-head self-attention with a fused qkv projection (Hugging Face {@code attn.c_attn},
 * weight (C, 3C)) and an output projection ({@code attn.c_proj}, (C, C)).
 */
public final class CausalSelfAttention {
  private final Linear cAttn;
  private final Linear cProj;
  private final int heads;

  public CausalSelfAttention(Linear cAttn, Linear cProj, int heads) {
    this.cAttn = cAttn;
    this.cProj = cProj;
    this.heads = heads;
  }

  public Linear cAttn() {
    return cAttn;
  }

  public Linear cProj() {
    return cProj;
  }

  public int heads() {
    return heads;
  }

  /** inp (B*T, C) -> out (B*T, C); saves qkv (B, T, 3C), y (B, T, C) and lse (B, NH, T). */
  public void forward(
      ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y, Tensor lse) {
    forward(ctx, out, inp, qkv, y, lse, 0f, 0L);
  }

  /**
   * {@link #forward} with dropout of rate dropout on the attention probabilities (training); seed
   * picks the mask, and the backward must get the same rate and seed.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y, Tensor lse,
      float dropout, long seed) {
    forward(ctx, out, inp, qkv, y, lse, dropout, seed, null, null);
  }

  /**
   * {@link #forward} in mixed precision when inpBf16 (like inp) and yBf16 (B*T, C) are given: the
   * bfloat16 copies of the two projections' inputs, saved for the backward (null both: float32).
   * The attention itself stays float32.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y, Tensor lse,
      float dropout, long seed, Tensor inpBf16, Tensor yBf16) {
    long b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2);
    cAttn.forward(ctx, qkv.reshape(b * t, c3), inp, inpBf16);
    AttentionOps.forward(ctx, y, lse, qkv, null, heads, true, dropout, seed);
    cProj.forward(ctx, out, y.reshape(b * t, c3 / 3), yBf16);
  }

  /**
   * Decoding with a KV cache: inp (B*Tq, C) holds positions start..start+Tq-1 of B sequences. Their
   * q, k, v rows are written into cache (B, Tmax, 3C) (through qkvNew (B*Tq, 3C) scratch when
   * B > 1), then each attends to cache rows 0..its position; out (B*Tq, C). y (B, Tq, C) scratch.
   */
  public void forwardCached(ComputeContext ctx, Tensor out, Tensor inp, Tensor cache, long start,
      Tensor qkvNew, Tensor y) {
    long b = cache.dim(0), tmax = cache.dim(1), c3 = cache.dim(2);
    long tq = y.dim(1);
    if (start + tq > tmax) {
      throw new IllegalArgumentException("KV cache of " + tmax + " positions is full: cannot add "
          + tq + " after " + start);
    }
    if (b == 1) {
      cAttn.forward(ctx, cache.view(start * c3, tq, c3), inp);
    } else {
      cAttn.forward(ctx, qkvNew, inp);
      for (long i = 0; i < b; i++) {
        cache.view((i * tmax + start) * c3, tq * c3).copyFrom(qkvNew.view(i * tq * c3, tq * c3));
      }
    }
    AttentionOps.forwardCached(ctx, y, cache, start + tq, heads);
    cProj.forward(ctx, out, y.reshape(b * tq, c3 / 3));
  }

  /**
   * dinp (B*T, C) is OVERWRITTEN with the input gradient; parameter gradients are added. dy and
   * dqkv are scratch of the shapes of y and qkv.
   */
  public void backward(
      ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor qkv, Tensor y, Tensor lse,
      Tensor dy, Tensor dqkv) {
    backward(ctx, dinp, dout, inp, qkv, y, lse, dy, dqkv, 0f, 0L);
  }

  /** {@link #backward} of a forward with attention dropout (the same dropout and seed). */
  public void backward(
      ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor qkv, Tensor y, Tensor lse,
      Tensor dy, Tensor dqkv, float dropout, long seed) {
    backward(ctx, dinp, dout, inp, qkv, y, lse, dy, dqkv, dropout, seed, null, null, null);
  }

  /**
   * {@link #backward} of a mixed-precision forward: inpBf16 and yBf16 as saved by it, doutBf16
   * bfloat16 scratch of at least qkv's element count (null all three: float32).
   */
  public void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor qkv,
      Tensor y, Tensor lse, Tensor dy, Tensor dqkv, float dropout, long seed, Tensor inpBf16,
      Tensor yBf16, Tensor doutBf16) {
    long b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2);
    cProj.backward(ctx, dy.reshape(b * t, c3 / 3), dout, y.reshape(b * t, c3 / 3), yBf16,
        doutBf16);
    dqkv.zero();
    AttentionOps.backward(ctx, dqkv, dy, qkv, y, lse, null, heads, true, dropout, seed);
    cAttn.backward(ctx, dinp, dqkv.reshape(b * t, c3), inp, inpBf16, doutBf16);
  }
}
