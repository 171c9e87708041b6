package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.Generator.Result;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.NativeBuffer;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models loaded for int8 decoding only ({@link Checkpoint#loadInt8Matrices}): each block matrix
 * is quantized as it is read, decodes the same bits as the int8 copies of a float32 model, and no
 * float32 master stays beside it.
 */
class Int8MatrixLoadTest {
  // C = 64 (the MLP's 256): every matrix input a multiple of Q8_0's 32
  static final GptConfig CFG = GptConfig.of(53, 40, 64, 3, 4);

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
  void decodesTheBitsOfInt8CopiesOfTheFloat32ModelWithoutFloat32Matrices(@TempDir Path dir)
      throws Exception {
    try (ComputeContext ctx = ComputeContext.create()) {
      try (GptModel m = model(ctx)) {
        Checkpoint.save(ModelFamily.GPT2, m, dir);
      }
      long before = NativeBuffer.liveBytes();
      long fp32AndCopies;
      int[] tokens = prompt(new Random(3), 30);
      float[][] wantLogits;
      Result[] want = new Result[6];
      GptConfig cfg;
      try (GptModel full = Checkpoint.load(ctx, dir, ModelFamily.GPT2)) {
        cfg = full.config();
        try (Generator g = new Generator(full, 1, DType.INT8)) {
          fp32AndCopies = NativeBuffer.liveBytes() - before;
          wantLogits = g.cachedLogits(tokens, 7);
          Random r = new Random(4);
          for (int i = 0; i < want.length; i++) {
            want[i] = g.generate(prompt(r, 1 + r.nextInt(25)),
                GenerationConfig.greedy(20), null);
          }
        }
      }
      assertEquals(before, NativeBuffer.liveBytes());
      try (GptModel q = Checkpoint.loadInt8Matrices(ctx, dir)) {
        assertTrue(q.hasInt8Matrices());
        assertEquals(cfg.parameterCount(), q.parameterCount());
        try (Generator g = new Generator(q, 1, DType.INT8)) {
          long c = cfg.dModel();
          long matrices = (long) cfg.nLayer() * 12 * c * c;
          // the float32 masters of the block matrices are gone: 4 bytes a value fewer
          long bytes = NativeBuffer.liveBytes() - before;
          assertTrue(bytes <= fp32AndCopies - 4 * matrices + 4096,
              "fp32 + int8 copies " + fp32AndCopies + " bytes, int8 matrices " + bytes);
          float[][] got = g.cachedLogits(tokens, 7);
          for (int i = 0; i < got.length; i++) {
            assertArrayEquals(wantLogits[i], got[i], "position " + (7 + i));
          }
          Random r = new Random(4);
          for (int i = 0; i < want.length; i++) {
            Result res = g.generate(prompt(r, 1 + r.nextInt(25)),
                GenerationConfig.greedy(20), null);
            assertArrayEquals(want[i].ids(), res.ids(), "request " + i);
            assertEquals(want[i].reason(), res.reason(), "request " + i);
          }
        }
        assertThrows(IllegalArgumentException.class, () -> new Generator(q, 1));
        assertThrows(IllegalArgumentException.class, () -> new Generator(q, 1, DType.BFLOAT16));
        assertThrows(IllegalStateException.class,
            () -> q.forward(new int[] {1, 2}, new int[] {2, 3}, 1, 2));
        assertThrows(IllegalStateException.class, q::enableGradients);
        assertThrows(IllegalArgumentException.class,
            () -> Checkpoint.save(ModelFamily.GPT2, q, dir.resolve("copy")));
      }
      assertEquals(before, NativeBuffer.liveBytes());
    }
  }

  @Test
  void anInt8SessionOpenedFromADirectoryMatchesTheInt8Generator(@TempDir Path dir)
      throws Exception {
    int[] p = prompt(new Random(8), 12);
    Result want;
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
      try (Generator g = new Generator(m, 1, DType.INT8)) {
        want = g.generate(p, GenerationConfig.greedy(15), null);
      }
    }
    long before = NativeBuffer.liveBytes();
    InferenceSession.Options opts = InferenceSession.Options.defaults().withSlots(2)
        .withWeights(DType.INT8);
    try (InferenceSession s = InferenceSession.open(dir, opts)) {
      Result got = s.submit(p, GenerationConfig.greedy(15), null).get();
      assertArrayEquals(want.ids(), got.ids());
      assertEquals(want.reason(), got.reason());
    }
    assertEquals(before, NativeBuffer.liveBytes());
  }
}
