package dev.fuselm.model;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A token classifier (named-entity recognizer): a {@link Backbone} of any family, a {@link
 * TokenClassificationHead} on it, the label names (id order) and the padding token ({@link
 * ClassifierModel}). Owns the
 * backbone (closing this closes it). The head's tensors carry Hugging Face's names of both
 * published layouts, {@code BertForTokenClassification} and {@code GPT2ForTokenClassification}:
 * {@link #WEIGHT} (K, C) and {@link #BIAS} (K).
 *
 * @param <B> the backbone's type, so that family-specific calls need no cast
 */
public final class TokenClassifier<B extends Backbone>
    extends ClassifierModel<B, TokenClassificationHead, TokenClassificationHead.Result> {
  public static final String WEIGHT = "classifier.weight";
  public static final String BIAS = "classifier.bias";
  /** GPT2ForTokenClassification's default classifier dropout. */
  public static final float GPT_DROPOUT = 0.1f;

  public TokenClassifier(B backbone, TokenClassificationHead head, List<String> labels,
      int padId) {
    super(backbone, head, labels, padId, "labels");
  }

  /**
   * The classifier of backbone's family with the given head tensors: BERT's dropout is the
   * config's hidden dropout, GPT-2's {@link #GPT_DROPOUT}.
   */
  public static <B extends Backbone> TokenClassifier<B> of(B backbone, List<String> labels,
      int padId, float[] weight, float[] bias) {
    float dropout;
    if (backbone instanceof BertModel bert) {
      dropout = bert.config().hiddenDropout();
    } else if (backbone instanceof GptModel) {
      dropout = GPT_DROPOUT;
    } else {
      throw new IllegalArgumentException("no token-classification layout for a "
          + backbone.getClass().getSimpleName());
    }
    return new TokenClassifier<>(backbone, new TokenClassificationHead(weight, bias,
        labels.size(), backbone.hiddenSize(), dropout), labels, padId);
  }

  /** A new head: weight N(0, 0.02) from seed (BERT's and GPT-2's initializer), bias 0. */
  public static <B extends Backbone> TokenClassifier<B> of(B backbone, List<String> labels,
      int padId, long seed) {
    return of(backbone, labels, padId,
        SequenceClassificationHead.initialWeight(labels.size(), backbone.hiddenSize(), seed),
        new float[labels.size()]);
  }

  /** The classifier with head tensors named as {@link #headTensors} names them. */
  public static <B extends Backbone> TokenClassifier<B> of(B backbone, List<String> labels,
      int padId, Map<String, float[]> tensors) {
    return of(backbone, labels, padId, tensors.get(WEIGHT), tensors.get(BIAS));
  }

  /** The head's tensors (live) under Hugging Face's names, weight first. */
  public Map<String, float[]> headTensors() {
    Map<String, float[]> t = new LinkedHashMap<>();
    t.put(WEIGHT, head().weight());
    t.put(BIAS, head().bias());
    return t;
  }

  /**
   * forwardBackward of a data-parallel share, rows [firstRow, firstRow + B) of a global batch
   * padded to globalT positions: the head's dropout mask is the global batch's (see {@link
   * TokenClassificationHead}).
   */
  public TokenClassificationHead.Result forwardBackward(TokenBatch batch, int[] labels,
      float[] dWeight, float[] dBias, int fromBlock, long dropoutSeed, int firstRow,
      int globalT) {
    return head().forwardBackward(backbone(), batch, labels, dWeight, dBias, fromBlock,
        dropoutSeed, firstRow, globalT);
  }

  /** The most probable label id of every position (B*T) of a batch, in evaluation mode. */
  public int[] predict(TokenBatch batch) {
    double[] p = probabilities(batch);
    int k = numLabels();
    int[] out = new int[batch.b() * batch.t()];
    for (int i = 0; i < out.length; i++) {
      out[i] = TokenClassificationHead.argmax(p, i, k);
    }
    return out;
  }
}
