package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;

/**
 * Derives fuselm's BERT character tables ({@code bert/hf-unicode.txt}) from the per-code-point probe of
 * Hugging Face's implementation ({@code hf-bert-unicode.json.gz}, written by generate-fixtures.js), checks
 * the shipped file equals the derivation, and checks {@link BertUnicode} and {@link BertNormalizer} against
 * the probe for every code point. To rewrite the shipped file after regenerating the probe:
 * {@code -Dfuselm.regenerate=src/main/resources/dev/fuselm/tokenizer/bert/hf-unicode.txt}.
 */
class BertUnicodeTablesTest {

  static BitSet set(JsonNode ranges) {
    BitSet b = new BitSet();
    for (JsonNode r : ranges) {
      b.set(r.get(0).asInt(), r.get(1).asInt() + 1);
    }
    return b;
  }

  static String mapped(JsonNode map, int cp) {
    JsonNode e = map.get(Integer.toString(cp));
    if (e == null) {
      return new String(Character.toChars(cp));
    }
    StringBuilder sb = new StringBuilder();
    e.forEach(x -> sb.appendCodePoint(x.asInt()));
    return sb.toString();
  }

  static boolean surrogate(int cp) {
    return cp >= 0xD800 && cp <= 0xDFFF;
  }

  static String ranges(String name, IntPredicate p) {
    List<String> items = new ArrayList<>();
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      if (!surrogate(cp) && p.test(cp)) {
        int end = cp;
        while (end + 1 <= 0x10FFFF && !surrogate(end + 1) && p.test(end + 1)) {
          end++;
        }
        items.add(end == cp ? String.format("%04X", cp) : String.format("%04X-%04X", cp, end));
        cp = end;
      }
    }
    return lines(name, items);
  }

  static String lines(String name, List<String> items) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < items.size(); i += 16) {
      sb.append(name);
      for (String s : items.subList(i, Math.min(items.size(), i + 16))) {
        sb.append(' ').append(s);
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  static String generate(JsonNode probe) {
    BitSet removed = set(probe.get("removed"));
    BitSet punct = set(probe.get("punct"));
    JsonNode strip = probe.get("stripAccents");
    JsonNode lower = probe.get("lowercase");
    // Mn as HF sees it: a code point this JDK does not decompose and HF's strip-accents deletes.
    BitSet mn = new BitSet();
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      String s = surrogate(cp) ? null : new String(Character.toChars(cp));
      if (s != null && Normalizer.normalize(s, Normalizer.Form.NFD).equals(s) && mapped(strip, cp).isEmpty()) {
        mn.set(cp);
      }
    }
    // Code points this JDK decomposes but HF leaves whole.
    BitSet noDecomp = new BitSet();
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      if (surrogate(cp)) {
        continue;
      }
      String s = new String(Character.toChars(cp));
      StringBuilder j = new StringBuilder();
      Normalizer.normalize(s, Normalizer.Form.NFD).codePoints().filter(c -> !mn.get(c)).forEach(j::appendCodePoint);
      if (!j.toString().equals(mapped(strip, cp)) && mapped(strip, cp).equals(s)) {
        noDecomp.set(cp);
      }
    }
    List<String> lowers = new ArrayList<>();
    for (int cp = 0; cp <= 0x10FFFF; cp++) {
      if (!surrogate(cp) && lower.has(Integer.toString(cp))) {
        StringBuilder to = new StringBuilder();
        for (JsonNode x : lower.get(Integer.toString(cp))) {
          to.append(to.length() == 0 ? "" : ",").append(String.format("%04X", x.asInt()));
        }
        lowers.add(String.format("%04X>%s", cp, to));
      }
    }
    return "# Character classes of Hugging Face tokenizers' BertNormalizer / BertPreTokenizer (npm tokenizers 0.23.2),\n"
        + "# read off that implementation code point by code point (benchmarks/tokenizer/generate-fixtures.js)\n"
        + "# and derived by src/test/java/dev/fuselm/tokenizer/BertUnicodeTablesTest.java. Hex code points.\n"
        + "# removed: deleted by clean_text. punct: isolated by the pre-tokenizer. mn: deleted after NFD by\n"
        + "# strip_accents. nodecomp: left whole by HF's NFD. lower: HF's lower-case mapping (changes only).\n"
        + ranges("removed", removed::get) + ranges("punct", punct::get) + ranges("mn", mn::get)
        + ranges("nodecomp", noDecomp::get) + lines("lower", lowers);
  }

  @Test
  void shippedTablesEqualTheDerivationFromTheProbe() throws IOException {
    String generated = generate(TestData.fixtureJson("hf-bert-unicode.json.gz"));
    String target = System.getProperty("fuselm.regenerate");
    if (target != null) {
      Files.writeString(Path.of(target), generated);
    }
    String shipped;
    try (InputStream in = Gpt2BpeTokenizer.resource(BertUnicode.RESOURCE)) {
      shipped = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    }
    assertEquals(generated, shipped);
  }

  @Test
  void everyCodePointBehavesLikeHuggingFace() throws IOException {
    JsonNode probe = TestData.fixtureJson("hf-bert-unicode.json.gz");
    BitSet removed = set(probe.get("removed"));
    BitSet toSpace = set(probe.get("toSpace"));
    BitSet chinese = set(probe.get("chinese"));
    BitSet punct = set(probe.get("punct"));
    BitSet splitWs = set(probe.get("splitWhitespace"));
    BertNormalizer stripOnly = new BertNormalizer(false, false, true, false);
    BertNormalizer lowerOnly = new BertNormalizer(false, false, false, true);
    BertNormalizer both = new BertNormalizer(false, false, true, true);
    BertNormalizer cleanOnly = new BertNormalizer(true, false, false, false);
    List<String> bad = new ArrayList<>();
    for (int cp = 0; cp <= 0x10FFFF && bad.size() < 10; cp++) {
      if (surrogate(cp)) {
        continue;
      }
      String s = new String(Character.toChars(cp));
      String clean = removed.get(cp) ? "" : toSpace.get(cp) ? " " : s;
      check(bad, cp, "clean", clean, cleanOnly.normalize(s));
      check(bad, cp, "chinese", chinese.get(cp), BertUnicode.isChinese(cp));
      check(bad, cp, "punct", punct.get(cp), BertUnicode.PUNCT.get(cp) && !BertUnicode.isWhitespace(cp));
      check(bad, cp, "whitespace", splitWs.get(cp), BertUnicode.isWhitespace(cp));
      check(bad, cp, "strip", mapped(probe.get("stripAccents"), cp), stripOnly.normalize(s));
      check(bad, cp, "lower", mapped(probe.get("lowercase"), cp), lowerOnly.normalize(s));
      check(bad, cp, "strip+lower", mapped(probe.get("stripAccentsLowercase"), cp), both.normalize(s));
    }
    assertEquals(List.of(), bad);
  }

  private static void check(List<String> bad, int cp, String what, Object expected, Object actual) {
    if (!expected.equals(actual)) {
      bad.add(String.format("U+%04X %s: HF %s, fuselm %s", cp, what, expected, actual));
    }
  }
}
