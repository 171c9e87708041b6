package dev.fuselm.data;

/**
 * Language-model training windows over token ids, as in the book's chapter 2 ({@code GPTDatasetV1}):
 * window {@code i} starts at {@code i * stride}; its input is {@code contextLength} ids from there and its
 * target the same span shifted by one, so target position t is the id that follows input position t.
 * Windows start at {@code 0, stride, 2*stride, ...} while {@code start < size - contextLength}, which is
 * {@code ceil((size - contextLength) / stride)} windows (none if the sequence is not longer than the context).
 */
public final class SlidingWindowDataset {

  private final TokenSequence tokens;
  private final int contextLength;
  private final int stride;
  private final long size;

  public SlidingWindowDataset(TokenSequence tokens, int contextLength, int stride) {
    if (contextLength < 1 || stride < 1) {
      throw new IllegalArgumentException("context length and stride must be >= 1, got " + contextLength + " and " + stride);
    }
    this.tokens = tokens;
    this.contextLength = contextLength;
    this.stride = stride;
    long span = tokens.size() - contextLength;
    this.size = span <= 0 ? 0 : (span + stride - 1) / stride;
  }

  /** Number of windows. */
  public long size() {
    return size;
  }

  public int contextLength() {
    return contextLength;
  }

  public int stride() {
    return stride;
  }

  public TokenSequence tokens() {
    return tokens;
  }

  /** One input/target pair. */
  public record Window(int[] input, int[] target) {
  }

  public Window get(long index) {
    int[] in = new int[contextLength];
    int[] tg = new int[contextLength];
    copy(index, in, 0, tg, 0);
    return new Window(in, tg);
  }

  /** Copies window {@code index} into {@code input[inOff, inOff + T)} and {@code target[tgOff, tgOff + T)}. */
  public void copy(long index, int[] input, int inOff, int[] target, int tgOff) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException("window " + index + " of " + size);
    }
    long start = index * stride;
    tokens.copy(start, input, inOff, contextLength);
    tokens.copy(start + 1, target, tgOff, contextLength);
  }
}
