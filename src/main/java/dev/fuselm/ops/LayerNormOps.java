package dev.fuselm.ops;

import static dev.fuselm.ops.Checks.address;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * Layer norm over the last dimension C of an (..., C) input, with N rows. mean and rstd (N) are
 * saved for backward (null in inference).
 */
public final class LayerNormOps {
  private LayerNormOps() {}

  public static void forward(
      ComputeContext ctx, Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight,
      Tensor bias, float eps) {
    String op = "layernorm_forward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    long c = inp.dim(-1);
    long n = Checks.rows(inp);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, inp.shape());
    checkStats(op, ctx, mean, rstd, n);
    Checks.shape(op, "weight", weight, ctx, DType.FLOAT32, c);
    Checks.shape(op, "bias", bias, ctx, DType.FLOAT32, c);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_layernorm_forward(
            ctx.handle(), out.address(), address(mean), address(rstd), inp.address(),
            weight.address(), bias.address(), n, c, eps),
        "fl_layernorm_forward");
    OpProfile.stop(prof, "fl_layernorm_forward");
  }

  /** Adds into dinp, dweight, dbias (each may be null when not wanted). */
  public static void backward(
      ComputeContext ctx, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp,
      Tensor weight, Tensor mean, Tensor rstd) {
    String op = "layernorm_backward";
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    long c = inp.dim(-1);
    long n = Checks.rows(inp);
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, inp.shape());
    Checks.optionalShape(op, "dinp", dinp, ctx, DType.FLOAT32, inp.shape());
    Checks.shape(op, "weight", weight, ctx, DType.FLOAT32, c);
    Checks.optionalShape(op, "dweight", dweight, ctx, DType.FLOAT32, c);
    Checks.optionalShape(op, "dbias", dbias, ctx, DType.FLOAT32, c);
    Checks.shape(op, "mean", mean, ctx, DType.FLOAT32, n);
    Checks.shape(op, "rstd", rstd, ctx, DType.FLOAT32, n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_layernorm_backward(
            ctx.handle(), address(dinp), address(dweight), address(dbias), dout.address(),
            inp.address(), weight.address(), mean.address(), rstd.address(), n, c),
        "fl_layernorm_backward");
    OpProfile.stop(prof, "fl_layernorm_backward");
  }

  /** residualOut = a + b; out = layernorm(residualOut). */
  public static void residualForward(
      ComputeContext ctx, Tensor residualOut, Tensor out, Tensor mean, Tensor rstd, Tensor a,
      Tensor b, Tensor weight, Tensor bias, float eps) {
    String op = "residual_layernorm_forward";
    Checks.live(op, "a", a, ctx, DType.FLOAT32);
    long c = a.dim(-1);
    long n = Checks.rows(a);
    Checks.shape(op, "b", b, ctx, DType.FLOAT32, a.shape());
    Checks.shape(op, "residual_out", residualOut, ctx, DType.FLOAT32, a.shape());
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, a.shape());
    checkStats(op, ctx, mean, rstd, n);
    Checks.shape(op, "weight", weight, ctx, DType.FLOAT32, c);
    Checks.shape(op, "bias", bias, ctx, DType.FLOAT32, c);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_residual_layernorm_forward(
            ctx.handle(), residualOut.address(), out.address(), address(mean), address(rstd),
            a.address(), b.address(), weight.address(), bias.address(), n, c, eps),
        "fl_residual_layernorm_forward");
    OpProfile.stop(prof, "fl_residual_layernorm_forward");
  }

  private static void checkStats(String op, ComputeContext ctx, Tensor mean, Tensor rstd, long n) {
    Checks.optionalShape(op, "mean", mean, ctx, DType.FLOAT32, n);
    Checks.optionalShape(op, "rstd", rstd, ctx, DType.FLOAT32, n);
  }
}
