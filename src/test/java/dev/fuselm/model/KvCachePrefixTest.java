package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * KvCache.copyPrefix and the cached forward with a count per slot: a prompt's positions computed
 * in pieces (a copied prefix, then the rest) or next to other prompts have exactly the bits of the
 * prompt prefilled alone, as long as both runs stay on the same GEMM path (more than
 * MAX_DECODE_ROWS rows, or at most that many). C = 128: at C = 48 the two paths happen to agree.
 */
class KvCachePrefixTest {
  static final GptConfig CFG = GptConfig.of(97, 64, 128, 2, 4);

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32", "BFLOAT16"})
  void piecesAndNeighboursGiveTheBitsOfOnePrefill(DType w) {
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, CFG, 3);
        KvCache kv = KvCache.create(m, 3, 64, w)) {
      Random r = new Random(1);
      int[] p = new int[40];
      for (int i = 0; i < p.length; i++) {
        p[i] = r.nextInt(CFG.vocabSize());
      }
      float[] full = m.forwardCached(kv, new int[] {0}, new int[] {0}, p).toFloatArray();
      for (int split : new int[] {31, 25, 1}) { // rests of 9 (the fewest packed rows), 15, 39
        kv.copyPrefix(0, 1, split);
        assertEquals(split, kv.length(1));
        float[] rest = m.forwardCached(kv, new int[] {1}, new int[] {split},
            Arrays.copyOfRange(p, split, p.length)).toFloatArray();
        assertArrayEquals(full, rest, "prefix of " + split + " copied, the rest computed");
      }
      // the same prompt next to a 12-token one (both packed), and two short ones (8 rows in all)
      float[] alone12 = m.forwardCached(kv, new int[] {2}, new int[] {0}, Arrays.copyOf(p, 12))
          .toFloatArray();
      int[] both = new int[52];
      System.arraycopy(p, 0, both, 0, 40);
      System.arraycopy(p, 0, both, 40, 12);
      float[] two = m.forwardCached(kv, new int[] {1, 2}, new int[] {0, 0}, new int[] {40, 12},
          both).toFloatArray();
      assertArrayEquals(full, Arrays.copyOf(two, 97));
      assertArrayEquals(alone12, Arrays.copyOfRange(two, 97, 194));
      float[] alone3 = m.forwardCached(kv, new int[] {0}, new int[] {0}, Arrays.copyOf(p, 3))
          .toFloatArray();
      float[] alone5 = m.forwardCached(kv, new int[] {1}, new int[] {0}, Arrays.copyOf(p, 5))
          .toFloatArray();
      int[] shorts = new int[8];
      System.arraycopy(p, 0, shorts, 0, 3);
      System.arraycopy(p, 0, shorts, 3, 5);
      float[] small = m.forwardCached(kv, new int[] {0, 1}, new int[] {0, 0}, new int[] {3, 5},
          shorts).toFloatArray();
      assertArrayEquals(alone3, Arrays.copyOf(small, 97));
      assertArrayEquals(alone5, Arrays.copyOfRange(small, 97, 194));
      assertEquals(3, kv.length(0));
      assertEquals(5, kv.length(1));
    }
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32"})
  void badCopiesAndCountsAreRefused(DType w) {
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, CFG, 3);
        KvCache kv = KvCache.create(m, 2, 64, w)) {
      assertThrows(IllegalArgumentException.class, () -> kv.copyPrefix(0, 1, 1)); // holds 0
      assertThrows(IllegalArgumentException.class, () -> kv.copyPrefix(0, 2, 0));
      assertThrows(IllegalArgumentException.class, () -> m.forwardCached(kv, new int[] {0, 1},
          new int[] {0, 0}, new int[] {2, 0}, new int[] {1, 2}));
      assertThrows(IllegalArgumentException.class, () -> m.forwardCached(kv, new int[] {0, 1},
          new int[] {0, 0}, new int[] {2, 2}, new int[] {1, 2, 3}));
      assertThrows(IllegalArgumentException.class, () -> m.forwardCached(kv, new int[] {0},
          new int[] {0}, new int[] {65}, new int[65]));
    }
  }
}
