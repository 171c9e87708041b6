package dev.fuselm.model;

import dev.fuselm.tensor.Tensor;

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
 * <p>The linear map, dropout, loss and gradient are {@link LinearHead}'s (host-side, in double);
 * this class pools and unpools.
 */
public final class SequenceClassificationHead
    extends LinearHead<SequenceClassificationHead.Result> {
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

  /**
   * weight (K*C, row-major (K, C)) and bias (K, or null: none) are kept live, not copied. dropout:
   * the probability of dropping a pooled feature in training mode (0: none).
   */
  public SequenceClassificationHead(Pooling pooling, float[] weight, float[] bias, int numLabels,
      int hiddenSize, float dropout) {
    super(checked(weight, bias, numLabels, hiddenSize), bias, numLabels, hiddenSize, dropout);
    this.pooling = pooling;
  }

  private static float[] checked(float[] weight, float[] bias, int numLabels, int hiddenSize) {
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
    return weight;
  }

  public Pooling pooling() {
    return pooling;
  }

  /** Throws unless this head can sit on backbone (its width; a pooler for CLS_POOLER). */
  @Override
  public void checkFits(Backbone backbone) {
    super.checkFits(backbone);
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
      return softmax(logits(features, batch.b()), batch.b(), numLabels());
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
  @Override
  public Result forwardBackward(Backbone backbone, TokenBatch batch, int[] labels, float[] dWeight,
      float[] dBias, int fromBlock, long dropoutSeed) {
    int b = batch.b(), k = numLabels();
    if (labels.length != b) {
      throw new IllegalArgumentException(labels.length + " labels for a batch of " + b);
    }
    for (int y : labels) {
      if (y < 0 || y >= k) {
        throw new IllegalArgumentException("label " + y + " is outside 0.." + (k - 1));
      }
    }
    if (dWeight != null && (dWeight.length != weight().length
        || (bias() == null ? dBias != null : dBias == null || dBias.length != k))) {
      throw new IllegalArgumentException("gradient arrays do not match the head's weight"
          + (bias() == null ? " (it has no bias)" : " and bias"));
    }
    float[] features = pool(backbone, backbone.forwardHidden(batch), batch);
    float[] keep = dropOut(backbone, features, dropoutSeed); // on the pooled features
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
    float[] dFeatures = backwardLinear(prob, labels, -1, features, keep, b, b, dWeight, dBias);
    backbone.backwardHidden(unpool(backbone, dFeatures, batch), fromBlock);
    return result;
  }

  /** The features (B, C) of hidden (B*T, C), the backbone's last forward of batch. */
  private float[] pool(Backbone backbone, Tensor hidden, TokenBatch batch) {
    checkFits(backbone);
    int b = batch.b(), t = batch.t(), c = hiddenSize();
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
    int b = batch.b(), t = batch.t(), c = hiddenSize();
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
}
