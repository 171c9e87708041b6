package dev.fuselm.generate;

import java.util.ArrayList;
import java.util.List;

/**
 * How to pick tokens and when to stop. Build one with {@link #builder()}:
 *
 * <pre>{@code
 * GenerationConfig gc = GenerationConfig.builder()
 *     .maxNewTokens(50).temperature(0.8f).topK(40).topP(0.95f).seed(42)
 *     .stopStrings("\n\n")
 *     .build();
 * }</pre>
 *
 * <p>A built config stops at the model's end-of-text token by default, as Hugging Face's {@code
 * generate} stops at {@code eos_token_id}: {@link #stopAtEndOfText()} is true and whoever knows
 * the tokenizer ({@code serve.LanguageModel}, the CLI) resolves it with {@link #withEndOfText}.
 * A {@link Generator} alone works on ids and only knows {@link #stopToken()}. The static factories
 * {@link #greedy} and {@link #sampling} keep their old meaning: no stop token, no end-of-text stop
 * (set one with {@link #withStopToken}).
 *
 * @param maxNewTokens the token budget (>= 0)
 * @param temperature 0 is greedy decoding; otherwise logits are divided by it before sampling
 * @param topK keep only the k most likely tokens (0: all)
 * @param topP keep the smallest set of most likely tokens whose probability reaches p (1: all)
 * @param seed the sampler's seed: the same seed, model and prompt give the same text
 * @param stopToken generation stops after this id (for example {@code <|endoftext|>}); -1: none
 * @param truncatePrompt keep the end of a prompt longer than the context window instead of failing
 * @param stopAtEndOfText stop at the model's end-of-text token once a tokenizer resolves it
 * @param stopStrings texts that end generation when the decoded output contains one (the output
 *     ends before it); matched on text, across token boundaries, by the text-level entry points
 *     ({@code serve.LanguageModel}); a {@link Generator} of ids ignores them
 */
public record GenerationConfig(int maxNewTokens, float temperature, int topK, float topP, long seed,
    int stopToken, boolean truncatePrompt, boolean stopAtEndOfText, List<String> stopStrings) {

  public GenerationConfig {
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
    }
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be a finite number >= 0, got "
          + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("topK must be >= 0 (0: all tokens), got " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    }
    if (stopToken < -1) {
      throw new IllegalArgumentException("stopToken must be a token id or -1 (none), got "
          + stopToken);
    }
    stopStrings = List.copyOf(stopStrings);
    for (String s : stopStrings) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("a stop string must not be empty");
      }
    }
  }

  /** The former 7-component form: no end-of-text stop unless {@code stopToken} names it. */
  public GenerationConfig(int maxNewTokens, float temperature, int topK, float topP, long seed,
      int stopToken, boolean truncatePrompt) {
    this(maxNewTokens, temperature, topK, topP, seed, stopToken, truncatePrompt, false, List.of());
  }

  /**
   * Greedy decoding of up to {@code maxNewTokens} tokens with no stop token (kept for existing
   * callers; {@link #builder()} stops at end-of-text by default).
   */
  public static GenerationConfig greedy(int maxNewTokens) {
    return new GenerationConfig(maxNewTokens, 0f, 0, 1f, 0, -1, false);
  }

  /** Sampling with no stop token (kept for existing callers; see {@link #builder()}). */
  public static GenerationConfig sampling(int maxNewTokens, float temperature, int topK, float topP,
      long seed) {
    return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, -1, false);
  }

  /** A builder with Hugging Face's defaults: greedy, 20 new tokens, stop at end-of-text. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this config's values. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxNewTokens = maxNewTokens;
    b.temperature = temperature;
    b.topK = topK;
    b.topP = topP;
    b.seed = seed;
    b.stopToken = stopToken;
    b.truncatePrompt = truncatePrompt;
    b.stopAtEndOfText = stopAtEndOfText;
    b.stopStrings = new ArrayList<>(stopStrings);
    return b;
  }

  public GenerationConfig withStopToken(int id) {
    return toBuilder().stopToken(id).build();
  }

  public GenerationConfig withTruncation(boolean truncate) {
    return toBuilder().truncatePrompt(truncate).build();
  }

  /** The same config with another seed (row {@code i} of a batch samples with seed + i). */
  public GenerationConfig withSeed(long newSeed) {
    return toBuilder().seed(newSeed).build();
  }

  /**
   * Resolves {@link #stopAtEndOfText()} for a model whose end-of-text id is {@code endOfText}
   * (-1: it has none): the stop token becomes that id when none is set.
   */
  public GenerationConfig withEndOfText(int endOfText) {
    if (!stopAtEndOfText || stopToken >= 0 || endOfText < 0) {
      return this;
    }
    return withStopToken(endOfText);
  }

  /** Named options for a {@link GenerationConfig}; every setter checks nothing until build. */
  public static final class Builder {
    private int maxNewTokens = 20;
    private float temperature = 0f;
    private int topK = 0;
    private float topP = 1f;
    private long seed = 0;
    private int stopToken = -1;
    private boolean truncatePrompt = false;
    private boolean stopAtEndOfText = true;
    private List<String> stopStrings = new ArrayList<>();

    private Builder() {}

    /** The token budget (default 20, as Hugging Face's). */
    public Builder maxNewTokens(int n) {
      this.maxNewTokens = n;
      return this;
    }

    /** 0 (the default) decodes greedily; otherwise logits are divided by it before sampling. */
    public Builder temperature(float t) {
      this.temperature = t;
      return this;
    }

    /** Sample only from the k most likely tokens (default 0: all). */
    public Builder topK(int k) {
      this.topK = k;
      return this;
    }

    /** Nucleus sampling: the smallest set whose probability reaches p (default 1: all). */
    public Builder topP(float p) {
      this.topP = p;
      return this;
    }

    /** The sampler's seed (default 0). */
    public Builder seed(long s) {
      this.seed = s;
      return this;
    }

    /** An explicit stop id (default none); it takes precedence over the end-of-text stop. */
    public Builder stopToken(int id) {
      this.stopToken = id;
      return this;
    }

    /** Keep the end of a prompt longer than the context instead of failing (default false). */
    public Builder truncatePrompt(boolean truncate) {
      this.truncatePrompt = truncate;
      return this;
    }

    /** Stop at the model's end-of-text token (default true). */
    public Builder stopAtEndOfText(boolean stop) {
      this.stopAtEndOfText = stop;
      return this;
    }

    /** Texts that end generation (replaces any set before). */
    public Builder stopStrings(String... stops) {
      return stopStrings(List.of(stops));
    }

    /** Texts that end generation (replaces any set before). */
    public Builder stopStrings(List<String> stops) {
      this.stopStrings = new ArrayList<>(stops);
      return this;
    }

    /** The config; an out-of-range option is an IllegalArgumentException naming it. */
    public GenerationConfig build() {
      return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stopToken,
          truncatePrompt, stopAtEndOfText, stopStrings);
    }
  }
}
