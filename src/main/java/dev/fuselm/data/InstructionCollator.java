package dev.fuselm.data;

import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * Tokenizes instruction entries and collates them into language-model batches.
 *
 * <p>An entry becomes {@code prompt + response + <|endoftext|>}. A batch is right-padded with the
 * end-of-text id to the longest sequence (or to a fixed length); inputs are each sequence without
 * its last token, targets the sequence shifted left by one. The first end-of-text of a sequence
 * stays a target (the model learns to stop); the padding after it is {@link
 * SoftmaxOps#IGNORE_INDEX}, and with maskPrompt so are the targets that are prompt tokens, so only
 * the response (and its end) is learned.
 */
public final class InstructionCollator {
  private InstructionCollator() {}

  /**
   * One tokenized entry: tokens (prompt, response, end-of-text; cut to context + 1 tokens when too
   * long, then without the end-of-text) and the prompt's length in tokens.
   */
  public record Encoded(int[] tokens, int promptLength, boolean truncated) {}

  /** Inputs and targets, both (B, T) row-major. */
  public record Batch(int[] inputs, int[] targets, int b, int t) {
    /** The number of targets that are not ignored. */
    public int targetCount() {
      int n = 0;
      for (int y : targets) {
        n += y == SoftmaxOps.IGNORE_INDEX ? 0 : 1;
      }
      return n;
    }
  }

  /**
   * Tokenizes one entry for a model with a context of ctx tokens. A prompt of ctx tokens or more
   * leaves nothing to learn or generate and is an IllegalArgumentException naming the entry; a
   * longer prompt + response is cut to ctx + 1 tokens (ctx inputs and their ctx targets) and marked
   * truncated, so the caller can report it.
   */
  public static Encoded encode(Tokenizer tok, PromptTemplate template, InstructionData.Entry e,
      int eot, int ctx) {
    int[] prompt = tok.encode(template.prompt(e.instruction(), e.input()));
    if (prompt.length >= ctx) {
      throw new IllegalArgumentException("entry " + e.index() + ": the prompt is " + prompt.length
          + " tokens, the model's context is " + ctx + " (it must be shorter)");
    }
    int[] response = tok.encode(e.output());
    int n = prompt.length + response.length + 1;
    boolean truncated = n > ctx + 1;
    int[] tokens = new int[Math.min(n, ctx + 1)];
    System.arraycopy(prompt, 0, tokens, 0, prompt.length);
    System.arraycopy(response, 0, tokens, prompt.length,
        Math.min(response.length, tokens.length - prompt.length));
    if (!truncated) {
      tokens[n - 1] = eot;
    }
    return new Encoded(tokens, prompt.length, truncated);
  }

  /**
   * Collates items into one batch padded with eot to the longest item (fixedLength 0) or to
   * fixedLength input positions (which must fit every item).
   */
  public static Batch collate(List<Encoded> items, int eot, boolean maskPrompt, int fixedLength) {
    if (items.isEmpty()) {
      throw new IllegalArgumentException("an empty batch");
    }
    int longest = 0;
    for (Encoded it : items) {
      if (it.tokens().length < 2) {
        throw new IllegalArgumentException("a sequence needs at least 2 tokens, got "
            + it.tokens().length);
      }
      longest = Math.max(longest, it.tokens().length - 1);
    }
    if (fixedLength < 0 || (fixedLength > 0 && fixedLength < longest)) {
      throw new IllegalArgumentException("fixed length " + fixedLength + " is shorter than the"
          + " longest sequence of the batch (" + longest + " inputs)");
    }
    int t = fixedLength > 0 ? fixedLength : longest;
    int b = items.size();
    int[] inputs = new int[b * t];
    int[] targets = new int[b * t];
    Arrays.fill(inputs, eot);
    Arrays.fill(targets, SoftmaxOps.IGNORE_INDEX);
    for (int i = 0; i < b; i++) {
      int[] s = items.get(i).tokens();
      int from = maskPrompt ? items.get(i).promptLength() - 1 : 0;
      for (int j = 0; j < s.length - 1; j++) {
        inputs[i * t + j] = s[j];
        if (j >= from) {
          targets[i * t + j] = s[j + 1];
        }
      }
    }
    return new Batch(inputs, targets, b, t);
  }
}
