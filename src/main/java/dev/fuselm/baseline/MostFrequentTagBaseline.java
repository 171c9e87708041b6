package dev.fuselm.baseline;

import dev.fuselm.data.ConllData;
import dev.fuselm.data.NerTags;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The simplest NER baseline: each word gets the tag it carried most often in the training data
 * (ties: the tag seen first), an unseen word O. Words match exactly (case kept).
 */
public final class MostFrequentTagBaseline {
  private final Map<String, String> best = new HashMap<>();

  /** Counts the training sentences. */
  public static MostFrequentTagBaseline train(ConllData train) {
    Map<String, Map<String, Integer>> counts = new HashMap<>();
    MostFrequentTagBaseline b = new MostFrequentTagBaseline();
    for (ConllData.Sentence s : train.sentences()) {
      for (int i = 0; i < s.words().size(); i++) {
        String w = s.words().get(i), t = s.tags().get(i);
        Map<String, Integer> c = counts.computeIfAbsent(w, k -> new java.util.LinkedHashMap<>());
        int n = c.merge(t, 1, Integer::sum);
        String cur = b.best.get(w);
        if (cur == null || n > c.get(cur)) {
          b.best.put(w, t);
        }
      }
    }
    return b;
  }

  /** The tags of a sentence's words. */
  public List<String> tag(List<String> words) {
    List<String> out = new ArrayList<>(words.size());
    for (String w : words) {
      out.add(best.getOrDefault(w, "O"));
    }
    return out;
  }

  /** Entity-level scores on data (seqeval's default mode). */
  public NerTags.Scores evaluate(ConllData data) {
    NerTags.Scorer s = new NerTags.Scorer();
    for (ConllData.Sentence sent : data.sentences()) {
      s.add(sent.tags(), tag(sent.words()));
    }
    return s.scores();
  }

  /** The number of distinct words seen. */
  public int vocabulary() {
    return best.size();
  }
}
