package dev.fuselm.finetune;

import dev.fuselm.model.BertModel;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Hugging Face's {@code BertForSequenceClassification}: the pooled {@code [CLS]} output
 * (tanh(dense(h_CLS))), dropout (the config's hidden dropout, training only), and a linear layer
 * {@code classifier.weight} (K, C) + {@code classifier.bias} (K), with a mean softmax cross-entropy.
 * Inputs are single texts {@code [CLS] a [SEP]} or sentence pairs {@code [CLS] a [SEP] b [SEP]}
 * (token types 0 then 1), right-padded per batch. Owns the model (closing this closes it).
 *
 * <p>The head is host-side arithmetic in double, like {@link ClassificationHead}: K and C are small
 * next to the encoder.
 */
public final class BertSequenceClassifier implements AutoCloseable {
  /** Names of the head's tensors, as Hugging Face names them. */
  public static final String WEIGHT = "classifier.weight";
  public static final String BIAS = "classifier.bias";

  private final BertModel model;
  private final List<String> labels;
  private final int padId;
  private final float[] weight;
  private final float[] bias;

  /** Model inputs (B*T each, row-major, right-padded). */
  public record Batch(int[] ids, int[] typeIds, int[] attentionMask, int b, int t) {}

  public BertSequenceClassifier(BertModel model, List<String> labels, int padId, float[] weight,
      float[] bias) {
    if (labels.size() < 2) {
      throw new IllegalArgumentException("a classifier needs at least two labels, got " + labels);
    }
    if (!model.hasPooler()) {
      throw new IllegalArgumentException("the model has no pooler (bert.pooler.*), which the"
          + " [CLS] classifier needs");
    }
    int c = model.config().hiddenSize();
    if (weight.length != labels.size() * c || bias.length != labels.size()) {
      throw new IllegalArgumentException("head has " + weight.length + " weights and "
          + bias.length + " biases, expected K*C = " + labels.size() + "*" + c + " and K");
    }
    if (padId < 0 || padId >= model.config().vocabSize()) {
      throw new IllegalArgumentException("pad id " + padId + " is outside the vocabulary");
    }
    this.model = model;
    this.labels = List.copyOf(labels);
    this.padId = padId;
    this.weight = weight;
    this.bias = bias;
  }

  /** A new head on model: weight N(0, 0.02) from seed (BERT's initializer range), bias 0. */
  public static BertSequenceClassifier create(BertModel model, List<String> labels, int padId,
      long seed) {
    float[] w = new float[labels.size() * model.config().hiddenSize()];
    SplittableRandom r = new SplittableRandom(seed);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (r.nextGaussian() * 0.02);
    }
    return new BertSequenceClassifier(model, labels, padId, w, new float[labels.size()]);
  }

  public BertModel model() {
    return model;
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

  /** The head weight (K, C), live: the trainer updates it in place. */
  public float[] weight() {
    return weight;
  }

  /** The head bias (K), live. */
  public float[] bias() {
    return bias;
  }

  /**
   * Encodes a text or a pair (second may be null) to model inputs of at most maxLength tokens
   * (special tokens included; longest-first truncation), unpadded.
   */
  public static BertEncoding encode(WordPieceTokenizer tok, String first, String second,
      int maxLength) {
    return tok.encodeForModel(first, second, maxLength, 0);
  }

  /** Pads encodings with padId (type 0, mask 0) to the longest of them. */
  public static Batch collate(List<BertEncoding> seqs, int padId) {
    if (seqs.isEmpty()) {
      throw new IllegalArgumentException("an empty batch");
    }
    int t = 0;
    for (BertEncoding e : seqs) {
      t = Math.max(t, e.length());
    }
    int b = seqs.size();
    int[] ids = new int[b * t];
    int[] types = new int[b * t];
    int[] mask = new int[b * t];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      BertEncoding e = seqs.get(i);
      System.arraycopy(e.ids(), 0, ids, i * t, e.length());
      System.arraycopy(e.typeIds(), 0, types, i * t, e.length());
      System.arraycopy(e.attentionMask(), 0, mask, i * t, e.length());
    }
    return new Batch(ids, types, mask, b, t);
  }

  /** Logits (B, K) of pooled outputs (B, C). */
  double[] logits(float[] pooled, int b) {
    int k = labels.size(), c = model.config().hiddenSize();
    double[] z = new double[b * k];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < k; j++) {
        double s = bias[j];
        for (int x = 0; x < c; x++) {
          s += (double) weight[j * c + x] * pooled[i * c + x];
        }
        z[i * k + j] = s;
      }
    }
    return z;
  }

  private float[] pooled(Batch batch) {
    model.forward(batch.ids(), batch.typeIds(), batch.attentionMask(), batch.b(), batch.t());
    return model.pooled().toFloatArray();
  }

  /** Class probabilities (B, K) of a batch, in evaluation mode. */
  public double[] probabilities(Batch batch) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      return ClassificationHead.softmax(logits(pooled(batch), batch.b()), batch.b(),
          labels.size());
    } finally {
      model.setTraining(was);
    }
  }

  /**
   * Forward and backward of a labelled batch in the model's current mode: adds the head's
   * gradients into dWeight and dBias and the encoder's (through the pooler) into the model's
   * gradient slab. dropoutSeed draws the pooled-output dropout mask (used in training mode only).
   */
  public ClassificationHead.Result forwardBackward(Batch batch, int[] labelIds, float[] dWeight,
      float[] dBias, long dropoutSeed) {
    int b = batch.b(), k = labels.size(), c = model.config().hiddenSize();
    if (labelIds.length != b) {
      throw new IllegalArgumentException(labelIds.length + " labels for a batch of " + b);
    }
    float[] pooled = pooled(batch);
    float p = model.isTraining() ? model.config().hiddenDropout() : 0f;
    float[] keep = null;
    if (p > 0) {
      // Inverted dropout on the pooled output: keep[i] is 0 or 1 / (1 - p).
      keep = new float[pooled.length];
      SplittableRandom r = new SplittableRandom(dropoutSeed);
      for (int i = 0; i < keep.length; i++) {
        keep[i] = r.nextDouble() < p ? 0f : 1f / (1f - p);
        pooled[i] *= keep[i];
      }
    }
    double[] prob = ClassificationHead.softmax(logits(pooled, b), b, k);
    double loss = 0;
    int correct = 0;
    float[] dPooled = new float[b * c];
    for (int i = 0; i < b; i++) {
      int y = labelIds[i];
      if (y < 0 || y >= k) {
        throw new IllegalArgumentException("label " + y + " is outside 0.." + (k - 1));
      }
      loss -= Math.log(Math.max(prob[i * k + y], 1e-300));
      correct += ClassificationHead.argmax(prob, i, k) == y ? 1 : 0;
      for (int j = 0; j < k; j++) {
        double g = (prob[i * k + j] - (j == y ? 1 : 0)) / b;
        dBias[j] += (float) g;
        for (int x = 0; x < c; x++) {
          dWeight[j * c + x] += (float) (g * pooled[i * c + x]);
          dPooled[i * c + x] += (float) (g * weight[j * c + x]);
        }
      }
    }
    if (keep != null) {
      for (int i = 0; i < dPooled.length; i++) {
        dPooled[i] *= keep[i];
      }
    }
    model.backward(0f, 0f, null, dPooled);
    return new ClassificationHead.Result(loss / b, correct);
  }

  @Override
  public void close() {
    model.close();
  }
}
