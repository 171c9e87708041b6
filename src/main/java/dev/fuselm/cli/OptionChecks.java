package dev.fuselm.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * Range and finiteness rules for the option values the commands share, checked after parsing and
 * before any command starts work, whichever command declares the option (an option name means the
 * same thing in every command). A value that breaks one is a {@link
 * CommandLine.ParameterException}: one line and exit code 2, as picocli's own parse errors.
 *
 * <ul>
 *   <li>every floating-point value is finite (no NaN or Infinity);
 *   <li>{@code --threads} &gt;= 0 (0 = all cores);
 *   <li>{@code --lr} &gt; 0; {@code --min-lr}, {@code --weight-decay}, {@code --clip} &gt;= 0;
 *   <li>{@code --dropout} in [0, 1);
 *   <li>{@code --max-new-tokens}, {@code --temperature}, {@code --top-k} &gt;= 0; {@code --top-p}
 *       in (0, 1] (the library's {@code GenerationConfig} checks the same in its own words);
 *   <li>step counts ({@code --sample-every}, {@code --eval-every}, {@code --save-every},
 *       {@code --warmup}, {@code --eval-batches}) &gt;= 0.
 * </ul>
 */
final class OptionChecks {
  private OptionChecks() {}

  /** Checks the matched options of the command and each subcommand on the line. */
  static void check(ParseResult result) {
    for (ParseResult p = result; p != null; p = p.subcommand()) {
      for (OptionSpec o : p.matchedOptions()) {
        String problem = problem(o.longestName(), o.getValue());
        if (problem != null) {
          throw new CommandLine.ParameterException(p.commandSpec().commandLine(), problem);
        }
      }
    }
  }

  /** What is wrong with an option's value, null when nothing is. */
  static String problem(String name, Object value) {
    if (!(value instanceof Number n)) {
      return null;
    }
    double v = n.doubleValue();
    if ((value instanceof Double || value instanceof Float) && !Double.isFinite(v)) {
      return name + " must be a finite number, got " + value;
    }
    switch (name) {
      case "--threads":
        return v < 0 ? name + " must be >= 0 (0 = all cores), got " + value : null;
      case "--lr":
        return v <= 0 ? name + " must be a learning rate > 0, got " + value : null;
      case "--min-lr":
      case "--weight-decay":
      case "--clip":
      case "--sample-every":
      case "--eval-every":
      case "--save-every":
      case "--warmup":
      case "--eval-batches":
      case "--max-new-tokens":
      case "--temperature":
      case "--top-k":
        return v < 0 ? name + " must be >= 0, got " + value : null;
      case "--top-p":
        return !(v > 0 && v <= 1) ? name + " must be in (0, 1], got " + value : null;
      case "--dropout":
        return v < 0 || v >= 1 ? name + " must be a probability in [0, 1), got " + value : null;
      default:
        return null;
    }
  }
}
