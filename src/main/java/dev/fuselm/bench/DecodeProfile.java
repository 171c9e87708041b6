package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * {@code bench generate --profile}'s breakdown of a decode step: per part (block matrices, LM
 * head, attention over the KV cache, the rest: layer norms, embedding, GELU, residual adds, copies,
 * Java and JNI overhead, the pool's wake-ups) the ms per step, its share of the step, the bytes it
 * must read from memory, the rate it reads them at and, given the read bandwidth measured beside
 * the run, the fraction of its bandwidth bound it reaches (bytes / bandwidth over its time). The
 * rest reads next to nothing, so its bound is 0 ms: every ms it takes is a loss.
 */
final class DecodeProfile {
  static final String[] PARTS = {"matrices", "lm_head", "attention", "rest"};

  private final double[] ms = new double[PARTS.length];
  private final long[] bytes = new long[PARTS.length];
  private final double readGbs;

  private DecodeProfile(double readGbs) {
    this.readGbs = readGbs;
  }

  /**
   * prof: ms per step of each of {@link #PARTS} (KvCache.PROFILE_PARTS' order); weightBytes: the
   * matrices' bytes read per step with the head's headBytes among them; kvBytes: the cached keys
   * and values attention reads per step; readGbs: measured read bandwidth, 0 if unknown.
   */
  static DecodeProfile of(double[] prof, long weightBytes, long headBytes, long kvBytes,
      double readGbs) {
    DecodeProfile p = new DecodeProfile(readGbs);
    for (int i = 0; i < PARTS.length; i++) {
      p.ms[i] = prof[i];
    }
    p.bytes[0] = weightBytes - headBytes;
    p.bytes[1] = headBytes;
    p.bytes[2] = kvBytes;
    return p;
  }

  /** One JSON line per part and one for the whole step on out; a readable table on table. */
  void print(PrintStream out, PrintStream table, Consumer<JsonLine> head) {
    double stepMs = 0;
    long stepBytes = 0;
    for (int i = 0; i < PARTS.length; i++) {
      stepMs += ms[i];
      stepBytes += bytes[i];
    }
    table.printf(Locale.ROOT, "%-10s %9s %6s %10s %7s %10s %9s%n", "part", "ms/token", "%",
        "MB/token", "GB/s", "bound ms", "% bound");
    for (int i = 0; i < PARTS.length; i++) {
      line(out, table, head, PARTS[i], ms[i], 100 * ms[i] / stepMs, bytes[i]);
    }
    line(out, table, head, "step", stepMs, 100, stepBytes);
    if (readGbs > 0) {
      table.printf(Locale.ROOT, "read bandwidth given: %.1f GB/s; bound = bytes / bandwidth;"
          + " the rest reads ~0 bytes, its bound is 0 ms%n", readGbs);
    } else {
      table.println("(give --read-gbs, the read bandwidth measured beside the run, for the"
          + " fractions of the bound)");
    }
  }

  private void line(PrintStream out, PrintStream table, Consumer<JsonLine> head, String part,
      double partMs, double pct, long partBytes) {
    double gbs = partBytes > 0 && partMs > 0 ? partBytes / (partMs / 1e3) / 1e9 : 0;
    double boundMs = readGbs > 0 ? partBytes / (readGbs * 1e9) * 1e3 : Double.NaN;
    JsonLine j = new JsonLine();
    head.accept(j);
    j.put("part", part).put("ms_per_token", partMs, 4).put("percent", pct, 1)
        .put("bytes_per_token", partBytes).put("gbs", gbs, 2);
    if (readGbs > 0) {
      j.put("read_gbs", readGbs, 2).put("bound_ms", boundMs, 4)
          .put("fraction_of_bound", partMs > 0 ? boundMs / partMs : 0, 3);
    }
    j.println(out);
    table.printf(Locale.ROOT, "%-10s %9.3f %6.1f %10.2f %7.1f %10s %9s%n", part, partMs, pct,
        partBytes / 1e6, gbs, readGbs > 0 ? String.format(Locale.ROOT, "%.3f", boundMs) : "-",
        readGbs > 0 ? String.format(Locale.ROOT, "%.0f%%", 100 * boundMs / partMs) : "-");
  }
}
