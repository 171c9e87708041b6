package dev.fuselm.model;

import java.util.List;

/**
 * What the classifiers share ({@link SequenceClassifier}, {@link TokenClassifier}): a {@link
 * Backbone} of any family, a {@link LinearHead} on it, the label names (id order) and the padding
 * token, checked together once. Owns the backbone (closing this closes it).
 *
 * @param <B> the backbone's type, so that family-specific calls need no cast
 * @param <H> the head's type
 * @param <R> what the head's forward pass returns
 */
public abstract class ClassifierModel<B extends Backbone, H extends LinearHead<R>, R>
    implements AutoCloseable {
  private final B backbone;
  private final H head;
  private final List<String> labels;
  private final int padId;

  /** labelNoun names the head's outputs in the error of a label count that does not match. */
  protected ClassifierModel(B backbone, H head, List<String> labels, int padId,
      String labelNoun) {
    if (labels.size() != head.numLabels()) {
      throw new IllegalArgumentException(labels.size() + " label names for a head of "
          + head.numLabels() + " " + labelNoun);
    }
    if (padId < 0) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
    head.checkFits(backbone);
    this.backbone = backbone;
    this.head = head;
    this.labels = List.copyOf(labels);
    this.padId = padId;
  }

  public B backbone() {
    return backbone;
  }

  public H head() {
    return head;
  }

  public List<String> labels() {
    return labels;
  }

  public int numLabels() {
    return labels.size();
  }

  public int padId() {
    return padId;
  }

  /** Label probabilities of a batch ((B, K) per sequence or (B*T, K) per token), evaluation mode. */
  public double[] probabilities(TokenBatch batch) {
    return head.probabilities(backbone, batch);
  }

  /** See {@link LinearHead#forwardBackward}. */
  public R forwardBackward(TokenBatch batch, int[] labelIds, float[] dWeight, float[] dBias,
      int fromBlock, long dropoutSeed) {
    return head.forwardBackward(backbone, batch, labelIds, dWeight, dBias, fromBlock, dropoutSeed);
  }

  /** Loss and counts of a labelled batch in evaluation mode, without gradients. */
  public R evaluate(TokenBatch batch, int[] labelIds) {
    return head.evaluate(backbone, batch, labelIds);
  }

  @Override
  public void close() {
    backbone.close();
  }
}
