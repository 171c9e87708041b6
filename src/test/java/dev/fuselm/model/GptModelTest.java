package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.ops.OptimizerOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GptModelTest {
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static int[] randomIds(Random r, int n, int v) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = r.nextInt(v);
    }
    return ids;
  }

  /** Parameters drawn large enough that every gradient is well above float32 difference noise. */
  static void randomize(GptModel m, long seed) {
    Random r = new Random(seed);
    for (String name : m.params().names()) {
      Tensor t = m.params().get(name);
      float[] v = new float[(int) t.numel()];
      boolean ln = name.contains(".ln_") && name.endsWith(".weight");
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (ln ? 1 + 0.3 * r.nextGaussian() : 0.3 * r.nextGaussian());
      }
      t.copyFrom(v);
    }
  }

  @Test
  void parameterSlabHasHuggingFaceNamesAndExactCount() {
    GptConfig c = GptConfig.of(37, 16, 12, 2, 3);
    try (GptModel m = GptModel.random(ctx, c, 1)) {
      assertEquals(c.parameterCount(), m.parameterCount());
      assertEquals("transformer.wte.weight", m.parameterNames().get(0));
      assertTrue(m.params().contains("transformer.h.1.attn.c_attn.weight"));
      assertEquals(12, m.params().get("transformer.h.1.attn.c_attn.weight").dim(0));
      assertEquals(36, m.params().get("transformer.h.1.attn.c_attn.weight").dim(1));
      assertTrue(m.params().decays("transformer.h.0.mlp.c_fc.weight"));
      assertTrue(!m.params().decays("transformer.h.0.mlp.c_fc.bias"));
      assertTrue(!m.params().decays("transformer.ln_f.weight"));
    }
    try (GptModel m = GptModel.random(ctx, c.withTiedHead(false).withQkvBias(false), 1)) {
      assertEquals(c.withTiedHead(false).withQkvBias(false).parameterCount(), m.parameterCount());
      assertTrue(m.params().contains("lm_head.weight"));
      assertTrue(!m.params().contains("transformer.h.0.attn.c_attn.bias"));
    }
  }

  @Test
  void initialLossIsNearLogVocab() {
    GptConfig c = GptConfig.of(97, 16, 32, 2, 4);
    try (GptModel m = GptModel.random(ctx, c, 7)) {
      Random r = new Random(3);
      float loss = m.forward(randomIds(r, 2 * 16, 97), randomIds(r, 2 * 16, 97), 2, 16);
      assertEquals(Math.log(97), loss, 0.1);
    }
  }

  @Test
  void finiteDifferenceGradientsOfTheWholeModel() {
    for (GptConfig c : new GptConfig[] {
        GptConfig.of(11, 8, 8, 2, 2), GptConfig.of(13, 8, 12, 1, 3).withTiedHead(false)}) {
      checkGradients(c);
    }
  }

  private void checkGradients(GptConfig c) {
    int b = 2, t = 5;
    Random r = new Random(11);
    int[] ids = randomIds(r, b * t, c.vocabSize());
    int[] targets = randomIds(r, b * t, c.vocabSize());
    targets[3] = -100; // an ignored position
    try (GptModel m = GptModel.create(ctx, c).enableGradients()) {
      randomize(m, 5);
      m.zeroGrad();
      m.forward(ids, targets, b, t);
      m.backward(1f);
      float[] all = m.params().flat().toFloatArray();
      float[] grad = m.grads().flat().toFloatArray();
      Tensor flat = m.params().flat();
      float eps = 1e-2f;
      int checked = 0;
      for (String name : m.params().names()) {
        Tensor p = m.params().get(name);
        long offset = (p.address() - flat.address()) / 4;
        for (int k = 0; k < 4; k++) {
          int i = (int) (offset + r.nextInt((int) p.numel()));
          float orig = all[i];
          all[i] = orig + eps;
          flat.copyFrom(all);
          double lp = m.forward(ids, targets, b, t);
          all[i] = orig - eps;
          flat.copyFrom(all);
          double lm = m.forward(ids, targets, b, t);
          all[i] = orig;
          flat.copyFrom(all);
          double fd = (lp - lm) / (2 * eps);
          double an = grad[i];
          double tol = 5e-4 + 3e-2 * Math.max(Math.abs(fd), Math.abs(an));
          assertTrue(Math.abs(fd - an) <= tol,
              name + "[" + (i - offset) + "]: finite difference " + fd + " vs backward " + an);
          checked++;
        }
      }
      assertTrue(checked >= 4 * m.params().names().size());
    }
  }

  @Test
  void lossFallsWhenOverfittingOneBatch() {
    GptConfig c = GptConfig.of(50, 16, 32, 2, 4);
    int b = 4, t = 16;
    Random r = new Random(1);
    int[] ids = randomIds(r, b * t, 50);
    int[] targets = randomIds(r, b * t, 50);
    try (GptModel m = GptModel.random(ctx, c, 3).enableGradients();
        ParameterSlab mom = m.params().sameLayout(ctx);
        ParameterSlab vel = m.params().sameLayout(ctx)) {
      float first = Float.NaN, last = Float.NaN;
      for (int step = 1; step <= 60; step++) {
        m.zeroGrad();
        last = m.forward(ids, targets, b, t);
        if (step == 1) {
          first = last;
        }
        m.backward(1f);
        OptimizerOps.adamwStep(ctx, m.params(), m.grads(), mom, vel, 1e-2f, 0.9f, 0.95f, 1e-8f,
            0f, step, 1f);
      }
      assertTrue(last < 0.25f * first, "loss went from " + first + " to " + last);
    }
  }

  @Test
  void dropoutChangesTrainingLossOnlyAndIsSeeded() {
    GptConfig c = GptConfig.of(23, 8, 16, 1, 2).withDropout(0.2f);
    Random r = new Random(2);
    int[] ids = randomIds(r, 16, 23);
    int[] targets = randomIds(r, 16, 23);
    try (GptModel m = GptModel.random(ctx, c, 3).enableGradients()) {
      float eval = m.forward(ids, targets, 2, 8);
      m.setTraining(true);
      m.setDropoutSeed(9);
      float a = m.forward(ids, targets, 2, 8);
      float a2 = m.forward(ids, targets, 2, 8);
      m.setDropoutSeed(10);
      float bLoss = m.forward(ids, targets, 2, 8);
      assertEquals(a, a2);
      assertTrue(a != eval && a != bLoss);
    }
  }

  @Test
  void dropoutGradientsMatchFiniteDifferences() {
    GptConfig c = GptConfig.of(11, 8, 8, 1, 2).withDropout(0.3f);
    int b = 1, t = 6;
    Random r = new Random(4);
    int[] ids = randomIds(r, b * t, 11);
    int[] targets = randomIds(r, b * t, 11);
    try (GptModel m = GptModel.create(ctx, c).enableGradients()) {
      randomize(m, 8);
      m.setTraining(true);
      m.setDropoutSeed(77);
      m.zeroGrad();
      m.forward(ids, targets, b, t);
      m.backward(1f);
      Tensor w = m.params().get("transformer.h.0.mlp.c_fc.weight");
      Tensor g = m.grads().get("transformer.h.0.mlp.c_fc.weight");
      float[] wv = w.toFloatArray();
      float[] gv = g.toFloatArray();
      for (int k = 0; k < 6; k++) {
        int i = r.nextInt(wv.length);
        float orig = wv[i];
        wv[i] = orig + 1e-2f;
        w.copyFrom(wv);
        double lp = m.forward(ids, targets, b, t);
        wv[i] = orig - 1e-2f;
        w.copyFrom(wv);
        double lm = m.forward(ids, targets, b, t);
        wv[i] = orig;
        w.copyFrom(wv);
        double fd = (lp - lm) / 2e-2;
        assertEquals(fd, gv[i], 5e-4 + 3e-2 * Math.abs(fd), "c_fc.weight[" + i + "]");
      }
    }
  }

  /** GPT with attn_pdrop only: the attention-probability dropout of the fused kernel. */
  private static GptConfig attnDropoutOnly(GptConfig c, float p) {
    return new GptConfig(c.vocabSize(), c.contextLength(), c.dModel(), c.nLayer(), c.nHead(), 0f,
        0f, p, c.qkvBias(), c.tiedHead(), c.layerNormEps());
  }

  @Test
  void attentionDropoutChangesTrainingLossOnlyAndIsSeeded() {
    GptConfig c = attnDropoutOnly(GptConfig.of(23, 8, 16, 1, 2), 0.2f);
    Random r = new Random(2);
    int[] ids = randomIds(r, 16, 23);
    int[] targets = randomIds(r, 16, 23);
    try (GptModel m = GptModel.random(ctx, c, 3).enableGradients();
        GptModel plain = GptModel.random(ctx, attnDropoutOnly(c, 0f), 3)) {
      float eval = m.forward(ids, targets, 2, 8);
      assertEquals(plain.forward(ids, targets, 2, 8), eval);
      plain.setTraining(true);
      plain.setDropoutSeed(9);
      assertEquals(eval, plain.forward(ids, targets, 2, 8)); // p = 0: training changes nothing
      m.setTraining(true);
      m.setDropoutSeed(9);
      float a = m.forward(ids, targets, 2, 8);
      float a2 = m.forward(ids, targets, 2, 8);
      m.setDropoutSeed(10);
      float bLoss = m.forward(ids, targets, 2, 8);
      assertEquals(a, a2);
      assertTrue(a != eval && a != bLoss);
    }
  }

  // Central differences of the training loss (fixed seed = fixed masks) on the qkv projection,
  // whose gradient flows through the dropped attention probabilities. Same bound as above.
  @Test
  void attentionDropoutGradientsMatchFiniteDifferences() {
    GptConfig c = attnDropoutOnly(GptConfig.of(11, 8, 8, 2, 2), 0.3f);
    int b = 2, t = 6;
    Random r = new Random(5);
    int[] ids = randomIds(r, b * t, 11);
    int[] targets = randomIds(r, b * t, 11);
    try (GptModel m = GptModel.create(ctx, c).enableGradients()) {
      randomize(m, 8);
      m.setTraining(true);
      m.setDropoutSeed(78);
      m.zeroGrad();
      m.forward(ids, targets, b, t);
      m.backward(1f);
      for (String name : new String[] {"transformer.h.0.attn.c_attn.weight",
          "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias"}) {
        Tensor w = m.params().get(name);
        float[] wv = w.toFloatArray();
        float[] gv = m.grads().get(name).toFloatArray();
        for (int k = 0; k < 6; k++) {
          int i = r.nextInt(wv.length);
          float orig = wv[i];
          wv[i] = orig + 1e-2f;
          w.copyFrom(wv);
          double lp = m.forward(ids, targets, b, t);
          wv[i] = orig - 1e-2f;
          w.copyFrom(wv);
          double lm = m.forward(ids, targets, b, t);
          wv[i] = orig;
          w.copyFrom(wv);
          double fd = (lp - lm) / 2e-2;
          assertEquals(fd, gv[i], 5e-4 + 3e-2 * Math.abs(fd), name + "[" + i + "]");
        }
      }
    }
  }

  @Test
  void sequenceLongerThanContextIsRejected() {
    try (GptModel m = GptModel.random(ctx, GptConfig.of(11, 4, 8, 1, 2), 1)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.forward(new int[5], null, 1, 5));
      assertTrue(e.getMessage().contains("context window"), e.getMessage());
    }
  }
}
