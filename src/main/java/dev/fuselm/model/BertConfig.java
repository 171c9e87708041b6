package dev.fuselm.model;

import java.util.Locale;

/**
 * The shape of a BERT encoder. Field names follow Hugging Face's {@code BertConfig}
 * ({@code hidden_size}, {@code num_hidden_layers}, ...), which is what {@code config.json} holds.
 * The activation is always the exact erf GELU ({@code hidden_act: "gelu"}).
 *
 * @param vocabSize V = vocab_size: token ids are in [0, V)
 * @param hiddenSize C = hidden_size, the residual stream width
 * @param numLayers num_hidden_layers: encoder blocks
 * @param numHeads num_attention_heads; C must be divisible by it
 * @param intermediateSize I = intermediate_size, the MLP width
 * @param maxPositions max_position_embeddings: the longest sequence
 * @param typeVocabSize type_vocab_size: token types (segments A/B) in [0, typeVocabSize)
 * @param layerNormEps layer_norm_eps of every layer norm (1e-12 in BERT)
 * @param hiddenDropout hidden_dropout_prob: dropout after the embeddings and on each block's two
 *     dense outputs before their residual add (training only)
 * @param attentionDropout attention_probs_dropout_prob: dropout on the attention probabilities
 *     (training only), inside the fused attention kernel
 */
public record BertConfig(
    int vocabSize,
    int hiddenSize,
    int numLayers,
    int numHeads,
    int intermediateSize,
    int maxPositions,
    int typeVocabSize,
    float layerNormEps,
    float hiddenDropout,
    float attentionDropout) {

  public BertConfig {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("num_hidden_layers", numLayers);
    positive("num_attention_heads", numHeads);
    positive("intermediate_size", intermediateSize);
    positive("max_position_embeddings", maxPositions);
    positive("type_vocab_size", typeVocabSize);
    if (hiddenSize % numHeads != 0) {
      throw new IllegalArgumentException(
          "hidden_size = " + hiddenSize + " is not divisible by num_attention_heads = " + numHeads);
    }
    if (!(layerNormEps > 0)) {
      throw new IllegalArgumentException("layer_norm_eps must be positive, got " + layerNormEps);
    }
    dropout("hidden_dropout_prob", hiddenDropout);
    dropout("attention_probs_dropout_prob", attentionDropout);
  }

  /** A custom size with BERT's defaults: 512 positions, 2 token types, eps 1e-12, dropout 0.1. */
  public static BertConfig of(
      int vocabSize, int hiddenSize, int numLayers, int numHeads, int intermediateSize) {
    return new BertConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize, 512, 2,
        1e-12f, 0.1f, 0.1f);
  }

  /** bert-base-uncased: 110M parameters, 30522 lower-cased WordPiece tokens. */
  public static BertConfig baseUncased() {
    return of(30522, 768, 12, 12, 3072);
  }

  /** bert-base-cased: 108M parameters, 28996 cased WordPiece tokens. */
  public static BertConfig baseCased() {
    return of(28996, 768, 12, 12, 3072);
  }

  /** bert-large-uncased: 335M parameters. */
  public static BertConfig large() {
    return of(30522, 1024, 24, 16, 4096);
  }

  /** Google's BERT-Tiny size (2 layers, 128 wide, 2 heads) on the uncased vocabulary. */
  public static BertConfig tiny() {
    return of(30522, 128, 2, 2, 512);
  }

  /** Google's BERT-Mini size (4 layers, 256 wide, 4 heads) on the uncased vocabulary. */
  public static BertConfig mini() {
    return of(30522, 256, 4, 4, 1024);
  }

  /**
   * A preset by name: bert-base-uncased, bert-base-cased, bert-large (= bert-large-uncased),
   * bert-tiny, bert-mini.
   */
  public static BertConfig preset(String name) {
    switch (name.toLowerCase(Locale.ROOT)) {
      case "bert-base-uncased":
      case "bert-base":
        return baseUncased();
      case "bert-base-cased":
        return baseCased();
      case "bert-large":
      case "bert-large-uncased":
        return large();
      case "bert-tiny":
        return tiny();
      case "bert-mini":
        return mini();
      default:
        throw new IllegalArgumentException("unknown BERT preset '" + name + "' (known: "
            + String.join(", ", presetNames()) + ")");
    }
  }

  public static String[] presetNames() {
    return new String[] {"bert-base-uncased", "bert-base-cased", "bert-large", "bert-tiny",
        "bert-mini"};
  }

  /** This config with another vocabulary size (a tokenizer of one's own). */
  public BertConfig withVocabSize(int v) {
    return new BertConfig(v, hiddenSize, numLayers, numHeads, intermediateSize, maxPositions,
        typeVocabSize, layerNormEps, hiddenDropout, attentionDropout);
  }

  /** This config with other dropout probabilities (hidden, attention). */
  public BertConfig withDropout(float hidden, float attention) {
    return new BertConfig(vocabSize, hiddenSize, numLayers, numHeads, intermediateSize,
        maxPositions, typeVocabSize, layerNormEps, hidden, attention);
  }

  public int headSize() {
    return hiddenSize / numHeads;
  }

  /** Parameters of the encoder and pooler, plus the MLM transform/bias and NSP head when heads. */
  public long parameterCount(boolean heads) {
    return parameterCount(true, heads);
  }

  /**
   * Parameters of the encoder, the pooler when pooler, the MLM transform/bias and NSP head when
   * heads; ArithmeticException when the count overflows 64 bits.
   */
  public long parameterCount(boolean pooler, boolean heads) {
    long c = hiddenSize;
    long i = intermediateSize;
    long n = Math.addExact(Math.multiplyExact((long) vocabSize + maxPositions + typeVocabSize, c),
        2 * c);
    // per layer: q, k, v, output dense (C^2 + C each), two layer norms, the MLP (2 I C + I + C)
    long perLayer = Math.addExact(Math.multiplyExact(4 * c + 2 * i, c), 9 * c + i);
    n = Math.addExact(n, Math.multiplyExact(numLayers, perLayer));
    if (pooler) {
      n = Math.addExact(n, Math.addExact(Math.multiplyExact(c, c), c));
    }
    if (heads) {
      n = Math.addExact(n, Math.addExact(Math.multiplyExact(c, c), vocabSize + 5 * c + 2));
    }
    return n;
  }

  /** The sizes config.json gives, for messages: "vocab_size 30522, hidden_size 768, ...". */
  public String sizes() {
    return "vocab_size " + vocabSize + ", hidden_size " + hiddenSize + ", num_hidden_layers "
        + numLayers + ", intermediate_size " + intermediateSize + ", max_position_embeddings "
        + maxPositions;
  }

  private static void positive(String name, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(name + " must be positive, got " + v);
    }
  }

  private static void dropout(String name, float p) {
    if (!(p >= 0 && p < 1)) {
      throw new IllegalArgumentException(name + " must be in [0, 1), got " + p);
    }
  }
}
