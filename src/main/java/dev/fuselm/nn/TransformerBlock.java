package dev.fuselm.nn;

import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.function.Function;

/**
 * One transformer block: attention then MLP, each a residual branch with optional dropout on its
 * output, normalised either before the branch (GPT-2) or after the residual add (BERT):
 *
 * <pre>
 *   PRE  (GPT-2):  s = x + attn(ln_1(x));   out = s + mlp(ln_2(s))
 *   POST (BERT):   n = LN1(x + attn(x));    out = LN2(n + mlp(n))
 * </pre>
 *
 * <p>Causal or bidirectional attention is the {@link CausalSelfAttention}'s property; a key padding
 * mask, if any, is given per forward. Hugging Face names: GPT-2's {@code ln_1}, {@code attn},
 * {@code ln_2}, {@code mlp}; BERT's {@code attention.output.LayerNorm} is ln1, its
 * {@code output.LayerNorm} ln2.
 */
public final class TransformerBlock {
  /** Where the layer norms sit. */
  public enum Norm {
    /** Before each branch, on its input (GPT-2); the residual stream is not normalised. */
    PRE,
    /** After each residual add (BERT): the block's output is normalised. */
    POST
  }

  private final Norm norm;
  private final LayerNorm ln1;
  private final CausalSelfAttention attn;
  private final LayerNorm ln2;
  private final FeedForward mlp;
  private final int index;

  /** A pre-LN (GPT-2) block. */
  public TransformerBlock(
      int index, LayerNorm ln1, CausalSelfAttention attn, LayerNorm ln2, FeedForward mlp) {
    this(index, Norm.PRE, ln1, attn, ln2, mlp);
  }

  /** index picks the block's dropout sites; ln1 goes with the attention, ln2 with the MLP. */
  public TransformerBlock(int index, Norm norm, LayerNorm ln1, CausalSelfAttention attn,
      LayerNorm ln2, FeedForward mlp) {
    this.index = index;
    this.norm = norm;
    this.ln1 = ln1;
    this.attn = attn;
    this.ln2 = ln2;
    this.mlp = mlp;
  }

  public Norm norm() {
    return norm;
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
   * What one block saves in the forward pass for its backward, for one (B, T). Pre-LN: norm1 =
   * ln_1(x), sum1 = x + attn, norm2 = ln_2(sum1). Post-LN: sum1 = x + attn, norm1 = LN1(sum1), sum2
   * = norm1 + mlp (norm2 unused: the block's output is LN2(sum2)). In mixed precision also the
   * bfloat16 copies of the four projections' inputs (else those are null).
   */
  public static final class Activations {
    final Tensor norm1, mean1, rstd1, qkv, y, lse, attnOut, sum1, norm2, mean2, rstd2, h, hGelu,
        mlpOut, sum2;
    final Tensor ln1Bf16, yBf16, ln2Bf16, hGeluBf16;

    public Activations(Arena pool, long b, long t, long c, long heads) {
      this(pool, b, t, c, heads, false);
    }

    /** A pre-LN (GPT-2) block's, MLP width 4C; with bf16: also the bfloat16 input copies. */
    public Activations(Arena pool, long b, long t, long c, long heads, boolean bf16) {
      long n = b * t;
      norm1 = pool.zeros(n, c);
      mean1 = pool.zeros(n);
      rstd1 = pool.zeros(n);
      qkv = pool.zeros(b, t, 3 * c);
      y = pool.zeros(b, t, c);
      lse = pool.zeros(b, heads, t);
      attnOut = pool.zeros(n, c);
      sum1 = pool.zeros(n, c);
      norm2 = pool.zeros(n, c);
      mean2 = pool.zeros(n);
      rstd2 = pool.zeros(n);
      h = pool.zeros(n, 4 * c);
      hGelu = pool.zeros(n, 4 * c);
      mlpOut = pool.zeros(n, c);
      sum2 = null;
      ln1Bf16 = bf16 ? pool.bf16(n, c) : null;
      yBf16 = bf16 ? pool.bf16(n, c) : null;
      ln2Bf16 = bf16 ? pool.bf16(n, c) : null;
      hGeluBf16 = bf16 ? pool.bf16(n, 4 * c) : null;
    }

    /** A post-LN (BERT) block's, float32, MLP width inter; zeroed or uninitialised. */
    private Activations(Arena pool, long b, long t, long c, long inter, long heads,
        boolean forBackward, boolean zeroed) {
      long n = b * t;
      Function<long[], Tensor> take = zeroed ? pool::zeros : pool::floats;
      qkv = take.apply(new long[] {b, t, 3 * c});
      y = take.apply(new long[] {b, t, c});
      lse = forBackward ? take.apply(new long[] {b, heads, t}) : null;
      attnOut = take.apply(new long[] {n, c});
      sum1 = take.apply(new long[] {n, c});
      norm1 = take.apply(new long[] {n, c});
      mean1 = take.apply(new long[] {n});
      rstd1 = take.apply(new long[] {n});
      h = take.apply(new long[] {n, inter});
      hGelu = take.apply(new long[] {n, inter});
      mlpOut = take.apply(new long[] {n, c});
      sum2 = take.apply(new long[] {n, c});
      mean2 = take.apply(new long[] {n});
      rstd2 = take.apply(new long[] {n});
      norm2 = null;
      ln1Bf16 = yBf16 = ln2Bf16 = hGeluBf16 = null;
    }

    /**
     * A post-LN (BERT) block's: c hidden size, inter MLP width; forBackward: also keep the softmax
     * statistics the attention backward needs (inference skips them).
     */
    public static Activations postLn(Arena pool, long b, long t, long c, long inter, long heads,
        boolean forBackward) {
      return new Activations(pool, b, t, c, inter, heads, forBackward, true);
    }

    /**
     * A post-LN (BERT) block's for one inference forward over n rows (B = 1, T = n), left
     * uninitialised: every tensor is written before it is read, so nothing is zero-filled per call.
     */
    public static Activations postLnInference(Arena pool, long n, long c, long inter, long heads) {
      return new Activations(pool, 1, n, c, inter, heads, false, false);
    }
  }

  /**
   * Gradient scratch shared by all blocks of a model, for one (B, T); in mixed precision also the
   * bfloat16 copy of a linear layer's output gradient (else null).
   */
  public static final class Scratch {
    final Tensor dln, dy, dqkv, dh, dhGelu, dbranch, dsum;
    final Tensor doutBf16;

    public Scratch(Arena pool, long b, long t, long c) {
      this(pool, b, t, c, false);
    }

    /** A pre-LN (GPT-2) model's; with bf16: also the bfloat16 output-gradient scratch. */
    public Scratch(Arena pool, long b, long t, long c, boolean bf16) {
      long n = b * t;
      dln = pool.zeros(n, c);
      dy = pool.zeros(b, t, c);
      dqkv = pool.zeros(b, t, 3 * c);
      dh = pool.zeros(n, 4 * c);
      dhGelu = pool.zeros(n, 4 * c);
      dbranch = pool.zeros(n, c);
      dsum = null;
      doutBf16 = bf16 ? pool.bf16(n * 4 * c) : null;
    }

    private Scratch(Arena pool, long b, long t, long c, long inter) {
      long n = b * t;
      dsum = pool.zeros(n, c);
      dhGelu = pool.zeros(n, inter);
      dh = pool.zeros(n, inter);
      dln = pool.zeros(n, c);
      dy = pool.zeros(b, t, c);
      dqkv = pool.zeros(b, t, 3 * c);
      dbranch = pool.zeros(n, c);
      doutBf16 = null;
    }

    /** A post-LN (BERT) model's, float32, MLP width inter. */
    public static Scratch postLn(Arena pool, long b, long t, long c, long inter) {
      return new Scratch(pool, b, t, c, inter);
    }
  }

  /**
   * out (B*T, C) = block(inp). dropout: residual dropout probability (0 = none); seed picks the
   * masks of this step.
   */
  public void forward(
      ComputeContext ctx, Tensor out, Tensor inp, Activations a, float dropout, long seed) {
    forward(ctx, out, inp, null, a, dropout, 0f, seed);
  }

  /** {@link #forward} with also dropout of rate attnDropout on the attention probabilities. */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Activations a, float dropout,
      float attnDropout, long seed) {
    forward(ctx, out, inp, null, a, dropout, attnDropout, seed);
  }

  /**
   * {@link #forward} with keyMask (B, T) int32, 0 for a padding key no query attends to (null: no
   * padding).
   */
  public void forward(ComputeContext ctx, Tensor out, Tensor inp, Tensor keyMask, Activations a,
      float dropout, float attnDropout, long seed) {
    if (norm == Norm.POST) {
      forwardPostLn(ctx, out, inp, keyMask, a, dropout, attnDropout, seed);
      return;
    }
    ln1.forward(ctx, a.norm1, a.mean1, a.rstd1, inp);
    preLnBranches(ctx, inp, keyMask, a, dropout, attnDropout, seed);
    PointwiseOps.add(ctx, out, a.sum1, a.mlpOut);
  }

  /**
   * Where a pre-LN block's last residual add also writes the layer norm of its output, in the same
   * pass over the rows: the next block's ln_1 into that block's activations, or the model's final
   * norm into out, mean and rstd.
   */
  public record NextNorm(LayerNorm ln, Tensor out, Tensor mean, Tensor rstd) {
    /** The next block's ln_1, written where that block's forward reads it. */
    public static NextNorm of(TransformerBlock next, Activations a) {
      return new NextNorm(next.ln1, a.norm1, a.mean1, a.rstd1);
    }
  }

  /**
   * A pre-LN (GPT-2) block's {@link #forward} with the residual add fused into the next layer norm
   * (llm.c's fused residual forward): out = sum1 + mlp and next.ln(out) in one pass, instead of an
   * add here and a layer norm at the start of the next block. inputNormed: this block's ln_1 of inp
   * is already in a (the previous block wrote it through {@link NextNorm#of}), so it is not
   * recomputed. Bitwise the same as {@link #forward} then next.ln: the fused kernel adds with the
   * same float additions, stores the sum and normalises the stored row as the plain kernel does.
   */
  public void forwardFusedNorm(ComputeContext ctx, Tensor out, Tensor inp, Activations a,
      float dropout, float attnDropout, long seed, boolean inputNormed, NextNorm next) {
    if (norm != Norm.PRE) {
      throw new IllegalStateException("the fused residual norm is for pre-LN (GPT-2) blocks");
    }
    if (!inputNormed) {
      ln1.forward(ctx, a.norm1, a.mean1, a.rstd1, inp);
    }
    preLnBranches(ctx, inp, null, a, dropout, attnDropout, seed);
    next.ln().residualForward(ctx, out, next.out(), next.mean(), next.rstd(), a.sum1, a.mlpOut);
  }

  // A pre-LN block from its ln_1 output (in a.norm1) to both branches' outputs: attention, its
  // residual add fused into ln_2, the MLP (a.sum1 and a.mlpOut are the last residual's operands).
  private void preLnBranches(ComputeContext ctx, Tensor inp, Tensor keyMask, Activations a,
      float dropout, float attnDropout, long seed) {
    attn.forward(ctx, a.attnOut, a.norm1, a.qkv, a.y, a.lse, keyMask, attnDropout,
        attentionSeed(seed), a.ln1Bf16, a.yBf16);
    if (dropout > 0) {
      Dropout.apply(a.attnOut, dropout, seed, 2L * index);
    }
    ln2.residualForward(ctx, a.sum1, a.norm2, a.mean2, a.rstd2, inp, a.attnOut);
    mlp.forward(ctx, a.mlpOut, a.norm2, a.h, a.hGelu, a.ln2Bf16, a.hGeluBf16);
    if (dropout > 0) {
      Dropout.apply(a.mlpOut, dropout, seed, 2L * index + 1);
    }
  }

  private void forwardPostLn(ComputeContext ctx, Tensor out, Tensor inp, Tensor keyMask,
      Activations a, float dropout, float attnDropout, long seed) {
    attn.forward(ctx, a.attnOut, inp, a.qkv, a.y, a.lse, keyMask, attnDropout,
        attentionSeed(seed), null, null);
    if (dropout > 0) {
      Dropout.apply(a.attnOut, dropout, seed, 2L * index);
    }
    ln1.residualForward(ctx, a.sum1, a.norm1, a.mean1, a.rstd1, a.attnOut, inp);
    mlp.forward(ctx, a.mlpOut, a.norm1, a.h, a.hGelu, null, null);
    if (dropout > 0) {
      Dropout.apply(a.mlpOut, dropout, seed, 2L * index + 1);
    }
    ln2.residualForward(ctx, a.sum2, out, a.mean2, a.rstd2, a.mlpOut, a.norm1);
  }

  /**
   * Inference forward of a post-LN (BERT) block over packed variable-length sequences: inp and out
   * (N, C) hold the sequences' rows back to back, cuSeqlens their offsets (0 .. N) and cuScratch an
   * int32 tensor of at least as many entries; a from {@link Activations#postLn} with B = 1, T = N.
   * No dropout; each row is bitwise what {@link #forward} with a padding mask gives it on the CPU
   * backend when the linear layers' rows do not depend on the row count.
   */
  public void forwardPacked(ComputeContext ctx, Tensor out, Tensor inp, int[] cuSeqlens,
      Tensor cuScratch, Activations a) {
    forwardPacked(ctx, out, inp, cuSeqlens, cuScratch, a, false);
  }

  /**
   * {@link #forwardPacked}; bf16Weights: every projection on its bf16 weight copy, its input
   * rounded to bf16 inside the GEMM (float32 sums, layer norms, attention and residuals). The MLP's
   * GELU runs in the first GEMM's epilogue (float32: bit for bit the separate pass).
   */
  public void forwardPacked(ComputeContext ctx, Tensor out, Tensor inp, int[] cuSeqlens,
      Tensor cuScratch, Activations a, boolean bf16Weights) {
    if (norm != Norm.POST) {
      throw new IllegalStateException("the packed forward is for post-LN (BERT) blocks");
    }
    long n = inp.dim(0), c = inp.dim(1);
    attn.forwardPacked(ctx, a.attnOut, inp, a.qkv.reshape(n, 3 * c), a.y.reshape(n, c),
        cuSeqlens, cuScratch, bf16Weights);
    ln1.residualForward(ctx, a.sum1, a.norm1, a.mean1, a.rstd1, a.attnOut, inp);
    mlp.forwardInference(ctx, a.mlpOut, a.norm1, a.hGelu, bf16Weights);
    ln2.residualForward(ctx, a.sum2, out, a.mean2, a.rstd2, a.mlpOut, a.norm1);
  }

  /**
   * On entry dres holds the gradient of the block's output; on return, that of its input (updated
   * in place). Parameter gradients are added into the gradient slab.
   */
  public void backward(
      ComputeContext ctx, Tensor dres, Tensor inp, Activations a, Scratch s, float dropout,
      long seed) {
    backward(ctx, dres, inp, null, a, s, dropout, 0f, seed);
  }

  /** {@link #backward} of a forward with attention dropout (the same rates and seed). */
  public void backward(ComputeContext ctx, Tensor dres, Tensor inp, Activations a, Scratch s,
      float dropout, float attnDropout, long seed) {
    backward(ctx, dres, inp, null, a, s, dropout, attnDropout, seed);
  }

  /** {@link #backward} of a forward with keyMask (the same mask, rates and seed). */
  public void backward(ComputeContext ctx, Tensor dres, Tensor inp, Tensor keyMask, Activations a,
      Scratch s, float dropout, float attnDropout, long seed) {
    if (norm == Norm.POST) {
      backwardPostLn(ctx, dres, inp, keyMask, a, s, dropout, attnDropout, seed);
      return;
    }
    Tensor dMlpOut = dres;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, dres, dropout, seed, 2L * index + 1);
      dMlpOut = s.dbranch;
    }
    mlp.backward(ctx, s.dln, dMlpOut, a.norm2, a.h, a.hGelu, s.dh, s.dhGelu, a.ln2Bf16,
        a.hGeluBf16, s.doutBf16);
    ln2.backward(ctx, dres, s.dln, a.sum1, a.mean2, a.rstd2);
    Tensor dAttnOut = dres;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, dres, dropout, seed, 2L * index);
      dAttnOut = s.dbranch;
    }
    attn.backward(ctx, s.dln, false, dAttnOut, a.norm1, a.qkv, a.y, a.lse, keyMask, s.dy, s.dqkv,
        attnDropout, attentionSeed(seed), a.ln1Bf16, a.yBf16, s.doutBf16);
    ln1.backward(ctx, dres, s.dln, inp, a.mean1, a.rstd1);
  }

  private void backwardPostLn(ComputeContext ctx, Tensor dres, Tensor inp, Tensor keyMask,
      Activations a, Scratch s, float dropout, float attnDropout, long seed) {
    // out = LN2(sum2), sum2 = norm1 + mlpOut
    s.dsum.zero();
    ln2.backward(ctx, s.dsum, dres, a.sum2, a.mean2, a.rstd2);
    Tensor dMlpOut = s.dsum;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, s.dsum, dropout, seed, 2L * index + 1);
      dMlpOut = s.dbranch;
    }
    s.dln.copyFrom(s.dsum); // norm1's gradient through the residual; the MLP's is added to it
    mlp.backward(ctx, s.dln, true, dMlpOut, a.norm1, a.h, a.hGelu, s.dh, s.dhGelu, null, null,
        null);
    // norm1 = LN1(sum1), sum1 = inp + attnOut
    s.dsum.zero();
    ln1.backward(ctx, s.dsum, s.dln, a.sum1, a.mean1, a.rstd1);
    Tensor dAttnOut = s.dsum;
    if (dropout > 0) {
      Dropout.apply(s.dbranch, s.dsum, dropout, seed, 2L * index);
      dAttnOut = s.dbranch;
    }
    dres.copyFrom(s.dsum); // inp's gradient through the residual; the attention's is added to it
    attn.backward(ctx, dres, true, dAttnOut, inp, a.qkv, a.y, a.lse, keyMask, s.dy, s.dqkv,
        attnDropout, attentionSeed(seed), null, null, null);
  }

  /**
   * This block's attention-dropout seed: {@link Dropout}'s per-site derivation at site
   * -2 - index, a site no residual (2i, 2i + 1) or embedding (-1) dropout uses.
   */
  private long attentionSeed(long seed) {
    return Dropout.mix(seed * 0x9E3779B97F4A7C15L - 2L - index);
  }
}
