package dev.fuselm.nativeapi;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP mapping of {@code native/include/fuselm.h}, one Java method per C function.
 *
 * <p>Contexts and device buffers cross as {@code long} addresses so a training step creates no Java
 * objects; scalar out-parameters cross as one-element primitive arrays. Nothing here checks
 * arguments: callers go through {@code dev.fuselm.ops}, which validates shapes first.
 */
@Platform(include = "fuselm.h", link = "fuselm")
public final class FuselmNative {
  /** The platforms fuselm ships a native library for (one classifier jar each). */
  public static final String SUPPORTED_PLATFORMS = "linux-x86_64";

  static {
    try {
      Loader.load();
    } catch (UnsatisfiedLinkError e) {
      throw new UnsatisfiedLinkError(missingLibraryMessage(Loader.getPlatform(), e));
    }
  }

  /**
   * Says which artifact is missing: the native library comes in the classifier jar
   * {@code dev.fuselm:fuselm:<version>:<platform>} (or through {@code dev.fuselm:fuselm-platform}).
   */
  static String missingLibraryMessage(String platform, Throwable cause) {
    String version = "<version>";
    try (java.io.InputStream in = FuselmNative.class.getResourceAsStream(
        "/META-INF/maven/dev.fuselm/fuselm/pom.properties")) {
      if (in != null) {
        java.util.Properties p = new java.util.Properties();
        p.load(in);
        version = p.getProperty("version", version);
      }
    } catch (java.io.IOException ignored) {
      // keep the placeholder
    }
    boolean supported = java.util.Arrays.asList(SUPPORTED_PLATFORMS.split(",")).contains(platform);
    return "fuselm: no native library for platform " + platform + " on the class path: add the"
        + " dependency dev.fuselm:fuselm:" + version + ":" + platform + " (classifier " + platform
        + "), or dev.fuselm:fuselm-platform, which adds the classifier of the build platform"
        + " (-Djavacpp.platform=... picks another)."
        + (supported ? "" : " Note: fuselm ships native libraries only for " + SUPPORTED_PLATFORMS
            + ", so " + platform + " is not supported.")
        + " (" + cause.getMessage() + ")";
  }

  private FuselmNative() {}

  /** Loads the native library (idempotent); throws if this platform has no fuselm build. */
  public static void load() {
    // the static initialiser does the work
  }

  public static final int FL_OK = 0;
  public static final int FL_ERR_INVALID_ARGUMENT = 1;
  public static final int FL_ERR_OUT_OF_MEMORY = 2;
  public static final int FL_ERR_UNSUPPORTED = 3;
  public static final int FL_ERR_DEVICE = 4;
  public static final int FL_ERR_INTERNAL = 5;

  public static final int FL_BACKEND_REFERENCE = 0;
  public static final int FL_BACKEND_CPU = 1;
  public static final int FL_BACKEND_CUDA = 2;

  public static final int FL_ISA_GENERIC = 0;
  public static final int FL_ISA_AVX2 = 1;
  public static final int FL_ISA_AVX512 = 2;
  public static final int FL_ISA_AVX512_BF16 = 3;

  // ---- library, context, memory
  public static native @Cast("const char*") String fl_last_error();

  public static native @Cast("const char*") String fl_version();

  public static native int fl_backend_available(int backend, int[] out);

  public static native int fl_cpu_best_isa(int[] out);

  public static native int fl_backend_supports(
      int backend, @Cast("const char*") String op, int[] out);

  public static native int fl_context_create(
      int backend, int device, @Cast("fl_context**") PointerPointer<?> out);

  public static native int fl_context_destroy(@Cast("fl_context*") long ctx);

  public static native int fl_context_set_threads(@Cast("fl_context*") long ctx, int threads);

  public static native int fl_context_threads(@Cast("const fl_context*") long ctx, int[] out);

  public static native int fl_context_set_isa(@Cast("fl_context*") long ctx, int isa);

  public static native int fl_context_isa(@Cast("const fl_context*") long ctx, int[] out);

  public static native int fl_context_synchronize(@Cast("fl_context*") long ctx);

  public static native int fl_malloc(
      @Cast("fl_context*") long ctx, long bytes, @Cast("void**") PointerPointer<?> out);

  public static native int fl_free(@Cast("fl_context*") long ctx, @Cast("void*") long ptr);

  public static native int fl_memset_zero(
      @Cast("fl_context*") long ctx, @Cast("void*") long ptr, long bytes);

  public static native int fl_memcpy(
      @Cast("fl_context*") long ctx,
      @Cast("void*") long dst,
      @Cast("const void*") long src,
      long bytes,
      int kind);

  /** Host float[] to device memory (kind 0); the array is the source. */
  public static native int fl_memcpy(
      @Cast("fl_context*") long ctx,
      @Cast("void*") long dst,
      @Cast("const void*") float[] src,
      long bytes,
      int kind);

  /** Device memory to host float[] (kind 1); the array is the destination. */
  public static native int fl_memcpy(
      @Cast("fl_context*") long ctx,
      @Cast("void*") float[] dst,
      @Cast("const void*") long src,
      long bytes,
      int kind);

  /** Host int[] to device memory (kind 0). */
  public static native int fl_memcpy(
      @Cast("fl_context*") long ctx,
      @Cast("void*") long dst,
      @Cast("const void*") int[] src,
      long bytes,
      int kind);

  /** Device memory to host int[] (kind 1). */
  public static native int fl_memcpy(
      @Cast("fl_context*") long ctx,
      @Cast("void*") int[] dst,
      @Cast("const void*") long src,
      long bytes,
      int kind);

  // ---- GEMM
  public static native int fl_sgemm(
      @Cast("fl_context*") long ctx,
      int transA,
      int transB,
      long m,
      long n,
      long k,
      float alpha,
      @Cast("const float*") long a,
      long lda,
      @Cast("const float*") long b,
      long ldb,
      float beta,
      @Cast("float*") long c,
      long ldc);

  public static native int fl_sgemm_bias(
      @Cast("fl_context*") long ctx,
      int transA,
      int transB,
      long m,
      long n,
      long k,
      @Cast("const float*") long a,
      long lda,
      @Cast("const float*") long b,
      long ldb,
      @Cast("const float*") long bias,
      @Cast("float*") long c,
      long ldc);

  public static native int fl_bias_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dbias,
      @Cast("const float*") long dout,
      long m,
      long n);

  // ---- layer norm
  public static native int fl_layernorm_forward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("float*") long mean,
      @Cast("float*") long rstd,
      @Cast("const float*") long inp,
      @Cast("const float*") long weight,
      @Cast("const float*") long bias,
      long n,
      long c,
      float eps);

  public static native int fl_layernorm_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dinp,
      @Cast("float*") long dweight,
      @Cast("float*") long dbias,
      @Cast("const float*") long dout,
      @Cast("const float*") long inp,
      @Cast("const float*") long weight,
      @Cast("const float*") long mean,
      @Cast("const float*") long rstd,
      long n,
      long c);

  public static native int fl_residual_layernorm_forward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long residualOut,
      @Cast("float*") long out,
      @Cast("float*") long mean,
      @Cast("float*") long rstd,
      @Cast("const float*") long a,
      @Cast("const float*") long b,
      @Cast("const float*") long weight,
      @Cast("const float*") long bias,
      long n,
      long c,
      float eps);

  // ---- attention
  public static native int fl_attention_forward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("float*") long lse,
      @Cast("const float*") long qkv,
      @Cast("const int32_t*") long keyMask,
      long b,
      long t,
      long c,
      long nh,
      int causal);

  public static native int fl_attention_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dqkv,
      @Cast("const float*") long dout,
      @Cast("const float*") long qkv,
      @Cast("const float*") long out,
      @Cast("const float*") long lse,
      @Cast("const int32_t*") long keyMask,
      long b,
      long t,
      long c,
      long nh,
      int causal);

  public static native int fl_attention_forward_dropout(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("float*") long lse,
      @Cast("const float*") long qkv,
      @Cast("const int32_t*") long keyMask,
      long b,
      long t,
      long c,
      long nh,
      int causal,
      float p,
      @Cast("uint64_t") long seed);

  public static native int fl_attention_backward_dropout(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dqkv,
      @Cast("const float*") long dout,
      @Cast("const float*") long qkv,
      @Cast("const float*") long out,
      @Cast("const float*") long lse,
      @Cast("const int32_t*") long keyMask,
      long b,
      long t,
      long c,
      long nh,
      int causal,
      float p,
      @Cast("uint64_t") long seed);

  public static native int fl_attention_forward_cached(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("const float*") long qkvCache,
      long b,
      long t,
      long tmax,
      long tq,
      long c,
      long nh);

  public static native int fl_attention_forward_varlen(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("const float*") long qkv,
      @Cast("const int32_t*") long cuSeqlens,
      long nseq,
      long c,
      long nh);

  // ---- pointwise
  public static native int fl_gelu_forward(
      @Cast("fl_context*") long ctx, @Cast("float*") long out, @Cast("const float*") long inp, long n);

  public static native int fl_gelu_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dinp,
      @Cast("const float*") long inp,
      @Cast("const float*") long dout,
      long n);

  public static native int fl_gelu_erf_forward(
      @Cast("fl_context*") long ctx, @Cast("float*") long out, @Cast("const float*") long inp, long n);

  public static native int fl_gelu_erf_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dinp,
      @Cast("const float*") long inp,
      @Cast("const float*") long dout,
      long n);

  public static native int fl_add(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("const float*") long a,
      @Cast("const float*") long b,
      long n);

  public static native int fl_scale(
      @Cast("fl_context*") long ctx, @Cast("float*") long x, float s, long n);

  // ---- softmax and cross-entropy
  public static native int fl_softmax_forward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("const float*") long inp,
      long n,
      long v);

  public static native int fl_softmax_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dinp,
      @Cast("const float*") long out,
      @Cast("const float*") long dout,
      long n,
      long v);

  public static native int fl_cross_entropy_forward(
      @Cast("fl_context*") long ctx,
      float[] meanLoss,
      @Cast("int64_t*") long[] count,
      @Cast("float*") long losses,
      @Cast("float*") long lse,
      @Cast("const float*") long logits,
      @Cast("const int32_t*") long targets,
      long n,
      long v,
      int ignoreIndex);

  public static native int fl_cross_entropy_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dlogits,
      @Cast("const float*") long logits,
      @Cast("const float*") long lse,
      @Cast("const int32_t*") long targets,
      long n,
      long v,
      int ignoreIndex,
      float dloss,
      long count);

  // ---- embeddings
  public static native int fl_embedding_forward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long out,
      @Cast("const int32_t*") long ids,
      @Cast("const float*") long wte,
      @Cast("const float*") long wpe,
      long b,
      long t,
      long c);

  public static native int fl_embedding_backward(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long dwte,
      @Cast("float*") long dwpe,
      @Cast("const float*") long dout,
      @Cast("const int32_t*") long ids,
      long b,
      long t,
      long c);

  // ---- optimizer
  public static native int fl_grad_norm(
      @Cast("fl_context*") long ctx, float[] out, @Cast("const float*") long grads, long n);

  public static native int fl_adamw_step(
      @Cast("fl_context*") long ctx,
      @Cast("float*") long params,
      @Cast("const float*") long grads,
      @Cast("float*") long m,
      @Cast("float*") long v,
      long n,
      @Cast("const int64_t*") long segOffsets,
      @Cast("const uint8_t*") long segDecay,
      long nseg,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long t,
      float gradScale);

  // ---- bf16 weights
  public static native int fl_f32_to_bf16(
      @Cast("fl_context*") long ctx, @Cast("uint16_t*") long dst, @Cast("const float*") long src,
      long n);

  public static native int fl_bf16_to_f32(
      @Cast("fl_context*") long ctx, @Cast("float*") long dst, @Cast("const uint16_t*") long src,
      long n);

  public static native int fl_sgemm_bf16w(
      @Cast("fl_context*") long ctx,
      int transA,
      int transB,
      long m,
      long n,
      long k,
      float alpha,
      @Cast("const float*") long a,
      long lda,
      @Cast("const uint16_t*") long b,
      long ldb,
      float beta,
      @Cast("const float*") long bias,
      @Cast("float*") long c,
      long ldc);

  // ---- int8 weights (Q8_0)
  public static native int fl_q8_0_quantize(
      @Cast("fl_context*") long ctx, @Cast("uint8_t*") long blocks, @Cast("const float*") long w,
      long k, long n, int wIsKn);

  public static native int fl_q8_0_packed_bytes(long k, long n, @Cast("int64_t*") long[] out);

  public static native int fl_q8_0_repack(
      @Cast("fl_context*") long ctx, @Cast("uint8_t*") long packed,
      @Cast("const uint8_t*") long blocks, long k, long n);

  public static native int fl_gemv_q8_0(
      @Cast("fl_context*") long ctx,
      long m,
      long n,
      long k,
      @Cast("const float*") long x,
      long ldx,
      @Cast("const uint8_t*") long packed,
      @Cast("const float*") long bias,
      @Cast("float*") long y,
      long ldy);

  // ---- linear-layer inference forward, bias and activation in the GEMM epilogue
  public static final int FL_ACT_NONE = 0;
  public static final int FL_ACT_GELU_TANH = 1;
  public static final int FL_ACT_GELU_ERF = 2;

  public static native int fl_gemm_bias_act(
      @Cast("fl_context*") long ctx,
      int transB,
      long m,
      long n,
      long k,
      @Cast("const float*") long a,
      long lda,
      @Cast("const void*") long b,
      int bBf16,
      long ldb,
      @Cast("const float*") long bias,
      int act,
      @Cast("float*") long c,
      long ldc);

  // ---- bf16 mixed-precision training
  public static native int fl_gemm_mixed(
      @Cast("fl_context*") long ctx,
      int transA,
      int transB,
      long m,
      long n,
      long k,
      float alpha,
      @Cast("const void*") long a,
      int aBf16,
      long lda,
      @Cast("const void*") long b,
      int bBf16,
      long ldb,
      float beta,
      @Cast("const float*") long bias,
      @Cast("float*") long c,
      long ldc);

  public static native int fl_gemm_bf16(
      @Cast("fl_context*") long ctx,
      int transA,
      int transB,
      long m,
      long n,
      long k,
      float alpha,
      @Cast("const uint16_t*") long a,
      long lda,
      @Cast("const uint16_t*") long b,
      long ldb,
      float beta,
      @Cast("const float*") long bias,
      @Cast("float*") long c,
      long ldc);
}
