package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --version, an unknown command with --help, and chat on a model no instruction fits. */
class CliBasicsTest {
  @TempDir Path tmp;

  @Test
  void versionComesFromTheBuild() {
    ClassifyCliTest.Run r = ClassifyCliTest.run("--version");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().startsWith("fuselm 0."), r.out());
    assertFalse(r.out().contains("development build"), r.out());
  }

  @Test
  void anUnknownCommandWithHelpIsAnError() {
    ClassifyCliTest.Run r = ClassifyCliTest.run("nosuchcommand", "--help");
    assertEquals(2, r.code(), r.out());
    assertTrue(r.err().contains("'nosuchcommand' is not a fuselm command"), r.err());
    assertEquals("", r.out());
    assertEquals(0, ClassifyCliTest.run("ngram", "--help").code());
  }

  @Test
  void chatRefusesAModelTheTemplateDoesNotFitInOneLine() throws IOException {
    Path dir = tmp.resolve("tiny");
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GptConfig.of(50257, 16, 16, 2, 2), 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    ClassifyCliTest.Run r = InstructCliTest.chat("Name a dog.\n", "chat", "--model",
        dir.toString());
    assertEquals(2, r.code(), r.err());
    String err = r.err().strip();
    assertFalse(err.contains("\n"), err);
    assertTrue(err.contains("alpaca template") && err.contains("context is 16 tokens")
        && err.contains("not instruction-tuned"), err);
  }
}
