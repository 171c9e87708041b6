package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.Precision;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The loss curve of bf16 mixed-precision training tracks fp32: a tiny byte-level GPT trained on
 * real text (the-verdict.txt) from the same initialisation and the same batches in both precisions.
 */
class Bf16LossCurveTest {
  static final int STEPS = 300;
  /** Smoothing window of the curves compared (single steps are noisy in both precisions). */
  static final int WINDOW = 20;
  /** Allowed relative gap between the smoothed curves, and between the final validation losses. */
  static final double BAND = 0.03;

  static Path dataDir() {
    String p = System.getProperty("fuselm.data", System.getenv("FUSELM_DATA"));
    if (p == null && System.getProperty("fuselm.shared.dir") != null) {
      p = Path.of(System.getProperty("fuselm.shared.dir"), "data").toString();
    }
    return p != null ? Path.of(p) : Path.of("..", "shared", "data").toAbsolutePath().normalize();
  }

  record Run(List<Float> losses, double val) {}

  static Run train(ComputeContext ctx, int[] data, Precision p) throws IOException {
    GptConfig c = GptConfig.of(256, 32, 48, 2, 4);
    TrainConfig cfg = TrainConfig.defaults(STEPS, 8, 32, null).withLr(3e-3f, 3e-4f, 20, true)
        .withData(32, true, 0.1f, 1).withSchedule(0, 0, 20);
    List<Float> losses = new ArrayList<>();
    double[] val = {Double.NaN};
    Trainer.Listener rec = new Trainer.Listener() {
      @Override
      public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
        losses.add(loss);
      }

      @Override
      public void onEval(long step, Evaluator.Result r) {
        val[0] = r.loss();
      }
    };
    try (GptModel m = GptModel.random(ctx, c, 2024).setPrecision(p);
        Trainer t = new Trainer(m, data, cfg, rec)) {
      t.run();
    }
    return new Run(losses, val[0]);
  }

  static double mean(List<Float> v, int from, int to) {
    double s = 0;
    for (int i = from; i < to; i++) {
      s += v.get(i);
    }
    return s / (to - from);
  }

  @Test
  void bf16LossCurveStaysWithinABandOfFp32() throws IOException {
    Path text = dataDir().resolve("the-verdict.txt");
    assumeTrue(Files.isRegularFile(text), "no " + text);
    byte[] bytes = Files.readAllBytes(text);
    int[] data = new int[bytes.length];
    for (int i = 0; i < bytes.length; i++) {
      data[i] = bytes[i] & 0xFF;
    }
    try (ComputeContext ctx = ComputeContext.create()) {
      Run f32 = train(ctx, data, Precision.FP32);
      Run b16 = train(ctx, data, Precision.BF16);
      assertEquals(STEPS, f32.losses().size());
      assertEquals(STEPS, b16.losses().size());
      double worst = 0;
      for (int s = WINDOW; s <= STEPS; s++) {
        double a = mean(f32.losses(), s - WINDOW, s), b = mean(b16.losses(), s - WINDOW, s);
        worst = Math.max(worst, Math.abs(b - a) / a);
      }
      System.out.printf("fp32 vs bf16 over %d steps: first %.4f / %.4f, last-%d mean %.4f / %.4f,"
          + " val %.4f / %.4f, max relative gap of the %d-step means %.4f%n", STEPS,
          f32.losses().get(0), b16.losses().get(0), WINDOW, mean(f32.losses(), STEPS - WINDOW,
          STEPS), mean(b16.losses(), STEPS - WINDOW, STEPS), f32.val(), b16.val(), WINDOW, worst);
      for (Run r : new Run[] {f32, b16}) {
        double first = mean(r.losses(), 0, WINDOW), last = mean(r.losses(), STEPS - WINDOW, STEPS);
        assertTrue(last < 0.6 * first, "the loss did not fall: " + first + " -> " + last);
      }
      assertTrue(worst <= BAND, "bf16 curve left the " + BAND + " band around fp32: " + worst);
      assertEquals(f32.val(), b16.val(), BAND * f32.val(), "validation loss");
      assertTrue(!f32.losses().equals(b16.losses()), "bf16 losses are identical to fp32");
    }
  }
}
