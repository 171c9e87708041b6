package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.data.FineTuningOrder;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The sharding arithmetic of data-parallel training: which rows each rank takes of a global batch
 * (uneven batches, the last partial batch of an epoch, a world larger than the batch), and the
 * weights that make the ranks' loss shares add up to the one-process mean.
 */
class BatchShareTest {
  @Test
  void sharesCoverEveryBatchOnceInOrderAndDifferByAtMostOneRow() {
    for (int size = 1; size <= 7; size++) {
      for (int b = 0; b <= 23; b++) {
        int next = 0, min = Integer.MAX_VALUE, max = 0;
        for (int r = 0; r < size; r++) {
          BatchShare s = new BatchShare(r, size);
          assertEquals(next, s.from(b), "rank " + r + " of " + size + ", batch " + b);
          next += s.rows(b);
          min = Math.min(min, s.rows(b));
          max = Math.max(max, s.rows(b));
        }
        assertEquals(b, next, "the shares of " + size + " ranks cover a batch of " + b);
        assertTrue(max - min <= 1, "balanced: " + min + ".." + max);
      }
    }
  }

  @Test
  void unevenBatchGivesTheFirstRanksOneMore() {
    assertEquals(3, new BatchShare(0, 2).rows(5));
    assertEquals(2, new BatchShare(1, 2).rows(5));
    assertEquals(3, new BatchShare(1, 2).from(5));
    int[] rows = new int[4];
    for (int r = 0; r < 4; r++) {
      rows[r] = new BatchShare(r, 4).rows(10);
    }
    assertArrayEquals(new int[] {3, 3, 2, 2}, rows);
  }

  @Test
  void worldLargerThanTheBatchLeavesTheLastRanksEmpty() {
    int[] rows = new int[5];
    int[] from = new int[5];
    for (int r = 0; r < 5; r++) {
      rows[r] = new BatchShare(r, 5).rows(2);
      from[r] = new BatchShare(r, 5).from(2);
    }
    assertArrayEquals(new int[] {1, 1, 0, 0, 0}, rows);
    assertArrayEquals(new int[] {0, 1, 2, 2, 2}, from);
    assertEquals(0, new BatchShare(3, 5).slice(new int[] {7, 8, 9, 10}, 2, 2).length);
  }

  @Test
  void lastPartialBatchOfAnEpochIsSharedToo() {
    // 10 examples in batches of 4: 4, 4, 2; over 3 ranks the last batch is 1, 1, 0
    FineTuningOrder order = new FineTuningOrder(10, 4, 1);
    int[] sizes = new int[3];
    for (int k = 0; k < 3; k++) {
      sizes[k] = order.nextBatch().length;
    }
    assertArrayEquals(new int[] {4, 4, 2}, sizes);
    Set<Integer> seen = new HashSet<>();
    for (int r = 0; r < 3; r++) {
      BatchShare s = new BatchShare(r, 3);
      assertEquals(r < 2 ? 1 : 0, s.rows(2));
      for (int i = s.from(2); i < s.from(2) + s.rows(2); i++) {
        assertTrue(seen.add(i));
      }
    }
    assertEquals(Set.of(0, 1), seen);
  }

  @Test
  void sliceTakesTheRanksRowsOfARowMajorArray() {
    int[] a = {0, 1, 10, 11, 20, 21, 30, 31, 40, 41}; // 5 rows of 2
    assertArrayEquals(new int[] {0, 1, 10, 11, 20, 21}, new BatchShare(0, 2).slice(a, 5, 2));
    assertArrayEquals(new int[] {30, 31, 40, 41}, new BatchShare(1, 2).slice(a, 5, 2));
    assertSame(a, BatchShare.single().slice(a, 5, 2), "one process: the array itself");
    assertEquals(null, new BatchShare(1, 2).slice(null, 5, 2));
    assertThrows(IllegalArgumentException.class, () -> new BatchShare(0, 2).slice(a, 4, 2));
  }

  /**
   * Rows with different numbers of real targets (padding, -100 masks): each rank's mean over its
   * own targets times fraction(its targets, all targets) sums to the one-process mean over all
   * targets, for any world size; the mean of the ranks' means would not.
   */
  @Test
  void weightedSharesSumToTheGlobalMeanWhenTargetCountsDiffer() {
    Random rnd = new Random(7);
    int b = 7;
    int[] targets = new int[b];
    double[][] losses = new double[b][];
    double total = 0;
    long count = 0;
    for (int i = 0; i < b; i++) {
      targets[i] = i == 3 ? 0 : 1 + rnd.nextInt(12); // row 3: every target masked
      losses[i] = new double[targets[i]];
      for (int j = 0; j < targets[i]; j++) {
        losses[i][j] = rnd.nextDouble() * 5;
        total += losses[i][j];
      }
      count += targets[i];
    }
    double globalMean = total / count;
    for (int size = 1; size <= 9; size++) {
      double sum = 0, meanOfMeans = 0;
      int ranksWithTargets = 0;
      for (int r = 0; r < size; r++) {
        BatchShare s = new BatchShare(r, size);
        double local = 0;
        long n = 0;
        for (int i = s.from(b); i < s.from(b) + s.rows(b); i++) {
          for (double l : losses[i]) {
            local += l;
          }
          n += targets[i];
        }
        if (n > 0) { // a share without targets skips its pass and adds 0
          sum += local / n * BatchShare.fraction(n, count);
          meanOfMeans += local / n;
          ranksWithTargets++;
        }
      }
      assertEquals(globalMean, sum, 1e-12, size + " ranks");
      if (size == 2) {
        assertNotEquals(globalMean, meanOfMeans / ranksWithTargets, 1e-3,
            "the mean of the shares' means is not the global mean here");
      }
    }
  }

  @Test
  void fractionOfNothingIsZeroAndBadCountsAreRefused() {
    assertEquals(0.0, BatchShare.fraction(0, 0));
    assertEquals(1.0, BatchShare.fraction(5, 5));
    assertEquals(0.25, BatchShare.fraction(1, 4));
    assertThrows(IllegalArgumentException.class, () -> BatchShare.fraction(5, 4));
    assertThrows(IllegalArgumentException.class, () -> BatchShare.fraction(-1, 4));
  }

  @Test
  void oneProcessKeepsItsDropoutSeedAndRanksGetTheirOwn() {
    assertEquals(1234L, BatchShare.single().dropoutSeed(1234L));
    Set<Long> seeds = new HashSet<>();
    for (int r = 0; r < 4; r++) {
      seeds.add(new BatchShare(r, 4).dropoutSeed(1234L));
    }
    assertEquals(4, seeds.size());
    assertEquals(new BatchShare(2, 4).dropoutSeed(99L), new BatchShare(2, 4).dropoutSeed(99L));
  }

  @Test
  void ranksOutsideTheGroupAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new BatchShare(2, 2));
    assertThrows(IllegalArgumentException.class, () -> new BatchShare(-1, 2));
    assertThrows(IllegalArgumentException.class, () -> new BatchShare(0, 0));
    assertThrows(IllegalArgumentException.class, () -> new BatchShare(0, 2).rows(-1));
  }
}
