package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fuselm train / generate / eval commands through Main, as a user runs them. */
class CliEndToEndTest {
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
      return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  static List<Float> losses(String stdout) throws IOException {
    List<Float> l = new ArrayList<>();
    for (String line : stdout.split("\n")) {
      if (line.startsWith("{")) {
        JsonNode n = JSON.readTree(line);
        if (n.has("loss") && n.has("lr")) {
          l.add((float) n.get("loss").asDouble());
        }
      }
    }
    return l;
  }

  private Path setup() throws IOException {
    StringJoiner ids = new StringJoiner(" ");
    for (int i = 0; i < 600; i++) {
      ids.add(Integer.toString((i * 7 + i / 13) % 37));
    }
    Files.writeString(tmp.resolve("data.ids"), ids.toString());
    Files.writeString(tmp.resolve("tiny.json"), "{\"vocab_size\":37,\"n_positions\":16,"
        + "\"n_embd\":16,\"n_layer\":2,\"n_head\":2,\"embd_pdrop\":0.0,\"resid_pdrop\":0.0,"
        + "\"attn_pdrop\":0.0}");
    return tmp.resolve("data.ids");
  }

  @Test
  void trainResumeGenerateEval() throws IOException {
    Path data = setup();
    String[] common = {"train", "--data", data.toString(), "--batch", "2", "--ctx", "8",
        "--schedule", "constant", "--lr", "1e-2", "--no-shuffle", "--val-fraction", "0.1"};
    Run full = run(concat(common, "--config", tmp.resolve("tiny.json").toString(), "--out",
        tmp.resolve("full").toString(), "--steps", "6", "--log-json", tmp.resolve("log.jsonl").toString()));
    assertEquals(0, full.code(), full.err());
    List<Float> all = losses(full.out());
    assertEquals(6, all.size(), full.out());
    List<String> logLines = Files.readAllLines(tmp.resolve("log.jsonl"));
    JsonNode first = JSON.readTree(logLines.get(0));
    for (String key : new String[] {"step", "loss", "lr", "grad_norm", "tokens_per_s"}) {
      assertTrue(first.has(key), key + " in " + logLines.get(0));
    }
    assertTrue(logLines.stream().anyMatch(s -> s.contains("\"val_loss\"")), logLines.toString());
    assertTrue(Files.exists(tmp.resolve("full/loss.png")));

    Run part = run(concat(common, "--config", tmp.resolve("tiny.json").toString(), "--out",
        tmp.resolve("part").toString(), "--steps", "3"));
    assertEquals(0, part.code(), part.err());
    Run rest = run(concat(common, "--resume", tmp.resolve("part").toString(), "--out",
        tmp.resolve("part").toString(), "--steps", "6"));
    assertEquals(0, rest.code(), rest.err());
    List<Float> resumed = new ArrayList<>(losses(part.out()));
    resumed.addAll(losses(rest.out()));
    assertEquals(all, resumed, "an interrupted and resumed run equals the uninterrupted one");

    Run gen = run("generate", "--model", tmp.resolve("full").toString(), "--prompt-ids", "1 2 3",
        "--max-new-tokens", "5", "--temperature", "0", "--ids");
    assertEquals(0, gen.code(), gen.err());
    assertEquals(5, gen.out().trim().split(" ").length, gen.out());
    Run gen2 = run("generate", "--model", tmp.resolve("full").toString(), "--prompt-ids", "1 2 3",
        "--max-new-tokens", "5", "--temperature", "0", "--ids");
    assertEquals(gen.out(), gen2.out());

    Run eval = run("eval", "--model", tmp.resolve("full").toString(), "--data", data.toString(),
        "--ctx", "8");
    assertEquals(0, eval.code(), eval.err());
    JsonNode e = JSON.readTree(eval.out());
    assertEquals(599, e.get("tokens").asInt());
    assertEquals(Math.exp(e.get("loss").asDouble()), e.get("perplexity").asDouble(), 1e-3);
  }

  @Test
  void badInputIsOneLineAndExitCode2() throws IOException {
    Path data = setup();
    Path model = tmp.resolve("m");
    Run ok = run("train", "--data", data.toString(), "--config", tmp.resolve("tiny.json").toString(),
        "--out", model.toString(), "--steps", "1", "--batch", "2", "--ctx", "8");
    assertEquals(0, ok.code(), ok.err());
    expectError("no such model directory", "generate", "--model", tmp.resolve("nope").toString(),
        "--prompt-ids", "1", "--max-new-tokens", "2");
    expectError("context window", "generate", "--model", model.toString(), "--prompt-ids",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "--max-new-tokens", "2", "--ids");
    expectError("add --ids", "generate", "--model", model.toString(), "--prompt-ids", "1",
        "--max-new-tokens", "2");
    expectError("--ctx 32", "eval", "--model", model.toString(), "--data", data.toString(),
        "--ctx", "32");
    expectError("larger than the model's context", "train", "--data", data.toString(), "--init",
        model.toString(), "--out", tmp.resolve("o2").toString(), "--steps", "1", "--batch", "1",
        "--ctx", "64");
    expectError("already holds a training checkpoint", "train", "--data", data.toString(),
        "--config", tmp.resolve("tiny.json").toString(), "--out", model.toString(), "--steps", "1",
        "--batch", "1", "--ctx", "8");
    Files.writeString(tmp.resolve("empty.ids"), "");
    expectError("empty", "eval", "--model", model.toString(), "--data",
        tmp.resolve("empty.ids").toString());
    // the reader's own checks: without its pointer file `latest` the directory is read as a
    // plain model directory (with it, the checkpoint's manifest refuses any changed file first)
    Files.delete(model.resolve("latest"));
    // a truncated weights file: the error names it, and nothing is overwritten
    Path w = model.resolve("model.safetensors");
    byte[] bytes = Files.readAllBytes(w);
    Files.write(w, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    expectError("model.safetensors", "eval", "--model", model.toString(), "--data", data.toString());
    assertEquals(bytes.length / 2, Files.size(w));
    // a header that lies about sizes
    java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40);
    Files.write(w, bytes);
    expectError("header length", "generate", "--model", model.toString(), "--prompt-ids", "1",
        "--max-new-tokens", "1", "--ids");
  }

  @Test
  void demoRunsEndToEnd() {
    Run r = run("demo", "--steps", "4", "--out", tmp.resolve("demo").toString(),
        "--max-new-tokens", "5", "--threads", "2");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.err().contains("on TinyShakespeare (1,115,394 characters"), r.err());
    assertTrue(r.out().contains("\nROMEO:"), r.out());
    assertTrue(r.out().contains("\"val_loss\""), r.out());
    assertTrue(Files.exists(tmp.resolve("demo/loss.png")));
    assertTrue(Files.exists(tmp.resolve("demo/encoder.json")));
    Run gen = run("generate", "--model", tmp.resolve("demo").toString(), "--prompt", "JULIET:",
        "--max-new-tokens", "3", "--seed", "1");
    assertEquals(0, gen.code(), gen.err());
  }

  @Test
  void bf16TrainingResumesInBf16AndRefusesAnotherPrecision() throws IOException {
    Path data = setup();
    String[] common = {"train", "--data", data.toString(), "--batch", "2", "--ctx", "8",
        "--schedule", "constant", "--lr", "1e-2", "--no-shuffle", "--val-fraction", "0.1"};
    Path full = tmp.resolve("full16"), part = tmp.resolve("part16");
    Run f = run(concat(common, "--config", tmp.resolve("tiny.json").toString(), "--out",
        full.toString(), "--steps", "4", "--precision", "bf16"));
    assertEquals(0, f.code(), f.err());
    assertTrue(f.err().contains("bf16 mixed precision"), f.err());
    assertEquals("bf16", TrainingState.metadata(full).get("precision"));
    Run p = run(concat(common, "--config", tmp.resolve("tiny.json").toString(), "--out",
        part.toString(), "--steps", "2", "--precision", "bf16"));
    assertEquals(0, p.code(), p.err());
    expectError("--precision fp32 does not match", concat(common, "--resume", part.toString(),
        "--out", part.toString(), "--steps", "4", "--precision", "fp32"));
    expectError("--precision must be fp32 or bf16", concat(common, "--resume", part.toString(),
        "--out", part.toString(), "--steps", "4", "--precision", "fp16"));
    // no --precision on resume: the checkpoint's bf16, so the curve continues exactly
    Run rest = run(concat(common, "--resume", part.toString(), "--out", part.toString(),
        "--steps", "4"));
    assertEquals(0, rest.code(), rest.err());
    List<Float> resumed = new ArrayList<>(losses(p.out()));
    resumed.addAll(losses(rest.out()));
    assertEquals(losses(f.out()), resumed);
    // the checkpoint is the fp32 master weights in the usual layout: everything else loads it
    Run gen = run("generate", "--model", full.toString(), "--prompt-ids", "1 2 3",
        "--max-new-tokens", "3", "--temperature", "0", "--ids");
    assertEquals(0, gen.code(), gen.err());
  }

  private static void expectError(String fragment, String... args) {
    Run r = run(args);
    assertEquals(2, r.code(), r.out() + r.err());
    String msg = r.err().trim();
    assertTrue(msg.startsWith("fuselm: ") && !msg.contains("\n") && msg.contains(fragment),
        "error for " + String.join(" ", args) + ": " + msg);
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
