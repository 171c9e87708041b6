package dev.fuselm.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * An Alpaca-style instruction dataset: a JSON array of objects with a non-empty string {@code
 * instruction}, a string {@code output}, and an optional string {@code input} (missing = empty),
 * as in {@code instruction-data.json}; and its seeded train/validation/test split.
 */
public final class InstructionData {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One entry; index is its 0-based position in the file. */
  public record Entry(String instruction, String input, String output, int index) {}

  /** Train, validation and test entries. */
  public record Split(List<Entry> train, List<Entry> validation, List<Entry> test) {}

  private final List<Entry> entries;

  private InstructionData(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  public static InstructionData of(List<Entry> entries) {
    if (entries.isEmpty()) {
      throw new IllegalArgumentException("the instruction dataset is empty");
    }
    return new InstructionData(entries);
  }

  public List<Entry> entries() {
    return entries;
  }

  /** Reads a file; every problem is an IOException naming the file and the entry. */
  public static InstructionData read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": no such file");
    }
    JsonNode root;
    try {
      root = JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isArray()) {
      throw new IOException(file + ": expected a JSON array of {\"instruction\", \"input\","
          + " \"output\"} objects");
    }
    if (root.isEmpty()) {
      throw new IOException(file + ": the instruction dataset is empty");
    }
    List<Entry> out = new ArrayList<>();
    for (int i = 0; i < root.size(); i++) {
      JsonNode n = root.get(i);
      String where = file + ": entry " + i;
      if (!n.isObject()) {
        throw new IOException(where + " is not an object");
      }
      JsonNode ins = n.get("instruction");
      JsonNode inp = n.get("input");
      JsonNode outp = n.get("output");
      if (ins == null || !ins.isTextual() || ins.asText().isBlank()) {
        throw new IOException(where + ": missing or empty \"instruction\" (a string)");
      }
      if (outp == null || !outp.isTextual()) {
        throw new IOException(where + ": missing \"output\" (a string)");
      }
      if (inp != null && !inp.isNull() && !inp.isTextual()) {
        throw new IOException(where + ": \"input\" must be a string");
      }
      out.add(new Entry(ins.asText(), inp == null || inp.isNull() ? "" : inp.asText(),
          outp.asText(), i));
    }
    return new InstructionData(out);
  }

  /**
   * Shuffles with seed, then takes floor(n * trainRatio) entries for training, floor(n * valRatio)
   * for validation and the rest for the test set (the defaults 0.85 / 0.05 leave 10% for testing).
   */
  public Split split(double trainRatio, double valRatio, long seed) {
    if (!(trainRatio > 0) || !(valRatio >= 0) || trainRatio + valRatio > 1) {
      throw new IllegalArgumentException("need train ratio > 0, validation ratio >= 0 and their"
          + " sum <= 1, got " + trainRatio + " and " + valRatio);
    }
    List<Entry> shuffled = new ArrayList<>(entries);
    Collections.shuffle(shuffled, new Random(seed));
    int n = shuffled.size();
    int nTrain = (int) Math.floor(n * trainRatio);
    int nVal = (int) Math.floor(n * valRatio);
    if (nTrain == 0) {
      throw new IllegalArgumentException(n + " entries leave none for training at ratio "
          + trainRatio);
    }
    return new Split(List.copyOf(shuffled.subList(0, nTrain)),
        List.copyOf(shuffled.subList(nTrain, nTrain + nVal)),
        List.copyOf(shuffled.subList(nTrain + nVal, n)));
  }
}
