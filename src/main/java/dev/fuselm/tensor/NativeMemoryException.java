package dev.fuselm.tensor;

/**
 * A native allocation that cannot succeed: more than the limit of {@link NativeMemory}, or refused
 * by the allocator. The message says how many bytes were asked for and what for; callers that know
 * why (a model's parameters for its config) throw it before allocating anything. It is an {@link
 * IllegalArgumentException}, as DESIGN.md's conventions make every error a user can cause (here:
 * a config or file asking for more memory than there is).
 */
public class NativeMemoryException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;
  private final long requestedBytes;

  public NativeMemoryException(String message, long requestedBytes) {
    super(message);
    this.requestedBytes = requestedBytes;
  }

  public NativeMemoryException(String message, long requestedBytes, Throwable cause) {
    super(message, cause);
    this.requestedBytes = requestedBytes;
  }

  /** The bytes that were asked for (Long.MAX_VALUE when the size itself overflowed). */
  public long requestedBytes() {
    return requestedBytes;
  }
}
