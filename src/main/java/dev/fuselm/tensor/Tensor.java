package dev.fuselm.tensor;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * A dense, contiguous, row-major array of float32, int32 or bfloat16 in native memory on one
 * context's device.
 *
 * <p>A tensor either owns its buffer ({@link #zeros}, {@link #of}: close it) or is a view of
 * someone else's (a parameter slab, an arena, another tensor: closing a view does nothing). Host
 * access goes through explicit copies, so the same code works for device memory.
 */
public final class Tensor implements AutoCloseable {
  private static final int HOST_TO_DEVICE = 0;
  private static final int DEVICE_TO_HOST = 1;
  private static final int DEVICE_TO_DEVICE = 2;

  private final NativeBuffer buffer;
  private final long offsetBytes;
  private final DType dtype;
  private final long[] shape;
  private final long numel;
  private final boolean owner;

  Tensor(NativeBuffer buffer, long offsetBytes, DType dtype, long[] shape, boolean owner) {
    this.buffer = buffer;
    this.offsetBytes = offsetBytes;
    this.dtype = dtype;
    this.shape = shape.clone();
    this.numel = numel(shape);
    this.owner = owner;
    if (offsetBytes + numel * dtype.bytes > buffer.bytes()) {
      throw new IllegalArgumentException(
          "a " + dtype + " tensor of shape " + Arrays.toString(shape) + " at byte offset "
              + offsetBytes + " does not fit in a buffer of " + buffer.bytes() + " bytes");
    }
  }

  /** A new zero-filled tensor that owns its memory. */
  public static Tensor zeros(ComputeContext ctx, DType dtype, long... shape) {
    return zeros(ctx, () -> "a " + dtype + " tensor of shape " + Arrays.toString(shape), dtype,
        shape);
  }

  /** {@link #zeros}, saying what the tensor is for when it cannot be allocated. */
  static Tensor zeros(ComputeContext ctx, Supplier<String> what, DType dtype, long... shape) {
    NativeBuffer b = NativeBuffer.allocate(ctx, bytes(dtype, shape), what);
    return new Tensor(b, 0, dtype, shape, true);
  }

  public static Tensor zeros(ComputeContext ctx, long... shape) {
    return zeros(ctx, DType.FLOAT32, shape);
  }

  /** A new float32 tensor holding a copy of {@code data}. */
  public static Tensor of(ComputeContext ctx, float[] data, long... shape) {
    checkLength(data.length, shape);
    Tensor t = zeros(ctx, DType.FLOAT32, shape);
    t.copyFrom(data);
    return t;
  }

  /** A new int32 tensor holding a copy of {@code data}. */
  public static Tensor ofInts(ComputeContext ctx, int[] data, long... shape) {
    checkLength(data.length, shape);
    Tensor t = zeros(ctx, DType.INT32, shape);
    t.copyFrom(data);
    return t;
  }

  /** A view of this tensor's elements [offset, offset + numel(shape)) with a new shape. */
  public Tensor view(long offset, long... newShape) {
    long n = numel(newShape);
    if (offset < 0 || offset + n > numel) {
      throw new IllegalArgumentException(
          "view of " + n + " elements at offset " + offset + " is outside a tensor of shape "
              + Arrays.toString(shape));
    }
    return new Tensor(buffer, offsetBytes + offset * dtype.bytes, dtype, newShape, false);
  }

  /** The same elements with another shape of the same element count (a view). */
  public Tensor reshape(long... newShape) {
    if (numel(newShape) != numel) {
      throw new IllegalArgumentException(
          "cannot reshape " + Arrays.toString(shape) + " (" + numel + " elements) to "
              + Arrays.toString(newShape));
    }
    return view(0, newShape);
  }

  public long address() {
    return buffer.address() + offsetBytes;
  }

  public ComputeContext context() {
    return buffer.context();
  }

  public Backend device() {
    return buffer.context().backend();
  }

  public DType dtype() {
    return dtype;
  }

  public long[] shape() {
    return shape.clone();
  }

  public int rank() {
    return shape.length;
  }

  /** Size of dimension i; negative i counts from the end. */
  public long dim(int i) {
    return shape[i < 0 ? shape.length + i : i];
  }

  public long numel() {
    return numel;
  }

  public long bytes() {
    return numel * dtype.bytes;
  }

  public boolean isClosed() {
    return buffer.isClosed();
  }

  public void zero() {
    FuselmNativeException.check(
        FuselmNative.fl_memset_zero(context().handle(), address(), bytes()), "fl_memset_zero");
  }

  public void copyFrom(float[] src) {
    requireType(DType.FLOAT32);
    checkLength(src.length, shape);
    FuselmNativeException.check(
        FuselmNative.fl_memcpy(context().handle(), address(), src, bytes(), HOST_TO_DEVICE),
        "fl_memcpy");
  }

  public void copyFrom(int[] src) {
    requireType(DType.INT32);
    checkLength(src.length, shape);
    FuselmNativeException.check(
        FuselmNative.fl_memcpy(context().handle(), address(), src, bytes(), HOST_TO_DEVICE),
        "fl_memcpy");
  }

  /** Copies another tensor of the same element count and type into this one. */
  public void copyFrom(Tensor src) {
    if (src.dtype != dtype || src.numel != numel) {
      throw new IllegalArgumentException(
          "cannot copy " + src.describe() + " into " + describe() + ": type or size differs");
    }
    FuselmNativeException.check(
        FuselmNative.fl_memcpy(context().handle(), address(), src.address(), bytes(), DEVICE_TO_DEVICE),
        "fl_memcpy");
  }

  public float[] toFloatArray() {
    requireType(DType.FLOAT32);
    float[] out = new float[Math.toIntExact(numel)];
    FuselmNativeException.check(
        FuselmNative.fl_memcpy(context().handle(), out, address(), bytes(), DEVICE_TO_HOST),
        "fl_memcpy");
    return out;
  }

  public int[] toIntArray() {
    requireType(DType.INT32);
    int[] out = new int[Math.toIntExact(numel)];
    FuselmNativeException.check(
        FuselmNative.fl_memcpy(context().handle(), out, address(), bytes(), DEVICE_TO_HOST),
        "fl_memcpy");
    return out;
  }

  /** One element, by flat index (a small copy: not for loops). */
  public float getFloat(long index) {
    return view(index, 1).toFloatArray()[0];
  }

  /** Shape and type, for error messages: {@code float32[4, 768]}. */
  public String describe() {
    return dtype.name().toLowerCase(java.util.Locale.ROOT) + Arrays.toString(shape);
  }

  @Override
  public String toString() {
    return "Tensor " + describe() + " on " + device();
  }

  /** Frees the memory if this tensor owns it; views do nothing. */
  @Override
  public void close() {
    if (owner) {
      buffer.close();
    }
  }

  private void requireType(DType want) {
    if (dtype != want) {
      throw new IllegalArgumentException("tensor " + describe() + " is not " + want);
    }
  }

  /** The bytes of a tensor: Long.MAX_VALUE when they overflow (no allocation can hold them). */
  static long bytes(DType dtype, long[] shape) {
    try {
      return Math.multiplyExact(numel(shape), (long) dtype.bytes);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  private static void checkLength(int length, long[] shape) {
    if (length != numel(shape)) {
      throw new IllegalArgumentException(
          "array of " + length + " elements does not match shape " + Arrays.toString(shape)
              + " (" + numel(shape) + " elements)");
    }
  }
}
