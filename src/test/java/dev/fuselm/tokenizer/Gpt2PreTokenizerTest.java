package dev.fuselm.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class Gpt2PreTokenizerTest {

  /** GPT-2's pattern as JTokkit compiles it for r50k_base: the reference the hand-written splitter must equal. */
  static final Pattern GPT2 = Pattern.compile(
      "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);

  static List<String> regexSplit(String s) {
    List<String> out = new ArrayList<>();
    Matcher m = GPT2.matcher(s);
    while (m.find()) {
      out.add(m.group());
    }
    return out;
  }

  @Test
  void everyCodePointIsClassifiedLikeTheRegex() {
    Pattern letter = Pattern.compile("\\p{L}", Pattern.UNICODE_CHARACTER_CLASS);
    Pattern number = Pattern.compile("\\p{N}", Pattern.UNICODE_CHARACTER_CLASS);
    Pattern space = Pattern.compile("\\s", Pattern.UNICODE_CHARACTER_CLASS);
    int mismatches = 0;
    String first = null;
    for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
      String s = new String(Character.toChars(cp));
      int expected = letter.matcher(s).matches() ? Gpt2PreTokenizer.LETTER
          : number.matcher(s).matches() ? Gpt2PreTokenizer.NUMBER
          : space.matcher(s).matches() ? Gpt2PreTokenizer.SPACE : Gpt2PreTokenizer.OTHER;
      if (Gpt2PreTokenizer.classify(cp) != expected) {
        mismatches++;
        if (first == null) {
          first = Integer.toHexString(cp);
        }
      }
    }
    assertEquals(0, mismatches, "first mismatching code point U+" + first);
  }

  @Test
  void knownSplits() {
    assertEquals(List.of("Hello", ",", " world", "'s", " 123", "  ", " foo", "!!", "\n\n"),
        Gpt2PreTokenizer.split("Hello, world's 123   foo!!\n\n"));
    assertEquals(List.of("I", "'m", " don", "'t", " we", "'ll", " they", "'re", " I", "'ve", " he", "'d"),
        Gpt2PreTokenizer.split("I'm don't we'll they're I've he'd"));
    // Upper-case contractions are not contractions for GPT-2: "'" and "M" split apart.
    assertEquals(List.of("I", "'", "M"), Gpt2PreTokenizer.split("I'M"));
    // A whitespace run before a word leaves its last space to the word; a lone tab stays alone.
    assertEquals(List.of("a", "   ", " b", "\t", "c", " \t", "\t", "d"), Gpt2PreTokenizer.split("a    b\tc \t\td"));
    // NEL (U+0085) is whitespace, U+FEFF and U+001F are not.
    assertEquals(List.of("a", "\u0085", "b", "\uFEFF", "c", "\u001F", "d"), Gpt2PreTokenizer.split("a\u0085b\uFEFFc\u001Fd"));
    assertEquals(List.of("x", " \uD83D\uDE00\uD83D\uDE00", "  "), Gpt2PreTokenizer.split("x \uD83D\uDE00\uD83D\uDE00  "));
  }

  @Test
  void corpusSplitsLikeTheRegex() {
    String corpus = TestData.corpus();
    List<String> expected = regexSplit(corpus);
    List<String> actual = Gpt2PreTokenizer.split(corpus);
    assertEquals(611_009, expected.size(), "SOURCES.md gives 611,009 pieces with Unicode \\s");
    assertEquals(expected.size(), actual.size());
    for (int i = 0; i < expected.size(); i++) {
      assertEquals(expected.get(i), actual.get(i), "piece " + i);
    }
  }

  @Test
  void adversarialStringsSplitLikeTheRegex() {
    for (String s : TestData.adversarial(42, 5000)) {
      assertEquals(regexSplit(s), Gpt2PreTokenizer.split(s), () -> "input " + BpeVocab.quote(s));
    }
  }

  @Test
  void loneSurrogatesAreOtherCharactersLikeInTheRegex() {
    for (String s : new String[] {"a\uD800b", "\uDC00", " \uD83Dx", "x\uDE00\uDE00 y", "\uD800\uD800\uDC00", "1\uDBFF"}) {
      assertEquals(regexSplit(s), Gpt2PreTokenizer.split(s), () -> "input " + BpeVocab.quote(s));
    }
  }

  @Test
  void safeCutStartsAPiece() {
    String corpus = TestData.corpus();
    char[] s = corpus.toCharArray();
    int cut = Gpt2PreTokenizer.safeCut(s, 100_000, s.length);
    List<String> whole = Gpt2PreTokenizer.split(corpus);
    List<String> parts = new ArrayList<>(Gpt2PreTokenizer.split(corpus.substring(0, cut)));
    parts.addAll(Gpt2PreTokenizer.split(corpus.substring(cut)));
    assertEquals(whole, parts);
  }
}
