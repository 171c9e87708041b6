package dev.fuselm.data;

import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;

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
  private final long seed;
  private final EpochOrder order;

  public MlmBatches(MlmDataset data, MlmMasking masking, int b, boolean shuffle, long seed) {
    if (b <= 0) {
      throw new IllegalArgumentException("--batch must be positive, got " + b);
    }
    this.data = data;
    this.masking = masking;
    this.b = b;
    this.seed = seed;
    if (data.size() / b == 0) {
      throw new IllegalArgumentException("the data makes " + data.size() + " sequences of "
          + data.seqLen() + " tokens: too few for one batch of " + b
          + " (use a smaller --batch or --seq-len, or more data)");
    }
    this.order = new EpochOrder(data.size(), b, shuffle, e -> MlmDataset.mix(seed, e, 0, 3));
  }

  public int batchesPerEpoch() {
    return order.batchesPerEpoch();
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
    return order.position();
  }

  public void seek(long epoch, long batch) {
    order.seek(epoch, batch);
  }

  /** Fills out with the next batch and advances. */
  public void next(Batch out) {
    fill(out, order.epoch(), order::item);
    order.advance();
  }

  /**
   * Fills out with batch k of epoch 0 in data order, without moving the position: the fixed
   * batches of a validation set (the same masks at every evaluation).
   */
  public void fixed(Batch out, int k) {
    if (k < 0 || k >= order.batchesPerEpoch()) {
      throw new IndexOutOfBoundsException("batch " + k + " of " + order.batchesPerEpoch());
    }
    fill(out, 0, r -> k * b + r);
  }

  /** Fills out with the examples rowItem(0 .. b-1), masked for epoch e. */
  private void fill(Batch out, long e, IntUnaryOperator rowItem) {
    if (out.b != b || out.t != data.seqLen()) {
      throw new IllegalArgumentException("batch buffer is (" + out.b + ", " + out.t
          + "), expected (" + b + ", " + data.seqLen() + ")");
    }
    int t = data.seqLen();
    for (int r = 0; r < b; r++) {
      int i = rowItem.applyAsInt(r);
      int[] info = data.fill(i, e, seed, out.ids, out.typeIds, out.attentionMask, r * t);
      if (out.nextSentenceLabels != null) {
        out.nextSentenceLabels[r] = info[1];
      }
      SplittableRandom rng = new SplittableRandom(MlmDataset.mix(seed, e, i, 2));
      masking.apply(out.ids, out.labels, r * t, t, rng); // padding is special: never chosen
    }
  }
}
