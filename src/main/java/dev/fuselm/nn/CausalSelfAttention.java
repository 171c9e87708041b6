package dev.fuselm.nn;

import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * Multi-head self-attention with a fused qkv projection and an output projection. GPT-2's is
 * causal, over {@link Linear}s (Hugging Face {@code attn.c_attn}, weight (C, 3C), and
 * {@code attn.c_proj}, (C, C)); BERT's ({@link #bidirectional}) lets every position attend to every
 * key a padding mask keeps, over {@link Dense} layers (query, key and value laid out back to back
 * as one (3C, C) weight, and {@code attention.output.dense}).
 */
public final class CausalSelfAttention {
  private final Linear cAttn;
  private final Linear cProj;
  private final Projection qkvProjection;
  private final Projection outProjection;
  private final int heads;
  private final boolean causal;

  /** GPT-2's causal attention. */
  public CausalSelfAttention(Linear cAttn, Linear cProj, int heads) {
    this(cAttn, cProj, Projection.of(cAttn), Projection.of(cProj), heads, true);
  }

  private CausalSelfAttention(Linear cAttn, Linear cProj, Projection qkv, Projection out,
      int heads, boolean causal) {
    this.cAttn = cAttn;
    this.cProj = cProj;
    this.qkvProjection = qkv;
    this.outProjection = out;
    this.heads = heads;
    this.causal = causal;
  }

  /** BERT's bidirectional attention: qkv (3C, C), out (C, C), in nn.Linear layout. */
  public static CausalSelfAttention bidirectional(Dense qkv, Dense out, int heads) {
    return new CausalSelfAttention(null, null, qkv, out, heads, false);
  }

  /** GPT-2's qkv projection; null in a bidirectional (BERT) attention. */
  public Linear cAttn() {
    return cAttn;
  }

  /** GPT-2's output projection; null in a bidirectional (BERT) attention. */
  public Linear cProj() {
    return cProj;
  }

  public int heads() {
    return heads;
  }

  /** Whether each position attends only to itself and earlier ones (GPT) or to all (BERT). */
  public boolean isCausal() {
    return causal;
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
    forward(ctx, out, inp, qkv, y, lse, null, dropout, seed, inpBf16, yBf16);
  }

  /**
   * {@link #forward} with keyMask (B, T) int32, 0 for a padding key that no query attends to (null:
   * none); lse may be null when no backward follows.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y, Tensor lse,
      Tensor keyMask, float dropout, long seed, Tensor inpBf16, Tensor yBf16) {
    long b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2);
    qkvProjection.forward(ctx, qkv.reshape(b * t, c3), inp, inpBf16);
    AttentionOps.forward(ctx, y, lse, qkv, keyMask, heads, causal, dropout, seed);
    outProjection.forward(ctx, out, y.reshape(b * t, c3 / 3), yBf16);
  }

  /**
   * Bidirectional inference over packed variable-length sequences: inp, out (N, C) hold the
   * sequences' rows back to back (offsets cuSeqlens, see {@link AttentionOps#forwardVarlen}), qkv
   * (N, 3C) and y (N, C) are scratch. No padding rows are computed.
   */
  public void forwardPacked(ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y,
      int[] cuSeqlens, Tensor cuScratch) {
    forwardPacked(ctx, out, inp, qkv, y, cuSeqlens, cuScratch, false);
  }

  /** {@link #forwardPacked}; bf16Weights: the projections on their bf16 weight copies. */
  public void forwardPacked(ComputeContext ctx, Tensor out, Tensor inp, Tensor qkv, Tensor y,
      int[] cuSeqlens, Tensor cuScratch, boolean bf16Weights) {
    if (causal) {
      throw new IllegalStateException("packed sequences need bidirectional attention");
    }
    qkvProjection.forwardInference(ctx, qkv, inp, GemmOps.Act.NONE, bf16Weights);
    AttentionOps.forwardVarlen(ctx, y, qkv, cuSeqlens, cuScratch, heads);
    outProjection.forwardInference(ctx, out, y, GemmOps.Act.NONE, bf16Weights);
  }

  /**
   * Decoding with a KV cache: inp (B*Tq, C) holds positions start..start+Tq-1 of B sequences. Their
   * q, k, v rows are written into cache (B, Tmax, 3C) (through qkvNew (B*Tq, 3C) scratch when
   * B > 1), then each attends to cache rows 0..its position; out (B*Tq, C). y (B, Tq, C) scratch.
   */
  public void forwardCached(ComputeContext ctx, Tensor out, Tensor inp, Tensor cache, long start,
      Tensor qkvNew, Tensor y) {
    if (!causal) {
      throw new IllegalStateException("KV-cache decoding needs causal attention");
    }
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
    backward(ctx, dinp, false, dout, inp, qkv, y, lse, null, dy, dqkv, dropout, seed, inpBf16,
        yBf16, doutBf16);
  }

  /**
   * {@link #backward} of a forward with keyMask; with accumulate the input gradient is ADDED into
   * dinp instead of overwriting it (a post-LN residual branch; {@link Dense} projections only).
   */
  public void backward(ComputeContext ctx, Tensor dinp, boolean accumulate, Tensor dout,
      Tensor inp, Tensor qkv, Tensor y, Tensor lse, Tensor keyMask, Tensor dy, Tensor dqkv,
      float dropout, long seed, Tensor inpBf16, Tensor yBf16, Tensor doutBf16) {
    long b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2);
    outProjection.backward(ctx, dy.reshape(b * t, c3 / 3), dout, y.reshape(b * t, c3 / 3), false,
        yBf16, doutBf16);
    dqkv.zero();
    AttentionOps.backward(ctx, dqkv, dy, qkv, y, lse, keyMask, heads, causal, dropout, seed);
    qkvProjection.backward(ctx, dinp, dqkv.reshape(b * t, c3), inp, accumulate, inpBf16,
        doutBf16);
  }
}
