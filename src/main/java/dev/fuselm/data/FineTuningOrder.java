package dev.fuselm.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The example order of a fine-tuning run: epochs of batches over n examples, the list reshuffled
 * in place with one {@code Random(seed)} at the start of every epoch (what the fine-tuning loops
 * have always done). The position (epoch, next batch) is all a resume needs: {@link #seek}
 * replays the shuffles. Unlike {@link EpochOrder} (pretraining windows and MLM batches: a fresh
 * seeded shuffle per epoch, the last partial batch dropped) the last batch of an epoch may be short,
 * as the fine-tuning loops have always had it; the two stay separate so old runs replay bit for bit.
 */
public final class FineTuningOrder {
  private final int n;
  private final int batch;
  private final long seed;
  private List<Integer> order;
  private Random rng;
  private int epoch;
  private int next;

  public FineTuningOrder(int n, int batch, long seed) {
    if (n < 1 || batch < 1) {
      throw new IllegalArgumentException("need at least one example and a positive batch, got "
          + n + " examples and batch " + batch);
    }
    this.n = n;
    this.batch = batch;
    this.seed = seed;
    seek(0, 0);
  }

  public int batchesPerEpoch() {
    return (n + batch - 1) / batch;
  }

  /** The epoch of the last batch handed out (1-based; 0 before the first). */
  public int epoch() {
    return epoch;
  }

  /** Whether the last batch handed out ended its epoch. */
  public boolean epochDone() {
    return epoch > 0 && next == batchesPerEpoch();
  }

  /** Whether the next batch starts a new epoch. */
  public boolean startsEpoch() {
    return epoch == 0 || next == batchesPerEpoch();
  }

  /** The example indices of the next batch (a new epoch reshuffles first). */
  public int[] nextBatch() {
    if (startsEpoch()) {
      Collections.shuffle(order, rng);
      epoch++;
      next = 0;
    }
    int s = next * batch;
    int e = Math.min(n, s + batch);
    int[] out = new int[e - s];
    for (int i = s; i < e; i++) {
      out[i - s] = order.get(i);
    }
    next++;
    return out;
  }

  /** {epoch, batches of it handed out}. */
  public long[] position() {
    return new long[] {epoch, next};
  }

  /** Restores a {@link #position()}: replays the shuffles of the epochs begun. */
  public void seek(long epoch, long batchInEpoch) {
    if (epoch < 0 || batchInEpoch < 0 || batchInEpoch > batchesPerEpoch()
        || (epoch == 0 && batchInEpoch != 0)) {
      throw new IllegalArgumentException("no data position (" + epoch + ", " + batchInEpoch
          + ") in epochs of " + batchesPerEpoch() + " batches");
    }
    order = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      order.add(i);
    }
    rng = new Random(seed);
    for (long k = 0; k < epoch; k++) {
      Collections.shuffle(order, rng);
    }
    this.epoch = (int) epoch;
    this.next = (int) batchInEpoch;
  }
}
