package dev.fuselm.model;

/**
 * A token-classification head over any {@link Backbone}, as Hugging Face's {@code
 * BertForTokenClassification} and {@code GPT2ForTokenClassification}: dropout on each final hidden
 * state (training only), then a linear map to K logits per position (weight (K, C), bias (K)), and
 * the softmax cross-entropy averaged over the labelled positions. A label of {@link #IGNORE} (-100,
 * PyTorch's {@code ignore_index}) marks a position that has no loss and no gradient: special
 * tokens, padding and every sub-token of a word after its first.
 *
 * <p>The linear map, dropout, loss and gradient are {@link LinearHead}'s (host-side, in double),
 * as for {@link SequenceClassificationHead}; here every position is a row.
 */
public final class TokenClassificationHead extends LinearHead<TokenClassificationHead.Result> {
  /** The label of a position without loss (PyTorch's CrossEntropyLoss ignore_index). */
  public static final int IGNORE = -100;

  /** Mean loss over the labelled positions, their count, and how many argmaxes hit the label. */
  public record Result(double loss, int labelled, int correct) {}

  /** weight (K*C, row-major (K, C)) and bias (K) are kept live, not copied. */
  public TokenClassificationHead(float[] weight, float[] bias, int numLabels, int hiddenSize,
      float dropout) {
    super(checked(weight, bias, numLabels, hiddenSize), bias, numLabels, hiddenSize, dropout);
  }

  private static float[] checked(float[] weight, float[] bias, int numLabels, int hiddenSize) {
    if (numLabels < 2) {
      throw new IllegalArgumentException("a token classifier needs at least two labels, got "
          + numLabels);
    }
    if (weight == null || bias == null || weight.length != (long) numLabels * hiddenSize
        || bias.length != numLabels) {
      throw new IllegalArgumentException("the head needs a weight of K*C = " + numLabels + "*"
          + hiddenSize + " and a bias of K values");
    }
    return weight;
  }

  /** Label probabilities (B*T, K) of every position of batch, in evaluation mode. */
  public double[] probabilities(Backbone backbone, TokenBatch batch) {
    checkFits(backbone);
    boolean was = backbone.isTraining();
    backbone.setTraining(false);
    try {
      float[] h = backbone.forwardHidden(batch).toFloatArray();
      int n = batch.b() * batch.t();
      return softmax(logits(h, n), n, numLabels());
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
  @Override
  public Result forwardBackward(Backbone backbone, TokenBatch batch, int[] labels,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed) {
    return forwardBackward(backbone, batch, labels, dWeight, dBias, fromBlock, dropoutSeed, 0,
        batch.t());
  }

  /**
   * {@link #forwardBackward} of a data-parallel share: batch is rows [firstRow, firstRow + B) of
   * a global batch padded to globalT positions, and the head's dropout mask is the global batch's
   * ({@link LinearHead#dropOutRows}), so that the ranks' steps add up to the one-process step.
   */
  public Result forwardBackward(Backbone backbone, TokenBatch batch, int[] labels,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed, int firstRow, int globalT) {
    checkFits(backbone);
    int n = batch.b() * batch.t(), k = numLabels();
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
    if (dWeight != null && (dWeight.length != weight().length || dBias == null
        || dBias.length != k)) {
      throw new IllegalArgumentException("gradient arrays do not match the head's weight and bias");
    }
    float[] h = backbone.forwardHidden(batch).toFloatArray();
    float[] keep = dropOutRows(backbone, h, dropoutSeed, batch.b(), batch.t(), firstRow,
        globalT);
    double[] prob = softmax(logits(h, n), n, k);
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
    float[] dHidden = backwardLinear(prob, labels, IGNORE, h, keep, n, labelled, dWeight, dBias);
    backbone.backwardHidden(dHidden, fromBlock);
    return result;
  }
}
