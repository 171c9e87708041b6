package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The shared epoch order of the training loaders: permutations, partial batch, exact seek. */
class EpochOrderTest {
  /** The items of one epoch (every batch of it), read through item() / advance(). */
  static int[] epoch(EpochOrder o, int b) {
    int[] items = new int[o.batchesPerEpoch() * b];
    for (int k = 0; k < o.batchesPerEpoch(); k++) {
      for (int r = 0; r < b; r++) {
        items[k * b + r] = o.item(r);
      }
      o.advance();
    }
    return items;
  }

  @Test
  void inOrderDropsThePartialBatchAndWraps() {
    EpochOrder o = new EpochOrder(11, 3, false, e -> e);
    assertEquals(3, o.batchesPerEpoch());
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, epoch(o, 3));
    assertArrayEquals(new long[] {1, 0}, o.position());
    assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, epoch(o, 3));
  }

  @Test
  void shuffledEpochsArePermutationsThatDifferAndSeekReproduces() {
    EpochOrder o = new EpochOrder(40, 4, true, e -> 1234 * 31 + e);
    int[] e0 = epoch(o, 4);
    int[] e1 = epoch(o, 4);
    int[] sorted = e0.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < sorted.length; i++) {
      assertEquals(i, sorted[i]);
    }
    assertNotEquals(Arrays.toString(e0), Arrays.toString(e1));
    // Resuming at (epoch 1, batch 3) on a fresh order gives what the original gave there.
    EpochOrder r = new EpochOrder(40, 4, true, e -> 1234 * 31 + e);
    r.seek(1, 3);
    assertArrayEquals(new long[] {1, 3}, r.position());
    for (int row = 0; row < 4; row++) {
      assertEquals(e1[3 * 4 + row], r.item(row));
    }
  }

  @Test
  void seekOutsideTheDataIsAPreciseError() {
    EpochOrder o = new EpochOrder(10, 5, false, e -> e);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> o.seek(0, 2));
    assertTrue(e.getMessage().contains("outside this data set of 2 batches per epoch"),
        e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> o.seek(-1, 0));
  }
}
