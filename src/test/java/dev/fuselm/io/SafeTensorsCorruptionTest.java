package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * A named corruption suite for the safetensors reader, in the manner of llama.cpp's
 * {@code test-gguf.cpp}: each case is a file built here byte by byte, with its expected outcome,
 * either accepted (and then every tensor reads) or rejected with a message that names the file
 * and contains the given words. The rules are those of the reference reader's {@code validate()}.
 */
class SafeTensorsCorruptionTest {
  @TempDir Path dir;

  /** One handcrafted file and what the reader must do with it (words == null: accept). */
  record Case(String name, byte[] bytes, String... words) {
    boolean accepted() {
      return words.length == 0;
    }
  }

  private static final String W =
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}";

  /** 8-byte little-endian length, the header bytes as given, then data. */
  static byte[] file(long declaredLength, byte[] header, byte[] data) {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length)
        .order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(declaredLength).put(header).put(data);
    return b.array();
  }

  /** A file whose length field is right: header text (UTF-8) and dataBytes zero bytes. */
  static byte[] file(String header, int dataBytes) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return file(h.length, h, new byte[dataBytes]);
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      o.writeBytes(p);
    }
    return o.toByteArray();
  }

  static String t(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape
        + ",\"data_offsets\":[" + begin + "," + end + "]}";
  }

  static Case ok(String name, byte[] bytes) {
    return new Case(name, bytes);
  }

  static Case bad(String name, byte[] bytes, String... words) {
    return new Case(name, bytes, words);
  }

  static List<Case> cases() {
    List<Case> c = new ArrayList<>();
    // ---- accepted
    c.add(ok("one F32 tensor", file(W + "}", 16)));
    c.add(ok("empty header, no data", file("{}", 0)));
    c.add(ok("header padded with spaces to 8 bytes", file(W + "}       ", 16)));
    c.add(ok("metadata only", file("{\"__metadata__\":{\"format\":\"pt\"}}", 0)));
    c.add(ok("metadata null", file("{\"__metadata__\":null," + t("w", "F32", "[1]", 0, 4) + "}",
        4)));
    c.add(ok("scalar (shape [])", file("{" + t("s", "F32", "[]", 0, 4) + "}", 4)));
    c.add(ok("zero-element tensor between two others", file("{" + t("a", "F32", "[1]", 0, 4)
        + "," + t("z", "F32", "[0,3]", 4, 4) + "," + t("b", "F32", "[1]", 4, 8) + "}", 8)));
    c.add(ok("header order differs from data order", file("{" + t("b", "I64", "[1]", 4, 12) + ","
        + t("a", "BF16", "[2]", 0, 4) + "}", 12)));
    c.add(ok("every dtype fuselm reads", file("{" + t("a", "F32", "[1]", 0, 4) + ","
        + t("b", "F16", "[1]", 4, 6) + "," + t("c", "BF16", "[1]", 6, 8) + ","
        + t("d", "I32", "[1]", 8, 12) + "," + t("e", "I64", "[1]", 12, 20) + ","
        + t("f", "U8", "[4]", 20, 24) + "}", 24)));
    c.add(ok("unknown extra fields in a tensor entry", file("{\"w\":{\"dtype\":\"F32\","
        + "\"shape\":[1],\"data_offsets\":[0,4],\"note\":\"x\"}}", 4)));
    // ---- the 8-byte length
    c.add(bad("empty file", new byte[0], "not a safetensors file", "0 bytes"));
    c.add(bad("shorter than the length field", new byte[5], "not a safetensors file"));
    c.add(bad("header length 0", file(0, new byte[0], new byte[8]), "header length is 0"));
    c.add(bad("header length 2^63+5 (negative as signed)",
        file(Long.MIN_VALUE + 5, "{}".getBytes(StandardCharsets.UTF_8), new byte[0]),
        "9223372036854775813", "exceeds the cap"));
    c.add(bad("header length -1 (2^64-1 unsigned)", file(-1L, new byte[2], new byte[0]),
        "18446744073709551615", "exceeds the cap"));
    c.add(bad("header length just over the 100 MB cap", file(100_000_001L, new byte[2],
        new byte[0]), "100000001", "exceeds the cap"));
    c.add(bad("header length past the end of the file", file(1000, "{}".getBytes(
        StandardCharsets.UTF_8), new byte[0]), "header length 1000", "does not fit"));
    // ---- header text and JSON
    c.add(bad("header not UTF-8", file(4, new byte[] {'{', (byte) 0xff, (byte) 0xfe, '}'},
        new byte[0]), "not valid UTF-8"));
    c.add(bad("overlong UTF-8 encoding of '\"' in the header", file(6, new byte[] {'{', '"',
        (byte) 0xc0, (byte) 0xa2, '"', '}'}, new byte[0]), "not valid UTF-8"));
    c.add(bad("byte-order mark before the JSON", file("\ufeff{}", 0), "must start with '{'"));
    c.add(bad("leading space before the JSON", file(" {}", 0), "must start with '{'"));
    c.add(bad("a JSON array, not an object", file("[]", 0), "must start with '{'"));
    c.add(bad("truncated JSON", file("{\"w\": [1, 2", 0), "not valid JSON"));
    c.add(bad("trailing garbage after the JSON object", file("{} x", 0), "not valid JSON"));
    c.add(bad("NUL padding instead of spaces", file(2 + 6, concat("{}".getBytes(
        StandardCharsets.UTF_8), new byte[6]), new byte[0]), "not valid JSON"));
    c.add(bad("duplicate tensor key", file("{" + t("w", "F32", "[1]", 0, 4) + ","
        + t("w", "F32", "[1]", 4, 8) + "}", 8), "duplicate key 'w'"));
    c.add(bad("duplicate key inside a tensor entry", file("{\"w\":{\"dtype\":\"F32\",\"dtype\":"
        + "\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "duplicate key 'dtype'"));
    c.add(bad("deeply nested JSON", file("{\"__metadata__\":" + "[".repeat(5000)
        + "]".repeat(5000) + "}", 0), "not valid JSON"));
    c.add(bad("__metadata__ not an object", file("{\"__metadata__\":[1]}", 0), "__metadata__",
        "object of strings"));
    c.add(bad("__metadata__ value not a string", file("{\"__metadata__\":{\"n\":1}}", 0),
        "__metadata__ value 'n'", "not a string"));
    // ---- one tensor's entry
    c.add(bad("tensor entry not an object", file("{\"w\":5}", 0), "tensor 'w'", "needs dtype"));
    c.add(bad("missing data_offsets", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4),
        "tensor 'w'", "data_offsets"));
    c.add(bad("three data_offsets", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
        + "\"data_offsets\":[0,4,8]}}", 8), "tensor 'w'", "data_offsets"));
    c.add(bad("dtype not a string", file("{\"w\":{\"dtype\":4,\"shape\":[1],"
        + "\"data_offsets\":[0,4]}}", 4), "tensor 'w'", "dtype"));
    c.add(bad("unknown dtype", file("{" + t("w", "Q4", "[2]", 0, 2) + "}", 2),
        "unsupported dtype Q4"));
    c.add(bad("negative dimension", file("{" + t("w", "F32", "[-1]", 0, 0) + "}", 0),
        "invalid shape", "non-negative"));
    c.add(bad("fractional dimension", file("{" + t("w", "F32", "[2.5]", 0, 10) + "}", 10),
        "invalid shape"));
    c.add(bad("dimension beyond 64 bits", file("{" + t("w", "U8", "[18446744073709551616]", 0, 0)
        + "}", 0), "invalid shape"));
    c.add(bad("element count overflows 64 bits", file("{" + t("w", "U8",
        "[4294967296,4294967296]", 0, 0) + "}", 0), "shape too large", "overflows"));
    c.add(bad("byte count overflows 64 bits", file("{" + t("w", "F32", "[4611686018427387904]",
        0, 0) + "}", 0), "too large", "overflow"));
    c.add(bad("offsets not integers", file("{" + t("w", "F32", "[1]", 0, 4).replace("[0,4]",
        "[0.0,4.5]") + "}", 4), "invalid data_offsets"));
    c.add(bad("negative begin", file("{" + t("w", "F32", "[1]", -4, 0) + "}", 4),
        "invalid data_offsets"));
    c.add(bad("end before begin", file("{" + t("w", "U8", "[0]", 8, 4) + "}", 8),
        "end is before its begin"));
    c.add(bad("span disagrees with the shape", file("{" + t("w", "F32", "[3,2]", 0, 16) + "}",
        16), "24 bytes", "data_offsets span 16 bytes"));
    c.add(bad("truncated data section", file(W + "}", 8), "outside the data section",
        "truncated"));
    // ---- how the tensors tile the data section
    c.add(bad("gap between two tensors", file("{" + t("a", "F32", "[1]", 0, 4) + ","
        + t("b", "F32", "[1]", 8, 12) + "}", 12), "gap of 4 bytes", "'b'", "contiguous"));
    c.add(bad("first tensor not at offset 0", file("{" + t("a", "F32", "[1]", 4, 8) + "}", 8),
        "gap of 4 bytes", "must begin at 0"));
    c.add(bad("overlapping tensors", file("{" + t("a", "F32", "[2]", 0, 8) + ","
        + t("b", "F32", "[2]", 4, 12) + "}", 12), "'a' and 'b' overlap"));
    c.add(bad("two tensors on the same bytes", file("{" + t("a", "F32", "[1]", 0, 4) + ","
        + t("b", "F32", "[1]", 0, 4) + "}", 4), "overlap"));
    c.add(bad("bytes after the last tensor", file(W + "}", 20), "4 trailing bytes"));
    c.add(bad("data but no tensors", file("{}", 8), "8 trailing bytes"));
    byte[] zip = {'P', 'K', 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    c.add(bad("a zip archive appended (polyglot file)", concat(file(W + "}", 16), zip),
        "22 trailing bytes", "appended"));
    return c;
  }

  @TestFactory
  Stream<DynamicTest> everyCaseHasItsOutcome() {
    return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c)));
  }

  private void check(Case c) throws IOException {
    Path f = dir.resolve(c.name().replaceAll("[^A-Za-z0-9]+", "-") + ".safetensors");
    Files.write(f, c.bytes());
    if (c.accepted()) {
      try (SafeTensors.Reader r = SafeTensors.open(f)) {
        for (SafeTensors.Entry e : r.entries().values()) {
          long n = e.dtype() == SafeTensors.DType.I64 || e.dtype() == SafeTensors.DType.I32
              ? r.readLongs(e.name()).length : e.dtype() == SafeTensors.DType.U8 ? e.numel()
              : r.readFloats(e.name()).length;
          assertEquals(e.numel(), n, e.name());
        }
      }
      return;
    }
    IOException e = assertThrows(IOException.class, () -> SafeTensors.open(f).close(),
        c.name() + " must be rejected");
    String m = e.getMessage();
    assertTrue(m.startsWith(f.toString()), "the message names the file: " + m);
    for (String w : c.words()) {
      assertTrue(m.toLowerCase(Locale.ROOT).contains(w.toLowerCase(Locale.ROOT)),
          c.name() + ": message lacks '" + w + "': " + m);
    }
    assertFalse(m.contains("\n"), "one line: " + m);
  }

  @Test
  void suiteHasAtLeastThirtyCasesOfEachKindTogether() {
    List<Case> all = cases();
    assertTrue(all.size() >= 30, "cases: " + all.size());
    assertTrue(all.stream().filter(Case::accepted).count() >= 5);
    assertEquals(all.size(), all.stream().map(Case::name).distinct().count(), "unique names");
  }

  @Test
  void filesTheWriterProducesPassTheStrictReader() throws IOException {
    Path f = dir.resolve("w.safetensors");
    new SafeTensors.Writer().metadata("format", "pt").addFloats("a", new long[] {2, 3},
        new float[6]).addLongs("b", new long[] {1, 2, 3}).addFloats("c", new long[] {0},
        new float[0]).write(f);
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      assertEquals(3, r.entries().size());
    }
  }

  @Test
  void aDirectoryIsNamedAsOne() {
    IOException e = assertThrows(IOException.class, () -> SafeTensors.open(dir).close());
    assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
  }
}
