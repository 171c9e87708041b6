package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.tensor.ComputeContext;
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

  static Result finish(SequenceClassifier<GptModel> clf, ClassifierTrainer t, List<String> logs) {
    GptModel m = clf.backbone();
    float[] trained = m.lora() != null ? m.lora().params().flat().toFloatArray()
        : m.params().flat().toFloatArray();
    return new Result(t.history().trainLosses(), clf.head().weight().clone(), trained, logs);
  }

  /** A new classifier, with new LoRA adapters when withLora. */
  static SequenceClassifier<GptModel> fresh(boolean withLora) {
    SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(GptModel.random(ctx, CFG, 5),
        LABELS, 0, 9);
    if (withLora) {
      clf.backbone().addLora(new LoraOptions(2, 4, LoraOptions.DEFAULT_TARGETS), 3);
    }
    return clf;
  }

  Result straight(boolean withLora) throws IOException {
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(40, 1);
    List<String> logs = new ArrayList<>();
    try (SequenceClassifier<GptModel> clf = fresh(withLora);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(),
            n -> logs.add(n.toString()))) {
      t.run();
      assertEquals(10, t.step());
      return finish(clf, t, logs);
    }
  }

  Result interrupted(boolean withLora, Path dir) throws IOException {
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(40, 1);
    List<String> logs = new ArrayList<>();
    try (SequenceClassifier<GptModel> clf = fresh(withLora);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(),
            n -> logs.add(n.toString()))) {
      t.run(7);
      assertEquals(7, t.step());
      t.save(dir);
    }
    try (SequenceClassifier<GptModel> clf = load(dir, withLora);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(),
            n -> logs.add(n.toString()))) {
      t.resume(dir);
      assertEquals(7, t.step());
      t.run();
      return finish(clf, t, logs);
    }
  }

  /** The classifier saved in dir, with its LoRA adapters attached when withLora. */
  static SequenceClassifier<GptModel> load(Path dir, boolean withLora) throws IOException {
    SequenceClassifier<GptModel> clf = Checkpoint.loadSequenceClassifier(ctx, dir,
        ModelFamily.GPT2);
    if (withLora) {
      PeftAdapters.attach(clf.backbone(), dir, true);
    }
    return clf;
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
    try (SequenceClassifier<GptModel> clf = fresh(false);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, config(), n -> { })) {
      t.run(2);
      t.save(dir);
    }
    try (SequenceClassifier<GptModel> clf = load(dir, false);
        ClassifierTrainer t = new ClassifierTrainer(clf, ClassifierTrainingTest.synthetic(40, 2),
            null, config(), n -> { })) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> t.resume(dir));
      assertTrue(e.getMessage().contains("different data"), e.getMessage());
    }
    ClassifierTrainer.Config huge = new ClassifierTrainer.Config(1, 8, 1e30f, 0f, 0f, true, 4);
    try (SequenceClassifier<GptModel> clf = fresh(false)) {
      assertThrows(TrainingDivergedException.class, () -> ClassifierTrainer.train(clf, train,
          null, huge, n -> { }));
    }
  }
}
