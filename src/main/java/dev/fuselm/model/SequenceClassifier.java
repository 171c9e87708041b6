package dev.fuselm.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sequence classifier: a {@link Backbone} of any family, a {@link SequenceClassificationHead} on
 * it, the label names and the padding token ({@link ClassifierModel}). Owns the backbone (closing
 * this closes it). The two
 * published layouts are {@link #gpt} ({@code GPT2ForSequenceClassification}) and {@link #bert}
 * ({@code BertForSequenceClassification}); both train and predict through the same head code.
 *
 * @param <B> the backbone's type, so that family-specific calls need no cast
 */
public final class SequenceClassifier<B extends Backbone>
    extends ClassifierModel<B, SequenceClassificationHead, SequenceClassificationHead.Result> {
  /** Hugging Face's name of the GPT-2 head weight (K, C). */
  public static final String GPT_WEIGHT = "score.weight";
  /** Hugging Face's names of the BERT head weight (K, C) and bias (K). */
  public static final String BERT_WEIGHT = "classifier.weight";
  public static final String BERT_BIAS = "classifier.bias";

  public SequenceClassifier(B backbone, SequenceClassificationHead head, List<String> labels,
      int padId) {
    super(backbone, head, labels, padId, "classes");
  }

  /** GPT-2's layout: last-token pooling, weight (K, C), no bias, no dropout. */
  public static SequenceClassifier<GptModel> gpt(GptModel model, List<String> labels, int padId,
      float[] weight) {
    return new SequenceClassifier<>(model, gptHead(model, labels, padId, weight), labels, padId);
  }

  /** GPT-2's layout with a new head: weight N(0, 0.02) from seed. */
  public static SequenceClassifier<GptModel> gpt(GptModel model, List<String> labels, int padId,
      long seed) {
    return gpt(model, labels, padId,
        SequenceClassificationHead.initialWeight(labels.size(), model.hiddenSize(), seed));
  }

  /**
   * BERT's layout: pooled [CLS], the config's hidden dropout, weight (K, C) and bias (K). The model
   * needs its pooler.
   */
  public static SequenceClassifier<BertModel> bert(BertModel model, List<String> labels,
      int padId, float[] weight, float[] bias) {
    return new SequenceClassifier<>(model, bertHead(model, labels, padId, weight, bias), labels,
        padId);
  }

  /** BERT's layout with a new head: weight N(0, 0.02) from seed (BERT's initializer), bias 0. */
  public static SequenceClassifier<BertModel> bert(BertModel model, List<String> labels,
      int padId, long seed) {
    return bert(model, labels, padId,
        SequenceClassificationHead.initialWeight(labels.size(), model.hiddenSize(), seed),
        new float[labels.size()]);
  }

  /**
   * The classifier of backbone's family layout whose head tensors are tensors, named as {@link
   * #headTensors} names them (what a classifier directory holds).
   */
  public static <B extends Backbone> SequenceClassifier<B> of(B backbone, List<String> labels,
      int padId, Map<String, float[]> tensors) {
    SequenceClassificationHead head;
    if (backbone instanceof GptModel gpt) {
      head = gptHead(gpt, labels, padId, tensors.get(GPT_WEIGHT));
    } else if (backbone instanceof BertModel bert) {
      head = bertHead(bert, labels, padId, tensors.get(BERT_WEIGHT), tensors.get(BERT_BIAS));
    } else {
      throw new IllegalArgumentException("no published classifier layout for a "
          + backbone.getClass().getSimpleName());
    }
    return new SequenceClassifier<>(backbone, head, labels, padId);
  }

  private static SequenceClassificationHead gptHead(GptModel model, List<String> labels,
      int padId, float[] weight) {
    requireInVocabulary(padId, model.config().vocabSize());
    requireTwoLabels(labels);
    return new SequenceClassificationHead(SequenceClassificationHead.Pooling.LAST_TOKEN, weight,
        null, labels.size(), model.hiddenSize(), 0f);
  }

  private static SequenceClassificationHead bertHead(BertModel model, List<String> labels,
      int padId, float[] weight, float[] bias) {
    requireTwoLabels(labels);
    requireInVocabulary(padId, model.config().vocabSize());
    return new SequenceClassificationHead(SequenceClassificationHead.Pooling.CLS_POOLER, weight,
        bias, labels.size(), model.hiddenSize(), model.config().hiddenDropout());
  }

  private static void requireTwoLabels(List<String> labels) {
    if (labels.size() < 2) {
      throw new IllegalArgumentException("a classifier needs at least two labels, got " + labels);
    }
  }

  private static void requireInVocabulary(int padId, int vocabSize) {
    if (padId < 0 || padId >= vocabSize) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
  }

  /**
   * The head's tensors (live) under Hugging Face's names for its pooling: {@link #GPT_WEIGHT} for
   * last-token pooling, {@link #BERT_WEIGHT} and {@link #BERT_BIAS} for [CLS] pooling; weight
   * first.
   */
  public Map<String, float[]> headTensors() {
    SequenceClassificationHead head = head();
    boolean cls = head.pooling() == SequenceClassificationHead.Pooling.CLS_POOLER;
    Map<String, float[]> t = new LinkedHashMap<>();
    t.put(cls ? BERT_WEIGHT : GPT_WEIGHT, head.weight());
    if (head.bias() != null) {
      t.put(cls ? BERT_BIAS : "score.bias", head.bias());
    }
    return t;
  }
}
