package dev.fuselm.nativeapi;

/** A native call failed; carries the status code and the native library's own message. */
public class FuselmNativeException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int status;

  public FuselmNativeException(String function, int status, String nativeMessage) {
    super(function + " failed (" + statusName(status) + "): " + nativeMessage);
    this.status = status;
  }

  public int status() {
    return status;
  }

  /** Throws unless {@code status} is FL_OK; call right after the native call, on the same thread. */
  public static void check(int status, String function) {
    if (status != FuselmNative.FL_OK) {
      throw new FuselmNativeException(function, status, FuselmNative.fl_last_error());
    }
  }

  static String statusName(int status) {
    switch (status) {
      case FuselmNative.FL_ERR_INVALID_ARGUMENT:
        return "invalid argument";
      case FuselmNative.FL_ERR_OUT_OF_MEMORY:
        return "out of memory";
      case FuselmNative.FL_ERR_UNSUPPORTED:
        return "unsupported";
      case FuselmNative.FL_ERR_DEVICE:
        return "device error";
      case FuselmNative.FL_ERR_INTERNAL:
        return "internal error";
      default:
        return "status " + status;
    }
  }
}
