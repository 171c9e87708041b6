package dev.fuselm.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

/**
 * The character classes of Hugging Face's BERT normalizer and pre-tokenizer, as that implementation sees
 * them. It classifies with its own, older Unicode tables ({@code unicode_categories}: "other"
 * Cc/Cf/Co/Cs, punctuation, non-spacing marks) and Rust's newer lower-case mapping, so this JDK's
 * {@code Character} methods would disagree on a few hundred code points (Unicode 10-13 marks and
 * punctuation, letters cased after 13.0). The tables in {@code bert/hf-unicode.txt} were read off the
 * reference implementation itself, code point by code point, by
 * {@code benchmarks/tokenizer/generate-fixtures.js} ({@code hf-bert-unicode.json.gz}) and
 * {@code BertUnicodeTablesTest}; that test regenerates and checks them.
 */
final class BertUnicode {

  static final String RESOURCE = "/dev/fuselm/tokenizer/bert/hf-unicode.txt";

  /** Removed by clean-text: NUL, U+FFFD and "other" characters except TAB, LF, CR. */
  static final BitSet REMOVED = new BitSet(0x110000);
  /** Split off as single tokens by the pre-tokenizer: ASCII punctuation and Unicode P*. */
  static final BitSet PUNCT = new BitSet(0x110000);
  /** Dropped after NFD when stripping accents (Mn). */
  static final BitSet NONSPACING_MARK = new BitSet(0x110000);
  /** Code points HF's NFD leaves whole although this JDK decomposes them. */
  static final BitSet NO_DECOMPOSITION = new BitSet(0x110000);
  /** Lower-case mapping, code point to its lower-case string, for code points that change. */
  static final Map<Integer, String> LOWER = new HashMap<>();
  private static final char[] LOWER_BMP = new char[0x10000];   // 0: see LOWER

  static {
    try (InputStream in = Gpt2BpeTokenizer.resource(RESOURCE);
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        String[] f = line.split(" ");
        for (int i = 1; i < f.length; i++) {
          switch (f[0]) {
            case "removed" -> setRange(REMOVED, f[i]);
            case "punct" -> setRange(PUNCT, f[i]);
            case "mn" -> setRange(NONSPACING_MARK, f[i]);
            case "nodecomp" -> setRange(NO_DECOMPOSITION, f[i]);
            case "lower" -> {
              int gt = f[i].indexOf('>');
              StringBuilder to = new StringBuilder();
              for (String cp : f[i].substring(gt + 1).split(",")) {
                to.appendCodePoint(Integer.parseInt(cp, 16));
              }
              LOWER.put(Integer.parseInt(f[i].substring(0, gt), 16), to.toString());
            }
            default -> throw new IOException(RESOURCE + ": unknown table " + f[0]);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("fuselm's BERT character tables are unreadable", e);
    }
    for (int c = 0; c < 0x10000; c++) {
      String l = LOWER.get(c);
      LOWER_BMP[c] = l == null ? (char) c : l.length() == 1 ? l.charAt(0) : 0;
    }
  }

  private BertUnicode() {
  }

  private static void setRange(BitSet set, String item) {
    int dash = item.indexOf('-');
    int from = Integer.parseInt(dash < 0 ? item : item.substring(0, dash), 16);
    int to = dash < 0 ? from : Integer.parseInt(item.substring(dash + 1), 16);
    set.set(from, to + 1);
  }

  /** Rust's {@code char::is_whitespace} (the White_Space property), which HF's BERT code uses. */
  static boolean isWhitespace(int c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x80 && (c == 0x85 || c == 0xA0 || c == 0x1680
        || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000));
  }

  /** The CJK ideograph blocks BERT pads with spaces (the ranges of HF's {@code is_chinese_char}). */
  static boolean isChinese(int c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
        || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
        || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }

  static void appendLower(StringBuilder out, int c) {
    if (c < 0x10000) {
      char l = LOWER_BMP[c];
      if (l != 0 || c == 0) {
        out.append(l);
        return;
      }
    }
    String l = LOWER.get(c);
    if (l == null) {
      out.appendCodePoint(c);
    } else {
      out.append(l);
    }
  }

  /** NFD as HF computes it: this JDK's NFD, except for the code points HF does not decompose. */
  static String nfd(String s) {
    if (Normalizer.isNormalized(s, Normalizer.Form.NFD)) {
      return s;
    }
    if (NO_DECOMPOSITION.isEmpty() || s.codePoints().noneMatch(NO_DECOMPOSITION::get)) {
      return Normalizer.normalize(s, Normalizer.Form.NFD);
    }
    StringBuilder out = new StringBuilder(s.length() + 16);
    int start = 0;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      int next = i + Character.charCount(c);
      if (NO_DECOMPOSITION.get(c)) {
        out.append(Normalizer.normalize(s.substring(start, i), Normalizer.Form.NFD)).appendCodePoint(c);
        start = next;
      }
      i = next;
    }
    return out.append(Normalizer.normalize(s.substring(start), Normalizer.Form.NFD)).toString();
  }
}
