package dev.fuselm.io;

import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;

/** Finds the tokenizer of a model directory: see {@link Tokenizers}, the one resolver. */
@Deprecated(forRemoval = true) // merge shim: call tokenizer.Tokenizers
public final class TokenizerFiles {
  private TokenizerFiles() {}

  public static Gpt2BpeTokenizer resolve(String spec) throws IOException {
    return Tokenizers.gpt2Bpe(spec);
  }

  public static boolean present(Path dir) {
    return Tokenizers.present(dir);
  }

  public static Tokenizer forModel(Path dir, int vocabSize) throws IOException {
    return Tokenizers.forModel(dir, vocabSize);
  }
}
