package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ComputeContext;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * bf16 mixed precision of a whole GPT against the float32 model with the same weights.
 *
 * <p>Tolerance: bf16 rounds to nearest with relative error at most u = 2^-8. Each bf16 GEMM rounds
 * both operands, so each product is off by at most about 2u relative; a gradient is a chain of such
 * GEMMs (the LM head, then per block linear one GEMM forward and two backward), and independent
 * rounding errors add in quadrature rather than linearly: about 2u sqrt(4) = 4u for the four
 * rounded GEMMs in a row that dominate the 2-layer models here. So every gradient must agree
 * normwise within 4u (relative L2 error; measured about 1.5u), and the loss within 2u relative.
 * Both must also differ from fp32 (the bf16 path ran).
 */
class GptBf16Test {
  static final double U = Math.scalb(1.0, -8);
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static int[] ids(Random r, int n, int v) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = r.nextInt(v);
    }
    return a;
  }

  static double relL2(float[] got, float[] want) {
    double d = 0, w = 0;
    for (int i = 0; i < got.length; i++) {
      d += (got[i] - (double) want[i]) * (got[i] - (double) want[i]);
      w += (double) want[i] * want[i];
    }
    return Math.sqrt(d / w);
  }

  void compare(GptConfig c) {
    int b = 3, t = 12;
    Random r = new Random(11);
    int[] x = ids(r, b * t, c.vocabSize()), y = ids(r, b * t, c.vocabSize());
    try (GptModel f32 = GptModel.random(ctx, c, 7).enableGradients();
        GptModel b16 = GptModel.random(ctx, c, 7).enableGradients().setPrecision(Precision.BF16)) {
      assertEquals(Precision.BF16, b16.precision());
      float l32 = f32.forward(x, y, b, t);
      f32.backward(1f);
      float l16 = b16.forward(x, y, b, t);
      b16.backward(1f);
      assertNotEquals(l32, l16, "the bf16 loss is bit-identical: did the bf16 path run?");
      assertEquals(l32, l16, 2 * U * Math.abs(l32), "loss");
      double worst = 0;
      for (String name : f32.params().names()) {
        float[] g32 = f32.grads().get(name).toFloatArray();
        float[] g16 = b16.grads().get(name).toFloatArray();
        assertFalse(Arrays.equals(g32, g16), name + ": bf16 gradient is bit-identical to fp32");
        double e = relL2(g16, g32);
        worst = Math.max(worst, e);
        assertTrue(e <= 4 * U, name + ": relative L2 error " + e + " > 4u");
      }
      System.out.printf("bf16 vs fp32 (%s head): loss %.6f vs %.6f, worst gradient rel. L2 error"
          + " %.4f (%.2f u)%n", c.tiedHead() ? "tied" : "untied", l16, l32, worst, worst / U);
      // the master weights are untouched float32
      assertArrayEquals(f32.params().flat().toFloatArray(), b16.params().flat().toFloatArray());
    }
  }

  @Test
  void tiedHeadGradientsTrackFloat32WithinBf16Rounding() {
    compare(GptConfig.of(53, 16, 32, 2, 4));
  }

  @Test
  void untiedHeadWithoutQkvBiasGradientsTrackFloat32() {
    compare(GptConfig.of(53, 16, 32, 2, 4).withTiedHead(false).withQkvBias(false));
  }

  @Test
  void backToFp32IsBitIdenticalAndWeightChangesReachTheBf16Copies() {
    GptConfig c = GptConfig.of(29, 8, 16, 1, 2);
    Random r = new Random(3);
    int[] x = ids(r, 16, 29), y = ids(r, 16, 29);
    try (GptModel plain = GptModel.random(ctx, c, 5);
        GptModel m = GptModel.random(ctx, c, 5).setPrecision(Precision.BF16)) {
      float bf = m.forward(x, y, 2, 8);
      m.setPrecision(Precision.FP32);
      assertEquals(0, m.bf16WeightBytes());
      assertEquals(plain.forward(x, y, 2, 8), m.forward(x, y, 2, 8), 0f);
      m.setPrecision(Precision.BF16);
      assertTrue(m.bf16WeightBytes() > 0);
      assertEquals(bf, m.forward(x, y, 2, 8), 0f);

      // new weights (as after an optimizer step): the copies follow after weightsChanged()
      try (GptModel other = GptModel.random(ctx, c, 6).setPrecision(Precision.BF16)) {
        float want = other.forward(x, y, 2, 8);
        m.params().flat().copyFrom(other.params().flat());
        assertNotEquals(want, m.forward(x, y, 2, 8), "stale copies: refreshed only when told");
        m.weightsChanged();
        assertEquals(want, m.forward(x, y, 2, 8), 0f);
      }
    }
  }

  @Test
  void bf16IsRefusedWithLoraAndForBf16MatrixModels() {
    GptConfig c = GptConfig.of(29, 8, 16, 1, 2);
    try (GptModel m = GptModel.random(ctx, c, 5).setPrecision(Precision.BF16);
        LoraAdapters lora = LoraAdapters.create(ctx,
            new LoraAdapters.Config(2, 4, LoraAdapters.DEFAULT_TARGETS), 1, 16, 1, false)) {
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.setLora(lora));
      assertTrue(e.getMessage().contains("LoRA"), e.getMessage());
    }
    try (GptModel m = GptModel.createWithBf16Matrices(ctx, c)) {
      assertThrows(IllegalStateException.class, () -> m.setPrecision(Precision.BF16));
    }
    assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp16"));
  }
}
