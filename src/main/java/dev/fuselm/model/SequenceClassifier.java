package dev.fuselm.model;

import java.util.List;

/**
 * A sequence classifier: a {@link Backbone} of any family, a {@link SequenceClassificationHead} on
 * it, the label names and the padding token. Owns the backbone (closing this closes it). The two
 * published layouts are {@link #gpt} ({@code GPT2ForSequenceClassification}) and {@link #bert}
 * ({@code BertForSequenceClassification}); both train and predict through the same head code.
 */
public final class SequenceClassifier implements AutoCloseable {
  /** Hugging Face's name of the GPT-2 head weight (K, C). */
  public static final String GPT_WEIGHT = "score.weight";
  /** Hugging Face's names of the BERT head weight (K, C) and bias (K). */
  public static final String BERT_WEIGHT = "classifier.weight";
  public static final String BERT_BIAS = "classifier.bias";

  private final Backbone backbone;
  private final SequenceClassificationHead head;
  private final List<String> labels;
  private final int padId;

  public SequenceClassifier(Backbone backbone, SequenceClassificationHead head,
      List<String> labels, int padId) {
    if (labels.size() != head.numLabels()) {
      throw new IllegalArgumentException(labels.size() + " label names for a head of "
          + head.numLabels() + " classes");
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

  /** GPT-2's layout: last-token pooling, weight (K, C), no bias, no dropout. */
  public static SequenceClassifier gpt(Backbone backbone, List<String> labels, int padId,
      float[] weight) {
    requireTwoLabels(labels);
    return new SequenceClassifier(backbone, new SequenceClassificationHead(
        SequenceClassificationHead.Pooling.LAST_TOKEN, weight, null, labels.size(),
        backbone.hiddenSize(), 0f), labels, padId);
  }

  /**
   * BERT's layout: pooled [CLS], the config's hidden dropout, weight (K, C) and bias (K). The model
   * needs its pooler.
   */
  public static SequenceClassifier bert(BertModel model, List<String> labels, int padId,
      float[] weight, float[] bias) {
    requireTwoLabels(labels);
    if (padId >= model.config().vocabSize()) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
    return new SequenceClassifier(model, new SequenceClassificationHead(
        SequenceClassificationHead.Pooling.CLS_POOLER, weight, bias, labels.size(),
        model.hiddenSize(), model.config().hiddenDropout()), labels, padId);
  }

  private static void requireTwoLabels(List<String> labels) {
    if (labels.size() < 2) {
      throw new IllegalArgumentException("a classifier needs at least two labels, got " + labels);
    }
  }

  public Backbone backbone() {
    return backbone;
  }

  public SequenceClassificationHead head() {
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

  /** Class probabilities (B, K) of a batch, in evaluation mode. */
  public double[] probabilities(TokenBatch batch) {
    return head.probabilities(backbone, batch);
  }

  /** Loss and correct count of a labelled batch in evaluation mode, without gradients. */
  public SequenceClassificationHead.Result evaluate(TokenBatch batch, int[] labelIds) {
    return head.evaluate(backbone, batch, labelIds);
  }

  /** See {@link SequenceClassificationHead#forwardBackward}. */
  public SequenceClassificationHead.Result forwardBackward(TokenBatch batch, int[] labelIds,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed) {
    return head.forwardBackward(backbone, batch, labelIds, dWeight, dBias, fromBlock, dropoutSeed);
  }

  @Override
  public void close() {
    backbone.close();
  }
}
