package dev.fuselm.model;

import dev.fuselm.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * A sequence-classification head over any {@link Backbone}: pools each sequence to one feature
 * vector (B, C), then a linear map to K logits (weight (K, C), bias (K) or none) and a mean softmax
 * cross-entropy. Two poolings, as Hugging Face defines them:
 *
 * <ul>
 *   <li>{@link Pooling#LAST_TOKEN} ({@code GPT2ForSequenceClassification}): the final hidden state
 *       of each sequence's last real token; no bias ({@code score.weight}).
 *   <li>{@link Pooling#CLS_POOLER} ({@code BertForSequenceClassification}): the BERT pooler's
 *       output on [CLS], then dropout (training only); with a bias ({@code classifier.*}).
 * </ul>
 *
 * <p>The head is host-side arithmetic in double: K and C are small next to the backbone, and this
 * keeps it exact on any backend. Its weights are plain arrays the caller owns and updates in place.
 */
public final class SequenceClassificationHead {
  /** How a sequence becomes one feature vector. */
  public enum Pooling {
    /** The final hidden state at the last non-padding position (right padding). */
    LAST_TOKEN,
    /** BERT's pooled [CLS] output ({@link BertModel#pooled}); the backbone must be a BertModel. */
    CLS_POOLER
  }

  /** Mean loss and the number of argmax predictions equal to the label. */
  public record Result(double loss, int correct) {}

  private final Pooling pooling;
  private final float[] weight;
  private final float[] bias;
  private final int numLabels;
  private final int hiddenSize;
  private final float dropout;

  /**
   * weight (K*C, row-major (K, C)) and bias (K, or null: none) are kept live, not copied. dropout:
   * the probability of dropping a pooled feature in training mode (0: none).
   */
  public SequenceClassificationHead(Pooling pooling, float[] weight, float[] bias, int numLabels,
      int hiddenSize, float dropout) {
    if (numLabels < 2) {
      throw new IllegalArgumentException("a classifier needs at least two labels, got "
          + numLabels);
    }
    if (weight.length != (long) numLabels * hiddenSize
        || (bias != null && bias.length != numLabels)) {
      throw new IllegalArgumentException("head has " + weight.length + " weights"
          + (bias == null ? "" : " and " + bias.length + " biases") + ", expected K*C = "
          + numLabels + "*" + hiddenSize + (bias == null ? "" : " and K"));
    }
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("dropout " + dropout + " is outside [0, 1)");
    }
    this.pooling = pooling;
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

  public Pooling pooling() {
    return pooling;
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

  /** Throws unless this head can sit on backbone (its width; a pooler for CLS_POOLER). */
  public void checkFits(Backbone backbone) {
    if (backbone.hiddenSize() != hiddenSize) {
      throw new IllegalArgumentException("the head expects hidden size " + hiddenSize
          + ", the model has " + backbone.hiddenSize());
    }
    if (pooling == Pooling.CLS_POOLER
        && !(backbone instanceof BertModel bert && bert.hasPooler())) {
      throw new IllegalArgumentException("[CLS] pooling needs a BERT model with its pooler"
          + " (bert.pooler.*)");
    }
  }

  /** Class probabilities (B, K) of batch, in evaluation mode (the backbone's mode is restored). */
  public double[] probabilities(Backbone backbone, TokenBatch batch) {
    boolean was = backbone.isTraining();
    backbone.setTraining(false);
    try {
      float[] features = pool(backbone, backbone.forwardHidden(batch), batch);
      return softmax(logits(features, batch.b()), batch.b(), numLabels);
    } finally {
      backbone.setTraining(was);
    }
  }

  /** Loss and correct count of a labelled batch in evaluation mode, without gradients. */
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
   * Forward and backward of a labelled batch in the backbone's current mode: adds the head's
   * gradients into dWeight and dBias (null: the head has no bias) and the backbone's (blocks
   * fromBlock.. and, through CLS pooling, the pooler) into its gradient slab. dWeight null: loss
   * only, no backward. dropoutSeed draws the pooled-feature dropout mask (training mode only).
   */
  public Result forwardBackward(Backbone backbone, TokenBatch batch, int[] labels, float[] dWeight,
      float[] dBias, int fromBlock, long dropoutSeed) {
    int b = batch.b(), k = numLabels, c = hiddenSize;
    if (labels.length != b) {
      throw new IllegalArgumentException(labels.length + " labels for a batch of " + b);
    }
    for (int y : labels) {
      if (y < 0 || y >= k) {
        throw new IllegalArgumentException("label " + y + " is outside 0.." + (k - 1));
      }
    }
    if (dWeight != null && (dWeight.length != weight.length
        || (bias == null ? dBias != null : dBias == null || dBias.length != k))) {
      throw new IllegalArgumentException("gradient arrays do not match the head's weight"
          + (bias == null ? " (it has no bias)" : " and bias"));
    }
    float[] features = pool(backbone, backbone.forwardHidden(batch), batch);
    float p = backbone.isTraining() ? dropout : 0f;
    float[] keep = null;
    if (p > 0) {
      // Inverted dropout on the pooled features: keep[i] is 0 or 1 / (1 - p).
      keep = new float[features.length];
      SplittableRandom r = new SplittableRandom(dropoutSeed);
      for (int i = 0; i < keep.length; i++) {
        keep[i] = r.nextDouble() < p ? 0f : 1f / (1f - p);
        features[i] *= keep[i];
      }
    }
    double[] prob = softmax(logits(features, b), b, k);
    double loss = 0;
    int correct = 0;
    for (int i = 0; i < b; i++) {
      loss -= Math.log(Math.max(prob[i * k + labels[i]], 1e-300));
      correct += argmax(prob, i, k) == labels[i] ? 1 : 0;
    }
    Result result = new Result(loss / b, correct);
    if (dWeight == null) {
      return result;
    }
    float[] dFeatures = new float[b * c];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < k; j++) {
        double g = (prob[i * k + j] - (j == labels[i] ? 1 : 0)) / b;
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
    backbone.backwardHidden(unpool(backbone, dFeatures, batch), fromBlock);
    return result;
  }

  /** The features (B, C) of hidden (B*T, C), the backbone's last forward of batch. */
  private float[] pool(Backbone backbone, Tensor hidden, TokenBatch batch) {
    checkFits(backbone);
    int b = batch.b(), t = batch.t(), c = hiddenSize;
    if (pooling == Pooling.CLS_POOLER) {
      return ((BertModel) backbone).pooled().toFloatArray();
    }
    int[] lengths = batch.lengths();
    float[] h = hidden.toFloatArray();
    float[] out = new float[b * c];
    for (int i = 0; i < b; i++) {
      System.arraycopy(h, (i * t + lengths[i] - 1) * c, out, i * c, c);
    }
    return out;
  }

  /** The gradient (B*T*C) of the hidden states implied by dFeatures (B, C). */
  private float[] unpool(Backbone backbone, float[] dFeatures, TokenBatch batch) {
    int b = batch.b(), t = batch.t(), c = hiddenSize;
    if (pooling == Pooling.CLS_POOLER) {
      return ((BertModel) backbone).pooledBackward(dFeatures);
    }
    int[] lengths = batch.lengths();
    float[] dHidden = new float[b * t * c];
    for (int i = 0; i < b; i++) {
      System.arraycopy(dFeatures, i * c, dHidden, (i * t + lengths[i] - 1) * c, c);
    }
    return dHidden;
  }

  /** Logits (B, K) = features (B, C) times weight (K, C) transposed, plus the bias. */
  public double[] logits(float[] features, int b) {
    int k = numLabels, c = hiddenSize;
    if (features.length != b * c) {
      throw new IllegalArgumentException("features has " + features.length + " entries, expected"
          + " B*C = " + b * c);
    }
    double[] z = new double[b * k];
    for (int i = 0; i < b; i++) {
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

  /** Row-wise softmax of logits (B, K), in place, returned. */
  public static double[] softmax(double[] z, int b, int k) {
    for (int i = 0; i < b; i++) {
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

  /** Index of the largest of row i of (B, K). */
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
