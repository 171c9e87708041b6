package dev.fuselm.train;

import dev.fuselm.model.GptModel;
import dev.fuselm.ops.SoftmaxOps;
import java.util.Arrays;

/** Mean cross-entropy of a model over token ids, in non-overlapping windows. */
public final class Evaluator {
  private Evaluator() {}

  /** Tokens scored and their mean loss. */
  public record Result(long tokens, double loss) {
    public double perplexity() {
      return Math.exp(loss);
    }
  }

  /**
   * Scores every next-token prediction of tokens[from, to) in windows of T starting at from, from +
   * T, ...; a last shorter window is padded with ignored targets, so every token after the first
   * is predicted exactly once. Runs B windows per forward; stops after maxBatches (0: no limit).
   */
  public static Result evaluate(GptModel model, int[] tokens, int from, int to, int b, int t,
      int maxBatches) {
    boolean wasTraining = model.isTraining();
    model.setTraining(false);
    int[] x = new int[b * t];
    int[] y = new int[b * t];
    double sum = 0;
    long count = 0;
    int pos = from;
    int batches = 0;
    while (pos < to - 1 && (maxBatches <= 0 || batches < maxBatches)) {
      Arrays.fill(x, 0);
      Arrays.fill(y, SoftmaxOps.IGNORE_INDEX);
      for (int i = 0; i < b && pos < to - 1; i++) {
        int n = Math.min(t, to - 1 - pos);
        System.arraycopy(tokens, pos, x, i * t, n);
        System.arraycopy(tokens, pos + 1, y, i * t, n);
        pos += n;
      }
      float mean = model.forward(x, y, b, t);
      long c = model.lastTargetCount();
      sum += (double) mean * c;
      count += c;
      batches++;
    }
    model.setTraining(wasTraining);
    return new Result(count, count == 0 ? Double.NaN : sum / count);
  }
}
