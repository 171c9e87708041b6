package dev.fuselm.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Per-step scratch memory: tensors are carved from a native block by bumping an offset, and
 * {@link #reset()} makes all of it free again without touching the allocator. When a step needs more
 * than the block holds, another block is added; at the next reset the blocks are merged into one
 * of the high-water size, so after the first step a steady loop allocates nothing.
 *
 * <p>An arena that is never reset is the owner of long-lived tensors (a model's activations for one
 * batch shape, a KV cache), all freed together by {@link #close()}.
 *
 * <p>Tensors from an arena are views: they are invalid after {@link #reset()} (their memory is
 * reused) and must not be closed individually.
 */
public final class Arena implements AutoCloseable {
  private static final long ALIGN = 64;

  private final ComputeContext ctx;
  private final List<NativeBuffer> blocks = new ArrayList<>();
  private long offset;
  private long usedBefore;
  private long highWater;

  public Arena(ComputeContext ctx, long initialBytes) {
    this.ctx = ctx;
    blocks.add(NativeBuffer.allocate(ctx, Math.max(ALIGN, initialBytes), () -> "scratch memory"));
  }

  /** An uninitialised float32 tensor (contents are whatever the last step left). */
  public Tensor floats(long... shape) {
    return take(DType.FLOAT32, shape);
  }

  public Tensor ints(long... shape) {
    return take(DType.INT32, shape);
  }

  /** An uninitialised bfloat16 tensor (bf16 copies of activations for mixed-precision GEMMs). */
  public Tensor bf16(long... shape) {
    return take(DType.BFLOAT16, shape);
  }

  /** A zero-filled float32 tensor (gradients accumulate, so they start from zeros). */
  public Tensor zeros(long... shape) {
    Tensor t = take(DType.FLOAT32, shape);
    t.zero();
    return t;
  }

  private Tensor take(DType dtype, long[] shape) {
    long bytes = Tensor.bytes(dtype, shape);
    long aligned = bytes > Long.MAX_VALUE - ALIGN ? Long.MAX_VALUE
        : (bytes + ALIGN - 1) / ALIGN * ALIGN;
    NativeBuffer block = blocks.get(blocks.size() - 1);
    if (aligned > block.bytes() - offset) {
      block = NativeBuffer.allocate(ctx, Math.max(aligned, block.bytes()),
          () -> "scratch memory for a " + dtype + " tensor of shape " + Arrays.toString(shape));
      usedBefore += offset;
      blocks.add(block);
      offset = 0;
    }
    Tensor t = new Tensor(block, offset, dtype, shape, false);
    offset += aligned;
    highWater = Math.max(highWater, usedBefore + offset);
    return t;
  }

  /** Frees everything taken since the last reset. */
  public void reset() {
    if (blocks.size() > 1) {
      long size = 0;
      for (NativeBuffer b : blocks) {
        size += b.bytes();
        b.close();
      }
      blocks.clear();
      blocks.add(NativeBuffer.allocate(ctx, Math.max(size, highWater), () -> "scratch memory"));
    }
    offset = 0;
    usedBefore = 0;
  }

  /** Bytes held in native memory. */
  public long capacity() {
    long c = 0;
    for (NativeBuffer b : blocks) {
      c += b.bytes();
    }
    return c;
  }

  /** The most bytes in use at once since creation. */
  public long highWater() {
    return highWater;
  }

  @Override
  public void close() {
    for (NativeBuffer b : blocks) {
      b.close();
    }
    blocks.clear();
  }
}
