package dev.fuselm.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Named-entity data in the CoNLL layout: one token a line with its tag in the last
 * whitespace-separated column (two columns {@code token tag}, or CoNLL-2003's four {@code token POS
 * chunk tag}), a blank line between sentences, {@code -DOCSTART-} lines skipped. Tags are BIO
 * ({@code O}, {@code B-TYPE}, {@code I-TYPE}; IOB2 or IOB1) or IOBES ({@code E-}, {@code S-}).
 * Malformed lines are refused with file:line.
 */
public final class ConllData {
  /** One sentence: its words and their tags (same length), and the line it starts on. */
  public record Sentence(List<String> words, List<String> tags, int line) {
    public Sentence {
      if (words.size() != tags.size() || words.isEmpty()) {
        throw new IllegalArgumentException("a sentence needs one tag per word and a word");
      }
      words = List.copyOf(words);
      tags = List.copyOf(tags);
    }
  }

  private final String source;
  private final List<Sentence> sentences;

  public ConllData(String source, List<Sentence> sentences) {
    this.source = source;
    this.sentences = List.copyOf(sentences);
  }

  /** Reads a CoNLL file (UTF-8). */
  public static ConllData read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": no such file");
    }
    return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
  }

  /** Parses CoNLL text; where names the source in error messages. */
  public static ConllData parse(String where, String text) {
    List<Sentence> out = new ArrayList<>();
    List<String> words = new ArrayList<>();
    List<String> tags = new ArrayList<>();
    int start = 0;
    String[] lines = text.split("\r?\n", -1);
    int columns = 0;
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      int no = i + 1;
      if (line.isEmpty() || line.startsWith("-DOCSTART-")) {
        if (!words.isEmpty()) {
          out.add(new Sentence(words, tags, start));
          words = new ArrayList<>();
          tags = new ArrayList<>();
        }
        continue;
      }
      String[] cols = line.split("\\s+");
      if (cols.length < 2) {
        throw new IllegalArgumentException(where + ":" + no + ": expected a token and its tag"
            + " separated by whitespace (tag in the last column), got '" + line + "'");
      }
      if (columns == 0) {
        columns = cols.length;
      } else if (cols.length != columns) {
        throw new IllegalArgumentException(where + ":" + no + ": " + cols.length
            + " columns where the file's first line has " + columns);
      }
      String tag = cols[cols.length - 1];
      String bad = NerTags.check(tag);
      if (bad != null) {
        throw new IllegalArgumentException(where + ":" + no + ": " + bad);
      }
      if (words.isEmpty()) {
        start = no;
      }
      words.add(cols[0]);
      tags.add(tag);
    }
    if (!words.isEmpty()) {
      out.add(new Sentence(words, tags, start));
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(where + ": no sentences (expected one token and tag a"
          + " line, a blank line between sentences)");
    }
    return new ConllData(where, out);
  }

  public String source() {
    return source;
  }

  public List<Sentence> sentences() {
    return sentences;
  }

  public int size() {
    return sentences.size();
  }

  /** The number of words over all sentences. */
  public int words() {
    return sentences.stream().mapToInt(s -> s.words().size()).sum();
  }

  /**
   * The label set of this data in id order: {@code O}, then for each entity type (sorted) its
   * B-, I- (and, when the data uses them, E-, S-) tags.
   */
  public List<String> labels() {
    TreeSet<String> types = new TreeSet<>();
    boolean iobes = false;
    for (Sentence s : sentences) {
      for (String t : s.tags()) {
        if (!t.equals("O")) {
          types.add(t.substring(2));
          iobes |= t.startsWith("E-") || t.startsWith("S-");
        }
      }
    }
    List<String> labels = new ArrayList<>();
    labels.add("O");
    for (String type : types) {
      labels.add("B-" + type);
      labels.add("I-" + type);
      if (iobes) {
        labels.add("E-" + type);
        labels.add("S-" + type);
      }
    }
    return labels;
  }

  /** The tag ids of sentence s under labels; an unknown tag is an error naming file:line. */
  public int[] tagIds(int s, List<String> labels) {
    Map<String, Integer> index = new HashMap<>();
    for (int i = 0; i < labels.size(); i++) {
      index.put(labels.get(i), i);
    }
    Sentence sent = sentences.get(s);
    int[] ids = new int[sent.tags().size()];
    for (int i = 0; i < ids.length; i++) {
      Integer id = index.get(sent.tags().get(i));
      if (id == null) {
        throw new IllegalArgumentException(source + ":" + (sent.line() + i) + ": tag '"
            + sent.tags().get(i) + "' is not one of the model's labels " + labels);
      }
      ids[i] = id;
    }
    return ids;
  }

  /** Throws (file:line) unless every tag is one of labels. */
  public void requireLabels(List<String> labels) {
    for (int s = 0; s < sentences.size(); s++) {
      tagIds(s, labels);
    }
  }

  /** The sentences at indices from..to-1 as data of their own. */
  public ConllData slice(int from, int to) {
    return new ConllData(source, sentences.subList(from, to));
  }

  /**
   * A seeded split into (train, validation, test) with the given shares of the sentences (the
   * rest trains); every part keeps the file order of its sentences.
   */
  public List<ConllData> split(double valRatio, double testRatio, long seed) {
    if (!(valRatio >= 0 && testRatio >= 0 && valRatio + testRatio < 1)) {
      throw new IllegalArgumentException("validation and test shares must be >= 0 and sum to"
          + " less than 1, got " + valRatio + " and " + testRatio);
    }
    List<Integer> idx = new ArrayList<>();
    for (int i = 0; i < sentences.size(); i++) {
      idx.add(i);
    }
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = idx.size() - 1; i > 0; i--) {
      Collections.swap(idx, i, r.nextInt(i + 1));
    }
    int nVal = (int) Math.round(valRatio * idx.size());
    int nTest = (int) Math.round(testRatio * idx.size());
    List<ConllData> parts = new ArrayList<>();
    parts.add(pick(idx.subList(nVal + nTest, idx.size())));
    parts.add(pick(idx.subList(0, nVal)));
    parts.add(pick(idx.subList(nVal, nVal + nTest)));
    return parts;
  }

  private ConllData pick(List<Integer> idx) {
    List<Integer> sorted = new ArrayList<>(new TreeSet<>(idx));
    List<Sentence> s = new ArrayList<>();
    for (int i : sorted) {
      s.add(sentences.get(i));
    }
    return new ConllData(source, s);
  }

  /** The entity types of labels, in first-seen order. */
  public static List<String> types(List<String> labels) {
    LinkedHashSet<String> t = new LinkedHashSet<>();
    for (String l : labels) {
      if (!l.equals("O")) {
        t.add(l.substring(2));
      }
    }
    return List.copyOf(t);
  }
}
