package dev.fuselm.model;

import java.util.SplittableRandom;

/**
 * A token-classification head over any {@link Backbone}, as Hugging Face's {@code
 * BertForTokenClassification} and {@code GPT2ForTokenClassification}: dropout on each final hidden
 * state (training only), then a linear map to K logits per position (weight (K, C), bias (K)), and
 * the softmax cross-entropy averaged over the labelled positions. A label of {@link #IGNORE} (-100,
 * PyTorch's {@code ignore_index}) marks a position that has no loss and no gradient: special
 * tokens, padding and every sub-token of a word after its first.
 *
 * <p>Host-side arithmetic in double, like {@link SequenceClassificationHead}: K and C are small next
 * to the backbone. The weights are plain arrays the caller owns and updates in place.
 */
public final class TokenClassificationHead {
  /** The label of a position without loss (PyTorch's CrossEntropyLoss ignore_index). */
  public static final int IGNORE = -100;

  /** Mean loss over the labelled positions, their count, and how many argmaxes hit the label. */
  public record Result(double loss, int labelled, int correct) {}

  private final float[] weight;
  private final float[] bias;
  private final int numLabels;
  private final int hiddenSize;
  private final float dropout;

  /** weight (K*C, row-major (K, C)) and bias (K) are kept live, not copied. */
  public TokenClassificationHead(float[] weight, float[] bias, int numLabels, int hiddenSize,
      float dropout) {
    if (numLabels < 2) {
      throw new IllegalArgumentException("a token classifier needs at least two labels, got "
          + numLabels);
    }
    if (weight == null || bias == null || weight.length != (long) numLabels * hiddenSize
        || bias.length != numLabels) {
      throw new IllegalArgumentException("the head needs a weight of K*C = " + numLabels + "*"
          + hiddenSize + " and a bias of K values");
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("dropout " + dropout + " is outside [0, 1)");
    }
    this.weight = weight;
    this.bias = bias;
    this.numLabels = numLabels;
    this.hiddenSize = hiddenSize;
    this.dropout = dropout;
  }

  public float[] weight() {
    return weight;
  }

  public float[] bias() {
    return bias;
  }

  public int numLabels() {
    return numLabels;
  }

  public int hiddenSize() {
    return hiddenSize;
  }

  public float dropout() {
    return dropout;
  }

  /** Throws unless this head can sit on backbone (its width). */
  public void checkFits(Backbone backbone) {
    if (backbone.hiddenSize() != hiddenSize) {
      throw new IllegalArgumentException("the head expects hidden size " + hiddenSize
          + ", the model has " + backbone.hiddenSize());
    }
  }

  /** Label probabilities (B*T, K) of every position of batch, in evaluation mode. */
  public double[] probabilities(Backbone backbone, TokenBatch batch) {
    checkFits(backbone);
    boolean was = backbone.isTraining();
    backbone.setTraining(false);
    try {
      float[] h = backbone.forwardHidden(batch).toFloatArray();
      return softmax(logits(h, batch.b() * batch.t()));
    } finally {
      backbone.setTraining(was);
    }
  }

  /** Loss and counts of a labelled batch in evaluation mode, without gradients. */
  public Result evaluate(Backbone backbone, TokenBatch batch, int[] labels) {
    boolean was = backbone.isTraining();
    backbone.setTraining(false);
    try {
      return forwardBackward(backbone, batch, labels, null, null, 0, 0L);
    } finally {
      backbone.setTraining(was);
    }
  }

  /**
   * Forward and backward of a batch with one label per position (B*T; {@link #IGNORE}: none) in
   * the backbone's current mode: adds the head's gradients into dWeight and dBias and the
   * backbone's (blocks fromBlock..) into its gradient slab. dWeight null: loss only. dropoutSeed
   * draws the dropout mask on the hidden states (training mode only). A batch with no labelled
   * position has loss 0 and no gradient.
   */
  public Result forwardBackward(Backbone backbone, TokenBatch batch, int[] labels,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed) {
    checkFits(backbone);
    int n = batch.b() * batch.t(), k = numLabels, c = hiddenSize;
    if (labels.length != n) {
      throw new IllegalArgumentException(labels.length + " labels for " + n + " positions (B*T)");
    }
    int labelled = 0;
    for (int y : labels) {
      if (y != IGNORE && (y < 0 || y >= k)) {
        throw new IllegalArgumentException("label " + y + " is outside 0.." + (k - 1)
            + " (or " + IGNORE + ": ignored)");
      }
      labelled += y == IGNORE ? 0 : 1;
    }
    if (dWeight != null && (dWeight.length != weight.length || dBias == null
        || dBias.length != k)) {
      throw new IllegalArgumentException("gradient arrays do not match the head's weight and bias");
    }
    float[] h = backbone.forwardHidden(batch).toFloatArray();
    float p = backbone.isTraining() ? dropout : 0f;
    float[] keep = null;
    if (p > 0) {
      // inverted dropout: keep[i] is 0 or 1 / (1 - p)
      keep = new float[h.length];
      SplittableRandom r = new SplittableRandom(dropoutSeed);
      for (int i = 0; i < keep.length; i++) {
        keep[i] = r.nextDouble() < p ? 0f : 1f / (1f - p);
        h[i] *= keep[i];
      }
    }
    double[] prob = softmax(logits(h, n));
    double loss = 0;
    int correct = 0;
    for (int i = 0; i < n; i++) {
      if (labels[i] != IGNORE) {
        loss -= Math.log(Math.max(prob[i * k + labels[i]], 1e-300));
        correct += argmax(prob, i, k) == labels[i] ? 1 : 0;
      }
    }
    Result result = new Result(labelled == 0 ? 0 : loss / labelled, labelled, correct);
    if (dWeight == null || labelled == 0) {
      return result;
    }
    float[] dHidden = new float[n * c];
    for (int i = 0; i < n; i++) {
      if (labels[i] == IGNORE) {
        continue;
      }
      for (int j = 0; j < k; j++) {
        double g = (prob[i * k + j] - (j == labels[i] ? 1 : 0)) / labelled;
        dBias[j] += (float) g;
        for (int x = 0; x < c; x++) {
          dWeight[j * c + x] += (float) (g * h[i * c + x]);
          dHidden[i * c + x] += (float) (g * weight[j * c + x]);
        }
      }
    }
    if (keep != null) {
      for (int i = 0; i < dHidden.length; i++) {
        dHidden[i] *= keep[i];
      }
    }
    backbone.backwardHidden(dHidden, fromBlock);
    return result;
  }

  /** Logits (N, K) of hidden states (N, C). */
  public double[] logits(float[] hidden, int n) {
    int k = numLabels, c = hiddenSize;
    if (hidden.length != (long) n * c) {
      throw new IllegalArgumentException("hidden has " + hidden.length + " entries, expected N*C = "
          + (long) n * c);
    }
    double[] z = new double[n * k];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < k; j++) {
        double s = bias[j];
        for (int x = 0; x < c; x++) {
          s += (double) weight[j * c + x] * hidden[i * c + x];
        }
        z[i * k + j] = s;
      }
    }
    return z;
  }

  private double[] softmax(double[] z) {
    return SequenceClassificationHead.softmax(z, z.length / numLabels, numLabels);
  }

  /** Index of the largest of row i of (N, K). */
  public static int argmax(double[] z, int i, int k) {
    return SequenceClassificationHead.argmax(z, i, k);
  }
}
