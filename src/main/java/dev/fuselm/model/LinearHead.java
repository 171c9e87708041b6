package dev.fuselm.model;

import java.util.SplittableRandom;

/**
 * What the classification heads share ({@link SequenceClassificationHead}, {@link
 * TokenClassificationHead}): a linear map of C features to K logits (weight (K, C), bias (K) or
 * none), inverted dropout on the features in training mode, softmax cross-entropy, and its
 * gradient. Host-side arithmetic in double: K and C are small next to the backbone, and this keeps
 * it exact on any backend. The weights are plain arrays the caller owns and updates in place.
 *
 * @param <R> what the head's forward pass returns (loss and counts)
 */
public abstract class LinearHead<R> {
  private final float[] weight;
  private final float[] bias;
  private final int numLabels;
  private final int hiddenSize;
  private final float dropout;

  /** weight (K*C, row-major (K, C)) and bias (K, or null: none) are kept live, not copied. */
  protected LinearHead(float[] weight, float[] bias, int numLabels, int hiddenSize,
      float dropout) {
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("dropout " + dropout + " is outside [0, 1)");
    }
    this.weight = weight;
    this.bias = bias;
    this.numLabels = numLabels;
    this.hiddenSize = hiddenSize;
    this.dropout = dropout;
  }

  /** K*C weights N(0, 0.02) from seed (the initializer range of GPT-2 and BERT). */
  public static float[] initialWeight(int numLabels, int hiddenSize, long seed) {
    float[] w = new float[numLabels * hiddenSize];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (r.nextGaussian() * 0.02);
    }
    return w;
  }

  /** The weight (K, C), live. */
  public float[] weight() {
    return weight;
  }

  /** The bias (K), live, or null when the head has none. */
  public float[] bias() {
    return bias;
  }

  public int numLabels() {
    return numLabels;
  }

  public int hiddenSize() {
    return hiddenSize;
  }

  /** The probability of dropping a feature in training mode (0: none). */
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

  /** Label probabilities of batch in evaluation mode (the backbone's mode is restored). */
  public abstract double[] probabilities(Backbone backbone, TokenBatch batch);

  /**
   * Forward and backward of a labelled batch in the backbone's current mode (see the
   * subclass); dWeight null: loss only, no backward.
   */
  public abstract R forwardBackward(Backbone backbone, TokenBatch batch, int[] labels,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed);

  /** Loss and counts of a labelled batch in evaluation mode, without gradients. */
  public R evaluate(Backbone backbone, TokenBatch batch, int[] labels) {
    boolean was = backbone.isTraining();
    backbone.setTraining(false);
    try {
      return forwardBackward(backbone, batch, labels, null, null, 0, 0L);
    } finally {
      backbone.setTraining(was);
    }
  }

  /**
   * Inverted dropout on features, in place, when the backbone is training: returns the mask
   * (each entry 0 or 1 / (1 - p), drawn from seed) or null when nothing was dropped.
   */
  protected final float[] dropOut(Backbone backbone, float[] features, long seed) {
    float p = backbone.isTraining() ? dropout : 0f;
    if (!(p > 0)) {
      return null;
    }
    float[] keep = new float[features.length];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < keep.length; i++) {
      keep[i] = r.nextDouble() < p ? 0f : 1f / (1f - p);
      features[i] *= keep[i];
    }
    return keep;
  }

  /**
   * {@link #dropOut} of the rows of a data-parallel share: features holds rows (B, T, C) that are
   * rows [firstRow, firstRow + B) of a global batch padded to globalT positions (T <= globalT), and
   * each entry gets the mask entry {@link #dropOut} draws for it in the global batch, so the ranks
   * together drop what one process drops. firstRow 0 and globalT == T is {@link #dropOut} itself.
   */
  protected final float[] dropOutRows(Backbone backbone, float[] features, long seed, int rows,
      int t, int firstRow, int globalT) {
    float p = backbone.isTraining() ? dropout : 0f;
    if (!(p > 0)) {
      return null;
    }
    int c = hiddenSize;
    if (features.length != (long) rows * t * c || firstRow < 0 || t > globalT) {
      throw new IllegalArgumentException("rows " + firstRow + ".." + (firstRow + rows) + " of "
          + t + " (of " + globalT + ") positions do not match " + features.length + " features");
    }
    float[] keep = new float[features.length];
    SplittableRandom r = new SplittableRandom(seed);
    for (long skip = (long) firstRow * globalT * c; skip > 0; skip--) {
      r.nextDouble(); // the draws of the rows before this share's
    }
    for (int row = 0; row < rows; row++) {
      for (int pos = 0; pos < globalT; pos++) {
        for (int x = 0; x < c; x++) {
          double u = r.nextDouble();
          if (pos < t) {
            int i = (row * t + pos) * c + x;
            keep[i] = u < p ? 0f : 1f / (1f - p);
            features[i] *= keep[i];
          }
        }
      }
    }
    return keep;
  }

  /** Logits (N, K) = features (N, C) times weight (K, C) transposed, plus the bias. */
  public double[] logits(float[] features, int n) {
    int k = numLabels, c = hiddenSize;
    if (features.length != (long) n * c) {
      throw new IllegalArgumentException("features has " + features.length + " entries, expected"
          + " N*C = " + (long) n * c);
    }
    double[] z = new double[n * k];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < k; j++) {
        double s = bias == null ? 0 : bias[j];
        for (int x = 0; x < c; x++) {
          s += (double) weight[j * c + x] * features[i * c + x];
        }
        z[i * k + j] = s;
      }
    }
    return z;
  }

  /**
   * The backward pass of the mean cross-entropy over count labelled rows of n: for each row i
   * whose label is not ignore, adds d/d(weight, bias) into dWeight and dBias (null: no bias), and
   * returns d/d(features) (N, C) with the dropout mask keep (or null) applied.
   */
  protected final float[] backwardLinear(double[] prob, int[] labels, int ignore,
      float[] features, float[] keep, int n, int count, float[] dWeight, float[] dBias) {
    int k = numLabels, c = hiddenSize;
    float[] dFeatures = new float[n * c];
    for (int i = 0; i < n; i++) {
      if (labels[i] == ignore) {
        continue;
      }
      for (int j = 0; j < k; j++) {
        double g = (prob[i * k + j] - (j == labels[i] ? 1 : 0)) / count;
        if (g == 0) {
          continue;
        }
        if (dBias != null) {
          dBias[j] += (float) g;
        }
        for (int x = 0; x < c; x++) {
          dWeight[j * c + x] += (float) (g * features[i * c + x]);
          dFeatures[i * c + x] += (float) (g * weight[j * c + x]);
        }
      }
    }
    if (keep != null) {
      for (int i = 0; i < dFeatures.length; i++) {
        dFeatures[i] *= keep[i];
      }
    }
    return dFeatures;
  }

  /** Row-wise softmax of logits (N, K), in place, returned. */
  public static double[] softmax(double[] z, int n, int k) {
    for (int i = 0; i < n; i++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < k; j++) {
        max = Math.max(max, z[i * k + j]);
      }
      double sum = 0;
      for (int j = 0; j < k; j++) {
        z[i * k + j] = Math.exp(z[i * k + j] - max);
        sum += z[i * k + j];
      }
      for (int j = 0; j < k; j++) {
        z[i * k + j] /= sum;
      }
    }
    return z;
  }

  /** Index of the largest of row i of (N, K). */
  public static int argmax(double[] z, int i, int k) {
    int best = 0;
    for (int j = 1; j < k; j++) {
      if (z[i * k + j] > z[i * k + best]) {
        best = j;
      }
    }
    return best;
  }
}
