package dev.fuselm.data;

/**
 * Batches of windows for training: a seeded shuffle per epoch, optional drop-last, and an exact position
 * that can be saved and restored to resume training where it stopped.
 *
 * <p>The order of epoch {@code e} is a Fisher-Yates permutation drawn from SplitMix64 seeded with
 * {@code seed} and {@code e}: it depends on nothing else (no wall clock, no JDK random algorithm), so
 * {@link #restore(Position)} on a fresh loader with the same dataset, batch size and seed continues with
 * exactly the batches the original would have produced. {@link #next()} never ends: after the last batch
 * of an epoch the next epoch starts (with its own order).
 *
 * <p>Not thread-safe; one loader per training loop. The permutation is an {@code int[]}, so a dataset may
 * hold up to 2^31 - 1 windows.
 */
public final class BatchLoader {

  private final SlidingWindowDataset dataset;
  private final int batchSize;
  private final boolean shuffle;
  private final boolean dropLast;
  private final long seed;
  private final long batchesPerEpoch;

  private int[] order;        // window indices of the current epoch (null: identity, when not shuffling)
  private int epoch;
  private long batch;         // index of the next batch within the epoch

  /** A loader's exact place: the next batch is batch {@code batch} of epoch {@code epoch}. */
  public record Position(long seed, int epoch, long batch) {
    /** As three longs, for a checkpoint's training state. */
    public long[] toLongs() {
      return new long[] {seed, epoch, batch};
    }

    public static Position fromLongs(long[] v) {
      if (v.length != 3) {
        throw new IllegalArgumentException("a loader position is 3 numbers (seed, epoch, batch), got " + v.length);
      }
      return new Position(v[0], Math.toIntExact(v[1]), v[2]);
    }
  }

  /**
   * One batch: {@code inputs} and {@code targets} are {@code [batchSize, contextLength]} row-major;
   * {@code windows} are the dataset indices of the rows.
   */
  public record Batch(int[] inputs, int[] targets, int batchSize, int contextLength, long[] windows) {
  }

  public BatchLoader(SlidingWindowDataset dataset, int batchSize, boolean shuffle, boolean dropLast, long seed) {
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
    }
    if (dataset.size() > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("dataset has " + dataset.size() + " windows; the loader takes at most 2^31 - 9 (use a larger stride)");
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    long n = dataset.size();
    this.batchesPerEpoch = dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    if (batchesPerEpoch == 0) {
      throw new IllegalArgumentException("dataset has " + n + " windows, not enough for one batch of " + batchSize
          + (dropLast ? " with drop-last" : ""));
    }
    startEpoch(0);
  }

  public long batchesPerEpoch() {
    return batchesPerEpoch;
  }

  public SlidingWindowDataset dataset() {
    return dataset;
  }

  public Position position() {
    return new Position(seed, epoch, batch);
  }

  /** Continues from {@code p}, which must come from a loader with the same seed. */
  public void restore(Position p) {
    if (p.seed() != seed) {
      throw new IllegalArgumentException("position was taken with seed " + p.seed() + ", this loader uses " + seed);
    }
    if (p.epoch() < 0 || p.batch() < 0 || p.batch() > batchesPerEpoch) {
      throw new IllegalArgumentException("position " + p + " is outside this loader (" + batchesPerEpoch + " batches per epoch)");
    }
    startEpoch(p.epoch());
    batch = p.batch();
  }

  /** The next batch; at the end of an epoch the next epoch begins. */
  public Batch next() {
    if (batch == batchesPerEpoch) {
      startEpoch(epoch + 1);
    }
    long first = batch * batchSize;
    int rows = (int) Math.min(batchSize, dataset.size() - first);
    int t = dataset.contextLength();
    int[] in = new int[rows * t];
    int[] tg = new int[rows * t];
    long[] windows = new long[rows];
    for (int r = 0; r < rows; r++) {
      long w = order == null ? first + r : order[(int) (first + r)];
      windows[r] = w;
      dataset.copy(w, in, r * t, tg, r * t);
    }
    batch++;
    return new Batch(in, tg, rows, t, windows);
  }

  private void startEpoch(int e) {
    epoch = e;
    batch = 0;
    if (!shuffle) {
      order = null;
      return;
    }
    int n = (int) dataset.size();
    if (order == null || order.length != n) {
      order = new int[n];
    }
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    long state = seed ^ (0x9E3779B97F4A7C15L * (e + 1L));
    for (int i = n - 1; i > 0; i--) {
      state += 0x9E3779B97F4A7C15L;
      int j = (int) Long.remainderUnsigned(mix(state), i + 1L);
      int tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
  }

  /** SplitMix64's output function. */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  @Override
  public String toString() {
    return "BatchLoader[" + dataset.size() + " windows, batch " + batchSize + ", shuffle " + shuffle + ", dropLast "
        + dropLast + ", " + position() + "]";
  }
}
