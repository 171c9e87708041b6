package dev.fuselm.tensor;

import dev.fuselm.nativeapi.FuselmNative;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Where kernels run. REFERENCE is the plain-loop oracle that every other backend is tested against. */
public enum Backend {
  REFERENCE(FuselmNative.FL_BACKEND_REFERENCE),
  CPU(FuselmNative.FL_BACKEND_CPU),
  CUDA(FuselmNative.FL_BACKEND_CUDA);

  /** The system property that picks the default backend: {@code -Dfuselm.backend=cpu|cuda|reference}. */
  public static final String PROPERTY = "fuselm.backend";

  final int code;

  Backend(int code) {
    this.code = code;
  }

  /** True when this backend can run in this process (CUDA: compiled in and a device present). */
  public boolean isAvailable() {
    FuselmNative.load();
    int[] out = new int[1];
    int rc = FuselmNative.fl_backend_available(code, out);
    return rc == FuselmNative.FL_OK && out[0] != 0;
  }

  /**
   * True when this build's backend implements the native op named {@code op} ({@code
   * "attention_forward_varlen"}, with or without the {@code fl_} prefix: any op of
   * native/include/fuselm_ops.def), as ggml's {@code supports_op}. Whether the backend can run here
   * at all is {@link #isAvailable()}.
   *
   * @throws IllegalArgumentException when no native op has that name
   */
  public boolean supports(String op) {
    FuselmNative.load();
    int[] out = new int[1];
    int rc = FuselmNative.fl_backend_supports(code, op, out);
    if (rc == FuselmNative.FL_ERR_INVALID_ARGUMENT) {
      throw new IllegalArgumentException(FuselmNative.fl_last_error());
    }
    dev.fuselm.nativeapi.FuselmNativeException.check(rc, "fl_backend_supports");
    return out[0] != 0;
  }

  /**
   * The one place the default backend is chosen: the {@code fuselm.backend} property if set,
   * otherwise CUDA when available, otherwise CPU.
   */
  public static Backend defaultBackend() {
    String requested = System.getProperty(PROPERTY);
    Backend chosen;
    if (requested != null && !requested.isBlank()) {
      chosen = parse(requested);
      if (!chosen.isAvailable()) {
        throw new IllegalArgumentException(
            "-D" + PROPERTY + "=" + requested + " is not available in this process (this build/machine"
                + " has: " + availableNames() + ")");
      }
    } else {
      chosen = CUDA.isAvailable() ? CUDA : CPU;
    }
    // said once, at INFO only when it is news (a GPU found, or a backend asked for): the plain CPU
    // default is DEBUG, so an ordinary command prints no backend line
    if (LOGGED.compareAndSet(false, true)) {
      boolean news = chosen != CPU || requested != null;
      (news ? LOG.atInfo() : LOG.atDebug()).log(
          "backend {} ({}; -D{}=cpu|cuda|reference overrides)",
          chosen.name().toLowerCase(Locale.ROOT),
          requested == null ? "default" : "requested",
          PROPERTY);
    }
    return chosen;
  }

  private static final Logger LOG = LoggerFactory.getLogger("dev.fuselm");
  private static final java.util.concurrent.atomic.AtomicBoolean LOGGED =
      new java.util.concurrent.atomic.AtomicBoolean();

  public static Backend parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "unknown backend '" + name + "': use cpu, cuda or reference", e);
    }
  }

  private static String availableNames() {
    StringBuilder sb = new StringBuilder();
    for (Backend b : values()) {
      if (b.isAvailable()) {
        sb.append(sb.length() == 0 ? "" : ", ").append(b.name().toLowerCase(Locale.ROOT));
      }
    }
    return sb.toString();
  }
}
