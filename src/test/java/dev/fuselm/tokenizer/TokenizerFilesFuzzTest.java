package dev.fuselm.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fuselm.testing.FuzzFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Jazzer targets for the tokenizer file loaders: any bytes are either a tokenizer (which then
 * encodes a probe text and decodes it back, exactly for byte-level BPE) or an IOException whose
 * one-line message names the file or its directory. Seeds: TokenizerFilesFuzzTestInputs/<target>/.
 */
class TokenizerFilesFuzzTest {
  /** Every byte value, ASCII, a special token's written form, accents, CJK, an emoji. */
  static final String PROBE = probe();

  private static String probe() {
    StringBuilder b = new StringBuilder("Hello, world!  It's 2024\n\t<|endoftext|> café 日本語 😀 ");
    for (char c = 1; c < 256; c++) {
      b.append(c);
    }
    return b.toString();
  }

  /** encoder.json and vocab.bpe (first NUL byte between them), also named vocab.json and merges.txt. */
  @FuzzTest(maxDuration = "30s")
  void bpeFiles(byte[] data) throws IOException {
    byte[][] parts = FuzzFiles.splitAtNul(data);
    for (String[] names : new String[][] {{"gpt2", "encoder.json", "vocab.bpe"},
        {"hf", "vocab.json", "merges.txt"}}) {
      Path dir = Files.createDirectories(FuzzFiles.scratch().resolve(names[0]));
      dir.toFile().deleteOnExit();
      FuzzFiles.write(names[0] + "/" + names[1], parts[0]);
      FuzzFiles.write(names[0] + "/" + names[2], parts[1]);
      try {
        roundTrip(Tokenizers.load(dir), true);
      } catch (IOException e) {
        FuzzFiles.checkRefusal(e, dir.toString());
      }
    }
  }

  /** A Hugging Face tokenizer.json (byte-level BPE or WordPiece, by its model type). */
  @FuzzTest(maxDuration = "30s")
  void tokenizerJson(byte[] data) {
    Path f = FuzzFiles.write("tokenizer.json", data);
    try {
      Tokenizer t = Tokenizers.load(f);
      roundTrip(t, t instanceof Gpt2BpeTokenizer);
    } catch (IOException e) {
      FuzzFiles.checkRefusal(e, f.toString());
    }
  }

  /** A BERT vocab.txt, lower-cased and cased. */
  @FuzzTest(maxDuration = "30s")
  void vocabTxt(byte[] data) {
    Path f = FuzzFiles.write("vocab.txt", data);
    for (boolean lowercase : new boolean[] {true, false}) {
      try {
        roundTrip(WordPieceTokenizer.fromVocab(f, lowercase), false);
      } catch (IOException e) {
        FuzzFiles.checkRefusal(e, f.toString());
      }
    }
  }

  /** Encodes PROBE: ids in range, decoding them works, and gives PROBE back when exact. */
  static void roundTrip(Tokenizer t, boolean exact) {
    for (boolean allowSpecial : new boolean[] {false, true}) {
      int[] ids = t.encode(PROBE, allowSpecial);
      for (int id : ids) {
        if (id < 0 || id >= t.vocabSize()) {
          throw new AssertionError("id " + id + " outside the vocabulary of " + t.vocabSize()
              + ": " + Arrays.toString(ids));
        }
      }
      String back = t.decode(ids);
      if (exact && !back.equals(PROBE)) {
        throw new AssertionError("decode(encode(probe)) differs: " + back);
      }
    }
  }
}
