package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.io.Checkpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fuselm embed and fuselm bench embed through Main, on a tiny random BERT with the uncased vocabulary. */
class EmbedCommandTest {
  @TempDir Path tmp;
  static final ObjectMapper JSON = new ObjectMapper();

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    PrintStream oldOut = System.out, oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      int code = Main.execute(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8),
          err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  Path modelDir() throws IOException {
    Path dir = tmp.resolve("bert");
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f, 0.1f,
            0.1f), 3)) {
      Checkpoint.save(ModelFamily.BERT, m, dir);
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), dir);
    return dir;
  }

  @Test
  void embedsEveryLineAsOneJsonArrayMatchingTheApi() throws IOException {
    Path dir = modelDir();
    List<String> lines = List.of("first line", "", "a third, longer line of text");
    Path in = tmp.resolve("in.txt");
    Files.writeString(in, String.join("\n", lines) + "\n");
    Run r = run("embed", "--model", dir.toString(), "--input", in.toString(), "--batch", "2",
        "--normalize");
    assertEquals(0, r.code(), r.err());
    String[] out = r.out().split("\n");
    assertEquals(3, out.length, r.out());
    float[][] want;
    try (ComputeContext c = ComputeContext.create();
        SentenceEmbedder e = Checkpoint.loadEmbedder(c, dir, 512, 32)) {
      want = e.embed(lines, true);
    }
    for (int i = 0; i < 3; i++) {
      JsonNode a = JSON.readTree(out[i]);
      assertTrue(a.isArray() && a.size() == 16, out[i]);
      double norm = 0;
      for (int k = 0; k < 16; k++) {
        norm += a.get(k).asDouble() * a.get(k).asDouble();
        assertEquals(want[i][k], a.get(k).floatValue(), 1e-6f, "line " + i);
      }
      assertEquals(1.0, norm, 1e-5);
    }
  }

  @Test
  void badInputsAreOneLineErrorsWithExitCode2() throws IOException {
    Path dir = modelDir();
    Path in = tmp.resolve("in.txt");
    Files.writeString(in, "text\n");
    Run r = run("embed", "--model", dir.toString(), "--input", tmp.resolve("none.txt").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("none.txt: no such file"), r.err());
    r = run("embed", "--model", tmp.resolve("nodir").toString(), "--input", in.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("no such model directory"), r.err());
    Files.delete(dir.resolve("vocab.txt"));
    r = run("embed", "--model", dir.toString(), "--input", in.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("no vocab.txt"), r.err());
    r = run("embed", "--model", dir.toString(), "--input", in.toString(), "--batch", "0");
    assertEquals(2, r.code());
    assertEquals(1, r.err().strip().split("\n").length, r.err());
  }

  @Test
  void benchEmbedPrintsOneJsonLine() throws IOException {
    Run r = run("bench", "embed", "--config", "bert-tiny", "--batch", "2", "--seq", "8",
        "--steps", "1");
    assertEquals(0, r.code(), r.err());
    JsonNode j = JSON.readTree(r.out().strip());
    assertEquals("embed", j.get("bench").asText());
    assertEquals(BertConfig.tiny().parameterCount(false), j.get("parameters").asLong());
    assertTrue(j.get("sentences_per_s").asDouble() > 0);
  }
}
