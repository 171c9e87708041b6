package dev.fuselm.train;

import dev.fuselm.nn.Dropout;

/**
 * One rank's share of every global batch in a data-parallel run, and the arithmetic that makes the
 * ranks' gradients and losses add up to those of the one-process run.
 *
 * <p>Rows: a global batch of B rows (the one a one-process run takes, in the same data order) is
 * cut into {@code size} contiguous shares whose lengths differ by at most one, the first {@code B
 * % size} ranks taking one more: rank r holds rows [{@link #from}, {@link #from} + {@link #rows}).
 * A batch shorter than the process count (the last partial batch of a fine-tuning epoch, or a
 * world larger than the batch) leaves some ranks with no rows; they skip the forward and backward
 * pass and contribute zero.
 *
 * <p>Weights: a task's loss is a mean over loss terms (tokens with a target, masked positions,
 * examples) of the global batch. A rank computes the mean over its own n terms; scaled by {@link
 * #fraction}(n, N) = n / N, where N is the global batch's count (every rank reads the whole global
 * batch, so it knows N without communicating), the ranks' gradients and loss shares <em>sum</em>
 * to the global mean's. The engine all-reduces those sums (the gradient slab in float, the loss
 * terms in double). The one-process group's fraction is exactly 1 and its callers skip the scaling,
 * so single-process numerics are unchanged.
 */
public final class BatchShare {
  private static final BatchShare SINGLE = new BatchShare(0, 1);

  private final int rank;
  private final int size;

  public BatchShare(int rank, int size) {
    if (size < 1 || rank < 0 || rank >= size) {
      throw new IllegalArgumentException("rank " + rank + " is not in a group of " + size);
    }
    this.rank = rank;
    this.size = size;
  }

  /** Rank 0 of 1: the whole batch, fraction 1. */
  public static BatchShare single() {
    return SINGLE;
  }

  public int rank() {
    return rank;
  }

  public int size() {
    return size;
  }

  /** Whether this is a share of a data-parallel run (more than one process). */
  public boolean sharded() {
    return size > 1;
  }

  /** The first row of this rank's share of a batch of batchRows rows. */
  public int from(int batchRows) {
    check(batchRows);
    int base = batchRows / size, extra = batchRows % size;
    return rank * base + Math.min(rank, extra);
  }

  /** The number of rows of this rank's share of a batch of batchRows rows (may be 0). */
  public int rows(int batchRows) {
    check(batchRows);
    return batchRows / size + (rank < batchRows % size ? 1 : 0);
  }

  /**
   * This rank's rows of a row-major (batchRows, width) array; the array itself for one process
   * (null stays null).
   */
  public int[] slice(int[] a, int batchRows, int width) {
    if (a == null || !sharded()) {
      return a;
    }
    if (a.length != (long) batchRows * width) {
      throw new IllegalArgumentException(a.length + " entries are not " + batchRows + " rows of "
          + width);
    }
    int[] out = new int[rows(batchRows) * width];
    System.arraycopy(a, from(batchRows) * width, out, 0, out.length);
    return out;
  }

  /**
   * The factor of a share of local of the global batch's total loss terms: local / total, 0 when
   * the batch has none (its loss is 0 then, as the one-process run's mean over nothing).
   */
  public static double fraction(long local, long total) {
    if (local < 0 || local > total) {
      throw new IllegalArgumentException("a share of " + local + " of " + total + " loss terms");
    }
    return total == 0 ? 0 : (double) local / total;
  }

  /**
   * The dropout seed of this rank from the one-process run's seed base: base itself for one
   * process; with several, each rank mixes its rank in. Dropout masks are a function of the seed
   * and the element index within the batch a process sees, so ranks sharing a seed would draw the
   * same masks for their row 0, 1, ...: correlated noise across the global batch. A run with
   * dropout over N processes is therefore equally valid but not equal to the one-process run (nor
   * to a run over another N); without dropout the seed does not matter.
   */
  public long dropoutSeed(long base) {
    return sharded() ? Dropout.mixSeed(base, rank, size) : base;
  }

  private static void check(int batchRows) {
    if (batchRows < 0) {
      throw new IllegalArgumentException("a batch of " + batchRows + " rows");
    }
  }

  @Override
  public String toString() {
    return "rank " + rank + " of " + size;
  }
}
