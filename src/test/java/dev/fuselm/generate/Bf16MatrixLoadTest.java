package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.NativeBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models loaded for bf16 decoding only ({@link Checkpoint#loadBf16Matrices}): the block
 * matrices are read straight into bf16, decode the same bits as bf16 copies of a float32 model, and
 * take less native memory.
 */
class Bf16MatrixLoadTest {
  // T = 40 with 25-token prompts and 20 new tokens: some generations reach the context's end
  static final GptConfig CFG = GptConfig.of(53, 40, 48, 3, 4);

  static GptModel model(ComputeContext ctx) {
    GptModel m = GptModel.random(ctx, CFG, 31);
    float[] w = m.tokenEmbedding().toFloatArray(); // clear-cut greedy choices
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30;
    }
    m.tokenEmbedding().copyFrom(w);
    return m;
  }

  static int[] prompt(Random r, int len) {
    int[] p = new int[len];
    for (int i = 0; i < len; i++) {
      p[i] = r.nextInt(CFG.vocabSize());
    }
    return p;
  }

  @Test
  void decodesTheBitsOfBf16CopiesOfTheFloat32ModelWithLessMemory(@TempDir Path dir)
      throws Exception {
    try (ComputeContext ctx = ComputeContext.create()) {
      try (GptModel m = model(ctx)) {
        Checkpoint.save(ModelFamily.GPT2, m, dir);
      }
      long before = NativeBuffer.liveBytes();
      long fp32Bytes;
      int[] tokens = prompt(new Random(3), 30);
      float[][] wantLogits;
      Result[] want = new Result[6];
      try (GptModel full = Checkpoint.load(ctx, dir, ModelFamily.GPT2)) {
        fp32Bytes = NativeBuffer.liveBytes() - before;
        try (Generator g = new Generator(full, 1, DType.BFLOAT16)) {
          wantLogits = g.cachedLogits(tokens, 7);
          Random r = new Random(4);
          for (int i = 0; i < want.length; i++) {
            want[i] = g.generate(prompt(r, 1 + r.nextInt(25)), GenerationConfig.greedy(20), null);
          }
        }
      }
      assertEquals(before, NativeBuffer.liveBytes());
      try (GptModel half = Checkpoint.loadBf16Matrices(ctx, dir)) {
        long halfBytes = NativeBuffer.liveBytes() - before;
        long c = CFG.dModel();
        long matrices = (long) CFG.nLayer() * 12 * c * c; // qkv 3C^2, proj C^2, fc and proj 4C^2
        // the block matrices take 2 bytes a value instead of 4 (allocations may round up a little)
        assertTrue(halfBytes <= fp32Bytes - 2 * matrices + 4096,
            "fp32 " + fp32Bytes + " bytes, bf16 matrices " + halfBytes);
        assertTrue(half.hasBf16Matrices());
        assertEquals(CFG.parameterCount(), half.parameterCount());
        try (Generator g = new Generator(half, 1, DType.BFLOAT16)) {
          // only the tied head is copied: the block matrices are the model's own
          assertEquals(2L * CFG.vocabSize() * c, g.weightBytes());
          float[][] got = g.cachedLogits(tokens, 7);
          for (int i = 0; i < got.length; i++) {
            assertArrayEquals(wantLogits[i], got[i], "position " + (7 + i));
          }
          Random r = new Random(4);
          for (int i = 0; i < want.length; i++) {
            Result res = g.generate(prompt(r, 1 + r.nextInt(25)), GenerationConfig.greedy(20),
                null);
            assertArrayEquals(want[i].ids(), res.ids(), "request " + i);
            assertEquals(want[i].reason(), res.reason(), "request " + i);
          }
        }
        // what such a model cannot do fails precisely instead of reading missing float32 weights
        assertThrows(IllegalArgumentException.class, () -> new Generator(half, 1));
        assertThrows(IllegalStateException.class,
            () -> half.forward(new int[] {1, 2}, new int[] {2, 3}, 1, 2));
        assertThrows(IllegalStateException.class, half::enableGradients);
        assertThrows(IllegalArgumentException.class,
            () -> Checkpoint.save(ModelFamily.GPT2, half, dir.resolve("copy")));
      }
      assertEquals(before, NativeBuffer.liveBytes());
    }
  }

  @Test
  void aBf16SessionOpenedFromADirectoryMatchesTheBf16Generator(@TempDir Path dir)
      throws Exception {
    int[] p = prompt(new Random(8), 12);
    Result want;
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
      try (Generator g = new Generator(m, 1, DType.BFLOAT16)) {
        want = g.generate(p, GenerationConfig.greedy(15), null);
      }
    }
    long before = NativeBuffer.liveBytes();
    InferenceSession.Options opts = InferenceSession.Options.defaults().withSlots(2)
        .withWeights(DType.BFLOAT16);
    try (InferenceSession s = InferenceSession.open(dir, opts)) {
      assertEquals(2L * CFG.vocabSize() * CFG.dModel(), s.weightCopyBytes());
      Result got = s.submit(p, GenerationConfig.greedy(15), null).get();
      assertArrayEquals(want.ids(), got.ids());
      assertEquals(want.reason(), got.reason());
    }
    assertEquals(before, NativeBuffer.liveBytes());
  }
}
