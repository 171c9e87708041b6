package dev.fuselm.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2's pre-tokenisation, hand-written: it splits text into exactly the pieces that OpenAI's pattern
 * <pre>
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * </pre>
 * finds, with Unicode semantics ({@code \s} is the White_Space property, {@code \p{L}} letters,
 * {@code \p{N}} numbers, classified by this JDK's Unicode tables) as tiktoken, JTokkit
 * ({@code Pattern.UNICODE_CHARACTER_CLASS}) and Python's {@code regex} module read it. A lone surrogate
 * is one character of none of the three classes, as in {@code java.util.regex}.
 *
 * <p>Why not {@code java.util.regex}: the pattern's alternation and the {@code \s+(?!\S)} look-ahead
 * cost several times more than the rest of encoding. The rules the pattern amounts to:
 * <ol>
 *   <li>at an ASCII apostrophe followed by {@code s d m t} or {@code ll ve re} (lower case only): that contraction;</li>
 *   <li>at U+0020 followed by a letter, number or "other" character: the space plus the longest run of that class;</li>
 *   <li>at a letter, number or other character: the longest run of its class;</li>
 *   <li>at whitespace: the whole run if it ends the text or is one character; otherwise the run minus its
 *       last character, which then starts the next piece (alone, or joined to the next run if it is U+0020).</li>
 * </ol>
 * The equivalence is tested against the regex on every code point and on the parity corpus.
 */
public final class Gpt2PreTokenizer {

  static final byte OTHER = 0;
  static final byte LETTER = 1;
  static final byte NUMBER = 2;
  static final byte SPACE = 3;
  /** Table marker: a surrogate code unit; the class depends on whether it is half of a valid pair. */
  private static final byte SURROGATE = 4;

  private static final byte[] BMP = new byte[0x10000];

  static {
    for (int c = 0; c < 0x10000; c++) {
      BMP[c] = Character.isSurrogate((char) c) ? SURROGATE : classify(c);
    }
  }

  /** Receives pieces as half-open char ranges of the text. */
  @FunctionalInterface
  public interface PieceSink {
    void piece(int start, int end);
  }

  private Gpt2PreTokenizer() {
  }

  /** The class of a code point: {@link #LETTER}, {@link #NUMBER}, {@link #SPACE} or {@link #OTHER}. */
  static byte classify(int cp) {
    int type = Character.getType(cp);
    switch (type) {
      case Character.UPPERCASE_LETTER:
      case Character.LOWERCASE_LETTER:
      case Character.TITLECASE_LETTER:
      case Character.MODIFIER_LETTER:
      case Character.OTHER_LETTER:
        return LETTER;
      case Character.DECIMAL_DIGIT_NUMBER:
      case Character.LETTER_NUMBER:
      case Character.OTHER_NUMBER:
        return NUMBER;
      case Character.SPACE_SEPARATOR:
      case Character.LINE_SEPARATOR:
      case Character.PARAGRAPH_SEPARATOR:
        return SPACE;
      default:
        // White_Space also holds the controls TAB..CR and NEL (as java.util.regex defines it).
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 ? SPACE : OTHER;
    }
  }

  /** The pieces of {@code text} as strings (convenient for tests and teaching; encoding uses {@link #split(char[], int, int, PieceSink)}). */
  public static List<String> split(String text) {
    List<String> out = new ArrayList<>();
    split(text.toCharArray(), 0, text.length(), (s, e) -> out.add(text.substring(s, e)));
    return out;
  }

  /** Splits {@code s[from, to)} into pieces, in order. The range must not cut a surrogate pair. */
  public static void split(char[] s, int from, int to, PieceSink sink) {
    int i = from;
    while (i < to) {
      char c = s[i];
      if (c == '\'' && i + 1 < to) {
        char d = s[i + 1];
        if (d == 's' || d == 't' || d == 'd' || d == 'm') {
          sink.piece(i, i + 2);
          i += 2;
          continue;
        }
        if (i + 2 < to) {
          char e = s[i + 2];
          if ((d == 'l' && e == 'l') || (d == 'v' && e == 'e') || (d == 'r' && e == 'e')) {
            sink.piece(i, i + 3);
            i += 3;
            continue;
          }
        }
      }
      if (c == ' ' && i + 1 < to) {
        int next = classAt(s, i + 1, to);
        if (next != SPACE) {
          int end = scan(s, i + 1, to, next);
          sink.piece(i, end);
          i = end;
          continue;
        }
      }
      int cls = classAt(s, i, to);
      if (cls != SPACE) {
        int end = scan(s, i, to, cls);
        sink.piece(i, end);
        i = end;
        continue;
      }
      // Whitespace run; every White_Space character is a single BMP char.
      int end = i + 1;
      while (end < to && BMP[s[end]] == SPACE) {
        end++;
      }
      if (end == to || end - i == 1) {
        sink.piece(i, end);
        i = end;
      } else {
        sink.piece(i, end - 1);
        i = end - 1;
      }
    }
  }

  private static int classAt(char[] s, int i, int to) {
    byte k = BMP[s[i]];
    if (k != SURROGATE) {
      return k;
    }
    char c = s[i];
    if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(s[i + 1])) {
      return classify(Character.toCodePoint(c, s[i + 1]));
    }
    return OTHER;
  }

  /** End of the run of class {@code cls} starting at {@code i}. */
  private static int scan(char[] s, int i, int to, int cls) {
    while (i < to) {
      char c = s[i];
      byte k = BMP[c];
      if (k == cls) {
        i++;
        continue;
      }
      if (k != SURROGATE) {
        return i;
      }
      if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(s[i + 1])) {
        if (classify(Character.toCodePoint(c, s[i + 1])) != cls) {
          return i;
        }
        i += 2;
      } else {
        if (cls != OTHER) {
          return i;
        }
        i++;
      }
    }
    return i;
  }

  /**
   * A position at or after {@code from} (and before {@code to}) where a piece always starts whatever
   * precedes it, or -1. Used to cut long texts into chunks that encode independently: a U+0020 that
   * follows a letter and precedes a letter always starts a new piece.
   */
  static int safeCut(char[] s, int from, int to) {
    for (int i = Math.max(from, 1); i + 1 < to; i++) {
      if (s[i] == ' ' && BMP[s[i - 1]] == LETTER && BMP[s[i + 1]] == LETTER) {
        return i;
      }
    }
    return -1;
  }
}
