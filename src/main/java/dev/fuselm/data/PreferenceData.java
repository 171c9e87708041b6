package dev.fuselm.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Preference pairs for DPO in the layout of the book's {@code dpo-from-scratch} notebook
 * (Raschka, "Build a Large Language Model (From Scratch)", chapter 7 bonus): the entries of an
 * Alpaca-style instruction file ({@code instruction}, optional {@code input}, optional {@code
 * output}) with two added strings, {@code chosen} (the preferred response) and {@code rejected}.
 * The prompt is the instruction and input in a {@link PromptTemplate}; both responses follow it.
 */
public final class PreferenceData {
  /** One pair; index is its 0-based position in the file. */
  public record Pair(String instruction, String input, String chosen, String rejected, int index) {}

  /**
   * A tokenized pair: prompt + chosen + end-of-text and prompt + rejected + end-of-text (each cut
   * to context + 1 tokens like {@link InstructionCollator#encode}); promptLength tokens of prompt.
   */
  public record Encoded(int[] chosen, int[] rejected, int promptLength, boolean truncated) {}

  /** Train, validation and test pairs. */
  public record Split(List<Pair> train, List<Pair> validation, List<Pair> test) {}

  private final List<Pair> pairs;

  private PreferenceData(List<Pair> pairs) {
    this.pairs = List.copyOf(pairs);
  }

  public static PreferenceData of(List<Pair> pairs) {
    if (pairs.isEmpty()) {
      throw new IllegalArgumentException("the preference dataset is empty");
    }
    return new PreferenceData(pairs);
  }

  public List<Pair> pairs() {
    return pairs;
  }

  /**
   * Reads a file through {@link InstructionData}'s reader (its instruction and input), adding
   * {@code chosen} and {@code rejected}; every problem is an IOException naming the file and the
   * entry.
   */
  public static PreferenceData read(Path file) throws IOException {
    String layout = "expected a non-empty JSON array of {\"instruction\", \"input\","
        + " \"chosen\", \"rejected\"} objects";
    return new PreferenceData(InstructionData.readEntries(file, layout, layout,
        (n, where, instruction, input, index) -> new Pair(instruction, input,
            text(n, "chosen", where), text(n, "rejected", where), index)));
  }

  private static String text(JsonNode n, String key, String where) throws IOException {
    JsonNode v = n.get(key);
    if (v == null || !v.isTextual()) {
      throw new IOException(where + ": missing \"" + key + "\" (a string; preference pairs need"
          + " \"chosen\" and \"rejected\" responses)");
    }
    return v.asText();
  }

  /** Seeded shuffle, then train / validation / rest as {@link InstructionData#split}. */
  public Split split(double trainRatio, double valRatio, long seed) {
    List<List<Pair>> parts = InstructionData.split(pairs, trainRatio, valRatio, seed, "pairs");
    return new Split(parts.get(0), parts.get(1), parts.get(2));
  }

  /** Tokenizes a pair for a model with a context of ctx tokens (errors as InstructionCollator's). */
  public static Encoded encode(Tokenizer tok, PromptTemplate template, Pair p, int eot, int ctx) {
    InstructionCollator.Encoded c = InstructionCollator.encode(tok, template,
        new InstructionData.Entry(p.instruction(), p.input(), p.chosen(), p.index()), eot, ctx);
    InstructionCollator.Encoded r = InstructionCollator.encode(tok, template,
        new InstructionData.Entry(p.instruction(), p.input(), p.rejected(), p.index()), eot, ctx);
    return new Encoded(c.tokens(), r.tokens(), c.promptLength(), c.truncated() || r.truncated());
  }

  /**
   * One language-model batch of 2B rows for B pairs: rows 0..B-1 the chosen sequences, rows
   * B..2B-1 the rejected ones, right-padded with eot to the longest (or to fixedLength); only
   * response targets (and the end-of-text after them) count, the prompt and padding are ignored.
   */
  public static InstructionCollator.Batch collate(List<Encoded> pairs, int eot, int fixedLength) {
    List<InstructionCollator.Encoded> rows = new ArrayList<>(2 * pairs.size());
    for (Encoded e : pairs) {
      rows.add(new InstructionCollator.Encoded(e.chosen(), e.promptLength(), false));
    }
    for (Encoded e : pairs) {
      rows.add(new InstructionCollator.Encoded(e.rejected(), e.promptLength(), false));
    }
    return InstructionCollator.collate(rows, eot, true, fixedLength);
  }
}
