package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.Precision;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
  static ComputeContext ctx;
  @TempDir Path tmp;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static int[] corpus(int n, int v, long seed) {
    // a learnable sequence: mostly a repeating pattern with some noise
    Random r = new Random(seed);
    int[] t = new int[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(10) == 0 ? r.nextInt(v) : (i * 7) % v;
    }
    return t;
  }

  static final GptConfig TINY = GptConfig.of(31, 16, 16, 2, 2).withDropout(0.1f);

  TrainConfig config(Path out) {
    return TrainConfig.defaults(6, 2, 8, out).withLr(3e-3f, 3e-4f, 2, true)
        .withData(5, true, 0.2f, 2).withSchedule(2, 3, 4);
  }

  static final class Recorder implements Trainer.Listener {
    final List<Float> losses = new ArrayList<>();
    final List<Double> val = new ArrayList<>();
    Integer stopAfterSave;

    @Override
    public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
      losses.add(loss);
    }

    @Override
    public void onEval(long step, Evaluator.Result r) {
      val.add(r.loss());
    }

    @Override
    public void onSave(long step, Path dir) {
      if (stopAfterSave != null && step == stopAfterSave) {
        throw new IllegalStateException("simulated kill after step " + step);
      }
    }
  }

  @Test
  void resumedRunMatchesUninterruptedRunBitForBit() throws IOException {
    resumeIsBitExact(Precision.FP32);
  }

  @Test
  void resumedBf16RunMatchesUninterruptedRunBitForBit() throws IOException {
    resumeIsBitExact(Precision.BF16);
  }

  void resumeIsBitExact(Precision p) throws IOException {
    int[] data = corpus(400, 31, 1);
    Recorder full = new Recorder();
    Path a = tmp.resolve("a");
    try (GptModel m = GptModel.random(ctx, TINY, 42).setPrecision(p);
        Trainer t = new Trainer(m, data, config(a), full)) {
      t.run();
    }
    assertEquals(6, full.losses.size());
    assertTrue(full.losses.get(5) < full.losses.get(0), full.losses.toString());

    Path b = tmp.resolve("b");
    Recorder first = new Recorder();
    first.stopAfterSave = 3;
    try (GptModel m = GptModel.random(ctx, TINY, 42).setPrecision(p);
        Trainer t = new Trainer(m, data, config(b), first)) {
      assertThrows(IllegalStateException.class, t::run);
    }
    assertEquals(full.losses.subList(0, 3), first.losses);

    Recorder resumed = new Recorder();
    try (GptModel m = Checkpoint.load(ctx, b, ModelFamily.GPT2).setPrecision(p);
        Trainer t = new Trainer(m, data, config(b), resumed)) {
      t.resume(b);
      assertEquals(3, t.step());
      t.run();
      assertEquals(6, t.step());
      assertEquals(6, t.history().trainSize());
    }
    assertEquals(full.losses.subList(3, 6), resumed.losses, "losses after resume");
    // the final weights are identical too
    try (SafeTensors.Reader ra = SafeTensors.open(a.resolve("model.safetensors"));
        SafeTensors.Reader rb = SafeTensors.open(b.resolve("model.safetensors"))) {
      for (String name : ra.entries().keySet()) {
        assertArrayEquals(ra.readFloats(name), rb.readFloats(name), name);
      }
    }
    assertTrue(Files.size(a.resolve("loss.png")) > 1000);
  }

  @Test
  void resumeRefusesAnotherPrecision() throws IOException {
    int[] data = corpus(400, 31, 1);
    Path d = tmp.resolve("p");
    try (GptModel m = GptModel.random(ctx, TINY, 1).setPrecision(Precision.BF16);
        Trainer t = new Trainer(m, data, config(d).withSteps(2), null)) {
      t.run();
    }
    assertEquals("bf16", TrainingState.metadata(d).get("precision"));
    try (GptModel m = Checkpoint.load(ctx, d, ModelFamily.GPT2); Trainer t = new Trainer(m, data,
        config(d), null)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.resume(d));
      assertTrue(e.getMessage().contains("--precision bf16 (this run has fp32)"), e.getMessage());
    }
  }

  @Test
  void resumeRefusesADifferentBatchShape() throws IOException {
    int[] data = corpus(400, 31, 1);
    Path d = tmp.resolve("c");
    try (GptModel m = GptModel.random(ctx, TINY, 1); Trainer t = new Trainer(m, data, config(d).withSteps(2), null)) {
      t.run();
    }
    TrainConfig other = TrainConfig.defaults(4, 3, 8, d).withData(5, true, 0.2f, 2);
    try (GptModel m = Checkpoint.load(ctx, d, ModelFamily.GPT2); Trainer t = new Trainer(m, data,
        other, null)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.resume(d));
      assertTrue(e.getMessage().contains("--batch 2"), e.getMessage());
    }
  }

  @Test
  void nanLossStopsAndLeavesTheLastGoodCheckpoint() throws IOException {
    int[] data = corpus(400, 31, 2);
    Path d = tmp.resolve("nan");
    TrainConfig cfg = config(d).withSteps(5).withSchedule(0, 2, 2);
    try (GptModel m = GptModel.random(ctx, TINY, 3)) {
      Trainer.Listener poison = new Trainer.Listener() {
        @Override
        public void onSave(long step, Path dir) {
          if (step == 2) {
            float[] nan = new float[16];
            Arrays.fill(nan, Float.NaN);
            m.params().get("transformer.ln_f.weight").copyFrom(nan);
          }
        }
      };
      try (Trainer t = new Trainer(m, data, cfg, poison)) {
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class, t::run);
        assertTrue(e.getMessage().contains("step 3"), e.getMessage());
        assertTrue(e.getMessage().contains("the loss is NaN"), e.getMessage());
        assertTrue(e.getMessage().contains("(step 2)"), e.getMessage());
      }
    }
    try (GptModel m = Checkpoint.load(ctx, d, ModelFamily.GPT2);
        SafeTensors.Reader r = SafeTensors.open(d.resolve("model.safetensors"))) {
      assertEquals("2", r.metadata().get("fuselm.step"));
      for (float f : m.params().get("transformer.ln_f.weight").toFloatArray()) {
        assertTrue(Float.isFinite(f));
      }
    }
  }

  @Test
  void validationLossFallsWithTraining() throws IOException {
    int[] data = corpus(600, 31, 5);
    GptConfig c = GptConfig.of(31, 16, 32, 2, 4);
    TrainConfig cfg = TrainConfig.defaults(40, 4, 16, null).withLr(1e-2f, 1e-3f, 4, true)
        .withData(8, true, 0.2f, 1).withSchedule(40, 0, 0);
    Recorder rec = new Recorder();
    try (GptModel m = GptModel.random(ctx, c, 9); Trainer t = new Trainer(m, data, cfg, rec)) {
      Evaluator.Result before = t.evaluate();
      assertEquals(t.valTokens() - 1, before.tokens());
      t.run();
      assertEquals(1, rec.val.size());
      assertTrue(rec.val.get(0) < 0.6 * before.loss(), before.loss() + " -> " + rec.val);
    }
  }

  @Test
  void scheduleWarmsUpThenDecays() {
    LrSchedule s = new LrSchedule(1f, 0.1f, 4, 104, true);
    assertEquals(0.25f, s.at(0), 1e-7);
    assertEquals(1f, s.at(3), 1e-7);
    assertEquals(1f, s.at(4), 1e-7);
    assertEquals(0.55f, s.at(54), 1e-6);
    assertEquals(0.1f, s.at(104), 1e-6);
    assertEquals(0.1f, s.at(500), 1e-6);
    assertEquals(1f, new LrSchedule(1f, 0f, 0, 10, false).at(9));
  }

  @Test
  void unshuffledBatchesAreConsecutiveWindows() {
    int[] tokens = new int[50];
    for (int i = 0; i < 50; i++) {
      tokens[i] = i;
    }
    WindowLoader l = new WindowLoader(tokens, 0, 50, 2, 4, 3, false, 0);
    assertEquals(16, l.windows()); // starts 0, 3, ..., 45 (45 + 4 + 1 <= 50)
    int[] x = new int[8], y = new int[8];
    l.next(x, y);
    assertArrayEquals(new int[] {0, 1, 2, 3, 3, 4, 5, 6}, x);
    assertArrayEquals(new int[] {1, 2, 3, 4, 4, 5, 6, 7}, y);
    l.next(x, y);
    assertArrayEquals(new int[] {6, 7, 8, 9, 9, 10, 11, 12}, x);
    assertArrayEquals(new long[] {0, 2}, l.position());
    for (int i = 0; i < 6; i++) {
      l.next(x, y);
    }
    assertArrayEquals(new long[] {1, 0}, l.position()); // 8 full batches per epoch
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new WindowLoader(tokens, 0, 5, 2, 4, 4, false, 0));
    assertTrue(e.getMessage().contains("too few"), e.getMessage());
  }

  @Test
  void idsFilesParseAndRejectGarbage() throws IOException {
    assertArrayEquals(new int[] {1, 22, 333}, TokenData.parseIds("x", " 1\n22\t333 "));
    IOException e = assertThrows(IOException.class, () -> TokenData.parseIds("f.ids", "1 2 x3"));
    assertTrue(e.getMessage().contains("'x3'"), e.getMessage());
    Path empty = tmp.resolve("e.ids");
    Files.writeString(empty, "  \n");
    e = assertThrows(IOException.class, () -> TokenData.load(empty, null));
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
  }
}
