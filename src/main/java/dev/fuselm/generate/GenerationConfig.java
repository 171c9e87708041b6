package dev.fuselm.generate;

/**
 * How to pick tokens.
 *
 * @param maxNewTokens the token budget
 * @param temperature 0 is greedy decoding; otherwise logits are divided by it before sampling
 * @param topK keep only the k most likely tokens (0: all)
 * @param topP keep the smallest set of most likely tokens whose probability reaches p (1: all)
 * @param seed the sampler's seed: the same seed, model and prompt give the same text
 * @param stopToken generation stops after this id (for example {@code <|endoftext|>}); -1: none
 * @param truncatePrompt keep the end of a prompt longer than the context window instead of failing
 */
public record GenerationConfig(int maxNewTokens, float temperature, int topK, float topP, long seed,
    int stopToken, boolean truncatePrompt) {

  public GenerationConfig {
    if (maxNewTokens < 0) {
      throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + maxNewTokens);
    }
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("--temperature must be >= 0, got " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    }
  }

  public static GenerationConfig greedy(int maxNewTokens) {
    return new GenerationConfig(maxNewTokens, 0f, 0, 1f, 0, -1, false);
  }

  public static GenerationConfig sampling(int maxNewTokens, float temperature, int topK, float topP,
      long seed) {
    return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, -1, false);
  }

  public GenerationConfig withStopToken(int id) {
    return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, id, truncatePrompt);
  }

  public GenerationConfig withTruncation(boolean truncate) {
    return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stopToken, truncate);
  }
}
