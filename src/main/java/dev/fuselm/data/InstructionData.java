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
    String layout = "expected a JSON array of {\"instruction\", \"input\", \"output\"} objects";
    return new InstructionData(readEntries(file, layout, "the instruction dataset is empty",
        (n, where, instruction, input, index) -> {
          JsonNode outp = n.get("output");
          if (outp == null || !outp.isTextual()) {
            throw new IOException(where + ": missing \"output\" (a string)");
          }
          return new Entry(instruction, input, outp.asText(), index);
        }));
  }

  /** Makes one item of a checked entry: its object, where (file and entry), and its fields. */
  interface EntryReader<T> {
    T read(JsonNode entry, String where, String instruction, String input, int index)
        throws IOException;
  }

  /**
   * The entries of a JSON array file of Alpaca-style objects (non-empty string {@code
   * instruction}, optional string {@code input}: missing = empty), each made by reader, which
   * checks the fields of its own layout; notArray and empty are the messages (after the file
   * name) of a file that is not an array or is an empty one. Every problem is an IOException
   * naming the file and the entry.
   */
  static <T> List<T> readEntries(Path file, String notArray, String empty, EntryReader<T> reader)
      throws IOException {
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
      throw new IOException(file + ": " + notArray);
    }
    if (root.isEmpty()) {
      throw new IOException(file + ": " + empty);
    }
    List<T> out = new ArrayList<>();
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
      out.add(reader.read(n, where, ins.asText(), inp == null || inp.isNull() ? "" : inp.asText(),
          i));
    }
    return out;
  }

  /**
   * Shuffles with seed, then takes floor(n * trainRatio) entries for training, floor(n * valRatio)
   * for validation and the rest for the test set (the defaults 0.85 / 0.05 leave 10% for testing).
   */
  public Split split(double trainRatio, double valRatio, long seed) {
    List<List<Entry>> parts = split(entries, trainRatio, valRatio, seed, "entries");
    return new Split(parts.get(0), parts.get(1), parts.get(2));
  }

  /** Train, validation and test parts of items as {@link #split}; noun names items in errors. */
  static <T> List<List<T>> split(List<T> items, double trainRatio, double valRatio, long seed,
      String noun) {
    if (!(trainRatio > 0) || !(valRatio >= 0) || trainRatio + valRatio > 1) {
      throw new IllegalArgumentException("need train ratio > 0, validation ratio >= 0 and their"
          + " sum <= 1, got " + trainRatio + " and " + valRatio);
    }
    List<T> shuffled = new ArrayList<>(items);
    Collections.shuffle(shuffled, new Random(seed));
    int n = shuffled.size();
    int nTrain = (int) Math.floor(n * trainRatio);
    int nVal = (int) Math.floor(n * valRatio);
    if (nTrain == 0) {
      throw new IllegalArgumentException(n + " " + noun + " leave none for training at ratio "
          + trainRatio);
    }
    return List.of(List.copyOf(shuffled.subList(0, nTrain)),
        List.copyOf(shuffled.subList(nTrain, nTrain + nVal)),
        List.copyOf(shuffled.subList(nTrain + nVal, n)));
  }
}
