package dev.fuselm.tensor;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The stated limit on native memory, checked before every native allocation ({@link
 * NativeBuffer}) and, with the reason, before a model allocates its parameters: a request that
 * cannot succeed is a {@link NativeMemoryException} naming the bytes and their purpose, never a
 * process killed while zero-filling pages it could not have.
 *
 * <p>The limit is {@code -Dfuselm.maxNativeBytes} (bytes, or with a k/m/g/t suffix) when set;
 * otherwise, for host memory (CPU and reference backends), the physical memory of the machine or
 * container, counting what fuselm has already allocated; CUDA devices report their own
 * out-of-memory.
 */
public final class NativeMemory {
  /** The system property that sets the limit: {@code -Dfuselm.maxNativeBytes=64g}. */
  public static final String LIMIT_PROPERTY = "fuselm.maxNativeBytes";

  private NativeMemory() {}

  /** The limit of a backend's memory in bytes, Long.MAX_VALUE when there is none. */
  public static long limit(Backend backend) {
    String p = System.getProperty(LIMIT_PROPERTY);
    if (p != null && !p.isBlank()) {
      return parseBytes(p);
    }
    return backend == Backend.CUDA ? Long.MAX_VALUE : physicalMemory();
  }

  /** Why the limit is what it is, for messages. */
  static String limitSource(Backend backend) {
    String p = System.getProperty(LIMIT_PROPERTY);
    if (p != null && !p.isBlank()) {
      return "-D" + LIMIT_PROPERTY + "=" + p.trim();
    }
    return (backend == Backend.CUDA ? "no limit" : "this machine's physical memory") + "; -D"
        + LIMIT_PROPERTY + "=BYTES sets another";
  }

  /**
   * Throws unless {@code bytes} more native bytes fit under the backend's limit beside those
   * already allocated; what says what they are for ("the parameters of ...").
   */
  public static void require(Backend backend, long bytes, Supplier<String> what) {
    long limit = limit(backend);
    long live = NativeBuffer.liveBytes(backend);
    if (bytes < 0 || bytes > limit || live > limit - bytes) {
      String in = live > 0 && bytes <= limit ? ", with " + format(live) + " already allocated"
          : "";
      throw new NativeMemoryException("cannot allocate " + format(bytes) + " of native memory for "
          + what.get() + ": more than the limit of " + format(limit) + in + " ("
          + limitSource(backend) + ")", bytes);
    }
  }

  /** Bytes as a person reads them: 512 bytes, 3.2 MB, 128.0 GB (decimal units). */
  public static String format(long bytes) {
    if (bytes == Long.MAX_VALUE || bytes < 0) {
      return "more than 9.2 EB (the size overflows 64 bits)";
    }
    if (bytes < 1000) {
      return bytes + " bytes";
    }
    String[] units = {"kB", "MB", "GB", "TB", "PB", "EB"};
    double v = bytes;
    int u = -1;
    while (v >= 1000 && u < units.length - 1) {
      v /= 1000;
      u++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }

  static long physicalMemory() {
    if (ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os) {
      long total = os.getTotalMemorySize();
      return total > 0 ? total : Long.MAX_VALUE;
    }
    return Long.MAX_VALUE;
  }

  /** "123", "64k", "512m", "8g", "1t" (powers of 1024); anything else is an error. */
  static long parseBytes(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT);
    int shift = 0;
    if (!t.isEmpty()) {
      switch (t.charAt(t.length() - 1)) {
        case 'k' -> shift = 10;
        case 'm' -> shift = 20;
        case 'g' -> shift = 30;
        case 't' -> shift = 40;
        default -> shift = 0;
      }
    }
    String digits = shift == 0 ? t : t.substring(0, t.length() - 1);
    try {
      long n = Long.parseLong(digits);
      if (n >= 0 && n <= Long.MAX_VALUE >> shift) {
        return n << shift;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("-D" + LIMIT_PROPERTY + "=" + s + " is not a size in bytes"
        + " (e.g. 68719476736, 64g or 512m)");
  }
}
