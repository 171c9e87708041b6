package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link GptModel#forwardCached} over a {@link KvCache} against the full forward pass. */
class KvCacheTest {
  static ComputeContext ctx;
  static GptModel model;
  static final GptConfig C = GptConfig.of(37, 16, 32, 2, 4);

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
    model = GptModel.random(ctx, C, 11);
    float[] w = model.tokenEmbedding().toFloatArray();
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30; // logits that differ clearly between tokens
    }
    model.tokenEmbedding().copyFrom(w);
  }

  @AfterAll
  static void close() {
    model.close();
    ctx.close();
  }

  static int[] tokens(Random r, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(C.vocabSize());
    }
    return t;
  }

  @Test
  void aPromptFedTokenByTokenGivesTheLogitsOfTheFullForward() {
    int[] seq = tokens(new Random(2), 13);
    int v = C.vocabSize();
    model.forward(seq, null, 1, seq.length);
    float[] full = model.logits().toFloatArray();
    try (KvCache cache = KvCache.create(model, 2, C.contextLength(), DType.FLOAT32)) {
      int slot = 1;
      for (int p = 0; p < seq.length; p++) {
        float[] got = model.forwardCached(cache, new int[] {slot}, new int[] {p},
            new int[] {seq[p]}).toFloatArray();
        assertEquals(p + 1, cache.length(slot));
        for (int i = 0; i < v; i++) {
          float want = full[p * v + i];
          assertEquals(want, got[i], 1e-4 + 1e-4 * Math.abs(want), "position " + p + " logit " + i);
        }
      }
      assertEquals(0, cache.length(0), "the other slot is untouched");
      // a prefill of the whole prompt gives the last position's logits in one call
      float[] prefill = model.forwardCached(cache, new int[] {0}, new int[] {0}, seq)
          .toFloatArray();
      for (int i = 0; i < v; i++) {
        float want = full[(seq.length - 1) * v + i];
        assertEquals(want, prefill[i], 1e-4 + 1e-4 * Math.abs(want), "prefill logit " + i);
      }
    }
  }

  @Test
  void aBatchedStepGivesEachRowTheBitsOfThatRowAlone() {
    Random r = new Random(4);
    int n = 3;
    int v = C.vocabSize();
    try (KvCache cache = KvCache.create(model, n, C.contextLength(), DType.BFLOAT16)) {
      int[] slots = {2, 0, 1};
      int[] positions = new int[n];
      int[] next = tokens(r, n);
      for (int i = 0; i < n; i++) {
        int[] prompt = tokens(r, 2 + 3 * i);
        model.forwardCached(cache, new int[] {slots[i]}, new int[] {0}, prompt);
        positions[i] = prompt.length;
      }
      float[] batched = model.forwardCached(cache, slots, positions, next).toFloatArray();
      for (int i = 0; i < n; i++) {
        float[] alone = model.forwardCached(cache, new int[] {slots[i]},
            new int[] {positions[i]}, new int[] {next[i]}).toFloatArray();
        assertArrayEquals(alone, Arrays.copyOfRange(batched, i * v, (i + 1) * v), "row " + i);
      }
      assertTrue(model.bf16WeightBytes() > 0, "bf16 decoding uses the layers' copies");
    }
  }

  @Test
  void bf16DecodingFollowsWeightChangesThroughTheLayersCopies() {
    GptConfig c = GptConfig.of(37, 16, 32, 2, 4).withTiedHead(false);
    int[] prompt = {5, 3, 9, 1};
    try (GptModel a = GptModel.random(ctx, c, 1); GptModel b = GptModel.random(ctx, c, 2);
        KvCache ca = KvCache.create(a, 1, c.contextLength(), DType.BFLOAT16);
        KvCache cb = KvCache.create(b, 1, c.contextLength(), DType.BFLOAT16)) {
      float[] want = b.forwardCached(cb, new int[] {0}, new int[] {0}, prompt).toFloatArray();
      a.forwardCached(ca, new int[] {0}, new int[] {0}, prompt); // rounds a's weights
      a.params().flat().copyFrom(b.params().flat());
      float[] stale = a.forwardCached(ca, new int[] {0}, new int[] {0}, prompt).toFloatArray();
      assertFalse(Arrays.equals(want, stale), "the matrix copies are rounded again only when told");
      a.weightsChanged();
      float[] got = a.forwardCached(ca, new int[] {0}, new int[] {0}, prompt).toFloatArray();
      assertArrayEquals(want, got, "after weightsChanged() the copies hold the new weights");
      long d = c.dModel();
      long matrices = 12 * d * d * c.nLayer() + c.vocabSize() * d; // block linears, untied head
      assertEquals(2 * matrices, a.bf16WeightBytes());
    }
  }

  @Test
  void badStepsAreRefusedWithClearErrors() {
    try (KvCache cache = KvCache.create(model, 2, 4, DType.FLOAT32)) {
      assertThrows(IllegalArgumentException.class, () -> model.forwardCached(cache,
          new int[] {0}, new int[] {1}, new int[] {1}), "a gap after an empty slot");
      assertThrows(IllegalArgumentException.class, () -> model.forwardCached(cache,
          new int[] {2}, new int[] {0}, new int[] {1}), "no such slot");
      assertThrows(IllegalArgumentException.class, () -> model.forwardCached(cache,
          new int[] {0}, new int[] {0}, new int[] {1, 2, 3, 4, 5}), "more rows than the scratch");
      assertThrows(IllegalArgumentException.class, () -> model.forwardCached(cache,
          new int[] {0, 0}, new int[] {0, 0}, new int[] {1, 2}), "a slot twice");
      assertThrows(IllegalArgumentException.class, () -> model.forwardCached(cache,
          new int[] {0}, new int[] {0}, new int[] {C.vocabSize()}), "a token outside the vocab");
    }
    assertThrows(IllegalArgumentException.class,
        () -> KvCache.create(model, 1, 1, DType.INT32));
    try (GptModel half = GptModel.createWithBf16Matrices(ctx, C)) {
      assertThrows(IllegalArgumentException.class,
          () -> KvCache.create(half, 1, 1, DType.FLOAT32), "bf16 matrices decode in bf16 only");
    }
  }
}
