package dev.fuselm.cli;

import dev.fuselm.tokenizer.BpeTrainer;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm bpe-train}: learns a byte-level BPE vocabulary and writes encoder.json + vocab.bpe. */
@Command(name = "bpe-train", mixinStandardHelpOptions = true,
  description = "Learn a GPT-2 style byte-level BPE vocabulary from a UTF-8 text; writes encoder.json and vocab.bpe.")
public final class BpeTrainCommand implements Callable<Integer> {

  @Option(names = {"--input", "--data"}, required = true, paramLabel = "FILE", description = "training text (UTF-8)")
  Path input;

  @Option(names = "--vocab-size", required = true, paramLabel = "N",
    description = "ids in all: 256 bytes + merges + <|endoftext|> (at least 257)")
  int vocabSize;

  @Option(names = {"--output", "--out"}, required = true, paramLabel = "DIR", description = "directory for encoder.json and vocab.bpe")
  Path output;

  @Override
  public Integer call() throws IOException {
    if (vocabSize < 257) {
      throw new UserInputException("--vocab-size " + vocabSize + " is too small: 256 byte tokens + <|endoftext|> need 257");
    }
    String text = TokenizeCommand.decodeUtf8(TokenizeCommand.read(input), input);
    long t0 = System.nanoTime();
    Gpt2BpeTokenizer t = BpeTrainer.train(text, vocabSize);
    double seconds = (System.nanoTime() - t0) / 1e9;
    t.save(output);
    System.err.printf(Locale.ROOT, "bpe-train: %d merges, vocabulary %d, from %d characters in %.2f s; wrote %s and %s%n",
      t.mergeCount(), t.vocabSize(), text.length(), seconds, output.resolve("encoder.json"), output.resolve("vocab.bpe"));
    return 0;
  }
}
