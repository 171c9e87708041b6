package dev.fuselm.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;

/**
 * A labelled text dataset read from a TSV or CSV file, and its seeded split.
 *
 * <p>Format: one row per line (split on {@code \n} only; a trailing {@code \r} is dropped, blank
 * lines are skipped), fields separated by a tab (files ending in {@code .tsv}, or whose first line
 * holds a tab) or else a comma, no quote handling. Columns are chosen by name (then the first line
 * is a header) or by 0-based index (then there is no header). A row is split into at most as many
 * fields as the header has (or as the highest chosen index needs), so the last column may itself
 * contain the separator (the SMS Spam Collection is {@code label<TAB>text}).
 */
public final class ClassificationData {
  /**
   * One labelled text (with textPair, a labelled sentence pair; null for a single text); line is
   * the 1-based line of the file it came from.
   */
  public record Example(String text, String textPair, String label, int line) {
    public Example(String text, String label, int line) {
      this(text, null, label, line);
    }
  }

  /** Train, validation and test examples. */
  public record Split(List<Example> train, List<Example> validation, List<Example> test) {}

  private final List<Example> examples;
  private final List<String> labels;

  private ClassificationData(List<Example> examples) {
    this.examples = List.copyOf(examples);
    this.labels = List.copyOf(new TreeSet<>(examples.stream().map(Example::label).toList()));
  }

  public static ClassificationData of(List<Example> examples) {
    if (examples.isEmpty()) {
      throw new IllegalArgumentException("the dataset is empty");
    }
    return new ClassificationData(examples);
  }

  public List<Example> examples() {
    return examples;
  }

  /** The distinct labels, sorted (a label's index in this list is its class id). */
  public List<String> labels() {
    return labels;
  }

  /** Reads a file; every problem is an IOException naming the file and line. */
  public static ClassificationData read(Path file, String textColumn, String labelColumn)
      throws IOException {
    return read(file, textColumn, null, labelColumn);
  }

  /** Reads a file of sentence pairs (pairColumn null: single texts). */
  public static ClassificationData read(Path file, String textColumn, String pairColumn,
      String labelColumn) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": no such file");
    }
    String content = Files.readString(file, StandardCharsets.UTF_8);
    return parse(file.toString(), content, textColumn, pairColumn, labelColumn);
  }

  /** Parses file content (source names the file in error messages). */
  public static ClassificationData parse(String source, String content, String textColumn,
      String labelColumn) throws IOException {
    return parse(source, content, textColumn, null, labelColumn);
  }

  /** Parses file content of sentence pairs (pairColumn null: single texts). */
  public static ClassificationData parse(String source, String content, String textColumn,
      String pairColumn, String labelColumn) throws IOException {
    if (textColumn == null || textColumn.isBlank() || labelColumn == null
        || labelColumn.isBlank()) {
      throw new IOException("the text and label columns must be given (a name or a 0-based index)");
    }
    String[] lines = content.split("\n", -1);
    int first = 0;
    while (first < lines.length && strip(lines[first]).isBlank()) {
      first++;
    }
    if (first == lines.length) {
      throw new IOException(source + ": the dataset is empty");
    }
    String head = strip(lines[first]);
    String sep = source.endsWith(".tsv") || head.contains("\t") ? "\t"
        : source.endsWith(".csv") || head.contains(",") ? "," : "\t";
    Integer ti = index(textColumn), li = index(labelColumn);
    Integer pi = pairColumn == null ? null : index(pairColumn);
    boolean header = ti == null || li == null || (pairColumn != null && pi == null);
    int pairIdx = -1;
    int width;
    int textIdx, labelIdx;
    int start;
    if (header) {
      List<String> names = Arrays.asList(head.split(sep, -1));
      names.replaceAll(String::trim);
      textIdx = ti != null ? ti : names.indexOf(textColumn);
      labelIdx = li != null ? li : names.indexOf(labelColumn);
      if (textIdx < 0 || textIdx >= names.size()) {
        throw new IOException(source + ": no column '" + textColumn + "' in the header " + names);
      }
      if (labelIdx < 0 || labelIdx >= names.size()) {
        throw new IOException(source + ": no column '" + labelColumn + "' in the header " + names);
      }
      if (pairColumn != null) {
        pairIdx = pi != null ? pi : names.indexOf(pairColumn);
        if (pairIdx < 0 || pairIdx >= names.size()) {
          throw new IOException(source + ": no column '" + pairColumn + "' in the header "
              + names);
        }
      }
      width = names.size();
      start = first + 1;
    } else {
      textIdx = ti;
      labelIdx = li;
      pairIdx = pi == null ? -1 : pi;
      width = Math.max(Math.max(textIdx, labelIdx), pairIdx) + 1;
      start = first;
    }
    if (textIdx == labelIdx) {
      throw new IOException("the text and label columns are the same column (" + textIdx + ")");
    }
    if (pairIdx == textIdx || pairIdx == labelIdx) {
      throw new IOException("the text-pair column is the same column as the text or the label ("
          + pairIdx + ")");
    }
    List<Example> out = new ArrayList<>();
    for (int i = start; i < lines.length; i++) {
      String line = strip(lines[i]);
      if (line.isBlank()) {
        continue;
      }
      String[] f = line.split(sep, width);
      int lineNo = i + 1;
      if (f.length < width) {
        throw new IOException(source + ":" + lineNo + ": " + f.length + " column(s), needs "
            + width + " (text column " + textIdx + ", label column " + labelIdx + ")");
      }
      String label = f[labelIdx].trim();
      String text = f[textIdx];
      if (label.isEmpty()) {
        throw new IOException(source + ":" + lineNo + ": the label is missing");
      }
      if (text.isBlank()) {
        throw new IOException(source + ":" + lineNo + ": the text is empty");
      }
      String pair = pairIdx < 0 ? null : f[pairIdx];
      if (pair != null && pair.isBlank()) {
        throw new IOException(source + ":" + lineNo + ": the second text of the pair is empty");
      }
      out.add(new Example(text, pair, label, lineNo));
    }
    if (out.isEmpty()) {
      throw new IOException(source + ": the dataset has no rows");
    }
    ClassificationData d = new ClassificationData(out);
    if (d.labels.size() < 2) {
      throw new IOException(source + ": only one label (" + d.labels.get(0)
          + ") occurs; classification needs at least two");
    }
    return d;
  }

  private static String strip(String line) {
    return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
  }

  private static Integer index(String column) {
    if (!column.chars().allMatch(Character::isDigit)) {
      return null;
    }
    try {
      return Integer.parseInt(column);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** Examples per label, in label order. */
  public Map<String, Integer> counts() {
    Map<String, Integer> c = new LinkedHashMap<>();
    for (String l : labels) {
      c.put(l, 0);
    }
    for (Example e : examples) {
      c.merge(e.label(), 1, Integer::sum);
    }
    return c;
  }

  /**
   * The same dataset with every label down-sampled (seeded, at random) to the count of the rarest
   * one; examples keep their file order.
   */
  public ClassificationData balanced(long seed) {
    int min = Collections.min(counts().values());
    Map<String, List<Integer>> byLabel = new LinkedHashMap<>();
    for (int i = 0; i < examples.size(); i++) {
      byLabel.computeIfAbsent(examples.get(i).label(), k -> new ArrayList<>()).add(i);
    }
    Random r = new Random(seed);
    boolean[] keep = new boolean[examples.size()];
    for (String l : labels) {
      List<Integer> idx = new ArrayList<>(byLabel.get(l));
      Collections.shuffle(idx, r);
      for (int i = 0; i < min; i++) {
        keep[idx.get(i)] = true;
      }
    }
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < keep.length; i++) {
      if (keep[i]) {
        out.add(examples.get(i));
      }
    }
    return new ClassificationData(out);
  }

  /**
   * Shuffles (seeded) and splits: the first (1 - val - test) share trains, then validation, then
   * test (sizes rounded down for validation and test). Every part must be non-empty.
   */
  public Split split(double valRatio, double testRatio, long seed) {
    if (!(valRatio > 0 && testRatio > 0 && valRatio + testRatio < 1)) {
      throw new IllegalArgumentException("validation and test ratios must be > 0 and sum to less"
          + " than 1, got " + valRatio + " and " + testRatio);
    }
    List<Example> all = new ArrayList<>(examples);
    Collections.shuffle(all, new Random(seed));
    int n = all.size();
    int nVal = (int) Math.floor(n * valRatio), nTest = (int) Math.floor(n * testRatio);
    int nTrain = n - nVal - nTest;
    if (nVal == 0 || nTest == 0 || nTrain == 0) {
      throw new IllegalArgumentException("the dataset (" + n + " examples) is too small for a"
          + " train/validation/test split at ratios " + valRatio + "/" + testRatio);
    }
    return new Split(List.copyOf(all.subList(0, nTrain)),
        List.copyOf(all.subList(nTrain, nTrain + nVal)),
        List.copyOf(all.subList(nTrain + nVal, n)));
  }
}
