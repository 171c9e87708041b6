package dev.fuselm.finetune;

import dev.fuselm.model.GptModel;
import dev.fuselm.model.SequenceClassificationHead;
import dev.fuselm.model.TokenBatch;
import java.util.List;

/**
 * A GPT model with its LM head replaced by a classification head on the last non-padding token's
 * final hidden state. Owns the model (closing this closes it). A view of the family-independent
 * {@link dev.fuselm.model.SequenceClassifier} in GPT-2's layout.
 */
@Deprecated(forRemoval = true) // merge shim: call dev.fuselm.model.SequenceClassifier.gpt
public final class SequenceClassifier implements AutoCloseable {
  /** Name of the head's weight (K, C) in the classifier file, as Hugging Face names it. */
  public static final String HEAD = dev.fuselm.model.SequenceClassifier.GPT_WEIGHT;

  private final GptModel model;
  private final dev.fuselm.model.SequenceClassifier classifier;

  /** Token ids (B*T, row-major, right-padded) and each row's unpadded length. */
  public record Batch(int[] ids, int[] lengths, int b, int t) {
    /** The same batch as model inputs, its lengths as the attention mask. */
    TokenBatch tokens() {
      if (lengths.length != b) {
        throw new IllegalArgumentException("lengths has " + lengths.length + " entries, expected "
            + b);
      }
      int[] mask = new int[b * t];
      for (int i = 0; i < b; i++) {
        if (lengths[i] < 1 || lengths[i] > t) {
          throw new IllegalArgumentException("sequence length " + lengths[i] + " is outside 1.."
              + t);
        }
        java.util.Arrays.fill(mask, i * t, i * t + lengths[i], 1);
      }
      return new TokenBatch(ids, null, mask, b, t);
    }
  }

  public SequenceClassifier(GptModel model, List<String> labels, int padId, float[] head) {
    if (padId < 0 || padId >= model.config().vocabSize()) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
    this.model = model;
    this.classifier =
        dev.fuselm.model.SequenceClassifier.gpt(model, labels, padId, head);
  }

  /** A new head, N(0, 0.02) from seed, on model. */
  public static SequenceClassifier create(GptModel model, List<String> labels, int padId,
      long seed) {
    return new SequenceClassifier(model, labels, padId, SequenceClassificationHead.initialWeight(
        labels.size(), model.config().dModel(), seed));
  }

  public GptModel model() {
    return model;
  }

  /** The family-independent classifier this one is a view of. */
  public dev.fuselm.model.SequenceClassifier classifier() {
    return classifier;
  }

  public List<String> labels() {
    return classifier.labels();
  }

  public int padId() {
    return classifier.padId();
  }

  /** The head weight (K, C), live: the trainer updates it in place. */
  public float[] headWeight() {
    return classifier.head().weight();
  }

  public int numLabels() {
    return classifier.numLabels();
  }

  /** Pads seqs with padId to the longest of them. Every sequence needs at least one token. */
  public static Batch collate(List<int[]> seqs, int padId) {
    return collate(seqs, padId, 0);
  }

  /**
   * Pads seqs with padId to padTo tokens (0: to the longest of them; else every sequence must fit).
   * Every sequence needs at least one token.
   */
  public static Batch collate(List<int[]> seqs, int padId, int padTo) {
    TokenBatch tb = TokenBatch.rightPadded(seqs, padId, padTo);
    return new Batch(tb.ids(), tb.lengths(), tb.b(), tb.t());
  }

  /** Class probabilities (B, K) of a batch, in evaluation mode. */
  public double[] probabilities(Batch batch) {
    return classifier.probabilities(batch.tokens());
  }

  /** Loss and correct count of a labelled batch, without gradients. */
  public ClassificationHead.Result evaluate(Batch batch, int[] labelIds) {
    return ClassificationHead.Result.of(classifier.evaluate(batch.tokens(), labelIds));
  }

  /**
   * Forward and backward of a labelled batch: adds the head's gradient into dHead and the model's
   * (final norm and blocks fromBlock..) into the model's gradient slab.
   */
  public ClassificationHead.Result forwardBackward(Batch batch, int[] labelIds, float[] dHead,
      int fromBlock) {
    return ClassificationHead.Result.of(
        classifier.forwardBackward(batch.tokens(), labelIds, dHead, null, fromBlock, 0L));
  }

  @Override
  public void close() {
    model.close();
  }
}
