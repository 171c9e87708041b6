package dev.fuselm.tensor;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.PointerPointer;

/**
 * One native allocation on a context's device (64-byte aligned, zero-filled), freed exactly once by
 * {@link #close()}. Tensors are views of buffers; only the buffer owns memory.
 */
public final class NativeBuffer implements AutoCloseable {
  /** Bytes of every buffer allocated and not yet closed, process-wide (tests watch it for leaks). */
  private static final AtomicLong LIVE_BYTES = new AtomicLong();

  private final ComputeContext context;
  private final long bytes;
  private long address;

  private NativeBuffer(ComputeContext context, long address, long bytes) {
    this.context = context;
    this.address = address;
    this.bytes = bytes;
  }

  public static NativeBuffer allocate(ComputeContext context, long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("cannot allocate a negative size: " + bytes + " bytes");
    }
    try (PointerPointer<?> out = new PointerPointer<>(1)) {
      FuselmNativeException.check(
          FuselmNative.fl_malloc(context.handle(), bytes, out), "fl_malloc(" + bytes + " bytes)");
      LIVE_BYTES.addAndGet(bytes);
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
      FuselmNativeException.check(FuselmNative.fl_free(context.handle(), a), "fl_free");
    }
  }

  /** Native bytes held by all open buffers of this process. */
  public static long liveBytes() {
    return LIVE_BYTES.get();
  }
}
