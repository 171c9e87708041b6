package dev.fuselm.train;

import dev.fuselm.finetune.ClassifierCheckpoint;
import dev.fuselm.finetune.LoraCheckpoint;
import dev.fuselm.finetune.SequenceClassifier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.train.TrainingDivergedException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Classification through the training engine: k steps, a save, a resume to N give the losses,
 * logs and weights of N steps straight, bit for bit (full fine-tuning and LoRA).
 */
class ClassifierResumeTest {
  static ComputeContext ctx;
  @TempDir Path tmp;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  static final List<String> LABELS = List.of("no", "yes");
  static final GptConfig CFG = GptConfig.of(24, 16, 32, 2, 2).withDropout(0.1f);

  /** 2 epochs of 5 batches, warmup then cosine: the resume lands mid-epoch and mid-schedule. */
  static ClassifierTrainer.Config config() {
    return new ClassifierTrainer.Config(2, 8, 3e-3f, 0.1f, 1f, false, 4, 0, 3, true);
  }

  record Result(float[] losses, float[] head, float[] trained, List<String> logs) {}

  static Result finish(SequenceClassifier clf, ClassifierTrainer t, List<String> logs,
      LoraAdapters lora) {
    float[] trained = lora != null ? lora.params().flat().toFloatArray()
        : clf.model().params().flat().toFloatArray();
    return new Result(t.history().trainLosses(), clf.headWeight().clone(), trained, logs);
  }

  Result straight(boolean withLora) throws IOException {
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(40, 1);
    List<String> logs = new ArrayList<>();
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, CFG, 5), LABELS,
        0, 9);
        LoraAdapters lora = withLora ? lora() : null;
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(), lora,
            n -> logs.add(n.toString()))) {
      t.run();
      assertEquals(10, t.step());
      return finish(clf, t, logs, lora);
    }
  }

  Result interrupted(boolean withLora, Path dir) throws IOException {
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(40, 1);
    List<String> logs = new ArrayList<>();
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, CFG, 5), LABELS,
        0, 9);
        LoraAdapters lora = withLora ? lora() : null;
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(), lora,
            n -> logs.add(n.toString()))) {
      t.run(7);
      assertEquals(7, t.step());
      t.save(dir);
    }
    try (SequenceClassifier clf = ClassifierCheckpoint.load(ctx, dir);
        LoraAdapters lora = withLora ? LoraCheckpoint.load(ctx, dir, CFG, true) : null;
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(), lora,
            n -> logs.add(n.toString()))) {
      t.resume(dir);
      assertEquals(7, t.step());
      t.run();
      return finish(clf, t, logs, lora);
    }
  }

  static LoraAdapters lora() {
    return LoraAdapters.create(ctx, new LoraAdapters.Config(2, 4, LoraAdapters.DEFAULT_TARGETS),
        CFG.nLayer(), CFG.dModel(), 3, true);
  }

  @Test
  void resumedRunEqualsTheStraightRun() throws IOException {
    Result a = straight(false);
    Result b = interrupted(false, tmp.resolve("full"));
    assertEquals(10, a.losses().length);
    assertArrayEquals(a.losses(), b.losses());
    assertArrayEquals(a.head(), b.head());
    assertArrayEquals(a.trained(), b.trained());
    // epoch 1 ends before the save and epoch 2 after the resume; the last epoch's metrics agree
    // (its train_batch_loss covers only the batches since the resume, so compare the rest)
    assertEquals(2, a.logs().size());
    assertEquals(a.logs().get(0), b.logs().get(0));
    assertEquals(a.logs().get(1).replaceAll("\"train_batch_loss\":[^,]*,", ""),
        b.logs().get(1).replaceAll("\"train_batch_loss\":[^,]*,", ""));
  }

  @Test
  void resumedLoraRunEqualsTheStraightRun() throws IOException {
    Result a = straight(true);
    Result b = interrupted(true, tmp.resolve("lora"));
    assertArrayEquals(a.losses(), b.losses());
    assertArrayEquals(a.head(), b.head());
    assertArrayEquals(a.trained(), b.trained());
  }

  @Test
  void resumeRefusesOtherDataAndDivergenceStops() throws IOException {
    Path dir = tmp.resolve("other");
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(40, 1);
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, CFG, 5), LABELS,
        0, 9);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(), null, n -> { })) {
      t.run(2);
      t.save(dir);
    }
    try (SequenceClassifier clf = ClassifierCheckpoint.load(ctx, dir);
        ClassifierTrainer t = new ClassifierTrainer(clf, ClassifierTrainingTest.synthetic(40, 2),
            null, config(), null, n -> { })) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> t.resume(dir));
      assertTrue(e.getMessage().contains("different data"), e.getMessage());
    }
    ClassifierTrainer.Config huge = new ClassifierTrainer.Config(1, 8, 1e30f, 0f, 0f, true, 4);
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, CFG, 5), LABELS,
        0, 9)) {
      assertThrows(TrainingDivergedException.class, () -> ClassifierTrainer.train(clf, train,
          null, huge, n -> { }));
    }
  }
}
