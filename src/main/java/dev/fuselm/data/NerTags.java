package dev.fuselm.data;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Entities of tag sequences and entity-level scores, with the definition of seqeval's default mode
 * (which is that of the CoNLL shared tasks' {@code conlleval} script): a chunk starts at a B- or
 * S- tag, at an I- or E- tag after O, E- or S-, and wherever the type changes; it ends before the
 * next start, an O, or after an E- or S- tag. So an I- without a B- starts an entity (IOB1 data
 * reads correctly), and {@code B-PER I-LOC} is two entities. An entity counts as found only when
 * type, first and last word all match (seqeval's micro average over every type).
 */
public final class NerTags {
  private NerTags() {}

  /** An entity: its type and the words [start, end) it covers. */
  public record Entity(String type, int start, int end) {}

  /** Why tag is not a tag of the BIO/IOBES schemes (O, B-X, I-X, E-X, S-X), or null when it is. */
  public static String check(String tag) {
    if (tag.equals("O")) {
      return null;
    }
    if (tag.length() < 3 || tag.charAt(1) != '-' || "BIES".indexOf(tag.charAt(0)) < 0) {
      return "'" + tag + "' is not a BIO tag (O, B-TYPE or I-TYPE; E-TYPE and S-TYPE for IOBES)";
    }
    return null;
  }

  /** The entities of one sentence's tags, in order. */
  public static List<Entity> entities(List<String> tags) {
    List<Entity> out = new ArrayList<>();
    char prevTag = 'O';
    String prevType = "";
    int begin = 0;
    for (int i = 0; i <= tags.size(); i++) {
      String t = i < tags.size() ? tags.get(i) : "O";
      char tag = t.charAt(0);
      String type = t.length() > 2 ? t.substring(2) : "";
      if (ends(prevTag, tag, prevType, type)) {
        out.add(new Entity(prevType, begin, i));
      }
      if (starts(prevTag, tag, prevType, type)) {
        begin = i;
      }
      prevTag = tag;
      prevType = type;
    }
    return out;
  }

  private static boolean ends(char prev, char tag, String prevType, String type) {
    if (prev == 'O') {
      return false;
    }
    return prev == 'E' || prev == 'S' || tag == 'B' || tag == 'S' || tag == 'O'
        || !prevType.equals(type);
  }

  private static boolean starts(char prev, char tag, String prevType, String type) {
    if (tag == 'O') {
      return false;
    }
    return tag == 'B' || tag == 'S' || prev == 'O' || prev == 'E' || prev == 'S'
        || !prevType.equals(type);
  }

  /** True, predicted and correct entity counts of one type (or of all: the micro sums). */
  public record Counts(int gold, int predicted, int correct) {
    public double precision() {
      return predicted == 0 ? 0 : (double) correct / predicted;
    }

    public double recall() {
      return gold == 0 ? 0 : (double) correct / gold;
    }

    public double f1() {
      double p = precision(), r = recall();
      return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }
  }

  /** Entity-level scores of a set of sentences: micro totals and per type (sorted). */
  public record Scores(Counts micro, Map<String, Counts> perType) {
    public double precision() {
      return micro.precision();
    }

    public double recall() {
      return micro.recall();
    }

    public double f1() {
      return micro.f1();
    }
  }

  /** Accumulates gold and predicted tag sequences sentence by sentence. */
  public static final class Scorer {
    private final Map<String, int[]> byType = new TreeMap<>(); // gold, predicted, correct

    public Scorer add(List<String> gold, List<String> predicted) {
      if (gold.size() != predicted.size()) {
        throw new IllegalArgumentException(gold.size() + " gold tags but " + predicted.size()
            + " predicted");
      }
      List<Entity> g = entities(gold);
      Set<Entity> p = new HashSet<>(entities(predicted));
      for (Entity e : g) {
        int[] c = byType.computeIfAbsent(e.type(), k -> new int[3]);
        c[0]++;
        if (p.contains(e)) {
          c[2]++;
        }
      }
      for (Entity e : p) {
        byType.computeIfAbsent(e.type(), k -> new int[3])[1]++;
      }
      return this;
    }

    public Scores scores() {
      Map<String, Counts> per = new LinkedHashMap<>();
      int g = 0, p = 0, c = 0;
      for (var e : byType.entrySet()) {
        int[] v = e.getValue();
        per.put(e.getKey(), new Counts(v[0], v[1], v[2]));
        g += v[0];
        p += v[1];
        c += v[2];
      }
      return new Scores(new Counts(g, p, c), per);
    }
  }

  /** Scores of gold against predicted, sentence by sentence. */
  public static Scores score(List<List<String>> gold, List<List<String>> predicted) {
    if (gold.size() != predicted.size()) {
      throw new IllegalArgumentException(gold.size() + " gold sentences but " + predicted.size()
          + " predicted");
    }
    Scorer s = new Scorer();
    for (int i = 0; i < gold.size(); i++) {
      s.add(gold.get(i), predicted.get(i));
    }
    return s.scores();
  }
}
