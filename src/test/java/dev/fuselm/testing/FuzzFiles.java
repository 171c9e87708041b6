package dev.fuselm.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Helpers shared by the Jazzer {@code @FuzzTest} targets: a scratch directory for targets whose
 * parser reads a file (one per JVM, removed on exit), splitting one input into several files, and
 * the check that a refusal is the documented one.
 */
public final class FuzzFiles {
  private static Path dir;

  private FuzzFiles() {}

  /** A directory for this JVM's fuzz inputs (the same one on every call). */
  public static synchronized Path scratch() {
    if (dir == null) {
      try {
        dir = Files.createTempDirectory("fuselm-fuzz");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      dir.toFile().deleteOnExit();
    }
    return dir;
  }

  /** Writes bytes to name in the scratch directory (replacing what was there) and returns it. */
  public static Path write(String name, byte[] bytes) {
    Path p = scratch().resolve(name);
    try {
      Files.write(p, bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    p.toFile().deleteOnExit();
    return p;
  }

  /**
   * The input cut at its first NUL byte: part 0 before it, part 1 after it (empty when there is
   * none). Text formats never hold a NUL, so a seed is two files joined by one NUL.
   */
  public static byte[][] splitAtNul(byte[] data) {
    for (int i = 0; i < data.length; i++) {
      if (data[i] == 0) {
        return new byte[][] {Arrays.copyOfRange(data, 0, i),
            Arrays.copyOfRange(data, i + 1, data.length)};
      }
    }
    return new byte[][] {data, new byte[0]};
  }

  /**
   * A documented refusal: an exception of the expected type whose message is one line that
   * contains {@code names} (the file or field it is about). Anything else is rethrown wrapped
   * in an AssertionError, which Jazzer reports as a finding.
   */
  public static void checkRefusal(Exception e, String names) {
    String m = e.getMessage();
    if (m == null || m.isBlank() || !m.contains(names) || m.contains("\n")) {
      throw new AssertionError("refusal without a one-line message naming " + names + ": " + e,
          e);
    }
  }
}
