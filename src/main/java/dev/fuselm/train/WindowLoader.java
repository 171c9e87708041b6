package dev.fuselm.train;

import java.util.SplittableRandom;

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
  private final boolean shuffle;
  private final long seed;
  private final int windows;
  private final int batchesPerEpoch;
  private int[] order;
  private long epoch;
  private int batch;

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
    this.shuffle = shuffle;
    this.seed = seed;
    int n = to - from;
    this.windows = n >= t + 1 ? (n - t - 1) / stride + 1 : 0;
    this.batchesPerEpoch = windows / b;
    if (batchesPerEpoch == 0) {
      throw new IllegalArgumentException("the training data has " + n + " tokens: too few for one"
          + " batch of " + b + " windows of " + (t + 1) + " tokens at stride " + stride
          + " (use a smaller --batch or --ctx, or more data)");
    }
    seek(0, 0);
  }

  public int batchesPerEpoch() {
    return batchesPerEpoch;
  }

  public int windows() {
    return windows;
  }

  /** {epoch, batch index within the epoch} of the next batch. */
  public long[] position() {
    return new long[] {epoch, batch};
  }

  public void seek(long epoch, long batch) {
    if (batch < 0 || batch >= batchesPerEpoch || epoch < 0) {
      throw new IllegalArgumentException("data position (epoch " + epoch + ", batch " + batch
          + ") is outside this data set of " + batchesPerEpoch + " batches per epoch");
    }
    if (order == null || this.epoch != epoch) {
      order = order(epoch);
    }
    this.epoch = epoch;
    this.batch = (int) batch;
  }

  private int[] order(long e) {
    int[] o = new int[windows];
    for (int i = 0; i < windows; i++) {
      o[i] = i;
    }
    if (shuffle) {
      SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e);
      for (int i = windows - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int tmp = o[i];
        o[i] = o[j];
        o[j] = tmp;
      }
    }
    return o;
  }

  /** Fills x and y (B*T each) with the next batch and advances. */
  public void next(int[] x, int[] y) {
    for (int i = 0; i < b; i++) {
      int start = from + order[batch * b + i] * stride;
      System.arraycopy(tokens, start, x, i * t, t);
      System.arraycopy(tokens, start + 1, y, i * t, t);
    }
    batch++;
    if (batch == batchesPerEpoch) {
      batch = 0;
      epoch++;
      order = order(epoch);
    }
  }
}
