package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.io.ClassifierHead;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** finetune-classify then classify through Main, on a tiny GPT-2-vocabulary model. */
public class ClassifyCliTest {
  @TempDir Path tmp;
  static final ObjectMapper JSON = new ObjectMapper();

  public record Run(int code, String out, String err) {}

  public static Run run(String... args) {
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

  Path initModel() throws IOException {
    Path dir = tmp.resolve("init");
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GptConfig.of(50257, 32, 16, 2, 2).withDropout(0f), 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    return dir;
  }

  Path data() throws IOException {
    String[] pos = {"good", "great", "nice", "lovely"}, neg = {"bad", "awful", "poor", "ugly"};
    String[] noise = {"the", "film", "was", "very", "a", "day", "and"};
    Random r = new Random(1);
    StringBuilder sb = new StringBuilder("label,text\n");
    for (int i = 0; i < 120; i++) {
      boolean p = i % 2 == 0;
      StringBuilder t = new StringBuilder();
      int len = 2 + r.nextInt(4);
      int at = r.nextInt(len);
      for (int j = 0; j < len; j++) {
        t.append(j == at ? (p ? pos : neg)[r.nextInt(4)] : noise[r.nextInt(noise.length)])
            .append(' ');
      }
      sb.append(p ? "pos" : "neg").append(',').append(t.toString().trim()).append('\n');
    }
    Path f = tmp.resolve("reviews.csv");
    Files.writeString(f, sb.toString());
    return f;
  }

  @Test
  void finetuneThenClassify() throws IOException {
    Path init = initModel(), data = data(), out = tmp.resolve("clf");
    Run ft = run("finetune-classify", "--init", init.toString(), "--data", data.toString(),
        "--text-column", "text", "--label-column", "label", "--out", out.toString(),
        "--epochs", "8", "--batch", "8", "--lr", "5e-3", "--train-all");
    assertEquals(0, ft.code(), ft.err());
    List<String> log = Files.readAllLines(out.resolve("log.jsonl"));
    JsonNode fin = JSON.readTree(log.get(log.size() - 1));
    assertEquals("final", fin.get("event").asText());
    for (String part : new String[] {"train", "validation", "test"}) {
      assertTrue(fin.get(part).has("accuracy"), part);
      assertTrue(fin.get(part).get("per_class").get("pos").has("f1"), part);
    }
    assertEquals(10, log.size(), "start, 8 epochs, final");
    double acc = fin.get("test").get("accuracy").asDouble();
    assertTrue(acc >= 0.9, "test accuracy " + acc + "\n" + ft.out());
    assertTrue(Files.isRegularFile(out.resolve(ClassifierHead.HEAD_FILE)));
    assertEquals(List.of("neg", "pos"), ClassifierHead.readMeta(out).labels());

    Run one = run("classify", "--model", out.toString(), "--text", "the film was great");
    assertEquals(0, one.code(), one.err());
    JsonNode n = JSON.readTree(one.out().trim());
    assertEquals("pos", n.get("label").asText());
    double sum = n.get("probabilities").get("pos").asDouble()
        + n.get("probabilities").get("neg").asDouble();
    assertEquals(1.0, sum, 1e-9);

    Path in = tmp.resolve("in.txt");
    Files.writeString(in, "a very bad day\n\nthe film was nice\n");
    Run many = run("classify", "--model", out.toString(), "--input", in.toString());
    assertEquals(0, many.code(), many.err());
    String[] lines = many.out().trim().split("\n");
    assertEquals(2, lines.length);
    assertEquals("neg", JSON.readTree(lines[0]).get("label").asText());
    assertEquals("pos", JSON.readTree(lines[1]).get("label").asText());

    // nothing is overwritten
    Run again = run("finetune-classify", "--init", init.toString(), "--data", data.toString(),
        "--text-column", "text", "--label-column", "label", "--out", out.toString());
    assertEquals(2, again.code());
    assertTrue(again.err().contains("not an empty directory"), again.err());
  }

  /** --save-state then --resume with more epochs ends where the straight run ends, bit for bit. */
  @Test
  void resumeContinuesTheRunExactly() throws IOException {
    Path init = initModel(), data = data();
    String[] common = {"finetune-classify", "--init", init.toString(), "--data", data.toString(),
        "--text-column", "text", "--label-column", "label", "--batch", "8", "--lr", "5e-3",
        "--warmup", "3"};
    Path straight = tmp.resolve("straight"), half = tmp.resolve("half"), rest = tmp.resolve("rest");
    assertEquals(0, run(concat(common, "--out", straight.toString(), "--epochs", "2")).code());
    Run first = run(concat(common, "--out", half.toString(), "--epochs", "1", "--save-state"));
    assertEquals(0, first.code(), first.err());
    assertTrue(Files.isRegularFile(half.resolve("training_state.safetensors")));
    assertFalse(Files.exists(straight.resolve("training_state.safetensors")), "only when asked");
    Run resumed = run(concat(common, "--out", rest.toString(), "--epochs", "2", "--resume",
        half.toString()));
    assertEquals(0, resumed.code(), resumed.err());
    for (String f : new String[] {"model.safetensors", ClassifierHead.HEAD_FILE}) {
      assertTrue(java.util.Arrays.equals(Files.readAllBytes(straight.resolve(f)),
          Files.readAllBytes(rest.resolve(f))), f);
    }
    List<String> a = Files.readAllLines(straight.resolve("log.jsonl"));
    List<String> b = Files.readAllLines(rest.resolve("log.jsonl"));
    assertEquals(a.get(a.size() - 1), b.get(b.size() - 1), "final metrics");

    // other settings are refused in the library's words, as one line
    Run other = run(concat(common, "--out", tmp.resolve("x").toString(), "--epochs", "2",
        "--resume", half.toString(), "--train-all"));
    assertEquals(2, other.code());
    assertTrue(other.err().contains("cannot resume exactly"), other.err());
  }

  static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void badInputIsOneLineAndExitTwo() throws IOException {
    Path init = initModel(), out = tmp.resolve("clf");
    Path bad = tmp.resolve("bad.tsv");
    Files.writeString(bad, "ham\thello\n\tno label here\nspam\twin\n");
    Run r = run("finetune-classify", "--init", init.toString(), "--data", bad.toString(),
        "--text-column", "1", "--label-column", "0", "--out", out.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("bad.tsv:2: the label is missing"), r.err());
    assertEquals(1, r.err().trim().split("\n").length, r.err());
    assertFalse(Files.exists(out), "nothing written on bad input");

    Path empty = tmp.resolve("empty.tsv");
    Files.writeString(empty, "");
    r = run("finetune-classify", "--init", init.toString(), "--data", empty.toString(),
        "--text-column", "1", "--label-column", "0", "--out", out.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("empty"), r.err());

    r = run("classify", "--model", init.toString(), "--text", "hi");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("classifier.json"), r.err());
    r = run("classify", "--model", init.toString());
    assertEquals(2, r.code());
  }
}
