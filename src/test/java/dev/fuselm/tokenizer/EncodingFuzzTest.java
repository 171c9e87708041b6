package dev.fuselm.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * Jazzer targets for encoding arbitrary text: the bytes, read as UTF-8 (a bad byte becomes
 * U+FFFD, as every reader of text does), encode with GPT-2's byte-level BPE to ids that decode
 * back to exactly that text (with and without special tokens), and with BERT's WordPiece (cased
 * and uncased) to ids in the vocabulary, at most one per code point of the normalised text, that
 * decode without error. Seeds: EncodingFuzzTestInputs/ (crash-* files are findings kept as
 * regression cases).
 */
class EncodingFuzzTest {
  @FuzzTest(maxDuration = "30s")
  void byteLevelBpeRoundTrip(byte[] data) {
    String text = new String(data, StandardCharsets.UTF_8);
    Gpt2BpeTokenizer t = Gpt2BpeTokenizer.gpt2();
    for (boolean allowSpecial : new boolean[] {false, true}) {
      String back = t.decode(checkIds(t, t.encode(text, allowSpecial)));
      if (!back.equals(text)) {
        throw new AssertionError("decode(encode(s)) != s (allowSpecial " + allowSpecial + ")");
      }
    }
  }

  @FuzzTest(maxDuration = "30s")
  void wordPiece(byte[] data) {
    String text = new String(data, StandardCharsets.UTF_8);
    for (boolean uncased : new boolean[] {true, false}) {
      WordPieceTokenizer t =
          uncased ? WordPieceTokenizer.bertBaseUncased() : WordPieceTokenizer.bertBaseCased();
      // every piece takes at least one code point of the normalised text; NFD may lengthen it
      // (CI's finding: "a\uC800z", a Hangul syllable, is 4 code points after NFD, and 4 ids)
      String normalised = new BertNormalizer(uncased).normalize(text);
      int codePoints = normalised.codePointCount(0, normalised.length());
      for (boolean allowSpecial : new boolean[] {false, true}) {
        int[] ids = checkIds(t, t.encode(text, allowSpecial));
        if (ids.length > codePoints) {
          throw new AssertionError(ids.length + " ids for " + codePoints + " normalised code points");
        }
        t.decode(ids);
      }
    }
  }

  static int[] checkIds(Tokenizer t, int[] ids) {
    for (int id : ids) {
      if (id < 0 || id >= t.vocabSize()) {
        throw new AssertionError("id " + id + " outside the vocabulary of " + t.vocabSize());
      }
    }
    return ids;
  }
}
