package dev.fuselm.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks the next token from a row of logits: greedy, or temperature + top-k + top-p sampling. */
public final class Sampler {
  private final GenerationConfig cfg;
  private final SplittableRandom random;
  private float[] probs = new float[0];
  private Integer[] order = new Integer[0];

  public Sampler(GenerationConfig cfg) {
    this.cfg = cfg;
    this.random = new SplittableRandom(cfg.seed());
  }

  /** The chosen id for logits[offset, offset + v). */
  public int next(float[] logits, int offset, int v) {
    if (cfg.temperature() == 0f) {
      return argmax(logits, offset, v);
    }
    if (probs.length < v) {
      probs = new float[v];
    }
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < v; i++) {
      max = Math.max(max, logits[offset + i]);
    }
    // top-k: the k-th largest logit is the cut
    float cut = Float.NEGATIVE_INFINITY;
    if (cfg.topK() > 0 && cfg.topK() < v) {
      float[] copy = Arrays.copyOfRange(logits, offset, offset + v);
      Arrays.sort(copy);
      cut = copy[v - cfg.topK()];
    }
    double sum = 0;
    for (int i = 0; i < v; i++) {
      float l = logits[offset + i];
      float p = l < cut ? 0f : (float) Math.exp((l - max) / cfg.temperature());
      probs[i] = p;
      sum += p;
    }
    if (cfg.topP() < 1f) {
      if (order.length < v) {
        order = new Integer[v];
      }
      for (int i = 0; i < v; i++) {
        order[i] = i;
      }
      float[] p = probs;
      Arrays.sort(order, 0, v, (a, b) -> Float.compare(p[b], p[a]));
      double cum = 0, kept = 0;
      int i = 0;
      for (; i < v; i++) {
        cum += p[order[i]] / sum;
        kept += p[order[i]];
        if (cum >= cfg.topP()) {
          i++;
          break;
        }
      }
      for (int j = i; j < v; j++) {
        p[order[j]] = 0f;
      }
      sum = kept;
    }
    double u = random.nextDouble() * sum;
    double acc = 0;
    int last = -1;
    for (int i = 0; i < v; i++) {
      if (probs[i] > 0) {
        acc += probs[i];
        last = i;
        if (u < acc) {
          return i;
        }
      }
    }
    return last >= 0 ? last : argmax(logits, offset, v);
  }

  static int argmax(float[] a, int offset, int v) {
    int best = 0;
    for (int i = 1; i < v; i++) {
      if (a[offset + i] > a[offset + best]) {
        best = i;
      }
    }
    return best;
  }
}
