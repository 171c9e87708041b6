package dev.fuselm.finetune;

import dev.fuselm.model.SequenceClassificationHead;

/**
 * The classification head: a bias-free linear map (K, C) (Hugging Face's {@code score.weight} of
 * {@code GPT2ForSequenceClassification}) applied to the final hidden state of each sequence's last
 * non-padding token, with a mean softmax cross-entropy loss. Host-side arithmetic in double: K and C
 * are small next to the transformer, and this keeps the gather exact on any backend.
 */
@Deprecated(forRemoval = true) // merge shim: call dev.fuselm.model.SequenceClassificationHead
public final class ClassificationHead {
  private ClassificationHead() {}

  /** Mean loss and the number of argmax predictions equal to the label. */
  public record Result(double loss, int correct) {
    /** The model head's result as this one. */
    static Result of(SequenceClassificationHead.Result r) {
      return new Result(r.loss(), r.correct());
    }
  }

  /** The hidden state (B, C) at position lengths[i] - 1 of each row of hidden (B*T, C). */
  public static float[] gatherLast(float[] hidden, int b, int t, int c, int[] lengths) {
    check(hidden, b, t, c, lengths);
    float[] out = new float[b * c];
    for (int i = 0; i < b; i++) {
      System.arraycopy(hidden, (i * t + lengths[i] - 1) * c, out, i * c, c);
    }
    return out;
  }

  /** Logits (B, K) = last (B, C) times w (K, C) transposed. */
  public static double[] logits(float[] last, int b, int c, float[] w, int k) {
    if (w.length != k * c || last.length != b * c) {
      throw new IllegalArgumentException("head weight " + w.length + " != K*C = " + k * c
          + " or hidden " + last.length + " != B*C = " + b * c);
    }
    double[] z = new double[b * k];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < k; j++) {
        double s = 0;
        for (int x = 0; x < c; x++) {
          s += (double) w[j * c + x] * last[i * c + x];
        }
        z[i * k + j] = s;
      }
    }
    return z;
  }

  /** Row-wise softmax of logits (B, K), in place, returned. */
  public static double[] softmax(double[] z, int b, int k) {
    return SequenceClassificationHead.softmax(z, b, k);
  }

  /** Index of the largest of row i of (B, K). */
  public static int argmax(double[] z, int i, int k) {
    return SequenceClassificationHead.argmax(z, i, k);
  }

  /**
   * Loss of hidden (B*T, C) with labels (B); when dW is non-null adds the loss's gradient with
   * respect to w into it and writes that with respect to hidden into dHidden (B*T*C: zero
   * everywhere but each row's last non-padding position).
   */
  public static Result forwardBackward(float[] hidden, int b, int t, int c, int[] lengths,
      int[] labels, float[] w, int k, float[] dW, float[] dHidden) {
    float[] last = gatherLast(hidden, b, t, c, lengths);
    double[] p = softmax(logits(last, b, c, w, k), b, k);
    double loss = 0;
    int correct = 0;
    for (int i = 0; i < b; i++) {
      if (labels[i] < 0 || labels[i] >= k) {
        throw new IllegalArgumentException("label " + labels[i] + " is outside 0.." + (k - 1));
      }
      loss -= Math.log(Math.max(p[i * k + labels[i]], 1e-300));
      if (argmax(p, i, k) == labels[i]) {
        correct++;
      }
    }
    loss /= b;
    if (dW != null) {
      if (dHidden.length != b * t * c) {
        throw new IllegalArgumentException("dHidden has " + dHidden.length + " entries, expected "
            + b * t * c);
      }
      java.util.Arrays.fill(dHidden, 0f);
      for (int i = 0; i < b; i++) {
        int row = (i * t + lengths[i] - 1) * c;
        for (int j = 0; j < k; j++) {
          double g = (p[i * k + j] - (j == labels[i] ? 1 : 0)) / b;
          if (g == 0) {
            continue;
          }
          for (int x = 0; x < c; x++) {
            dW[j * c + x] += (float) (g * last[i * c + x]);
            dHidden[row + x] += (float) (g * w[j * c + x]);
          }
        }
      }
    }
    return new Result(loss, correct);
  }

  private static void check(float[] hidden, int b, int t, int c, int[] lengths) {
    if (hidden.length != b * t * c) {
      throw new IllegalArgumentException("hidden has " + hidden.length + " entries, expected B*T*C"
          + " = " + b * t * c);
    }
    if (lengths.length != b) {
      throw new IllegalArgumentException("lengths has " + lengths.length + " entries, expected "
          + b);
    }
    for (int len : lengths) {
      if (len < 1 || len > t) {
        throw new IllegalArgumentException("sequence length " + len + " is outside 1.." + t);
      }
    }
  }
}
