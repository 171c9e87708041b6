package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The checkpoint writer at file level: pointer switch, keep-last-K, digests, leftovers. */
class CheckpointDirectoryTest {
  @TempDir Path tmp;

  /** A save of step with one weights file whose content says the step. */
  static Path save(Path dir, long step, int keep) throws IOException {
    CheckpointDirectory.Staged s = CheckpointDirectory.begin(dir, step);
    Files.writeString(s.path().resolve("model.safetensors"), "weights of step " + step);
    Files.writeString(s.path().resolve("training_state.safetensors"), "state of step " + step);
    return s.commit(keep);
  }

  static List<String> checkpoints(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint-"))
          .sorted().toList();
    }
  }

  @Test
  void theLatestPointerSwitchesToEachCompleteSave() throws IOException {
    Path dir = tmp.resolve("run");
    assertEquals(dir, CheckpointDirectory.resolve(dir), "nothing saved yet: dir itself");
    save(dir, 1, 2);
    assertEquals("checkpoint-1\n", Files.readString(dir.resolve("latest")));
    assertEquals(dir.resolve("checkpoint-1"), CheckpointDirectory.verified(dir));
    save(dir, 2, 2);
    assertEquals(dir.resolve("checkpoint-2"), CheckpointDirectory.verified(dir));
    // the top level mirrors the latest checkpoint, for tools that read dir as a plain directory
    assertEquals("weights of step 2", Files.readString(dir.resolve("model.safetensors")));
    assertTrue(Files.isRegularFile(dir.resolve("checkpoint-2/manifest.json")));
    assertFalse(Files.exists(dir.resolve("manifest.json")), "the manifest is not mirrored");
    assertTrue(CheckpointDirectory.hasCheckpoints(dir));
  }

  @Test
  void keepsTheNewestKCheckpoints() throws IOException {
    Path dir = tmp.resolve("run");
    for (int step = 1; step <= 5; step++) {
      save(dir, step, 2);
    }
    assertEquals(List.of("checkpoint-4", "checkpoint-5"), checkpoints(dir));
    save(dir, 6, 1);
    assertEquals(List.of("checkpoint-6"), checkpoints(dir));
    save(dir, 7, 3);
    save(dir, 8, 3);
    assertEquals(List.of("checkpoint-6", "checkpoint-7", "checkpoint-8"), checkpoints(dir));
  }

  @Test
  void aResumeFromAnEarlierStepReplacesTheLaterCheckpoints() throws IOException {
    Path dir = tmp.resolve("run");
    for (int step = 1; step <= 3; step++) {
      save(dir, step, 3);
    }
    // a run resumed from checkpoint-1 saves step 2 again: its future (2, 3) is replaced
    save(dir, 2, 3);
    assertEquals(List.of("checkpoint-1", "checkpoint-2"), checkpoints(dir));
    assertEquals(dir.resolve("checkpoint-2"), CheckpointDirectory.resolve(dir));
  }

  @Test
  void aSecondSaveOfThePublishedStepGetsItsOwnDirectory() throws IOException {
    Path dir = tmp.resolve("run");
    save(dir, 4, 2);
    Path second = save(dir, 4, 2);
    assertEquals(dir.resolve("checkpoint-4.1"), second);
    assertEquals(second, CheckpointDirectory.verified(dir));
    assertEquals(List.of("checkpoint-4", "checkpoint-4.1"), checkpoints(dir));
  }

  @Test
  void aChangedOrTruncatedFileIsNamedOnLoad() throws IOException {
    Path dir = tmp.resolve("run");
    save(dir, 1, 2);
    Path w = dir.resolve("checkpoint-1/model.safetensors");
    byte[] b = Files.readAllBytes(w);
    b[3] ^= 1;
    Files.delete(w); // the top level shares the file (a hard link): write a new one
    Files.write(w, b);
    IOException e = assertThrows(IOException.class, () -> CheckpointDirectory.verified(dir));
    assertTrue(e.getMessage().startsWith(w.toString() + ": SHA-256 differs"), e.getMessage());

    Files.delete(w);
    Files.write(w, new byte[] {1, 2});
    e = assertThrows(IOException.class, () -> CheckpointDirectory.verified(dir));
    assertTrue(e.getMessage().contains(w + ": 2 bytes but the checkpoint's manifest.json records"),
        e.getMessage());

    Files.delete(w);
    e = assertThrows(IOException.class, () -> CheckpointDirectory.verified(dir));
    assertTrue(e.getMessage().contains(w + ": missing"), e.getMessage());
  }

  @Test
  void aPointerToNothingIsAOneLineError() throws IOException {
    Path dir = tmp.resolve("run");
    save(dir, 1, 2);
    Files.writeString(dir.resolve("latest"), "checkpoint-9\n");
    IOException e = assertThrows(IOException.class, () -> CheckpointDirectory.resolve(dir));
    assertTrue(e.getMessage().contains("names checkpoint-9, which is missing"), e.getMessage());
    Files.writeString(dir.resolve("latest"), "../../etc\n");
    e = assertThrows(IOException.class, () -> CheckpointDirectory.resolve(dir));
    assertTrue(e.getMessage().contains("does not name a checkpoint directory"), e.getMessage());
  }

  @Test
  void leftoversOfKilledSavesAreRemovedByTheNextSave() throws IOException {
    Path dir = tmp.resolve("run");
    save(dir, 2, 3);
    String dead = ".tmp-" + Integer.MAX_VALUE; // no such process
    Files.writeString(dir.resolve(".model.safetensors" + dead), "torn");
    Files.createDirectories(dir.resolve(".checkpoint-3" + dead));
    Files.writeString(dir.resolve(".checkpoint-3" + dead + "/model.safetensors"), "half");
    Files.createDirectories(dir.resolve(".checkpoint-1.del-" + Integer.MAX_VALUE));
    Files.createDirectories(dir.resolve("checkpoint-1")); // no manifest: incomplete
    // complete but never published: killed between the rename and the switch of latest
    save(tmp.resolve("other"), 3, 2);
    Files.move(tmp.resolve("other/checkpoint-3"), dir.resolve("checkpoint-3"));
    // a temporary of a process that still runs (this one's parent cannot be dead) stays
    long live = ProcessHandle.current().parent().orElseThrow().pid();
    Files.writeString(dir.resolve(".config.json.tmp-" + live), "someone else's");

    assertEquals(5, CheckpointDirectory.cleanLeftovers(dir));
    try (Stream<Path> s = Files.list(dir)) {
      List<String> hidden = s.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith(".")).toList();
      assertEquals(List.of(".config.json.tmp-" + live), hidden);
    }
    assertEquals(List.of("checkpoint-2"), checkpoints(dir));
    assertEquals(dir.resolve("checkpoint-2"), CheckpointDirectory.verified(dir));
  }

  @Test
  void aSaveKilledAfterItsSwitchIsFinishedByTheNextRun() throws IOException {
    Path dir = tmp.resolve("run");
    for (int step = 1; step <= 3; step++) {
      save(dir, step, 3); // as if killed after step 3's switch, before it pruned to 2
    }
    // killed during its mirror: a top-level file still of another step (a new file: the link to
    // the checkpoint's own file must not be written through)
    Files.delete(dir.resolve("model.safetensors"));
    Files.writeString(dir.resolve("model.safetensors"), "weights of step 2");
    CheckpointDirectory.finishInterruptedSave(dir, 2);
    assertEquals(List.of("checkpoint-2", "checkpoint-3"), checkpoints(dir));
    assertEquals("weights of step 3", Files.readString(dir.resolve("model.safetensors")));
    assertEquals(dir.resolve("checkpoint-3"), CheckpointDirectory.verified(dir));
    CheckpointDirectory.finishInterruptedSave(dir, 2); // again: already finished, nothing left
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(), s.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith(".")).toList(), "no temporaries");
    }
    CheckpointDirectory.finishInterruptedSave(tmp.resolve("plain"), 2); // nothing saved: no-op
  }

  @Test
  void anAbandonedSaveLeavesNothing() throws IOException {
    Path dir = tmp.resolve("run");
    save(dir, 1, 2);
    CheckpointDirectory.Staged s = CheckpointDirectory.begin(dir, 2);
    Files.writeString(s.path().resolve("model.safetensors"), "half");
    s.abandon();
    assertFalse(Files.exists(s.path()));
    assertEquals(dir.resolve("checkpoint-1"), CheckpointDirectory.verified(dir));
  }

  @Test
  void aDirectoryWithoutCheckpointsIsReadAsItIs() throws IOException {
    Path dir = tmp.resolve("hf");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("config.json"), "{}", StandardCharsets.UTF_8);
    assertEquals(dir, CheckpointDirectory.verified(dir));
    assertFalse(CheckpointDirectory.hasCheckpoints(dir));
  }
}
