package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Training output directories of checkpoints: resume from them, and from the layout before. */
class CheckpointResumeTest {
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

  static final int[] DATA = TrainerTest.corpus(400, 31, 1);

  static TrainConfig config(Path out, int steps) {
    return TrainConfig.defaults(steps, 2, 8, out).withLr(3e-3f, 3e-4f, 2, true)
        .withData(5, true, 0.2f, 1).withSchedule(0, 1, 2);
  }

  /**
   * Trains a 6-step run from a new model (seed 42) or resumes from, stopped (as if killed) after
   * the save of step stop; returns the losses.
   */
  static List<Float> train(Path out, int stop, Path resumeFrom, int keep) throws IOException {
    TrainerTest.Recorder r = new TrainerTest.Recorder();
    r.stopAfterSave = stop < 6 ? stop : null;
    int steps = 6;
    try (GptModel m = resumeFrom == null ? GptModel.random(ctx, TrainerTest.TINY, 42)
            : Checkpoint.load(ctx, resumeFrom, ModelFamily.GPT2);
        Trainer t = new Trainer(m, DATA, config(out, steps), r)) {
      t.keepCheckpoints(keep);
      if (resumeFrom != null) {
        t.resume(resumeFrom);
      }
      try {
        t.run();
      } catch (IllegalStateException e) {
        assertTrue(e.getMessage().startsWith("simulated kill"), e.getMessage());
      }
    }
    return r.losses;
  }

  static byte[] finalWeights(Path dir) throws IOException {
    return Files.readAllBytes(CheckpointDirectory.resolve(dir).resolve(Checkpoint.WEIGHTS));
  }

  @Test
  void everySaveIsACheckpointDirectoryAndTheDirectoryResumesFromTheNewest() throws IOException {
    Path full = tmp.resolve("full");
    List<Float> all = train(full, 6, null, 2);
    Path run = tmp.resolve("run");
    train(run, 4, null, 3);
    try (Stream<Path> s = Files.list(run)) {
      assertEquals(List.of("checkpoint-2", "checkpoint-3", "checkpoint-4"), s
          .map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint-")).sorted()
          .toList());
    }
    List<Float> rest = train(run, 6, run, 3);
    assertEquals(all.subList(4, 6), rest);
    assertArrayEquals(finalWeights(full), finalWeights(run));
    // the top level is the final model, as before: a plain Hugging Face directory
    assertArrayEquals(finalWeights(full), Files.readAllBytes(run.resolve(Checkpoint.WEIGHTS)));
  }

  @Test
  void aDirectoryOfTheLayoutBeforeStillLoadsAndResumes() throws IOException {
    Path full = tmp.resolve("full");
    List<Float> all = train(full, 6, null, 2);
    Path half = tmp.resolve("half");
    train(half, 3, null, 2);
    // the layout before: the files at the top level, no checkpoint-<step>/ and no latest
    Path old = tmp.resolve("old");
    Files.createDirectories(old);
    for (String f : List.of("config.json", "model.safetensors", TrainingState.FILE)) {
      Files.copy(half.resolve(f), old.resolve(f));
    }
    List<Float> rest = train(old, 6, old, 2);
    assertEquals(all.subList(3, 6), rest);
    assertArrayEquals(finalWeights(full), finalWeights(old));
    assertTrue(CheckpointDirectory.hasCheckpoints(old), "the resumed run saved checkpoints");
  }

  @Test
  void aCorruptFileOfTheCheckpointIsNamedOnResume() throws IOException {
    Path run = tmp.resolve("run");
    train(run, 2, null, 2);
    Path state = run.resolve("checkpoint-2").resolve(TrainingState.FILE);
    byte[] b = Files.readAllBytes(state);
    b[b.length - 1] ^= 0x40;
    Files.delete(state);
    Files.write(state, b);
    IOException e = assertThrows(IOException.class, () -> train(run, 4, run, 2));
    assertTrue(e.getMessage().startsWith(state + ": SHA-256 differs"), e.getMessage());
  }

  @Test
  void nanOptimizerMomentsAreACorruptStateNotALearningRate() throws IOException {
    Path run = tmp.resolve("run");
    train(run, 2, null, 2);
    Path old = tmp.resolve("old"); // no manifest: the moments themselves are checked
    Files.createDirectories(old);
    for (String f : List.of("config.json", "model.safetensors", TrainingState.FILE)) {
      Files.copy(run.resolve(f), old.resolve(f));
    }
    Path state = old.resolve(TrainingState.FILE);
    poisonFirstValue(state, "optimizer.exp_avg", Float.NaN);
    IOException e = assertThrows(IOException.class, () -> train(old, 4, old, 2));
    assertTrue(e.getMessage().contains(state + ": optimizer.exp_avg[0] is NaN"), e.getMessage());
    assertTrue(e.getMessage().contains("the training state is corrupt"), e.getMessage());
    assertTrue(!e.getMessage().contains("--lr"), e.getMessage());

    Files.copy(run.resolve(TrainingState.FILE), state,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    poisonFirstValue(state, "optimizer.exp_avg_sq", -1f);
    e = assertThrows(IOException.class, () -> train(old, 4, old, 2));
    assertTrue(e.getMessage().contains("optimizer.exp_avg_sq[0] is -1.0"), e.getMessage());
  }

  /** Overwrites the first float32 of a tensor of a safetensors file in place. */
  static void poisonFirstValue(Path f, String tensor, float value) throws IOException {
    byte[] b = Files.readAllBytes(f);
    ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    int headerLen = (int) bb.getLong(0);
    JsonNode h = new ObjectMapper().readTree(new String(b, 8, headerLen, StandardCharsets.UTF_8));
    int at = 8 + headerLen + h.path(tensor).path("data_offsets").get(0).asInt();
    bb.putFloat(at, value);
    Files.write(f, b);
  }
}
