package dev.fuselm.data;

import java.util.SplittableRandom;
import java.util.function.LongUnaryOperator;

/**
 * Where a loader stands in its epochs: the examples of epoch e in data order or in a Fisher-Yates
 * shuffle seeded with shuffleSeed(e), cut into full batches of b (a last partial batch is
 * dropped), and the position (epoch, batch) of the next batch, which can be read and restored
 * exactly for resuming. The order depends on nothing else, so a restored position continues with
 * the batches the original would have produced.
 */
public final class EpochOrder {
  private final int items;
  private final int b;
  private final boolean shuffle;
  private final LongUnaryOperator shuffleSeed;
  private final int batchesPerEpoch;
  private int[] order;
  private long epoch;
  private int batch;

  /**
   * @param items examples per epoch; the caller checks that they make at least one batch of b
   * @param shuffleSeed the seed of epoch e's shuffle
   */
  public EpochOrder(int items, int b, boolean shuffle, LongUnaryOperator shuffleSeed) {
    this.items = items;
    this.b = b;
    this.shuffle = shuffle;
    this.shuffleSeed = shuffleSeed;
    this.batchesPerEpoch = items / b;
    seek(0, 0);
  }

  public int batchesPerEpoch() {
    return batchesPerEpoch;
  }

  /** {epoch, batch index within the epoch} of the next batch. */
  public long[] position() {
    return new long[] {epoch, batch};
  }

  public long epoch() {
    return epoch;
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

  /** The example in row r (0 &lt;= r &lt; b) of the next batch. */
  public int item(int r) {
    return order[batch * b + r];
  }

  /** Moves past the next batch (into the next epoch after the last one). */
  public void advance() {
    batch++;
    if (batch == batchesPerEpoch) {
      batch = 0;
      epoch++;
      order = order(epoch);
    }
  }

  private int[] order(long e) {
    int[] o = new int[items];
    for (int i = 0; i < items; i++) {
      o[i] = i;
    }
    if (shuffle) {
      SplittableRandom r = new SplittableRandom(shuffleSeed.applyAsLong(e));
      for (int i = items - 1; i > 0; i--) {
        int j = r.nextInt(i + 1);
        int tmp = o[i];
        o[i] = o[j];
        o[j] = tmp;
      }
    }
    return o;
  }
}
