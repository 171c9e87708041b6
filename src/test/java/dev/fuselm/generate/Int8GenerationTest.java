package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Generation with int8 (Q8_0) copies of the matrix weights ({@code new Generator(model, b, INT8)}). */
class Int8GenerationTest {
  static ComputeContext ctx;
  static GptModel model;
  static final GptConfig C = GptConfig.of(41, 24, 64, 2, 4);

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
    model = GptModel.random(ctx, C, 29);
    for (String name : model.parameterNames()) {
      if (name.endsWith(".weight") && !name.contains(".ln_")) { // larger logits: clear argmaxes
        Tensor t = model.params().get(name);
        float[] w = t.toFloatArray();
        for (int i = 0; i < w.length; i++) {
          w[i] *= 20;
        }
        t.copyFrom(w);
      }
    }
  }

  @AfterAll
  static void close() {
    model.close();
    ctx.close();
  }

  private static int[] sequence(int n, long seed) {
    Random r = new Random(seed);
    int[] seq = new int[n];
    for (int i = 0; i < n; i++) {
      seq[i] = r.nextInt(C.vocabSize());
    }
    return seq;
  }

  @Test
  void int8LogitsStayCloseToFloat32() {
    int[] seq = sequence(20, 5);
    // GPT-2's initialisation unscaled (the shared model's 20x weights make attention nearly
    // one-hot, where any rounding can move which key wins)
    try (GptModel plain = GptModel.random(ctx, C, 29);
        Generator g8 = new Generator(plain, 1, DType.INT8);
        Generator g32 = new Generator(plain, 1)) {
      float[][] a = g8.cachedLogits(seq, 5);
      float[][] b = g32.cachedLogits(seq, 5);
      for (int k = 0; k < a.length; k++) {
        // 8-bit weights and activations: a relative error of about 1/254 of each block's largest
        // value per operand, through two blocks and the
        // head; bound: 3% of the logits' norm (measured: 0.7-1.0%)
        double norm = 0, err = 0;
        for (int i = 0; i < b[k].length; i++) {
          norm += b[k][i] * (double) b[k][i];
          err += (a[k][i] - b[k][i]) * (double) (a[k][i] - b[k][i]);
        }
        double rel = Math.sqrt(err / norm);
        assertTrue(rel <= 0.03, "position " + (4 + k) + ": |int8 - fp32| / |fp32| = " + rel);
      }
    }
  }

  @Test
  void int8GreedyTracksFloat32AndReadsQ80Bytes() {
    int[] prompt = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}; // 11 rows: prefill in row blocks of 4
    try (Generator g8 = new Generator(model, 1, DType.INT8);
        Generator g32 = new Generator(model, 1)) {
      int[] ids8 = g8.generate(prompt, GenerationConfig.greedy(8), null).ids();
      int[] ids32 = g32.generate(prompt, GenerationConfig.greedy(8), null).ids();
      assertEquals(ids32[0], ids8[0]); // later tokens may legitimately diverge
      assertEquals(DType.INT8, g8.weightType());
      long c = C.dModel();
      long matmulParams = C.nLayer() * (c * 3 * c + c * c + 2 * c * 4 * c) + C.vocabSize() * c;
      assertEquals(matmulParams / 32 * 34, g8.matmulWeightBytesPerToken());
      // the packed copies: Q8_0 bytes, columns padded to groups of 16 (the head's 41 -> 48)
      long packed = C.nLayer() * (Int8Ops.packedBytes(c, 3 * c) + Int8Ops.packedBytes(c, c)
          + Int8Ops.packedBytes(c, 4 * c) + Int8Ops.packedBytes(4 * c, c))
          + Int8Ops.packedBytes(c, C.vocabSize());
      assertEquals(packed, g8.weightBytes());
      assertEquals(48 * c / 32 * 34, Int8Ops.packedBytes(c, C.vocabSize()));
    }
  }

  @Test
  void batchedInt8GenerationEqualsOneByOne() {
    int[][] prompts = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}, {13, 14, 15}};
    try (Generator g = new Generator(model, 5, DType.INT8)) {
      var batched = g.generate(java.util.List.of(prompts), GenerationConfig.greedy(6), null);
      for (int i = 0; i < prompts.length; i++) {
        assertArrayEquals(g.generate(prompts[i], GenerationConfig.greedy(6), null).ids(),
            batched.get(i).ids(), "row " + i);
      }
    }
  }

  @Test
  void changedWeightsAreQuantizedAgain() {
    int[] seq = sequence(6, 9);
    try (GptModel m = GptModel.random(ctx, C, 31);
        Generator g = new Generator(m, 1, DType.INT8)) {
      float[] before = g.cachedLogits(seq, 1)[0];
      Tensor head = m.params().get("transformer.wte.weight");
      float[] w = head.toFloatArray();
      for (int i = 0; i < w.length; i++) {
        w[i] *= 3;
      }
      head.copyFrom(w);
      m.weightsChanged();
      float[] after = g.cachedLogits(seq, 1)[0];
      // a model holding the changed weights from the start quantizes them once: the same bits
      try (GptModel fresh = GptModel.create(ctx, C)) {
        fresh.params().flat().copyFrom(m.params().flat());
        try (Generator gf = new Generator(fresh, 1, DType.INT8)) {
          assertArrayEquals(gf.cachedLogits(seq, 1)[0], after);
        }
      }
      assertTrue(!java.util.Arrays.equals(before, after));
    }
  }

  @Test
  void inputSizesOffTheBlockAreRefused() {
    try (GptModel m = GptModel.random(ctx, GptConfig.of(41, 24, 24, 1, 4), 1)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new Generator(m, 1, DType.INT8));
      assertTrue(e.getMessage().contains("multiples of 32"), e.getMessage());
    }
  }
}
