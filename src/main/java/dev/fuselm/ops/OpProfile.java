package dev.fuselm.ops;

import java.util.Map;
import java.util.TreeMap;

/**
 * Wall time spent in each native op, for {@code fuselm bench train --profile}. The ops of this
 * package are where every model op reaches native code, so the timer sits there and nowhere else:
 * each op reads {@link #start()} before its native call and passes it to {@link #stop} after it.
 * Off (the default), {@code start} returns 0 without reading the clock and {@code stop} returns at
 * once on a 0: a static field read and a branch per op, nothing allocated. On, the time of each
 * call is added under the native function's name (GEMMs also under their shape and transposes,
 * so a caller can tell the layers apart); recording is synchronized, so ops called from several
 * Java threads are counted right, each with its own wall time.
 *
 * <p>Not a library feature: a process-wide switch for benchmarks, which turn it on around the
 * steps they time and read {@link #snapshot()} after.
 */
public final class OpProfile {
  private static boolean on;
  private static final Map<String, long[]> TOTALS = new TreeMap<>();

  private OpProfile() {}

  /** Turns the profile on (clearing what it held) or off. */
  public static synchronized void enable(boolean enabled) {
    TOTALS.clear();
    on = enabled;
  }

  public static boolean enabled() {
    return on;
  }

  /** Clears the totals, keeping the profile on or off. */
  public static synchronized void reset() {
    TOTALS.clear();
  }

  /**
   * Key to {nanoseconds, calls} since the last reset: the native function's name, or for a GEMM
   * {@code "fl_sgemm NT m n k"} (op(a) transposed or not, op(b) transposed or not, then M, N, K).
   */
  public static synchronized Map<String, long[]> snapshot() {
    Map<String, long[]> copy = new TreeMap<>();
    TOTALS.forEach((k, v) -> copy.put(k, v.clone()));
    return copy;
  }

  static long start() {
    return on ? System.nanoTime() : 0L;
  }

  static void stop(long t0, String op) {
    if (t0 != 0L) {
      add(op, System.nanoTime() - t0);
    }
  }

  static void stopGemm(long t0, String op, boolean transA, boolean transB, long m, long n,
      long k) {
    if (t0 != 0L) {
      long ns = System.nanoTime() - t0;
      add(op + " " + (transA ? 'T' : 'N') + (transB ? 'T' : 'N') + " " + m + " " + n + " " + k, ns);
    }
  }

  private static synchronized void add(String key, long ns) {
    long[] v = TOTALS.computeIfAbsent(key, x -> new long[2]);
    v[0] += ns;
    v[1]++;
  }
}
