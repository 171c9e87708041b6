package dev.fuselm.io;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the tokenizer of a model directory, or resolves a {@code --tokenizer} argument. */
public final class TokenizerFiles {
  private TokenizerFiles() {}

  /** "gpt2" (shipped in the jar), a directory of GPT-2 style files, or a tokenizer.json file. */
  public static Gpt2BpeTokenizer resolve(String spec) throws IOException {
    if (spec == null || spec.equals("gpt2")) {
      return Gpt2BpeTokenizer.gpt2();
    }
    Path p = Path.of(spec);
    if (Files.isDirectory(p)) {
      return Gpt2BpeTokenizer.fromDirectory(p);
    }
    if (Files.isRegularFile(p)) {
      return Gpt2BpeTokenizer.fromTokenizerJson(p);
    }
    throw new IOException("--tokenizer " + spec + ": not 'gpt2', a tokenizer directory or a"
        + " tokenizer.json file");
  }

  /** True when dir holds tokenizer files. */
  public static boolean present(Path dir) {
    return (Files.isRegularFile(dir.resolve("encoder.json"))
            && Files.isRegularFile(dir.resolve("vocab.bpe")))
        || (Files.isRegularFile(dir.resolve("vocab.json"))
            && Files.isRegularFile(dir.resolve("merges.txt")))
        || Files.isRegularFile(dir.resolve("tokenizer.json"));
  }

  /**
   * The tokenizer saved beside a model; a directory without one uses GPT-2's when the model has
   * GPT-2's vocabulary size.
   */
  public static Tokenizer forModel(Path dir, int vocabSize) throws IOException {
    Tokenizer t;
    if (present(dir)) {
      t = Gpt2BpeTokenizer.fromDirectory(dir);
    } else if (vocabSize == 50257) {
      t = Gpt2BpeTokenizer.gpt2();
    } else {
      throw new IOException(dir + ": no tokenizer files (encoder.json + vocab.bpe or"
          + " tokenizer.json) and the vocabulary (" + vocabSize + ") is not GPT-2's: pass token"
          + " ids instead");
    }
    if (t.vocabSize() > vocabSize) {
      throw new IOException(dir + ": the tokenizer has " + t.vocabSize() + " ids but the model"
          + " only " + vocabSize);
    }
    return t;
  }
}
