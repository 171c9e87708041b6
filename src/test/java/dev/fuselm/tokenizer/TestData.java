package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPInputStream;

/** Shared test inputs: the parity corpus, the Hugging Face fixtures, and seeded adversarial strings. */
final class TestData {

  private static String corpus;

  private TestData() {
  }

  /**
   * The shared data directory: {@code -Dfuselm.data=DIR}, else {@code $FUSELM_DATA}, else {@code ../shared/data}
   * relative to the repository (where the project keeps it).
   */
  static Path dataDir() {
    String p = System.getProperty("fuselm.data", System.getenv("FUSELM_DATA"));
    if (p == null && System.getProperty("fuselm.shared.dir") != null) {
      p = Path.of(System.getProperty("fuselm.shared.dir"), "data").toString();   // set by the pom
    }
    return p != null ? Path.of(p) : Path.of("..", "shared", "data").toAbsolutePath().normalize();
  }

  /** The 2.7 MB tokenizer parity corpus; the calling test is skipped, with the reason, if it is absent. */
  static synchronized String corpus() {
    if (corpus == null) {
      Path p = dataDir().resolve("tokenizer-corpus.txt");
      assumeTrue(Files.isRegularFile(p), "parity corpus not found at " + p + " (set -Dfuselm.data=DIR)");
      try {
        corpus = Files.readString(p);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return corpus;
  }

  static InputStream fixture(String name) throws IOException {
    InputStream in = TestData.class.getResourceAsStream("/tokenizer/" + name);
    if (in == null) {
      throw new IOException("test fixture /tokenizer/" + name + " missing; run benchmarks/tokenizer/generate-fixtures.js");
    }
    return new BufferedInputStream(name.endsWith(".gz") ? new GZIPInputStream(in, 1 << 16) : in, 1 << 16);
  }

  /** Ids stored as unsigned LEB128 varints (the format generate-fixtures.js writes). */
  static int[] fixtureIds(String name) throws IOException {
    IntList out = new IntList(1 << 20);
    try (InputStream in = fixture(name)) {
      int b;
      int v = 0;
      int shift = 0;
      while ((b = in.read()) >= 0) {
        v |= (b & 0x7F) << shift;
        if ((b & 0x80) != 0) {
          shift += 7;
        } else {
          out.add(v);
          v = 0;
          shift = 0;
        }
      }
    }
    return out.toArray();
  }

  static JsonNode fixtureJson(String name) throws IOException {
    try (InputStream in = fixture(name)) {
      return new ObjectMapper().readTree(in);
    }
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  /** Index of the first difference, or -1 if equal. */
  static int firstDifference(int[] a, int[] b) {
    int n = Math.min(a.length, b.length);
    for (int i = 0; i < n; i++) {
      if (a[i] != b[i]) {
        return i;
      }
    }
    return a.length == b.length ? -1 : n;
  }

  private static final String[] WHITESPACE = {" ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u000B", "\u000C", "\u0085",
    "\u00A0", "\u1680", "\u2000", "\u2007", "\u200A", "\u2028", "\u2029", "\u202F", "\u205F", "\u3000", "\uFEFF",
    "\u001C", "\u001D", "\u001E", "\u001F", "\u200B", "\u180E"};
  private static final String[] CONTRACTIONS = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re",
    "'rE", "'VE", "'vE", "'M", "'LL", "'lL", "'Ll", "'D", "\u2019s", "\u2019ll", "''", "'", "' s", "'x", "'l", "'r", "'v"};
  private static final String[] WORDS = {"hello", "World", "don", "I", "caf\u00E9", "cafe\u0301", "\u00C5ngstr\u00F6m",
    "stra\u00DFe", "\u0130stanbul", "\u03A3\u039F\u03A6\u039F\u03A3", "\u4E2D\u6587", "\u65E5\u672C\u8A9E\u306E",
    "\uD55C\uAD6D\uC5B4", "\u0645\u0631\u062D\u0628\u0627", "\u0928\u092E\u0938\u094D\u0924\u0947", "x\u0301\u0302",
    "supercalifragilisticexpialidocious", "ABCdef123", "\u2160\u2161", "\u0661\u0662", "\uD835\uDC00\uD835\uDC01",
    "unaffable", "[CLS]", "<|endoftext|>", "<|endoftext", "http://example.com/a?b=c", "\u00BD\u00B2"};
  private static final String[] EMOJI = {"\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67\u200D\uD83D\uDC66",
    "\uD83C\uDFF3\uFE0F\u200D\uD83C\uDF08", "\uD83D\uDC4D\uD83C\uDFFD", "\uD83C\uDDFA\uD83C\uDDF8", "1\uFE0F\u20E3",
    "\uD83C\uDFF4\uDB40\uDC67\uDB40\uDC62\uDB40\uDC73\uDB40\uDC63\uDB40\uDC74\uDB40\uDC7F", "\uD83E\uDD70",
    "\uD83E\uDEE0", "\u2764\uFE0F", "\uD83D\uDE00\uD83D\uDE00\uD83D\uDE00"};
  private static final String[] PUNCT = {".", ",", "!", "?", "...", "--", "$", "\u00BF", "\u3002", "\u300C", "\u2014",
    "@#%", "`~", "\u00B0", "\"", "(", ")", "_", "\\", "\u00A7"};

  /** A random valid code point: ASCII, BMP or any plane (never a surrogate). */
  static int randomCodePoint(SplittableRandom r) {
    while (true) {
      double u = r.nextDouble();
      int cp = u < 0.3 ? r.nextInt(0x80) : u < 0.65 ? r.nextInt(0x10000) : r.nextInt(0x110000);
      if (cp < 0xD800 || cp > 0xDFFF) {
        return cp;
      }
    }
  }

  /**
   * Seeded adversarial strings: random code points from every plane, emoji ZWJ/flag/keycap/tag sequences,
   * whitespace runs (with NEL, BOM, NBSP, the U+001C..U+001F separators), long digit runs, contractions in
   * every case, accents and combining marks, CJK, long words, special-token look-alikes.
   */
  static List<String> adversarial(long seed, int count) {
    SplittableRandom r = new SplittableRandom(seed);
    List<String> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      StringBuilder sb = new StringBuilder();
      int parts = 1 + r.nextInt(24);
      for (int j = 0; j < parts; j++) {
        double k = r.nextDouble();
        if (k < 0.2) {
          sb.appendCodePoint(randomCodePoint(r));
        } else if (k < 0.35) {
          sb.append(WHITESPACE[r.nextInt(WHITESPACE.length)].repeat(1 + r.nextInt(r.nextInt(10) == 0 ? 300 : 4)));
        } else if (k < 0.45) {
          sb.append(CONTRACTIONS[r.nextInt(CONTRACTIONS.length)]);
        } else if (k < 0.6) {
          sb.append(WORDS[r.nextInt(WORDS.length)]);
        } else if (k < 0.68) {
          sb.append(EMOJI[r.nextInt(EMOJI.length)]);
        } else if (k < 0.76) {
          int len = 1 + r.nextInt(r.nextInt(10) == 0 ? 1200 : 8);
          for (int q = 0; q < len; q++) {
            sb.append((char) ('0' + r.nextInt(10)));
          }
        } else if (k < 0.84) {
          sb.append(PUNCT[r.nextInt(PUNCT.length)]);
        } else if (k < 0.88) {
          sb.append(String.valueOf((char) ('a' + r.nextInt(26))).repeat(1 + r.nextInt(150)));
        } else {
          for (int q = 0; q < 3; q++) {
            sb.appendCodePoint(randomCodePoint(r));
          }
        }
      }
      out.add(sb.toString());
    }
    return out;
  }
}
