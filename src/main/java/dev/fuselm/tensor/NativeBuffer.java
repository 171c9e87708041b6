package dev.fuselm.tensor;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerPointer;

/**
 * One native allocation on a context's device (64-byte aligned, zero-filled), freed exactly once by
 * {@link #close()}. Tensors are views of buffers; only the buffer owns memory.
 */
public final class NativeBuffer implements AutoCloseable {
  /** Bytes of every buffer allocated and not yet closed, process-wide (tests watch it for leaks). */
  private static final AtomicLong LIVE_BYTES = new AtomicLong();
  /** The part of LIVE_BYTES on CUDA devices; the rest is host memory. */
  private static final AtomicLong LIVE_DEVICE_BYTES = new AtomicLong();

  private final ComputeContext context;
  private final long bytes;
  private long address;

  private NativeBuffer(ComputeContext context, long address, long bytes) {
    this.context = context;
    this.address = address;
    this.bytes = bytes;
  }

  public static NativeBuffer allocate(ComputeContext context, long bytes) {
    return allocate(context, bytes, () -> "a buffer");
  }

  /**
   * Allocates bytes on the context's device, after checking them against {@link NativeMemory}'s
   * limit; a request over the limit, or one the allocator refuses, is a {@link
   * NativeMemoryException} saying how much was asked for and what for (what: "a float32 tensor
   * of shape [...]", ...).
   */
  public static NativeBuffer allocate(ComputeContext context, long bytes, Supplier<String> what) {
    if (bytes < 0) {
      throw new IllegalArgumentException("cannot allocate a negative size: " + bytes + " bytes");
    }
    Backend backend = context.backend();
    NativeMemory.require(backend, bytes, what);
    try (PointerPointer<?> out = new PointerPointer<>(1)) {
      int status = FuselmNative.fl_malloc(context.handle(), bytes, out);
      if (status == FuselmNative.FL_ERR_OUT_OF_MEMORY) {
        throw new NativeMemoryException("cannot allocate " + NativeMemory.format(bytes)
            + " of native memory for " + what.get() + ": the " + backend + " allocator refused"
            + " (" + FuselmNative.fl_last_error() + ")", bytes);
      }
      FuselmNativeException.check(status, "fl_malloc(" + bytes + " bytes)");
      LIVE_BYTES.addAndGet(bytes);
      if (backend == Backend.CUDA) {
        LIVE_DEVICE_BYTES.addAndGet(bytes);
      }
      return new NativeBuffer(context, out.get(0).address(), bytes);
    }
  }

  public ComputeContext context() {
    return context;
  }

  public long bytes() {
    return bytes;
  }

  public boolean isClosed() {
    return address == 0;
  }

  /** The device address; throws once the buffer is closed, so a stale view cannot reach C. */
  public long address() {
    if (address == 0) {
      throw new IllegalStateException("native buffer of " + bytes + " bytes is already closed");
    }
    return address;
  }

  @Override
  public void close() {
    if (address != 0) {
      long a = address;
      address = 0;
      LIVE_BYTES.addAndGet(-bytes);
      if (context.backend() == Backend.CUDA) {
        LIVE_DEVICE_BYTES.addAndGet(-bytes);
      }
      FuselmNativeException.check(FuselmNative.fl_free(context.handle(), a), "fl_free");
    }
  }

  /** Native bytes held by all open buffers of this process. */
  public static long liveBytes() {
    return LIVE_BYTES.get();
  }

  /** Native bytes held by open buffers in the memory a backend allocates from (host or CUDA). */
  public static long liveBytes(Backend backend) {
    long device = LIVE_DEVICE_BYTES.get();
    return backend == Backend.CUDA ? device : LIVE_BYTES.get() - device;
  }
}
