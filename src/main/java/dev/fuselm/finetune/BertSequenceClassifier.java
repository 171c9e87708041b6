package dev.fuselm.finetune;

import dev.fuselm.model.BertModel;
import dev.fuselm.model.SequenceClassificationHead;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.List;

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
@Deprecated(forRemoval = true) // merge shim: call dev.fuselm.model.SequenceClassifier.bert
public final class BertSequenceClassifier implements AutoCloseable {
  /** Names of the head's tensors, as Hugging Face names them. */
  public static final String WEIGHT = SequenceClassifier.BERT_WEIGHT;
  public static final String BIAS = SequenceClassifier.BERT_BIAS;

  private final BertModel model;
  private final SequenceClassifier classifier;

  /** Model inputs (B*T each, row-major, right-padded). */
  public record Batch(int[] ids, int[] typeIds, int[] attentionMask, int b, int t) {
    TokenBatch tokens() {
      return new TokenBatch(ids, typeIds, attentionMask, b, t);
    }
  }

  public BertSequenceClassifier(BertModel model, List<String> labels, int padId, float[] weight,
      float[] bias) {
    this.model = model;
    this.classifier = SequenceClassifier.bert(model, labels, padId, weight, bias);
  }

  /** A new head on model: weight N(0, 0.02) from seed (BERT's initializer range), bias 0. */
  public static BertSequenceClassifier create(BertModel model, List<String> labels, int padId,
      long seed) {
    return new BertSequenceClassifier(model, labels, padId, SequenceClassificationHead
        .initialWeight(labels.size(), model.config().hiddenSize(), seed),
        new float[labels.size()]);
  }

  public BertModel model() {
    return model;
  }

  /** The family-independent classifier this one is a view of. */
  public SequenceClassifier classifier() {
    return classifier;
  }

  public List<String> labels() {
    return classifier.labels();
  }

  public int numLabels() {
    return classifier.numLabels();
  }

  public int padId() {
    return classifier.padId();
  }

  /** The head weight (K, C), live: the trainer updates it in place. */
  public float[] weight() {
    return classifier.head().weight();
  }

  /** The head bias (K), live. */
  public float[] bias() {
    return classifier.head().bias();
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
    TokenBatch tb = TokenBatch.ofEncodings(seqs, padId);
    return new Batch(tb.ids(), tb.tokenTypes(), tb.attentionMask(), tb.b(), tb.t());
  }

  /** Class probabilities (B, K) of a batch, in evaluation mode. */
  public double[] probabilities(Batch batch) {
    return classifier.probabilities(batch.tokens());
  }

  /**
   * Forward and backward of a labelled batch in the model's current mode: adds the head's
   * gradients into dWeight and dBias and the encoder's (through the pooler) into the model's
   * gradient slab. dropoutSeed draws the pooled-output dropout mask (used in training mode only).
   */
  public ClassificationHead.Result forwardBackward(Batch batch, int[] labelIds, float[] dWeight,
      float[] dBias, long dropoutSeed) {
    return ClassificationHead.Result.of(classifier.forwardBackward(batch.tokens(), labelIds,
        dWeight, dBias, 0, dropoutSeed));
  }

  @Override
  public void close() {
    model.close();
  }
}
