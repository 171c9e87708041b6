package dev.fuselm.ops;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/** Conversions between float32 and bfloat16 tensors (bf16 weights for generation). */
public final class Bf16Ops {
  private Bf16Ops() {}

  /**
   * dst (bfloat16) = src (float32, same shape) rounded to nearest, ties to even; values beyond
   * bf16's range become infinities, NaN stays NaN.
   */
  public static void narrow(ComputeContext ctx, Tensor dst, Tensor src) {
    String op = "f32_to_bf16";
    Checks.live(op, "src", src, ctx, DType.FLOAT32);
    Checks.shape(op, "dst", dst, ctx, DType.BFLOAT16, src.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_f32_to_bf16(ctx.handle(), dst.address(), src.address(), src.numel()),
        "fl_f32_to_bf16");
    OpProfile.stop(prof, "fl_f32_to_bf16");
  }

  /** dst (float32) = src (bfloat16, same shape) widened exactly. */
  public static void widen(ComputeContext ctx, Tensor dst, Tensor src) {
    String op = "bf16_to_f32";
    Checks.live(op, "src", src, ctx, DType.BFLOAT16);
    Checks.shape(op, "dst", dst, ctx, DType.FLOAT32, src.shape());
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_bf16_to_f32(ctx.handle(), dst.address(), src.address(), src.numel()),
        "fl_bf16_to_f32");
    OpProfile.stop(prof, "fl_bf16_to_f32");
  }

  /** A new bfloat16 tensor (owned: close it) holding src rounded to nearest even. */
  public static Tensor toBf16(ComputeContext ctx, Tensor src) {
    Tensor t = Tensor.zeros(ctx, DType.BFLOAT16, src.shape());
    try {
      narrow(ctx, t, src);
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }
}
