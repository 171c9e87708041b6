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

  /**
   * {@link #gemmBf16} with each of a and b either bfloat16 or float32 (its dtype says which): a
   * float32 operand is rounded to bf16 (to nearest, ties to even, as {@link Bf16Ops#narrow}) as the
   * GEMM reads it, so c is bit for bit {@link Bf16Ops#narrow} of it followed by {@link #gemmBf16},
   * without the rounded copy (oneDNN's "fpmath mode bf16"). Only where {@link
   * #hasGemmMixed} (the host backends); elsewhere round and call {@link #gemmBf16}.
   */
  public static void gemmMixed(
      ComputeContext ctx,
      boolean transA,
      boolean transB,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor bias,
      Tensor c) {
    String op = "gemm_mixed";
    boolean aBf16 = a.dtype() == DType.BFLOAT16, bBf16 = b.dtype() == DType.BFLOAT16;
    Dims d = dims(op, ctx, transA, transB, a, aBf16 ? DType.BFLOAT16 : DType.FLOAT32, b,
        bBf16 ? DType.BFLOAT16 : DType.FLOAT32);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, d.n);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_gemm_mixed(
            ctx.handle(), transA ? 1 : 0, transB ? 1 : 0, d.m, d.n, d.k, alpha, a.address(),
            aBf16 ? 1 : 0, a.dim(1), b.address(), bBf16 ? 1 : 0, b.dim(1), beta, address(bias),
            c.address(), d.n),
        "fl_gemm_mixed");
    OpProfile.stopGemm(prof, "fl_gemm_mixed", transA, transB, d.m, d.n, d.k);
  }

  /**
   * The system property that, set to true, runs bf16 training's GEMMs through {@link #gemmMixed}
   * instead of narrow + {@link #gemmBf16} (the same bits). Off by default: on the idle 2-core Zen 5
   * the fold was not faster (GPT-2 B=4 step, median of 3: T=64 506 vs 505 ms, T=256 1568 vs 1491
   * ms); the tests run with it on (pom.xml), the CLI and the replay digests without.
   */
  public static final String GEMM_MIXED_PROPERTY = "fuselm.gemmMixed";

  private static final boolean GEMM_MIXED_ENABLED =
      "true".equalsIgnoreCase(System.getProperty(GEMM_MIXED_PROPERTY));

  /**
   * True when ctx's backend has {@link #gemmMixed} (CPU and reference; not CUDA) and the {@value
   * #GEMM_MIXED_PROPERTY} property is true.
   */
  public static boolean hasGemmMixed(ComputeContext ctx) {
    if (!GEMM_MIXED_ENABLED) {
      return false;
    }
    int i = ctx.backend().ordinal();
    int known = GEMM_MIXED_SUPPORTED[i]; // 0 not asked yet, 1 yes, 2 no (a benign race)
    if (known == 0) {
      known = ctx.backend().supports("gemm_mixed") ? 1 : 2;
      GEMM_MIXED_SUPPORTED[i] = known;
    }
    return known == 1;
  }

  private static final int[] GEMM_MIXED_SUPPORTED =
      new int[dev.fuselm.tensor.Backend.values().length];

  /** The activation a {@link #gemmBiasAct} applies in its epilogue. */
  public enum Act {
    NONE(FuselmNative.FL_ACT_NONE),
    /** GPT-2's GELU (tanh approximation), as {@link PointwiseOps#geluForward}. */
    GELU_TANH(FuselmNative.FL_ACT_GELU_TANH),
    /** BERT's exact GELU, as {@link PointwiseOps#geluErfForward}. */
    GELU_ERF(FuselmNative.FL_ACT_GELU_ERF);

    final int code;

    Act(int code) {
      this.code = code;
    }
  }

  /**
   * c = act(a * op(b) + bias): a linear layer's inference forward with the bias and activation
   * applied to each output tile in the GEMM's epilogue. a (M, K) float32; b float32 or bfloat16,
   * (K, N), or (N, K) when transB; bias (N) or null. A float32 b gives exactly {@link #sgemmBias}
   * followed by the activation's pointwise op; a bfloat16 b rounds a to bf16 first and sums the
   * products in float32 ({@link #gemmBf16}'s arithmetic). On a device backend (no fused kernel) a
   * float32 b runs that unfused sequence; a bfloat16 b is refused there.
   */
  public static void gemmBiasAct(ComputeContext ctx, boolean transB, Tensor a, Tensor b, Tensor bias,
      Act act, Tensor c) {
    String op = "gemm_bias_act";
    boolean bf16 = b.dtype() == DType.BFLOAT16;
    Dims d = dims(op, ctx, false, transB, a, b, bf16 ? DType.BFLOAT16 : DType.FLOAT32);
    Checks.shape(op, "c", c, ctx, DType.FLOAT32, d.m, d.n);
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, d.n);
    if (ctx.backend() == dev.fuselm.tensor.Backend.CUDA) {
      if (bf16) {
        throw new IllegalArgumentException(op + ": bf16 weights with float32 inputs run on the"
            + " CPU and reference backends only, not " + ctx.backend());
      }
      sgemmBias(ctx, false, transB, a, b, bias, c);
      if (act == Act.GELU_TANH) {
        PointwiseOps.geluForward(ctx, c, c);
      } else if (act == Act.GELU_ERF) {
        PointwiseOps.geluErfForward(ctx, c, c);
      }
      return;
    }
    FuselmNativeException.check(
        FuselmNative.fl_gemm_bias_act(ctx.handle(), transB ? 1 : 0, d.m, d.n, d.k, a.address(),
            a.dim(1), b.address(), bf16 ? 1 : 0, b.dim(1), address(bias), act.code, c.address(),
            d.n),
        "fl_gemm_bias_act");
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
