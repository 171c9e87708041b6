package dev.fuselm.data;

import java.util.SplittableRandom;

/**
 * Masked batches of B examples from an {@link MlmDataset}. An epoch is every full batch (a last
 * partial one is dropped), in order or in a seeded per-epoch shuffle; example i of epoch e is
 * masked with a random source seeded from (seed, e, i), so the batch at a position is the same
 * whenever it is built. The position (epoch, batch) can be read and restored exactly, for resuming.
 */
public final class MlmBatches {
  /** One batch, row-major (B, T); nextSentenceLabels is null without sentence pairs. */
  public static final class Batch {
    public final int b, t;
    public final int[] ids, typeIds, attentionMask, labels, nextSentenceLabels;

    public Batch(int b, int t, boolean pairs) {
      this.b = b;
      this.t = t;
      ids = new int[b * t];
      typeIds = new int[b * t];
      attentionMask = new int[b * t];
      labels = new int[b * t];
      nextSentenceLabels = pairs ? new int[b] : null;
    }

    /** Positions whose label is not ignored. */
    public int maskedCount() {
      int n = 0;
      for (int y : labels) {
        n += y == MlmMasking.IGNORE ? 0 : 1;
      }
      return n;
    }
  }

  private final MlmDataset data;
  private final MlmMasking masking;
  private final int b;
  private final boolean shuffle;
  private final long seed;
  private final int batchesPerEpoch;
  private int[] order;
  private long epoch;
  private int batch;

  public MlmBatches(MlmDataset data, MlmMasking masking, int b, boolean shuffle, long seed) {
    if (b <= 0) {
      throw new IllegalArgumentException("--batch must be positive, got " + b);
    }
    this.data = data;
    this.masking = masking;
    this.b = b;
    this.shuffle = shuffle;
    this.seed = seed;
    this.batchesPerEpoch = data.size() / b;
    if (batchesPerEpoch == 0) {
      throw new IllegalArgumentException("the data makes " + data.size() + " sequences of "
          + data.seqLen() + " tokens: too few for one batch of " + b
          + " (use a smaller --batch or --seq-len, or more data)");
    }
    seek(0, 0);
  }

  public int batchesPerEpoch() {
    return batchesPerEpoch;
  }

  public MlmDataset dataset() {
    return data;
  }

  /** A batch buffer of the right shape for {@link #next}. */
  public Batch newBatch() {
    return new Batch(b, data.seqLen(), data.sentencePairs());
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
    int n = data.size();
    int[] o = new int[n];
    for (int i = 0; i < n; i++) {
      o[i] = i;
    }
    if (shuffle) {
      SplittableRandom r = new SplittableRandom(MlmDataset.mix(seed, e, 0, 3));
      for (int i = n - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int tmp = o[i];
        o[i] = o[j];
        o[j] = tmp;
      }
    }
    return o;
  }

  /** Fills out with the next batch and advances. */
  public void next(Batch out) {
    fill(out, epoch, batch, order);
    batch++;
    if (batch == batchesPerEpoch) {
      batch = 0;
      epoch++;
      order = order(epoch);
    }
  }

  /**
   * Fills out with batch k of epoch 0 in data order, without moving the position: the fixed
   * batches of a validation set (the same masks at every evaluation).
   */
  public void fixed(Batch out, int k) {
    if (k < 0 || k >= batchesPerEpoch) {
      throw new IndexOutOfBoundsException("batch " + k + " of " + batchesPerEpoch);
    }
    int[] identity = new int[data.size()];
    for (int i = 0; i < identity.length; i++) {
      identity[i] = i;
    }
    fill(out, 0, k, identity);
  }

  private void fill(Batch out, long e, int k, int[] ord) {
    if (out.b != b || out.t != data.seqLen()) {
      throw new IllegalArgumentException("batch buffer is (" + out.b + ", " + out.t
          + "), expected (" + b + ", " + data.seqLen() + ")");
    }
    int t = data.seqLen();
    for (int r = 0; r < b; r++) {
      int i = ord[k * b + r];
      int[] info = data.fill(i, e, seed, out.ids, out.typeIds, out.attentionMask, r * t);
      if (out.nextSentenceLabels != null) {
        out.nextSentenceLabels[r] = info[1];
      }
      SplittableRandom rng = new SplittableRandom(MlmDataset.mix(seed, e, i, 2));
      masking.apply(out.ids, out.labels, r * t, t, rng); // padding is special: never chosen
    }
  }
}
