package dev.fuselm.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Locale;

/**
 * One JSON object on one line, written through Jackson's generator (strings escaped as JSON
 * requires: a path with a quote or a backslash stays valid), with numbers in the exact digits the
 * {@code printf} lines of the {@code bench} commands always printed: {@link #put(String, double,
 * int)} formats as {@code %.Nf} (Locale.ROOT) and writes those characters as the number, so
 * ordinary values give byte-identical lines; a NaN or an infinity (which printf wrote as invalid
 * JSON) is written as {@code null}. Fields keep the order they were put in.
 *
 * <pre>{@code
 * new JsonLine().put("bench", "embed").put("batch", 32).put("ms_per_batch", med, 1).println(out);
 * }</pre>
 */
public final class JsonLine {
  private static final JsonFactory FACTORY = new JsonFactory();
  private final StringWriter text = new StringWriter();
  private final JsonGenerator g;
  private boolean closed;

  public JsonLine() {
    try {
      g = FACTORY.createGenerator(text);
      g.writeStartObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A string field (null: JSON null). */
  public JsonLine put(String name, String value) {
    return write(name, () -> {
      if (value == null) {
        g.writeNull();
      } else {
        g.writeString(value);
      }
    });
  }

  public JsonLine put(String name, long value) {
    return write(name, () -> g.writeNumber(value));
  }

  public JsonLine put(String name, boolean value) {
    return write(name, () -> g.writeBoolean(value));
  }

  /** A number with {@code decimals} digits after the point, as {@code %.<decimals>f} prints it. */
  public JsonLine put(String name, double value, int decimals) {
    return write(name, () -> number(value, decimals));
  }

  /** An array of numbers, each as {@link #put(String, double, int)} writes one. */
  public JsonLine putArray(String name, int decimals, double... values) {
    return write(name, () -> {
      g.writeStartArray();
      for (double v : values) {
        number(v, decimals);
      }
      g.writeEndArray();
    });
  }

  /** A nested object, written field by field by the caller's filler (same rules). */
  public JsonLine putObject(String name, java.util.function.Consumer<JsonLine> filler) {
    return write(name, () -> {
      g.writeStartObject();
      filler.accept(this);
      g.writeEndObject();
    });
  }

  /** The line, without a line end (closes the object: nothing can be put afterwards). */
  @Override
  public String toString() {
    if (!closed) {
      try {
        g.writeEndObject();
        g.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      closed = true;
    }
    return text.toString();
  }

  /** Prints the line and a line end. */
  public void println(PrintStream out) {
    out.println(this);
  }

  /** %.Nf digits, or null for a non-finite value (JSON has no NaN or infinity). */
  static String digits(double value, int decimals) {
    return Double.isFinite(value) ? String.format(Locale.ROOT, "%." + decimals + "f", value) : null;
  }

  private void number(double value, int decimals) throws IOException {
    String d = digits(value, decimals);
    if (d == null) {
      g.writeNull();
    } else {
      g.writeNumber(d); // the characters as they are: printf's digits
    }
  }

  private interface Body {
    void write() throws IOException;
  }

  private JsonLine write(String name, Body body) {
    if (closed) {
      throw new IllegalStateException("this JSON line was already written out");
    }
    try {
      g.writeFieldName(name);
      body.write();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return this;
  }
}
