package dev.fuselm.ops;

import static dev.fuselm.ops.Checks.address;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/** Row-wise softmax over the last dimension, and the fused softmax + cross-entropy loss. */
public final class SoftmaxOps {
  /** Targets equal to this are ignored, as in PyTorch's cross_entropy. */
  public static final int IGNORE_INDEX = -100;

  private SoftmaxOps() {}

  public static void softmaxForward(ComputeContext ctx, Tensor out, Tensor inp) {
    String op = "softmax_forward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, inp.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_softmax_forward(
            ctx.handle(), out.address(), inp.address(), Checks.rows(inp), inp.dim(-1)),
        "fl_softmax_forward");
    OpProfile.stop(prof, "fl_softmax_forward");
  }

  /** dinp += softmax gradient, given the forward output. */
  public static void softmaxBackward(ComputeContext ctx, Tensor dinp, Tensor out, Tensor dout) {
    String op = "softmax_backward";
    Checks.live(op, "out", out, ctx, DType.FLOAT32);
    Checks.shape(op, "dinp", dinp, ctx, DType.FLOAT32, out.shape());
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, out.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_softmax_backward(
            ctx.handle(), dinp.address(), out.address(), dout.address(), Checks.rows(out),
            out.dim(-1)),
        "fl_softmax_backward");
    OpProfile.stop(prof, "fl_softmax_backward");
  }

  /** The mean loss over non-ignored rows and how many rows that was. */
  public record Loss(float mean, long count) {}

  /**
   * Cross-entropy of logits (..., V) against int32 targets (...), each in [0, V) or IGNORE_INDEX.
   * lse (rows) is saved for backward; losses (rows) receives per-row losses, or is null.
   */
  public static Loss crossEntropyForward(
      ComputeContext ctx, Tensor losses, Tensor lse, Tensor logits, Tensor targets) {
    String op = "cross_entropy_forward";
    Checks.live(op, "logits", logits, ctx, DType.FLOAT32);
    long v = logits.dim(-1);
    long n = Checks.rows(logits);
    Checks.numel(op, "targets", targets, ctx, DType.INT32, n);
    Checks.numel(op, "lse", lse, ctx, DType.FLOAT32, n);
    if (losses != null) {
      Checks.numel(op, "losses", losses, ctx, DType.FLOAT32, n);
    }
    checkTargets(op, targets, v);
    float[] mean = new float[1];
    long[] count = new long[1];
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_cross_entropy_forward(
            ctx.handle(), mean, count, address(losses), lse.address(), logits.address(),
            targets.address(), n, v, IGNORE_INDEX),
        "fl_cross_entropy_forward");
    OpProfile.stop(prof, "fl_cross_entropy_forward");
    return new Loss(mean[0], count[0]);
  }

  /**
   * dlogits = dloss * (softmax - onehot) / count for non-ignored rows, 0 for ignored ones.
   * Overwrites dlogits, which may be the logits tensor itself.
   */
  public static void crossEntropyBackward(
      ComputeContext ctx, Tensor dlogits, Tensor logits, Tensor lse, Tensor targets, float dloss,
      long count) {
    String op = "cross_entropy_backward";
    Checks.live(op, "logits", logits, ctx, DType.FLOAT32);
    long v = logits.dim(-1);
    long n = Checks.rows(logits);
    Checks.shape(op, "dlogits", dlogits, ctx, DType.FLOAT32, logits.shape());
    Checks.numel(op, "targets", targets, ctx, DType.INT32, n);
    Checks.numel(op, "lse", lse, ctx, DType.FLOAT32, n);
    checkTargets(op, targets, v);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_cross_entropy_backward(
            ctx.handle(), dlogits.address(), logits.address(), lse.address(), targets.address(), n,
            v, IGNORE_INDEX, dloss, count),
        "fl_cross_entropy_backward");
    OpProfile.stop(prof, "fl_cross_entropy_backward");
  }

  private static void checkTargets(String op, Tensor targets, long v) {
    int[] t = targets.toIntArray();
    for (int i = 0; i < t.length; i++) {
      if (t[i] != IGNORE_INDEX && (t[i] < 0 || t[i] >= v)) {
        throw new IllegalArgumentException(
            op + ": targets[" + i + "] = " + t[i] + " is outside [0, " + v + ") and is not the"
                + " ignore index " + IGNORE_INDEX);
      }
    }
  }
}
