package dev.fuselm.ops;

import static dev.fuselm.ops.Checks.address;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/** Matrix multiplication on 2-D row-major tensors. */
public final class GemmOps {
  private GemmOps() {}

  /**
   * c = alpha * op(a) * op(b) + beta * c. op(a) is (M, K): a is (M, K), or (K, M) when transA.
   * op(b) is (K, N): b is (K, N), or (N, K) when transB. c is (M, N).
   */
  public static void sgemm(
      ComputeContext ctx,
      boolean transA,
      boolean transB,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor c) {
    String op = "sgemm";
    Dims d = dims(op, ctx, transA, transB, a, b, DType.FLOAT32);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_sgemm(
            ctx.handle(), transA ? 1 : 0, transB ? 1 : 0, d.m, d.n, d.k, alpha, a.address(),
            a.dim(1), b.address(), b.dim(1), beta, c.address(), d.n),
        "fl_sgemm");
    OpProfile.stopGemm(prof, "fl_sgemm", transA, transB, d.m, d.n, d.k);
  }

  /** c = op(a) * op(b) + bias, bias (N) broadcast over rows (null: none). */
  public static void sgemmBias(
      ComputeContext ctx, boolean transA, boolean transB, Tensor a, Tensor b, Tensor bias, Tensor c) {
    String op = "sgemm_bias";
    Dims d = dims(op, ctx, transA, transB, a, b, DType.FLOAT32);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, d.n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_sgemm_bias(
            ctx.handle(), transA ? 1 : 0, transB ? 1 : 0, d.m, d.n, d.k, a.address(), a.dim(1),
            b.address(), b.dim(1), address(bias), c.address(), d.n),
        "fl_sgemm_bias");
    OpProfile.stopGemm(prof, "fl_sgemm_bias", transA, transB, d.m, d.n, d.k);
  }

  /**
   * c = alpha * op(a) * op(b) + beta * c (+ bias) with b in bfloat16 (weights for generation: half
   * the bytes to read), a, c and the optional bias (N) float32; the products and sums are float32's
   * on b widened exactly. Shapes as {@link #sgemm}.
   */
  public static void sgemmBf16w(
      ComputeContext ctx,
      boolean transA,
      boolean transB,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor bias,
      Tensor c) {
    String op = "sgemm_bf16w";
    Dims d = dims(op, ctx, transA, transB, a, b, DType.BFLOAT16);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, d.n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_sgemm_bf16w(
            ctx.handle(), transA ? 1 : 0, transB ? 1 : 0, d.m, d.n, d.k, alpha, a.address(),
            a.dim(1), b.address(), b.dim(1), beta, address(bias), c.address(), d.n),
        "fl_sgemm_bf16w");
    OpProfile.stopGemm(prof, "fl_sgemm_bf16w", transA, transB, d.m, d.n, d.k);
  }

  /**
   * c = alpha * op(a) * op(b) + beta * c (+ bias) with a and b both in bfloat16, c and the optional
   * bias (N) float32: the GEMMs of bf16 mixed-precision training. Products of bf16 values are exact in
   * float32 and summed in float32. Shapes as {@link #sgemm}.
   */
  public static void gemmBf16(
      ComputeContext ctx,
      boolean transA,
      boolean transB,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor bias,
      Tensor c) {
    String op = "gemm_bf16";
    Dims d = dims(op, ctx, transA, transB, a, DType.BFLOAT16, b, DType.BFLOAT16);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, d.n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gemm_bf16(
            ctx.handle(), transA ? 1 : 0, transB ? 1 : 0, d.m, d.n, d.k, alpha, a.address(),
            a.dim(1), b.address(), b.dim(1), beta, address(bias), c.address(), d.n),
        "fl_gemm_bf16");
    OpProfile.stopGemm(prof, "fl_gemm_bf16", transA, transB, d.m, d.n, d.k);
  }

  /** dbias (N) += column sums of dout (M, N). */
  public static void biasBackward(ComputeContext ctx, Tensor dbias, Tensor dout) {
    String op = "bias_backward";
    Checks.live(op, "dout", dout, ctx, DType.FLOAT32);
    if (dout.rank() != 2) {
      throw new IllegalArgumentException(op + ": dout must be 2-D, got " + dout.describe());
    }
    Checks.shape(op, "dbias", dbias, ctx, DType.FLOAT32, dout.dim(1));
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_bias_backward(
            ctx.handle(), dbias.address(), dout.address(), dout.dim(0), dout.dim(1)),
        "fl_bias_backward");
    OpProfile.stop(prof, "fl_bias_backward");
  }

  private record Dims(long m, long n, long k) {}

  private static Dims dims(String op, ComputeContext ctx, boolean transA, boolean transB, Tensor a,
      Tensor b, DType bType) {
    return dims(op, ctx, transA, transB, a, DType.FLOAT32, b, bType);
  }

  private static Dims dims(String op, ComputeContext ctx, boolean transA, boolean transB, Tensor a,
      DType aType, Tensor b, DType bType) {
    Checks.live(op, "a", a, ctx, aType);
    Checks.live(op, "b", b, ctx, bType);
    if (a.rank() != 2 || b.rank() != 2) {
      throw new IllegalArgumentException(
          op + ": a and b must be 2-D, got a " + a.describe() + " and b " + b.describe());
    }
    long m = transA ? a.dim(1) : a.dim(0);
    long ka = transA ? a.dim(0) : a.dim(1);
    long kb = transB ? b.dim(1) : b.dim(0);
    long n = transB ? b.dim(0) : b.dim(1);
    if (ka != kb) {
      throw new IllegalArgumentException(
          op + ": inner dimensions differ: op(a) of " + a.describe() + (transA ? "^T" : "")
              + " has K = " + ka + ", op(b) of " + b.describe() + (transB ? "^T" : "")
              + " has K = " + kb);
    }
    return new Dims(m, n, ka);
  }
}
