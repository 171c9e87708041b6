package dev.fuselm.ops;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/** Elementwise ops: GELU (tanh approximation and exact erf form), residual add, scaling. */
public final class PointwiseOps {
  private PointwiseOps() {}

  public static void geluForward(ComputeContext ctx, Tensor out, Tensor inp) {
    String op = "gelu_forward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, inp.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gelu_forward(ctx.handle(), out.address(), inp.address(), inp.numel()),
        "fl_gelu_forward");
    OpProfile.stop(prof, "fl_gelu_forward");
  }

  /** dinp += gelu'(inp) * dout. */
  public static void geluBackward(ComputeContext ctx, Tensor dinp, Tensor inp, Tensor dout) {
    String op = "gelu_backward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    Checks.shape(op, "dinp", dinp, ctx, DType.FLOAT32, inp.shape());
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, inp.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gelu_backward(
            ctx.handle(), dinp.address(), inp.address(), dout.address(), inp.numel()),
        "fl_gelu_backward");
    OpProfile.stop(prof, "fl_gelu_backward");
  }

  /** out = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU of BERT (out may be inp). */
  public static void geluErfForward(ComputeContext ctx, Tensor out, Tensor inp) {
    String op = "gelu_erf_forward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, inp.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gelu_erf_forward(ctx.handle(), out.address(), inp.address(), inp.numel()),
        "fl_gelu_erf_forward");
    OpProfile.stop(prof, "fl_gelu_erf_forward");
  }

  /** dinp += (Phi(inp) + inp phi(inp)) * dout, the exact GELU's derivative. */
  public static void geluErfBackward(ComputeContext ctx, Tensor dinp, Tensor inp, Tensor dout) {
    String op = "gelu_erf_backward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    Checks.shape(op, "dinp", dinp, ctx, DType.FLOAT32, inp.shape());
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, inp.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gelu_erf_backward(
            ctx.handle(), dinp.address(), inp.address(), dout.address(), inp.numel()),
        "fl_gelu_erf_backward");
    OpProfile.stop(prof, "fl_gelu_erf_backward");
  }

  /** out = a + b (out may be a or b). */
  public static void add(ComputeContext ctx, Tensor out, Tensor a, Tensor b) {
    String op = "add";
    Checks.live(op, "a", a, ctx, DType.FLOAT32);
    Checks.shape(op, "b", b, ctx, DType.FLOAT32, a.shape());
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, a.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_add(ctx.handle(), out.address(), a.address(), b.address(), a.numel()),
        "fl_add");
    OpProfile.stop(prof, "fl_add");
  }

  /** x *= s. */
  public static void scale(ComputeContext ctx, Tensor x, float s) {
    Checks.live("scale", "x", x, ctx, DType.FLOAT32);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_scale(ctx.handle(), x.address(), s, x.numel()), "fl_scale");
    OpProfile.stop(prof, "fl_scale");
  }
}
