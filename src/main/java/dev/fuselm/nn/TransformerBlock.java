package dev.fuselm.nn;

import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A pre-LN GPT-2 block: {@code x + attn(ln_1(x))}, then {@code + mlp(ln_2(.))}, with optional
 * residual dropout on both branch outputs.
 */
public final class TransformerBlock {
  private final LayerNorm ln1;
  private final CausalSelfAttention attn;
  private final LayerNorm ln2;
  private final FeedForward mlp;
  private final int index;

  public TransformerBlock(
      int index, LayerNorm ln1, CausalSelfAttention attn, LayerNorm ln2, FeedForward mlp) {
    this.index = index;
    this.ln1 = ln1;
    this.attn = attn;
    this.ln2 = ln2;
    this.mlp = mlp;
  }

  public LayerNorm ln1() {
    return ln1;
  }

  public CausalSelfAttention attn() {
    return attn;
  }

  public LayerNorm ln2() {
    return ln2;
  }

  public FeedForward mlp() {
    return mlp;
  }

  /**
   * What one block saves in the forward pass for its backward, for one (B, T). In mixed precision
   * also the bfloat16 copies of the four linear layers' inputs (else those are null).
   */
  public static final class Activations {
    final Tensor ln1, ln1Mean, ln1Rstd, qkv, y, lse, attnOut, res2, ln2, ln2Mean, ln2Rstd, h, hGelu,
        mlpOut;
    final Tensor ln1Bf16, yBf16, ln2Bf16, hGeluBf16;

    public Activations(Arena pool, long b, long t, long c, long heads) {
      this(pool, b, t, c, heads, false);
    }

    /** With bf16: also the bfloat16 input copies of mixed-precision training. */
    public Activations(Arena pool, long b, long t, long c, long heads, boolean bf16) {
      long n = b * t;
      ln1 = pool.zeros(n, c);
      ln1Mean = pool.zeros(n);
      ln1Rstd = pool.zeros(n);
      qkv = pool.zeros(b, t, 3 * c);
      y = pool.zeros(b, t, c);
      lse = pool.zeros(b, heads, t);
      attnOut = pool.zeros(n, c);
      res2 = pool.zeros(n, c);
      ln2 = pool.zeros(n, c);
      ln2Mean = pool.zeros(n);
      ln2Rstd = pool.zeros(n);
      h = pool.zeros(n, 4 * c);
      hGelu = pool.zeros(n, 4 * c);
      mlpOut = pool.zeros(n, c);
      ln1Bf16 = bf16 ? pool.bf16(n, c) : null;
      yBf16 = bf16 ? pool.bf16(n, c) : null;
      ln2Bf16 = bf16 ? pool.bf16(n, c) : null;
      hGeluBf16 = bf16 ? pool.bf16(n, 4 * c) : null;
    }
  }

  /**
   * Gradient scratch shared by all blocks of a model, for one (B, T); in mixed precision also the
   * bfloat16 copy of a linear layer's output gradient (else null).
   */
  public static final class Scratch {
    final Tensor dln, dy, dqkv, dh, dhGelu, dbranch;
    final Tensor doutBf16;

    public Scratch(Arena pool, long b, long t, long c) {
      this(pool, b, t, c, false);
    }

    /** With bf16: also the bfloat16 output-gradient scratch of mixed-precision training. */
    public Scratch(Arena pool, long b, long t, long c, boolean bf16) {
      long n = b * t;
      dln = pool.zeros(n, c);
      dy = pool.zeros(b, t, c);
      dqkv = pool.zeros(b, t, 3 * c);
      dh = pool.zeros(n, 4 * c);
      dhGelu = pool.zeros(n, 4 * c);
      dbranch = pool.zeros(n, c);
      doutBf16 = bf16 ? pool.bf16(n * 4 * c) : null;
    }
  }

  /**
   * out (B*T, C) = block(inp). dropout: residual dropout probability (0 = none); seed picks the
   * masks of this step.
   */
  public void forward(
      ComputeContext ctx, Tensor out, Tensor inp, Activations a, float dropout, long seed) {
    forward(ctx, out, inp, a, dropout, 0f, seed);
  }

  /** {@link #forward} with also dropout of rate attnDropout on the attention probabilities. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Activations a, float dropout,
      float attnDropout, long seed) {
    ln1.forward(ctx, a.ln1, a.ln1Mean, a.ln1Rstd, inp);
    attn.forward(ctx, a.attnOut, a.ln1, a.qkv, a.y, a.lse, attnDropout, attentionSeed(seed),
        a.ln1Bf16, a.yBf16);
    if (dropout > 0) {
      Dropout.apply(a.attnOut, dropout, seed, 2L * index);
    }
    ln2.residualForward(ctx, a.res2, a.ln2, a.ln2Mean, a.ln2Rstd, inp, a.attnOut);
    mlp.forward(ctx, a.mlpOut, a.ln2, a.h, a.hGelu, a.ln2Bf16, a.hGeluBf16);
    if (dropout > 0) {
      Dropout.apply(a.mlpOut, dropout, seed, 2L * index + 1);
    }
    PointwiseOps.add(ctx, out, a.res2, a.mlpOut);
  }

  /**
   * On entry dres holds the gradient of the block's output; on return, that of its input (updated
   * in place). Parameter gradients are added into the gradient slab.
   */
  public void backward(
      ComputeContext ctx, Tensor dres, Tensor inp, Activations a, Scratch s, float dropout,
      long seed) {
    backward(ctx, dres, inp, a, s, dropout, 0f, seed);
  }

  /** {@link #backward} of a forward with attention dropout (the same rates and seed). */
  public void backward(ComputeContext ctx, Tensor dres, Tensor inp, Activations a, Scratch s,
      float dropout, float attnDropout, long seed) {
    Tensor dMlpOut = dres;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, dres, dropout, seed, 2L * index + 1);
      dMlpOut = s.dbranch;
    }
    mlp.backward(ctx, s.dln, dMlpOut, a.ln2, a.h, a.hGelu, s.dh, s.dhGelu, a.ln2Bf16, a.hGeluBf16,
        s.doutBf16);
    ln2.backward(ctx, dres, s.dln, a.res2, a.ln2Mean, a.ln2Rstd);
    Tensor dAttnOut = dres;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, dres, dropout, seed, 2L * index);
      dAttnOut = s.dbranch;
    }
    attn.backward(ctx, s.dln, dAttnOut, a.ln1, a.qkv, a.y, a.lse, s.dy, s.dqkv, attnDropout,
        attentionSeed(seed), a.ln1Bf16, a.yBf16, s.doutBf16);
    ln1.backward(ctx, dres, s.dln, inp, a.ln1Mean, a.ln1Rstd);
  }

  /**
   * This block's attention-dropout seed: {@link Dropout}'s per-site derivation at site
   * -2 - index, a site no residual (2i, 2i + 1) or embedding (-1) dropout uses.
   */
  private long attentionSeed(long seed) {
    return Dropout.mix(seed * 0x9E3779B97F4A7C15L - 2L - index);
  }
}
