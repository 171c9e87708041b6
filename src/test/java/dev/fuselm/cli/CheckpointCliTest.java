package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoint directories through the CLI: train writes them, eval and --resume read DIR. */
class CheckpointCliTest {
  @TempDir Path tmp;

  static final Path DATA = Path.of(System.getProperty("fuselm.shared.dir", "../shared"), "data",
      "the-verdict.txt");

  @Test
  void trainWritesCheckpointsThatEvalAndResumeReadThroughTheDirectory() throws IOException {
    Path cfg = tmp.resolve("c.json");
    Files.writeString(cfg, "{\"vocab_size\": 50257, \"n_positions\": 16, \"n_embd\": 8,"
        + " \"n_layer\": 1, \"n_head\": 2}");
    Path out = tmp.resolve("run");
    String[] common = {"--data", DATA.toString(), "--out", out.toString(), "--batch", "2",
        "--ctx", "8", "--save-every", "1", "--quiet", "--save-total-limit", "3"};
    ClassifyCliTest.Run r = ClassifyCliTest.run(concat(new String[] {"train", "--config",
        cfg.toString(), "--steps", "4"}, common));
    assertEquals(0, r.code(), r.err());
    assertEquals("checkpoint-4", Files.readString(out.resolve("latest")).strip());
    try (Stream<Path> s = Files.list(out)) {
      assertEquals(List.of("checkpoint-2", "checkpoint-3", "checkpoint-4"),
          s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint-"))
              .sorted().toList());
    }
    // a fresh run over it is refused, and a limit below 1
    r = ClassifyCliTest.run(concat(new String[] {"train", "--config", cfg.toString(), "--steps",
        "4"}, common));
    assertEquals(2, r.code());
    assertTrue(r.err().contains("already holds a training checkpoint"), r.err());
    r = ClassifyCliTest.run("train", "--config", cfg.toString(), "--data", DATA.toString(),
        "--out", tmp.resolve("x").toString(), "--steps", "1", "--batch", "2", "--ctx", "8",
        "--save-total-limit", "0");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--save-total-limit must be at least 1"), r.err());

    // eval reads the directory as its latest checkpoint, and a corrupt file there is named
    r = ClassifyCliTest.run("eval", "--model", out.toString(), "--data", DATA.toString(),
        "--ctx", "8");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"loss\""), r.out());
    r = ClassifyCliTest.run(concat(new String[] {"train", "--resume", out.toString(), "--steps",
        "6"}, common));
    assertEquals(0, r.code(), r.err());
    assertEquals("checkpoint-6", Files.readString(out.resolve("latest")).strip());
    Path w = out.resolve("checkpoint-6").resolve("model.safetensors");
    byte[] b = Files.readAllBytes(w);
    b[b.length - 1] ^= 1;
    Files.delete(w);
    Files.write(w, b);
    r = ClassifyCliTest.run("eval", "--model", out.toString(), "--data", DATA.toString(),
        "--ctx", "8");
    assertEquals(2, r.code());
    String err = r.err().strip();
    assertFalse(err.contains("\n\tat "), err);
    assertTrue(err.endsWith(w + ": SHA-256 differs from the checkpoint's manifest.json: the file"
        + " is corrupt or was changed after the save"), err);
  }

  static String[] concat(String[] a, String[] b) {
    String[] r = new String[a.length + b.length];
    System.arraycopy(a, 0, r, 0, a.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
