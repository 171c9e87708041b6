package dev.fuselm.generate;

import dev.fuselm.generate.Generator.StopReason;
import java.util.Arrays;

/**
 * The rules that decide where a sequence starts and stops, shared by {@link Generator} and the
 * serving session so that both agree on the prompts they accept and on every stop reason.
 */
public final class StopRules {
  private StopRules() {}

  /**
   * Checks a prompt for a model of vocabulary {@code vocabSize} and context {@code contextLength}:
   * non-empty, every id in range, and no longer than the context (or, when the config allows
   * truncation, its last contextLength ids). Throws IllegalArgumentException naming the problem.
   */
  public static int[] fitPrompt(int[] prompt, GenerationConfig gc, int vocabSize,
      int contextLength) {
    if (prompt.length == 0) {
      throw new IllegalArgumentException("the prompt is empty: give at least one token");
    }
    for (int i = 0; i < prompt.length; i++) {
      if (prompt[i] < 0 || prompt[i] >= vocabSize) {
        throw new IllegalArgumentException("prompt token " + i + " has id " + prompt[i]
            + ", outside the model's vocabulary of " + vocabSize);
      }
    }
    if (prompt.length > contextLength) {
      if (!gc.truncatePrompt()) {
        throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens, more than"
            + " the model's context window of " + contextLength + " (shorten it, or allow"
            + " truncation to keep its last " + contextLength + " tokens)");
      }
      return Arrays.copyOfRange(prompt, prompt.length - contextLength, prompt.length);
    }
    return prompt;
  }

  /**
   * Why a sequence stops after sampling {@code id}, or null when it goes on: the stop token, then
   * the listener's refusal, then the token budget ({@code generated} tokens so far, id included),
   * then a full context ({@code cached} positions in the cache, id not yet among them).
   */
  public static StopReason after(int id, boolean listenerKeeps, int generated, int cached,
      GenerationConfig gc, int contextLength) {
    if (id == gc.stopToken()) {
      return StopReason.STOP_TOKEN;
    }
    if (!listenerKeeps) {
      return StopReason.LISTENER;
    }
    if (generated == gc.maxNewTokens()) {
      return StopReason.BUDGET;
    }
    if (cached >= contextLength) {
      return StopReason.CONTEXT_FULL;
    }
    return null;
  }

  /** Where the earliest of stops starts in text at or after from, or -1 if none does. */
  public static int firstStop(CharSequence text, java.util.List<String> stops, int from) {
    String t = text.toString();
    int stopAt = -1;
    for (String s : stops) {
      int at = t.indexOf(s, from);
      if (at >= 0 && (stopAt < 0 || at < stopAt)) {
        stopAt = at;
      }
    }
    return stopAt;
  }

  /** How many chars at the end of text may still grow into one of stops (held back in a stream). */
  public static int heldBack(CharSequence text, java.util.List<String> stops) {
    String t = text.toString();
    int held = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, t.length()); k > held; k--) {
        if (t.indexOf(s.substring(0, k), t.length() - k) == t.length() - k) {
          held = k;
          break;
        }
      }
    }
    return held;
  }
}
