package dev.fuselm.ops;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;

/** Fused optimizer kernels over whole parameter slabs. */
public final class OptimizerOps {
  private OptimizerOps() {}

  /** The global L2 norm of a gradient tensor (accumulated in double). */
  public static float gradNorm(ComputeContext ctx, Tensor grads) {
    Checks.live("grad_norm", "grads", grads, ctx, DType.FLOAT32);
    float[] out = new float[1];
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_grad_norm(ctx.handle(), out, grads.address(), grads.numel()), "fl_grad_norm");
    OpProfile.stop(prof, "fl_grad_norm");
    return out[0];
  }

  /**
   * One AdamW step (PyTorch's formula) over every parameter of the slab; weight decay applies to the
   * segments flagged as decaying. Gradients are scaled by gradScale first (clipping). t >= 1.
   */
  public static void adamwStep(
      ComputeContext ctx, ParameterSlab params, ParameterSlab grads, ParameterSlab m,
      ParameterSlab v, float lr, float beta1, float beta2, float eps, float weightDecay, long t,
      float gradScale) {
    String op = "adamw_step";
    long n = params.size();
    Checks.numel(op, "params", params.flat(), ctx, DType.FLOAT32, n);
    Checks.numel(op, "grads", grads.flat(), ctx, DType.FLOAT32, n);
    Checks.numel(op, "m", m.flat(), ctx, DType.FLOAT32, n);
    Checks.numel(op, "v", v.flat(), ctx, DType.FLOAT32, n);
    if (t < 1) {
      throw new IllegalArgumentException(op + ": step t must be >= 1, got " + t);
    }
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0)) {
      throw new IllegalArgumentException(
          op + ": need lr >= 0, 0 <= beta1, beta2 < 1 and eps > 0; got lr=" + lr + " beta1=" + beta1
              + " beta2=" + beta2 + " eps=" + eps);
    }
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_adamw_step(
            ctx.handle(), params.flat().address(), grads.flat().address(), m.flat().address(),
            v.flat().address(), n, params.segmentOffsetsAddress(), params.segmentDecayAddress(),
            params.segmentCount(), lr, beta1, beta2, eps, weightDecay, t, gradScale),
        "fl_adamw_step");
    OpProfile.stop(prof, "fl_adamw_step");
  }
}
