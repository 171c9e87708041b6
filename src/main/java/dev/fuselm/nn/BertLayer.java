package dev.fuselm.nn;

import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * One post-LN BERT encoder block (Hugging Face {@code bert.encoder.layer.N}):
 *
 * <pre>
 *   x1  = LN1(x + dense_o(attention(x W_qkv^T + b_qkv, padding mask)))    attention.output.*
 *   out = LN2(x1 + dense_2(gelu_erf(dense_1(x1))))                        intermediate / output
 * </pre>
 *
 * <p>Bidirectional: every position attends to every non-padding key. query, key and value are
 * three (C, C) {@code nn.Linear}s in the checkpoint; the model lays them out back to back so that
 * {@code qkv} is one (3C, C) weight and the projection one GEMM. Hidden dropout (training only)
 * applies to both dense outputs before their residual add.
 */
public final class BertLayer {
  private final Dense qkv;
  private final Dense attnOut;
  private final LayerNorm ln1;
  private final Dense intermediate;
  private final Dense output;
  private final LayerNorm ln2;
  private final int heads;
  private final int index;

  public BertLayer(int index, Dense qkv, Dense attnOut, LayerNorm ln1, Dense intermediate,
      Dense output, LayerNorm ln2, int heads) {
    this.index = index;
    this.qkv = qkv;
    this.attnOut = attnOut;
    this.ln1 = ln1;
    this.intermediate = intermediate;
    this.output = output;
    this.ln2 = ln2;
    this.heads = heads;
  }

  /** What one block saves in the forward pass for its backward, for one (B, T). */
  public static final class Activations {
    final Tensor qkv, y, lse, attnDense, res1, x1, ln1Mean, ln1Rstd, h, g, outDense, res2, ln2Mean,
        ln2Rstd;

    /**
     * c hidden size, i intermediate size; forBackward: also keep the softmax statistics the
     * attention backward needs (inference skips them).
     */
    public Activations(Arena pool, long b, long t, long c, long i, long heads, boolean forBackward) {
      long n = b * t;
      qkv = pool.zeros(b, t, 3 * c);
      y = pool.zeros(b, t, c);
      lse = forBackward ? pool.zeros(b, heads, t) : null;
      attnDense = pool.zeros(n, c);
      res1 = pool.zeros(n, c);
      x1 = pool.zeros(n, c);
      ln1Mean = pool.zeros(n);
      ln1Rstd = pool.zeros(n);
      h = pool.zeros(n, i);
      g = pool.zeros(n, i);
      outDense = pool.zeros(n, c);
      res2 = pool.zeros(n, c);
      ln2Mean = pool.zeros(n);
      ln2Rstd = pool.zeros(n);
    }
  }

  /** Gradient scratch shared by all blocks of a model, for one (B, T). */
  public static final class Scratch {
    final Tensor dres2, dg, dh, dx1, dres1, dy, dqkv, dbranch;

    public Scratch(Arena pool, long b, long t, long c, long i) {
      long n = b * t;
      dres2 = pool.zeros(n, c);
      dg = pool.zeros(n, i);
      dh = pool.zeros(n, i);
      dx1 = pool.zeros(n, c);
      dres1 = pool.zeros(n, c);
      dy = pool.zeros(b, t, c);
      dqkv = pool.zeros(b, t, 3 * c);
      dbranch = pool.zeros(n, c);
    }
  }

  /**
   * out (B*T, C) = block(inp (B*T, C)); keyMask (B, T) int32 (0 = padding key) or null (no
   * padding). dropout: hidden dropout probability (0 = none); seed picks this step's masks.
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor keyMask, Activations a,
      float dropout, long seed) {
    forward(ctx, out, inp, keyMask, a, dropout, 0f, seed);
  }

  /**
   * {@link #forward} with also attention_probs_dropout_prob = attnDropout on the attention
   * probabilities (0 = none).
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor keyMask, Activations a,
      float dropout, float attnDropout, long seed) {
    long b = a.qkv.dim(0), t = a.qkv.dim(1), c3 = a.qkv.dim(2);
    qkv.forward(ctx, a.qkv.reshape(b * t, c3), inp);
    AttentionOps.forward(ctx, a.y, a.lse, a.qkv, keyMask, heads, false, attnDropout,
        attentionSeed(seed));
    attnOut.forward(ctx, a.attnDense, a.y.reshape(b * t, c3 / 3));
    if (dropout > 0) {
      Dropout.apply(a.attnDense, dropout, seed, 2L * index);
    }
    ln1.residualForward(ctx, a.res1, a.x1, a.ln1Mean, a.ln1Rstd, a.attnDense, inp);
    intermediate.forward(ctx, a.h, a.x1);
    PointwiseOps.geluErfForward(ctx, a.g, a.h);
    output.forward(ctx, a.outDense, a.g);
    if (dropout > 0) {
      Dropout.apply(a.outDense, dropout, seed, 2L * index + 1);
    }
    ln2.residualForward(ctx, a.res2, out, a.ln2Mean, a.ln2Rstd, a.outDense, a.x1);
  }

  /**
   * On entry dres holds the gradient of the block's output; on return, that of its input
   * (overwritten in place). Parameter gradients are added into the gradient slab.
   */
  public void backward(ComputeContext ctx, Tensor dres, Tensor inp, Tensor keyMask, Activations a,
      Scratch s, float dropout, long seed) {
    backward(ctx, dres, inp, keyMask, a, s, dropout, 0f, seed);
  }

  /** {@link #backward} of a forward with attention dropout (the same rates and seed). */
  public void backward(ComputeContext ctx, Tensor dres, Tensor inp, Tensor keyMask, Activations a,
      Scratch s, float dropout, float attnDropout, long seed) {
    long b = a.qkv.dim(0), t = a.qkv.dim(1), c3 = a.qkv.dim(2);
    // out = LN2(res2), res2 = x1 + outDense
    s.dres2.zero();
    ln2.backward(ctx, s.dres2, dres, a.res2, a.ln2Mean, a.ln2Rstd);
    Tensor dOutDense = s.dres2;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, s.dres2, dropout, seed, 2L * index + 1);
      dOutDense = s.dbranch;
    }
    output.backward(ctx, s.dg, dOutDense, a.g, false);
    s.dh.zero();
    PointwiseOps.geluErfBackward(ctx, s.dh, a.h, s.dg);
    s.dx1.copyFrom(s.dres2);
    intermediate.backward(ctx, s.dx1, s.dh, a.x1, true);
    // x1 = LN1(res1), res1 = inp + attnDense
    s.dres1.zero();
    ln1.backward(ctx, s.dres1, s.dx1, a.res1, a.ln1Mean, a.ln1Rstd);
    Tensor dAttnDense = s.dres1;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, s.dres1, dropout, seed, 2L * index);
      dAttnDense = s.dbranch;
    }
    attnOut.backward(ctx, s.dy.reshape(b * t, c3 / 3), dAttnDense, a.y.reshape(b * t, c3 / 3),
        false);
    s.dqkv.zero();
    AttentionOps.backward(ctx, s.dqkv, s.dy, a.qkv, a.y, a.lse, keyMask, heads, false, attnDropout,
        attentionSeed(seed));
    dres.copyFrom(s.dres1);
    qkv.backward(ctx, dres, s.dqkv.reshape(b * t, c3), inp, true);
  }

  /**
   * This layer's attention-dropout seed: {@link Dropout}'s per-site derivation at site
   * -2 - index, a site no hidden (2i, 2i + 1) or embedding (-1) dropout uses.
   */
  private long attentionSeed(long seed) {
    return Dropout.mix(seed * 0x9E3779B97F4A7C15L - 2L - index);
  }
}
