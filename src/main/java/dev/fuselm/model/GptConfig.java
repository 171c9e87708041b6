package dev.fuselm.model;

import java.util.Locale;

/**
 * The shape of a GPT-2 style model. Field names follow Hugging Face's {@code GPT2Config}
 * ({@code n_embd}, {@code n_layer}, ...), which is what {@code config.json} holds.
 *
 * @param vocabSize V: token ids are in [0, V)
 * @param contextLength n_positions: the longest sequence the position embedding covers
 * @param dModel C = n_embd, the residual stream width
 * @param nLayer number of transformer blocks
 * @param nHead attention heads; C must be divisible by it
 * @param embdDropout dropout after the embeddings (training only)
 * @param residDropout dropout on each block's attention and MLP outputs before the residual add
 * @param attnDropout dropout on attention probabilities (training only), inside the fused attention
 *     kernel
 * @param qkvBias whether the fused qkv projection has a bias (Hugging Face GPT-2 always does)
 * @param tiedHead whether the LM head reuses the token embedding (GPT-2 does)
 * @param layerNormEps epsilon of every layer norm
 */
public record GptConfig(
    int vocabSize,
    int contextLength,
    int dModel,
    int nLayer,
    int nHead,
    float embdDropout,
    float residDropout,
    float attnDropout,
    boolean qkvBias,
    boolean tiedHead,
    float layerNormEps) {

  public GptConfig {
    positive("vocab_size", vocabSize);
    positive("n_positions", contextLength);
    positive("n_embd", dModel);
    positive("n_layer", nLayer);
    positive("n_head", nHead);
    if (dModel % nHead != 0) {
      throw new IllegalArgumentException(
          "n_embd = " + dModel + " is not divisible by n_head = " + nHead);
    }
    dropout("embd_pdrop", embdDropout);
    dropout("resid_pdrop", residDropout);
    dropout("attn_pdrop", attnDropout);
    if (!(layerNormEps > 0)) {
      throw new IllegalArgumentException("layer_norm_epsilon must be positive, got " + layerNormEps);
    }
  }

  /** A custom size with GPT-2 defaults: no dropout, qkv bias, tied head, eps 1e-5. */
  public static GptConfig of(int vocabSize, int contextLength, int dModel, int nLayer, int nHead) {
    return new GptConfig(vocabSize, contextLength, dModel, nLayer, nHead, 0f, 0f, 0f, true, true, 1e-5f);
  }

  /** GPT-2 small, 124M parameters. */
  public static GptConfig gpt2() {
    return of(50257, 1024, 768, 12, 12);
  }

  public static GptConfig gpt2Medium() {
    return of(50257, 1024, 1024, 24, 16);
  }

  public static GptConfig gpt2Large() {
    return of(50257, 1024, 1280, 36, 20);
  }

  public static GptConfig gpt2Xl() {
    return of(50257, 1024, 1600, 48, 25);
  }

  /** A preset by name: gpt2, gpt2-medium, gpt2-large, gpt2-xl. */
  public static GptConfig preset(String name) {
    switch (name.toLowerCase(Locale.ROOT)) {
      case "gpt2":
      case "gpt2-small":
        return gpt2();
      case "gpt2-medium":
        return gpt2Medium();
      case "gpt2-large":
        return gpt2Large();
      case "gpt2-xl":
        return gpt2Xl();
      default:
        throw new IllegalArgumentException(
            "unknown model preset '" + name + "': use gpt2, gpt2-medium, gpt2-large, gpt2-xl or a"
                + " config.json file");
    }
  }

  public int headSize() {
    return dModel / nHead;
  }

  public boolean hasDropout() {
    return embdDropout > 0 || residDropout > 0 || attnDropout > 0;
  }

  public GptConfig withDropout(float p) {
    return new GptConfig(vocabSize, contextLength, dModel, nLayer, nHead, p, p, p, qkvBias, tiedHead,
        layerNormEps);
  }

  public GptConfig withVocabSize(int v) {
    return new GptConfig(v, contextLength, dModel, nLayer, nHead, embdDropout, residDropout,
        attnDropout, qkvBias, tiedHead, layerNormEps);
  }

  public GptConfig withTiedHead(boolean tied) {
    return new GptConfig(vocabSize, contextLength, dModel, nLayer, nHead, embdDropout, residDropout,
        attnDropout, qkvBias, tied, layerNormEps);
  }

  public GptConfig withQkvBias(boolean bias) {
    return new GptConfig(vocabSize, contextLength, dModel, nLayer, nHead, embdDropout, residDropout,
        attnDropout, bias, tiedHead, layerNormEps);
  }

  /**
   * The exact number of parameters (a tied head counts once), as Hugging Face reports it;
   * ArithmeticException when it overflows 64 bits.
   */
  public long parameterCount() {
    long c = dModel;
    // per block: ln_1, c_attn (+ bias), attn.c_proj, ln_2, c_fc, mlp.c_proj = 12 C^2 + 10 C (+ 3 C)
    long perLayer = Math.addExact(Math.multiplyExact(12 * c, c), (qkvBias ? 13 : 10) * c);
    long embeddings = Math.multiplyExact((long) vocabSize + contextLength, c);
    long total = Math.addExact(Math.addExact(embeddings, Math.multiplyExact(nLayer, perLayer)),
        2 * c);
    return tiedHead ? total : Math.addExact(total, (long) vocabSize * c);
  }

  /**
   * The parameters of the block matrices (qkv, attention projection, MLP), which a bf16 decoding
   * model holds in bf16: 12 C^2 per block; ArithmeticException when it overflows 64 bits.
   */
  public long blockMatrixCount() {
    return Math.multiplyExact(nLayer, Math.multiplyExact(12L * dModel, dModel));
  }

  /** The sizes config.json gives, for messages: "vocab_size 50257, n_positions 1024, ...". */
  public String sizes() {
    return "vocab_size " + vocabSize + ", n_positions " + contextLength + ", n_embd " + dModel
        + ", n_layer " + nLayer + ", n_head " + nHead;
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
