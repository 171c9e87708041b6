package dev.fuselm.finetune;

import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.Tensor;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A GPT model with its LM head replaced by a classification head on the last non-padding token's
 * final hidden state. Owns the model (closing this closes it).
 */
public final class SequenceClassifier implements AutoCloseable {
  /** Name of the head's weight (K, C) in the classifier file, as Hugging Face names it. */
  public static final String HEAD = "score.weight";

  private final GptModel model;
  private final List<String> labels;
  private final int padId;
  private final float[] head;

  /** Token ids (B*T, row-major, right-padded) and each row's unpadded length. */
  public record Batch(int[] ids, int[] lengths, int b, int t) {}

  public SequenceClassifier(GptModel model, List<String> labels, int padId, float[] head) {
    if (labels.size() < 2) {
      throw new IllegalArgumentException("a classifier needs at least two labels, got " + labels);
    }
    int c = model.config().dModel();
    if (head.length != labels.size() * c) {
      throw new IllegalArgumentException("head has " + head.length + " weights, expected K*C = "
          + labels.size() + "*" + c);
    }
    if (padId < 0 || padId >= model.config().vocabSize()) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
    this.model = model;
    this.labels = List.copyOf(labels);
    this.padId = padId;
    this.head = head;
  }

  /** A new head, N(0, 0.02) from seed, on model. */
  public static SequenceClassifier create(GptModel model, List<String> labels, int padId,
      long seed) {
    float[] w = new float[labels.size() * model.config().dModel()];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (r.nextGaussian() * 0.02);
    }
    return new SequenceClassifier(model, labels, padId, w);
  }

  public GptModel model() {
    return model;
  }

  public List<String> labels() {
    return labels;
  }

  public int padId() {
    return padId;
  }

  /** The head weight (K, C), live: the trainer updates it in place. */
  public float[] headWeight() {
    return head;
  }

  public int numLabels() {
    return labels.size();
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
    if (seqs.isEmpty()) {
      throw new IllegalArgumentException("an empty batch");
    }
    int t = 0;
    for (int[] s : seqs) {
      if (s.length == 0) {
        throw new IllegalArgumentException("a sequence with no tokens");
      }
      t = Math.max(t, s.length);
    }
    if (padTo > 0) {
      if (padTo < t) {
        throw new IllegalArgumentException("a sequence of " + t + " tokens does not fit the"
            + " fixed length " + padTo);
      }
      t = padTo;
    }
    int b = seqs.size();
    int[] ids = new int[b * t];
    int[] lengths = new int[b];
    java.util.Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      int[] s = seqs.get(i);
      System.arraycopy(s, 0, ids, i * t, s.length);
      lengths[i] = s.length;
    }
    return new Batch(ids, lengths, b, t);
  }

  /** Final hidden states (B*T*C) of a batch, copied to the host. */
  float[] hidden(Batch batch) {
    Tensor h = model.forwardHidden(batch.ids(), batch.b(), batch.t());
    return h.toFloatArray();
  }

  /** Class probabilities (B, K) of a batch, in evaluation mode. */
  public double[] probabilities(Batch batch) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      int c = model.config().dModel();
      float[] last = ClassificationHead.gatherLast(hidden(batch), batch.b(), batch.t(), c,
          batch.lengths());
      return ClassificationHead.softmax(
          ClassificationHead.logits(last, batch.b(), c, head, labels.size()), batch.b(),
          labels.size());
    } finally {
      model.setTraining(was);
    }
  }

  /** Loss and correct count of a labelled batch, without gradients. */
  public ClassificationHead.Result evaluate(Batch batch, int[] labelIds) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      return ClassificationHead.forwardBackward(hidden(batch), batch.b(), batch.t(),
          model.config().dModel(), batch.lengths(), labelIds, head, labels.size(), null, null);
    } finally {
      model.setTraining(was);
    }
  }

  /**
   * Forward and backward of a labelled batch: adds the head's gradient into dHead and the model's
   * (final norm and blocks fromBlock..) into the model's gradient slab.
   */
  public ClassificationHead.Result forwardBackward(Batch batch, int[] labelIds, float[] dHead,
      int fromBlock) {
    int c = model.config().dModel();
    float[] hidden = hidden(batch);
    float[] dHidden = new float[hidden.length];
    ClassificationHead.Result r = ClassificationHead.forwardBackward(hidden, batch.b(), batch.t(),
        c, batch.lengths(), labelIds, head, labels.size(), dHead, dHidden);
    model.backwardHidden(dHidden, fromBlock);
    return r;
  }

  @Override
  public void close() {
    model.close();
  }
}
