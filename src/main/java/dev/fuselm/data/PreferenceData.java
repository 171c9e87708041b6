package dev.fuselm.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Preference pairs for DPO in the layout of the book's {@code dpo-from-scratch} notebook
 * (Raschka, "Build a Large Language Model (From Scratch)", chapter 7 bonus): the entries of an
 * Alpaca-style instruction file ({@code instruction}, optional {@code input}, optional {@code
 * output}) with two added strings, {@code chosen} (the preferred response) and {@code rejected}.
 * The prompt is the instruction and input in a {@link PromptTemplate}; both responses follow it.
 */
public final class PreferenceData {
  private static final ObjectMapper JSON = new ObjectMapper();

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

  /** Reads a file; every problem is an IOException naming the file and the entry. */
  public static PreferenceData read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": no such file");
    }
    JsonNode root;
    try {
      root = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isArray() || root.isEmpty()) {
      throw new IOException(file + ": expected a non-empty JSON array of {\"instruction\","
          + " \"input\", \"chosen\", \"rejected\"} objects");
    }
    List<Pair> out = new ArrayList<>();
    for (int i = 0; i < root.size(); i++) {
      JsonNode n = root.get(i);
      String where = file + ": entry " + i;
      if (!n.isObject()) {
        throw new IOException(where + " is not an object");
      }
      JsonNode ins = n.get("instruction");
      JsonNode inp = n.get("input");
      if (ins == null || !ins.isTextual() || ins.asText().isBlank()) {
        throw new IOException(where + ": missing or empty \"instruction\" (a string)");
      }
      if (inp != null && !inp.isNull() && !inp.isTextual()) {
        throw new IOException(where + ": \"input\" must be a string");
      }
      String chosen = text(n, "chosen", where);
      String rejected = text(n, "rejected", where);
      out.add(new Pair(ins.asText(), inp == null || inp.isNull() ? "" : inp.asText(), chosen,
          rejected, i));
    }
    return new PreferenceData(out);
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
    if (!(trainRatio > 0) || !(valRatio >= 0) || trainRatio + valRatio > 1) {
      throw new IllegalArgumentException("need train ratio > 0, validation ratio >= 0 and their"
          + " sum <= 1, got " + trainRatio + " and " + valRatio);
    }
    List<Pair> shuffled = new ArrayList<>(pairs);
    Collections.shuffle(shuffled, new Random(seed));
    int n = shuffled.size();
    int nTrain = (int) Math.floor(n * trainRatio);
    int nVal = (int) Math.floor(n * valRatio);
    if (nTrain == 0) {
      throw new IllegalArgumentException(n + " pairs leave none for training at ratio "
          + trainRatio);
    }
    return new Split(List.copyOf(shuffled.subList(0, nTrain)),
        List.copyOf(shuffled.subList(nTrain, nTrain + nVal)),
        List.copyOf(shuffled.subList(nTrain + nVal, n)));
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
