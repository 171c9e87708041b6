package dev.fuselm.ops;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * int8 weights for generation (fuselm.h "int8 weights"): Q8_0 quantization (llama.cpp's blocks of
 * 32 int8 values with one fp16 scale), the decode kernel's packed form of it, and the matrix-vector
 * product with float32 inputs (quantized to int8 per block of 32 inside the kernel) and outputs.
 */
public final class Int8Ops {
  private Int8Ops() {}

  /** Values per Q8_0 block: a matrix's reduction dimension must be a multiple of it. */
  public static final int BLOCK = 32;

  /** Bytes of one Q8_0 block (an fp16 scale and 32 int8 values). */
  public static final int BLOCK_BYTES = 34;

  /** Bytes of the packed form of a k x n matrix (k a multiple of {@link #BLOCK}). */
  public static long packedBytes(long k, long n) {
    long[] out = new long[1];
    FuselmNativeException.check(FuselmNative.fl_q8_0_packed_bytes(k, n, out),
        "fl_q8_0_packed_bytes");
    return out[0];
  }

  /**
   * packed (int8, {@link #packedBytes}(k, n) bytes) = w quantized to Q8_0 per output column and
   * repacked for {@link #gemv}. w is float32 (k, n) when {@code wIsKn} (a Conv1D linear weight),
   * else (n, k) (an LM head).
   */
  public static void quantize(ComputeContext ctx, Tensor packed, Tensor w, boolean wIsKn) {
    String op = "q8_0_quantize";
    Checks.live(op, "w", w, ctx, DType.FLOAT32);
    if (w.rank() != 2) {
      throw new IllegalArgumentException(op + ": w must be 2-D, got " + w.describe());
    }
    long k = wIsKn ? w.dim(0) : w.dim(1);
    long n = wIsKn ? w.dim(1) : w.dim(0);
    checkK(op, k);
    Checks.shape(op, "packed", packed, ctx, DType.INT8, packedBytes(k, n));
    try (Tensor blocks = Tensor.zeros(ctx, DType.INT8, n * (k / BLOCK) * BLOCK_BYTES)) {
      FuselmNativeException.check(FuselmNative.fl_q8_0_quantize(ctx.handle(), blocks.address(),
          w.address(), k, n, wIsKn ? 1 : 0), "fl_q8_0_quantize");
      FuselmNativeException.check(FuselmNative.fl_q8_0_repack(ctx.handle(), packed.address(),
          blocks.address(), k, n), "fl_q8_0_repack");
    }
  }

  /**
   * packed (int8, {@link #packedBytes}(k, n) bytes) = Q8_0 blocks as stored (n rows of k / 32
   * blocks of {@link #BLOCK_BYTES}, little-endian: llama.cpp's and GGUF's layout of an (n, k)
   * matrix) repacked for {@link #gemv}, with no float32 step: {@link #quantize} of the values the
   * blocks stand for gives the same bytes. The blocks are copied to the device first.
   */
  public static void repack(ComputeContext ctx, Tensor packed, java.nio.ByteBuffer blocks, long k,
      long n) {
    String op = "q8_0_repack";
    checkK(op, k);
    Checks.shape(op, "packed", packed, ctx, DType.INT8, packedBytes(k, n));
    long bytes = n * (k / BLOCK) * BLOCK_BYTES;
    if (blocks.remaining() != bytes) {
      throw new IllegalArgumentException(op + ": " + k + " x " + n + " needs " + bytes
          + " bytes of Q8_0 blocks, got " + blocks.remaining());
    }
    int[] words = new int[Math.toIntExact((bytes + 3) / 4)];
    blocks.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(words, 0,
        (int) (bytes / 4));
    for (long i = bytes / 4 * 4; i < bytes; i++) { // a tail of 1-3 bytes (34 n k/32 is even)
      int b = blocks.get(blocks.position() + (int) i) & 0xff;
      words[(int) (i / 4)] |= b << (8 * (i % 4));
    }
    try (Tensor dev = Tensor.zeros(ctx, DType.INT8, bytes)) {
      FuselmNativeException.check(FuselmNative.fl_memcpy(ctx.handle(), dev.address(), words,
          bytes, 0), "fl_memcpy");
      FuselmNativeException.check(FuselmNative.fl_q8_0_repack(ctx.handle(), packed.address(),
          dev.address(), k, n), "fl_q8_0_repack");
    }
  }

  /** The bytes of an int8 tensor (a packed weight), read back to the host: for checks and tests. */
  public static byte[] toBytes(ComputeContext ctx, Tensor t) {
    Checks.live("int8_to_bytes", "t", t, ctx, DType.INT8);
    long bytes = t.bytes();
    int[] words = new int[Math.toIntExact((bytes + 3) / 4)];
    FuselmNativeException.check(FuselmNative.fl_memcpy(ctx.handle(), words, t.address(), bytes, 1),
        "fl_memcpy");
    byte[] out = new byte[(int) bytes];
    for (int i = 0; i < out.length; i++) {
      out[i] = (byte) (words[i / 4] >>> (8 * (i % 4)));
    }
    return out;
  }

  /**
   * out (M, n) = inp (M, k) x W + bias (n, or null) with W the packed int8 matrix of k x n. inp
   * is quantized per block of 32 to int8 (scale max|x| / 127), each block's dot product is exact,
   * and the blocks are summed in float32.
   */
  public static void gemv(ComputeContext ctx, Tensor out, Tensor inp, Tensor packed, long k,
      long n, Tensor bias) {
    String op = "gemv_q8_0";
    checkK(op, k);
    Checks.live(op, "inp", inp, ctx, DType.FLOAT32);
    if (inp.rank() != 2 || inp.dim(1) != k) {
      throw new IllegalArgumentException(op + ": inp has shape " + inp.describe() + ", expected (M, "
          + k + ")");
    }
    long m = inp.dim(0);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, m, n);
    Checks.shape(op, "packed", packed, ctx, DType.INT8, packedBytes(k, n));
    Checks.optionalShape(op, "bias", bias, ctx, DType.FLOAT32, n);
    FuselmNativeException.check(FuselmNative.fl_gemv_q8_0(ctx.handle(), m, n, k, inp.address(), k,
        packed.address(), Checks.address(bias), out.address(), n), "fl_gemv_q8_0");
  }

  private static void checkK(String op, long k) {
    if (k % BLOCK != 0) {
      throw new IllegalArgumentException(op + ": int8 weights need an input dimension that is a"
          + " multiple of " + BLOCK + ", got " + k);
    }
  }
}
