package dev.fuselm.baseline;

import dev.fuselm.data.ClassificationData;
import dev.fuselm.train.ClassifierTrainer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A bag-of-words baseline for text classification: TF-IDF features and a multinomial logistic
 * regression, so a fine-tuned classifier's accuracy can be read against it on the same split.
 *
 * <p>Tokens are maximal runs of letters and digits, lowercased ({@link Locale#ROOT}). The
 * vocabulary and the document frequencies come from the training examples only; a token not seen
 * in training is ignored at prediction time. A text's feature is term count times the smoothed
 * idf {@code ln((1 + n) / (1 + df)) + 1} (n training documents), the row then L2-normalised. The
 * model is softmax regression over all labels (two labels included) with a bias per label, trained
 * by full-batch Adam on mean cross-entropy plus {@code l2/2 * |W|^2} (biases not decayed), from
 * zero weights. Everything is in a fixed order, so training is deterministic.
 */
public final class TfidfLogisticBaseline {
  /** Optimizer settings: full-batch Adam steps, its learning rate and the L2 strength. */
  public record Config(int iterations, double lr, double l2) {
    public Config {
      if (iterations < 1 || !(lr > 0) || !(l2 >= 0)) {
        throw new IllegalArgumentException("iterations must be >= 1, lr > 0 and l2 >= 0, got "
            + iterations + ", " + lr + ", " + l2);
      }
    }

    public static Config defaults() {
      return new Config(300, 0.1, 1e-4);
    }
  }

  /** A sparse L2-normalised TF-IDF row: vocabulary indices (ascending) and values. */
  record Row(int[] idx, double[] val) {}

  private final List<String> labels;
  private final Map<String, Integer> vocab;
  private final double[] idf;
  private final double[][] w; // [label][feature]
  private final double[] b;

  private TfidfLogisticBaseline(List<String> labels, Map<String, Integer> vocab, double[] idf,
      double[][] w, double[] b) {
    this.labels = labels;
    this.vocab = vocab;
    this.idf = idf;
    this.w = w;
    this.b = b;
  }

  /** Lowercased runs of letters and digits, in text order. */
  public static List<String> tokens(String text) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    text.codePoints().forEach(cp -> {
      if (Character.isLetterOrDigit(cp)) {
        cur.appendCodePoint(cp);
      } else if (cur.length() > 0) {
        out.add(cur.toString().toLowerCase(Locale.ROOT));
        cur.setLength(0);
      }
    });
    if (cur.length() > 0) {
      out.add(cur.toString().toLowerCase(Locale.ROOT));
    }
    return out;
  }

  /**
   * Fits on the training examples; labels fixes the class ids (a label's index), and every
   * training label must be in it.
   */
  public static TfidfLogisticBaseline train(List<ClassificationData.Example> train,
      List<String> labels, Config cfg) {
    if (train.isEmpty()) {
      throw new IllegalArgumentException("the training split is empty");
    }
    if (labels.size() < 2) {
      throw new IllegalArgumentException("classification needs at least two labels");
    }
    // Vocabulary (sorted, so indices do not depend on example order) and document frequencies.
    TreeMap<String, Integer> df = new TreeMap<>();
    for (ClassificationData.Example e : train) {
      for (String t : new java.util.TreeSet<>(tokens(e.text()))) {
        df.merge(t, 1, Integer::sum);
      }
    }
    Map<String, Integer> vocab = new LinkedHashMap<>();
    double[] idf = new double[df.size()];
    int n = train.size();
    for (Map.Entry<String, Integer> en : df.entrySet()) {
      int i = vocab.size();
      vocab.put(en.getKey(), i);
      idf[i] = Math.log((1.0 + n) / (1.0 + en.getValue())) + 1.0;
    }
    int k = labels.size(), v = vocab.size();
    TfidfLogisticBaseline m = new TfidfLogisticBaseline(List.copyOf(labels),
        Collections.unmodifiableMap(vocab), idf, new double[k][v], new double[k]);
    Row[] x = new Row[n];
    int[] y = new int[n];
    for (int i = 0; i < n; i++) {
      x[i] = m.features(train.get(i).text());
      y[i] = m.labelId(train.get(i));
    }
    m.fit(x, y, cfg);
    return m;
  }

  private int labelId(ClassificationData.Example e) {
    int id = labels.indexOf(e.label());
    if (id < 0) {
      throw new IllegalArgumentException("line " + e.line() + ": label '" + e.label()
          + "' is not one of " + labels);
    }
    return id;
  }

  private void fit(Row[] x, int[] y, Config cfg) {
    int k = labels.size(), v = idf.length, n = x.length;
    double[][] gw = new double[k][v], mw = new double[k][v], sw = new double[k][v];
    double[] gb = new double[k], mb = new double[k], sb = new double[k];
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double[] p = new double[k];
    for (int step = 1; step <= cfg.iterations(); step++) {
      for (int c = 0; c < k; c++) {
        java.util.Arrays.fill(gw[c], 0);
      }
      java.util.Arrays.fill(gb, 0);
      for (int i = 0; i < n; i++) {
        softmax(x[i], p);
        p[y[i]] -= 1;
        for (int c = 0; c < k; c++) {
          double d = p[c] / n;
          gb[c] += d;
          double[] g = gw[c];
          for (int j = 0; j < x[i].idx().length; j++) {
            g[x[i].idx()[j]] += d * x[i].val()[j];
          }
        }
      }
      double c1 = 1 - Math.pow(beta1, step), c2 = 1 - Math.pow(beta2, step);
      for (int c = 0; c < k; c++) {
        for (int j = 0; j < v; j++) {
          double g = gw[c][j] + cfg.l2() * w[c][j];
          mw[c][j] = beta1 * mw[c][j] + (1 - beta1) * g;
          sw[c][j] = beta2 * sw[c][j] + (1 - beta2) * g * g;
          w[c][j] -= cfg.lr() * (mw[c][j] / c1) / (Math.sqrt(sw[c][j] / c2) + eps);
        }
        mb[c] = beta1 * mb[c] + (1 - beta1) * gb[c];
        sb[c] = beta2 * sb[c] + (1 - beta2) * gb[c] * gb[c];
        b[c] -= cfg.lr() * (mb[c] / c1) / (Math.sqrt(sb[c] / c2) + eps);
      }
    }
  }

  /** The TF-IDF row of a text (tokens outside the training vocabulary are dropped). */
  Row features(String text) {
    TreeMap<Integer, Integer> counts = new TreeMap<>();
    for (String t : tokens(text)) {
      Integer i = vocab.get(t);
      if (i != null) {
        counts.merge(i, 1, Integer::sum);
      }
    }
    int[] idx = new int[counts.size()];
    double[] val = new double[counts.size()];
    double norm = 0;
    int j = 0;
    for (Map.Entry<Integer, Integer> en : counts.entrySet()) {
      idx[j] = en.getKey();
      val[j] = en.getValue() * idf[en.getKey()];
      norm += val[j] * val[j];
      j++;
    }
    if (norm > 0) {
      norm = Math.sqrt(norm);
      for (int q = 0; q < val.length; q++) {
        val[q] /= norm;
      }
    }
    return new Row(idx, val);
  }

  private void softmax(Row x, double[] out) {
    double max = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < out.length; c++) {
      double z = b[c];
      for (int j = 0; j < x.idx().length; j++) {
        z += w[c][x.idx()[j]] * x.val()[j];
      }
      out[c] = z;
      max = Math.max(max, z);
    }
    double sum = 0;
    for (int c = 0; c < out.length; c++) {
      out[c] = Math.exp(out[c] - max);
      sum += out[c];
    }
    for (int c = 0; c < out.length; c++) {
      out[c] /= sum;
    }
  }

  /** The labels, in class-id order. */
  public List<String> labels() {
    return labels;
  }

  /** The training vocabulary: token to feature index. */
  public Map<String, Integer> vocabulary() {
    return vocab;
  }

  /** Class probabilities of a text, in label order. */
  public double[] probabilities(String text) {
    double[] p = new double[labels.size()];
    softmax(features(text), p);
    return p;
  }

  /** The most probable label's index (the lowest index on a tie). */
  public int predict(String text) {
    double[] p = probabilities(text);
    int best = 0;
    for (int c = 1; c < p.length; c++) {
      if (p[c] > p[best]) {
        best = c;
      }
    }
    return best;
  }

  /** Mean cross-entropy, accuracy and confusion [true][predicted], as the fine-tuner reports. */
  public ClassifierTrainer.Metrics evaluate(List<ClassificationData.Example> set) {
    int k = labels.size();
    int[][] confusion = new int[k][k];
    double loss = 0;
    int correct = 0;
    for (ClassificationData.Example e : set) {
      int y = labelId(e);
      double[] p = probabilities(e.text());
      int pred = 0;
      for (int c = 1; c < k; c++) {
        if (p[c] > p[pred]) {
          pred = c;
        }
      }
      loss -= Math.log(Math.max(p[y], 1e-300));
      confusion[y][pred]++;
      if (pred == y) {
        correct++;
      }
    }
    int n = set.size();
    return new ClassifierTrainer.Metrics(n == 0 ? 0 : loss / n, n == 0 ? 0 : (double) correct / n,
        n, confusion);
  }
}
