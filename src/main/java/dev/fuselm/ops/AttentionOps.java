package dev.fuselm.ops;

import static dev.fuselm.ops.Checks.address;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * Fused multi-head attention on packed qkv (B, T, 3C) with NH heads: out (B, T, C), lse (B, NH, T).
 * causal for GPT; keyMask (B, T) int32 with 0 for padding keys, or null, for BERT. lse may be null
 * in inference (no backward).
 *
 * <p>The overloads with {@code dropout} and {@code seed} apply dropout to the attention
 * probabilities (after the softmax, kept ones scaled by 1 / (1 - dropout)); the mask is a pure
 * function of (seed, batch, head, query, key), so the backward given the forward's rate and seed
 * drops the same entries. dropout = 0 is exactly the plain functions.
 */
public final class AttentionOps {
  private AttentionOps() {}

  public static void forward(
      ComputeContext ctx, Tensor out, Tensor lse, Tensor qkv, Tensor keyMask, int heads,
      boolean causal) {
    forward(ctx, out, lse, qkv, keyMask, heads, causal, 0f, 0L);
  }

  /** {@link #forward} with attention-probability dropout of rate dropout in [0, 1). */
  public static void forward(
      ComputeContext ctx, Tensor out, Tensor lse, Tensor qkv, Tensor keyMask, int heads,
      boolean causal, float dropout, long seed) {
    String op = "attention_forward";
    long[] btc = check(op, ctx, qkv, keyMask, heads);
    long b = btc[0], t = btc[1], c = btc[2];
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, b, t, c);
    Checks.optionalShape(op, "lse", lse, ctx, DType.FLOAT32, b, heads, t);
    checkDropout(op, dropout);
    if (dropout > 0) {
      long prof = OpProfile.start();
      FuselmNativeException.check(
          FuselmNative.fl_attention_forward_dropout(
              ctx.handle(), out.address(), address(lse), qkv.address(), address(keyMask), b, t, c,
              heads, causal ? 1 : 0, dropout, seed),
          "fl_attention_forward_dropout");
      OpProfile.stop(prof, "fl_attention_forward_dropout");
      return;
    }
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_attention_forward(
            ctx.handle(), out.address(), address(lse), qkv.address(), address(keyMask), b, t, c,
            heads, causal ? 1 : 0),
        "fl_attention_forward");
    OpProfile.stop(prof, "fl_attention_forward");
  }

  /** dqkv (B, T, 3C) += gradient. */
  public static void backward(
      ComputeContext ctx, Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse,
      Tensor keyMask, int heads, boolean causal) {
    backward(ctx, dqkv, dout, qkv, out, lse, keyMask, heads, causal, 0f, 0L);
  }

  /** {@link #backward} of {@link #forward} with dropout: the same dropout and seed as the forward. */
  public static void backward(
      ComputeContext ctx, Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse,
      Tensor keyMask, int heads, boolean causal, float dropout, long seed) {
    String op = "attention_backward";
    long[] btc = check(op, ctx, qkv, keyMask, heads);
    long b = btc[0], t = btc[1], c = btc[2];
    Checks.shape(op, "dqkv", dqkv, ctx, DType.FLOAT32, qkv.shape());
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, b, t, c);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, b, t, c);
    Checks.shape(op, "lse", lse, ctx, DType.FLOAT32, b, heads, t);
    checkDropout(op, dropout);
    if (dropout > 0) {
      long prof = OpProfile.start();
      FuselmNativeException.check(
          FuselmNative.fl_attention_backward_dropout(
              ctx.handle(), dqkv.address(), dout.address(), qkv.address(), out.address(),
              lse.address(), address(keyMask), b, t, c, heads, causal ? 1 : 0, dropout, seed),
          "fl_attention_backward_dropout");
      OpProfile.stop(prof, "fl_attention_backward_dropout");
      return;
    }
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_attention_backward(
            ctx.handle(), dqkv.address(), dout.address(), qkv.address(), out.address(),
            lse.address(), address(keyMask), b, t, c, heads, causal ? 1 : 0),
        "fl_attention_backward");
    OpProfile.stop(prof, "fl_attention_backward");
  }

  /**
   * Generation with a KV cache: qkvCache (B, Tmax, 3C) holds the packed q/k/v rows of positions
   * 0..filled-1; out (B, Tq, C) receives causal attention for the last Tq of those positions.
   */
  public static void forwardCached(
      ComputeContext ctx, Tensor out, Tensor qkvCache, long filled, int heads) {
    String op = "attention_forward_cached";
    long[] btc = check(op, ctx, qkvCache, null, heads);
    long b = btc[0], tmax = btc[1], c = btc[2];
    Checks.live(op, "out", out, ctx, DType.FLOAT32);
    if (out.rank() != 3 || out.dim(0) != b || out.dim(2) != c) {
      throw new IllegalArgumentException(
          op + ": out has shape " + out.describe() + ", expected (" + b + ", Tq, " + c + ")");
    }
    long tq = out.dim(1);
    if (filled < tq || filled > tmax) {
      throw new IllegalArgumentException(
          op + ": the cache holds " + filled + " positions; need " + tq + " <= filled <= " + tmax);
    }
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_attention_forward_cached(
            ctx.handle(), out.address(), qkvCache.address(), b, filled, tmax, tq, c, heads),
        "fl_attention_forward_cached");
    OpProfile.stop(prof, "fl_attention_forward_cached");
  }

/**
   * Bidirectional attention over packed variable-length sequences (inference, no padding): qkv
   * (N, 3C) holds the sequences' rows back to back, sequence s being rows cuSeqlens[s] ..
   * cuSeqlens[s+1]-1 (cuSeqlens[0] = 0, non-decreasing, last = N); out (N, C). cuScratch is an
   * int32 tensor of at least cuSeqlens.length entries that receives the offsets. On the CPU backend
   * each sequence's rows are bitwise those {@link #forward} gives it padded and masked.
   */
  public static void forwardVarlen(ComputeContext ctx, Tensor out, Tensor qkv, int[] cuSeqlens,
      Tensor cuScratch, int heads) {
    String op = "attention_forward_varlen";
    Checks.live(op, "qkv", qkv, ctx, DType.FLOAT32);
    if (qkv.rank() != 2 || qkv.dim(1) % 3 != 0) {
      throw new IllegalArgumentException(op + ": qkv must be (N, 3C), got " + qkv.describe());
    }
    long n = qkv.dim(0), c = qkv.dim(1) / 3;
    if (heads <= 0 || c % heads != 0) {
      throw new IllegalArgumentException(op + ": C = " + c + " is not a positive multiple of "
          + heads + " heads");
    }
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, n, c);
    Checks.live(op, "cuScratch", cuScratch, ctx, DType.INT32);
    int nseq = cuSeqlens.length - 1;
    if (nseq < 0 || cuSeqlens[0] != 0 || cuSeqlens[nseq] != n) {
      throw new IllegalArgumentException(op + ": cuSeqlens must run from 0 to N = " + n);
    }
    for (int s = 0; s < nseq; s++) {
      if (cuSeqlens[s + 1] < cuSeqlens[s]) {
        throw new IllegalArgumentException(op + ": cuSeqlens decreases at " + (s + 1));
      }
    }
    if (cuScratch.numel() < cuSeqlens.length) {
      throw new IllegalArgumentException(op + ": cuScratch holds " + cuScratch.numel()
          + " ints, need " + cuSeqlens.length);
    }
    cuScratch.view(0, cuSeqlens.length).copyFrom(cuSeqlens);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_attention_forward_varlen(
            ctx.handle(), out.address(), qkv.address(), cuScratch.address(), nseq, c, heads),
        "fl_attention_forward_varlen");
    OpProfile.stop(prof, "fl_attention_forward_varlen");
  }

  private static void checkDropout(String op, float dropout) {
    if (!(dropout >= 0f && dropout < 1f)) {
      throw new IllegalArgumentException(
          op + ": dropout must be in [0, 1), got " + dropout);
    }
  }

  private static long[] check(String op, ComputeContext ctx, Tensor qkv, Tensor keyMask, int heads) {
    Checks.live(op, "qkv", qkv, ctx, DType.FLOAT32);
    if (qkv.rank() != 3 || qkv.dim(2) % 3 != 0) {
      throw new IllegalArgumentException(
          op + ": qkv must be (B, T, 3C), got " + qkv.describe());
    }
    long c = qkv.dim(2) / 3;
    Checks.positive(op, "heads", heads);
    if (c % heads != 0) {
      throw new IllegalArgumentException(
          op + ": C = " + c + " (from qkv " + qkv.describe() + ") is not divisible by " + heads
              + " heads");
    }
    Checks.optionalShape(op, "key_mask", keyMask, ctx, DType.INT32, qkv.dim(0), qkv.dim(1));
    return new long[] {qkv.dim(0), qkv.dim(1), c};
  }
}
