package dev.fuselm.train;

import dev.fuselm.data.EpochOrder;

/**
 * Sliding-window language-model batches over token ids: window j starts at token j * stride, its
 * input is T ids and its target the same T ids shifted by one. An epoch is every full batch of B
 * windows (a last partial batch is dropped), in order or in a seeded per-epoch shuffle. The
 * position (epoch, batch) can be read and restored exactly, for resuming.
 */
public final class WindowLoader {
  private final int[] tokens;
  private final int from;
  private final int t;
  private final int b;
  private final int stride;
  private final int windows;
  private final EpochOrder order;

  /** Windows over tokens[from, to). */
  public WindowLoader(int[] tokens, int from, int to, int b, int t, int stride, boolean shuffle,
      long seed) {
    if (b <= 0 || t <= 0 || stride <= 0) {
      throw new IllegalArgumentException("batch, ctx and stride must be positive, got B=" + b
          + " T=" + t + " stride=" + stride);
    }
    this.tokens = tokens;
    this.from = from;
    this.t = t;
    this.b = b;
    this.stride = stride;
    int n = to - from;
    this.windows = n >= t + 1 ? (n - t - 1) / stride + 1 : 0;
    if (windows / b == 0) {
      throw new IllegalArgumentException("the training data has " + n + " tokens: too few for one"
          + " batch of " + b + " windows of " + (t + 1) + " tokens at stride " + stride
          + " (use a smaller --batch or --ctx, or more data)");
    }
    this.order = new EpochOrder(windows, b, shuffle, e -> seed * 0x9E3779B97F4A7C15L + e);
  }

  public int batchesPerEpoch() {
    return order.batchesPerEpoch();
  }

  public int windows() {
    return windows;
  }

  /** {epoch, batch index within the epoch} of the next batch. */
  public long[] position() {
    return order.position();
  }

  public void seek(long epoch, long batch) {
    order.seek(epoch, batch);
  }

  /** Fills x and y (B*T each) with the next batch and advances. */
  public void next(int[] x, int[] y) {
    for (int i = 0; i < b; i++) {
      int start = from + order.item(i) * stride;
      System.arraycopy(tokens, start, x, i * t, t);
      System.arraycopy(tokens, start + 1, y, i * t, t);
    }
    order.advance();
  }
}
