package dev.fuselm.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line console progress bar (step, loss, tokens/s, ETA) redrawn in place on a terminal; when
 * the stream is not a terminal it prints a plain line about every 10% instead.
 */
public final class ProgressBar {
  private final PrintStream out;
  private final long total;
  private final boolean terminal;
  private final long startNanos = System.nanoTime();
  private final long firstStep;
  private long lastPrinted = -1;

  public ProgressBar(PrintStream out, long firstStep, long total, boolean terminal) {
    this.out = out;
    this.firstStep = firstStep;
    this.total = total;
    this.terminal = terminal;
  }

  /** True when stderr is likely a terminal. */
  public static boolean stderrIsTerminal() {
    return System.console() != null;
  }

  public void update(long step, float loss, double tokensPerSecond) {
    if (out == null) {
      return;
    }
    long done = step - firstStep;
    double elapsed = (System.nanoTime() - startNanos) / 1e9;
    double eta = done > 0 ? elapsed / done * (total - step) : Double.NaN;
    if (!terminal) {
      long every = Math.max(1, (total - firstStep) / 10);
      if (step != total && step - firstStep != 1 && (step - firstStep) % every != 0) {
        return;
      }
    }
    int width = 24;
    int filled = (int) Math.min(width, width * step / Math.max(1, total));
    String bar = "#".repeat(filled) + ".".repeat(width - filled);
    String line = String.format(Locale.ROOT, "step %d/%d [%s] loss %.4f | %.0f tok/s | ETA %s",
        step, total, bar, loss, tokensPerSecond, formatSeconds(eta));
    if (terminal) {
      out.print("\r" + line + "\u001b[K");
      if (step == total) {
        out.println();
      }
    } else {
      out.println(line);
    }
    out.flush();
    lastPrinted = step;
  }

  /** Prints a message on its own line (not overwritten by the bar). */
  public void message(String msg) {
    if (out == null) {
      return;
    }
    if (terminal && lastPrinted >= 0) {
      out.print("\r\u001b[K");
    }
    out.println(msg);
    out.flush();
  }

  static String formatSeconds(double s) {
    if (Double.isNaN(s) || Double.isInfinite(s)) {
      return "?";
    }
    long t = Math.round(s);
    return t >= 60 ? (t / 60) + "m" + String.format(Locale.ROOT, "%02d", t % 60) + "s" : t + "s";
  }
}
