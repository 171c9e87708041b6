package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TrainingEngineTest {
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  /** One parameter vector w with loss = sum(w^2) / 2 (gradient w); lossOverride replaces it. */
  static final class Quadratic implements TrainingTask {
    final ParameterSlab p;
    final ParameterSlab g;
    float lossOverride = Float.NaN;
    boolean override;
    int micro;
    float loss;

    Quadratic() {
      p = ParameterSlab.builder().add("w", false, 4).build(ctx);
      g = p.sameLayout(ctx);
      p.get("w").copyFrom(new float[] {1, -2, 3, -4});
    }

    @Override
    public ParameterSlab params() {
      return p;
    }

    @Override
    public ParameterSlab grads() {
      return g;
    }

    @Override
    public void beginStep(long s) {
      g.flat().zero();
      loss = 0;
    }

    @Override
    public boolean microStep(long s, int m, float weight) {
      micro++;
      float[] w = p.get("w").toFloatArray();
      float l = 0;
      float[] grad = g.get("w").toFloatArray();
      for (int i = 0; i < w.length; i++) {
        l += w[i] * w[i] / 2;
        grad[i] += weight * w[i];
      }
      if (override) {
        l = lossOverride;
      }
      loss += l;
      if (!Float.isFinite(l)) {
        return false;
      }
      g.get("w").copyFrom(grad);
      return true;
    }

    @Override
    public float stepLoss(int gradAccum) {
      return loss / gradAccum;
    }

    @Override
    public long[] dataPosition() {
      return new long[] {0, 0};
    }

    @Override
    public void seek(long epoch, long batch) {}

    @Override
    public Map<String, String> runMetadata() {
      return Map.of();
    }

    @Override
    public void saveModel(Path dir, Map<String, String> metadata) {}

    void close() {
      g.close();
      p.close();
    }
  }

  static List<Float> rates(TrainConfig cfg) throws IOException {
    Quadratic q = new Quadratic();
    List<Float> lrs = new ArrayList<>();
    try (TrainingEngine e = new TrainingEngine(q, cfg, ctx)) {
      e.setListener(new TrainingEngine.Listener() {
        @Override
        public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
          lrs.add(lr);
        }
      });
      e.run();
    } finally {
      q.close();
    }
    return lrs;
  }

  @Test
  void warmupRisesLinearlyThenCosineDecaysToTheFloor() throws IOException {
    TrainConfig cfg = TrainConfig.defaults(14, 1, 1, null).withLr(1f, 0.1f, 4, true);
    List<Float> lrs = rates(cfg);
    assertEquals(14, lrs.size());
    for (int s = 0; s < 4; s++) {
      assertEquals((s + 1) / 4f, lrs.get(s), 1e-7, "warmup step " + s);
    }
    for (int s = 4; s < 13; s++) {
      assertTrue(lrs.get(s + 1) < lrs.get(s), "cosine decays at step " + s + ": " + lrs);
    }
    assertEquals(1f, lrs.get(4), 1e-6);
    assertEquals(0.1f + 0.45f * (1 + (float) Math.cos(Math.PI * 9 / 10)), lrs.get(13), 1e-6);
    // fine-tuning's default: constant, no warmup
    List<Float> constant = rates(TrainConfig.fineTuning(5, 1, 0.5f, 0f, 1f, 1));
    assertEquals(List.of(0.5f, 0.5f, 0.5f, 0.5f, 0.5f), constant);
  }

  @Test
  void aNonFiniteLossStopsBeforeTheWeightsMove() throws IOException {
    Quadratic q = new Quadratic();
    try (TrainingEngine e = new TrainingEngine(q, TrainConfig.defaults(5, 1, 1, null), ctx)) {
      e.run(2);
      float[] before = q.p.flat().toFloatArray();
      q.override = true;
      TrainingDivergedException x = assertThrows(TrainingDivergedException.class, e::run);
      assertTrue(x.getMessage().contains("step 3"), x.getMessage());
      assertArrayEquals(before, q.p.flat().toFloatArray());
      assertEquals(2, e.step());
    } finally {
      q.close();
    }
  }

  @Test
  void gradientAccumulationStopsAtTheFirstNonFiniteMicroBatch() throws IOException {
    Quadratic q = new Quadratic();
    q.override = true;
    q.lossOverride = Float.POSITIVE_INFINITY;
    TrainConfig cfg = TrainConfig.defaults(5, 1, 1, null).withData(1, true, 0.1f, 3);
    try (TrainingEngine e = new TrainingEngine(q, cfg, ctx)) {
      assertThrows(TrainingDivergedException.class, e::trainOneStep);
      assertEquals(1, q.micro);
    } finally {
      q.close();
    }
  }

  /**
   * Two micro-batches of 2 windows give the loss (and so the update) of one batch of 4: the same
   * windows, the same mean, up to float rounding.
   */
  @Test
  void accumulationMatchesABiggerBatch() throws IOException {
    int[] data = TrainerTest.corpus(400, 31, 3);
    GptConfig c = GptConfig.of(31, 16, 16, 2, 2).withDropout(0f);
    TrainConfig big = TrainConfig.defaults(4, 4, 8, null).withLr(3e-3f, 3e-4f, 1, true)
        .withData(8, false, 0f, 1);
    TrainConfig accumulated = TrainConfig.defaults(4, 2, 8, null).withLr(3e-3f, 3e-4f, 1, true)
        .withData(8, false, 0f, 2);
    float[] a = losses(c, data, big);
    float[] b = losses(c, data, accumulated);
    assertEquals(4, a.length);
    for (int i = 0; i < a.length; i++) {
      assertEquals(a[i], b[i], 2e-5 * Math.abs(a[i]), "step " + (i + 1));
    }
    assertTrue(a[3] < a[0], "the loss falls: " + java.util.Arrays.toString(a));
  }

  private static float[] losses(GptConfig c, int[] data, TrainConfig cfg) throws IOException {
    try (GptModel m = GptModel.random(ctx, c, 7); Trainer t = new Trainer(m, data, cfg, null)) {
      assertEquals(32, t.tokensPerStep());
      t.run();
      return t.history().trainLosses();
    }
  }
}
