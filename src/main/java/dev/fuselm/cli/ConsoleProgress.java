package dev.fuselm.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.jline.terminal.spi.SystemStream;
import org.jline.terminal.spi.TerminalProvider;

/**
 * The training commands' progress on stderr. On a terminal it is me.tongfei's progress bar (redrawn
 * in place, its own ETA, loss and smoothed tokens/s as its message); anywhere else (a file, a pipe)
 * it prints the same plain line as before about every 10% of the steps, so logs stay readable and
 * nothing reads a bar. Whether stderr is a terminal is asked of the OS (jline's {@code test -t 2}),
 * not {@code System.console()}, which is null as soon as stdout is redirected.
 */
final class ConsoleProgress implements AutoCloseable {
  // jline logs through java.util.logging when it falls back to a dumb terminal; not a user's concern
  private static final Logger JLINE = Logger.getLogger("org.jline");

  private final PrintStream out;
  private final long firstStep;
  private final long total;
  private final boolean terminal;
  private final long startNanos = System.nanoTime();
  private ProgressBar bar; // on a terminal: created at the first step
  private double smoothTps = Double.NaN;
  private long lastPrinted = -1;

  ConsoleProgress(PrintStream out, long firstStep, long total, boolean terminal) {
    this.out = out;
    this.firstStep = firstStep;
    this.total = total;
    this.terminal = terminal;
  }

  /** Whether stderr is a terminal, by isatty(2) (jline's exec provider runs {@code test -t 2}). */
  static boolean stderrIsTerminal() {
    try {
      return TerminalProvider.load("exec").isSystemStream(SystemStream.Error);
    } catch (Exception | LinkageError e) {
      return false;
    }
  }

  /** Moves the bar to step. */
  void update(long step, float loss, double tokensPerSecond) {
    if (out == null) {
      return;
    }
    if (terminal) {
      // tokens/s of one step jumps with the OS's scheduling: show an exponential moving average
      smoothTps = Double.isNaN(smoothTps) ? tokensPerSecond : 0.9 * smoothTps + 0.1 * tokensPerSecond;
      if (bar == null) {
        JLINE.setLevel(Level.OFF);
        bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(total)
            .startsFrom(firstStep, Duration.ZERO).setStyle(ProgressBarStyle.ASCII)
            .setUpdateIntervalMillis(250).setConsumer(new ConsoleProgressBarConsumer(out))
            .build();
      }
      bar.setExtraMessage(String.format(Locale.ROOT, "loss %.4f | %.0f tok/s", loss, smoothTps));
      bar.stepTo(step);
      lastPrinted = step;
      return;
    }
    long done = step - firstStep;
    long every = Math.max(1, (total - firstStep) / 10);
    if (step != total && done != 1 && done % every != 0) {
      return;
    }
    double elapsed = (System.nanoTime() - startNanos) / 1e9;
    double eta = done > 0 ? elapsed / done * (total - step) : Double.NaN;
    int width = 24;
    int filled = (int) Math.min(width, width * step / Math.max(1, total));
    String line = String.format(Locale.ROOT, "step %d/%d [%s] loss %.4f | %.0f tok/s | ETA %s",
        step, total, "#".repeat(filled) + ".".repeat(width - filled), loss, tokensPerSecond,
        formatSeconds(eta));
    out.println(line);
    out.flush();
    lastPrinted = step;
  }

  /** Prints a message on its own line (not overwritten by the bar). */
  void message(String msg) {
    if (out == null) {
      return;
    }
    clearLine();
    out.println(msg);
    out.flush();
    if (bar != null) {
      bar.refresh();
    }
  }

  /**
   * Before a line on stdout: on a terminal, stdout and stderr are the same screen, so the bar's
   * line is cleared first (the bar redraws itself below the stdout line).
   */
  void clearLine() {
    if (out != null && terminal && lastPrinted >= 0) {
      out.print("\r\u001b[K");
      out.flush();
    }
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }

  static String formatSeconds(double s) {
    if (Double.isNaN(s) || Double.isInfinite(s)) {
      return "?";
    }
    long t = Math.round(s);
    return t >= 60 ? (t / 60) + "m" + String.format(Locale.ROOT, "%02d", t % 60) + "s" : t + "s";
  }
}
