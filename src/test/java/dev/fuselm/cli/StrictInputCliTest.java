package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.NativeBuffer;
import dev.fuselm.tokenizer.ByteLevel;
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

/**
 * Regression tests of issue 19 through the real entry point: values, files and sizes that used to
 * run silently, print stack traces or say nothing useful are refused before any work, as one
 * {@code fuselm: ...} line with exit code 2.
 */
class StrictInputCliTest {
  @TempDir Path tmp;

  record Run(int code, String out, String err) {}

  static synchronized Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int code = Main.execute(args);
      return new Run(code, out.toString(StandardCharsets.UTF_8),
          err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  /**
   * Exit code 2, no stack trace, and a last stderr line {@code fuselm: ...} holding every part
   * (a first line may be the backend's log line).
   */
  static String assertUserError(Run r, String... parts) {
    assertEquals(2, r.code(), r.out() + r.err());
    assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
    assertFalse(r.err().contains("Usage:"), "no usage text: " + r.err());
    List<String> lines = r.err().strip().lines().toList();
    String last = lines.get(lines.size() - 1);
    assertTrue(last.startsWith("fuselm: "), r.err());
    for (String p : parts) {
      assertTrue(last.contains(p), "'" + p + "' missing from: " + last);
    }
    return last;
  }

  private Path data() throws IOException {
    StringJoiner ids = new StringJoiner(" ");
    for (int i = 0; i < 200; i++) {
      ids.add(Integer.toString((i * 7 + i / 13) % 37));
    }
    return Files.writeString(tmp.resolve("data.ids"), ids.toString());
  }

  private Path config(String name, String json) throws IOException {
    return Files.writeString(tmp.resolve(name), json);
  }

  private static final String TINY = "{\"vocab_size\":37,\"n_positions\":16,\"n_embd\":16,"
      + "\"n_layer\":1,\"n_head\":2";

  /** A model directory with this config.json and an empty (valid) model.safetensors. */
  private Path modelDir(String name, String configJson) throws IOException {
    Path d = Files.createDirectories(tmp.resolve(name));
    Files.writeString(d.resolve("config.json"), configJson);
    new SafeTensors.Writer().write(d.resolve("model.safetensors"));
    return d;
  }

  /** A real tiny model directory saved by fuselm. */
  private Path tinyModel(String name) throws IOException {
    Path d = tmp.resolve(name);
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, GptConfig.of(37, 16, 16, 1, 2), 1)) {
      Checkpoint.save(ModelFamily.GPT2, m, d);
    }
    return d;
  }

  private String[] train(String... extra) throws IOException {
    List<String> a = new ArrayList<>(List.of("train", "--data", data().toString(), "--steps",
        "1", "--batch", "1", "--ctx", "4", "--quiet"));
    a.addAll(List.of(extra));
    return a.toArray(String[]::new);
  }

  // ---- allocation sizes from a config

  @Test
  void aHugeContextIsAOneLineErrorForEvalGenerateAndTrain() throws IOException {
    String big = "{\"vocab_size\":37,\"n_positions\":1000000000,\"n_embd\":1024,\"n_layer\":1,"
        + "\"n_head\":2}";
    Path m = modelDir("big", big);
    long before = NativeBuffer.liveBytes();
    assertUserError(run("eval", "--model", m.toString(), "--data", data().toString()),
        m.toString(), "cannot allocate 4.1 TB", "n_positions 1000000000", "limit");
    assertUserError(run("generate", "--model", m.toString(), "--prompt-ids", "1 2",
        "--max-new-tokens", "2", "--ids"), "cannot allocate", "parameters of a GPT model");
    assertUserError(run(train("--config", config("big.json", big).toString(), "--out",
        tmp.resolve("o").toString())), "cannot allocate", "n_positions 1000000000");
    assertEquals(before, NativeBuffer.liveBytes(), "nothing allocated, nothing leaked");
  }

  @Test
  void aHugeWidthIsAOneLineError() throws IOException {
    String wide = "{\"vocab_size\":37,\"n_positions\":16,\"n_embd\":65536,\"n_layer\":12,"
        + "\"n_head\":2}";
    assertUserError(run(train("--config", config("wide.json", wide).toString(), "--out",
        tmp.resolve("o").toString())), "cannot allocate 2.5 TB", "n_embd 65536");
  }

  // ---- NaN weights

  @Test
  void nanWeightsAreRefusedNamingTheTensor() throws IOException {
    Path d = tmp.resolve("nan");
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, GptConfig.of(37, 16, 16, 1, 2), 1)) {
      float[] w = m.parameter("transformer.h.0.ln_1.weight").toFloatArray();
      w[3] = Float.NaN;
      m.parameter("transformer.h.0.ln_1.weight").copyFrom(w);
      Checkpoint.save(ModelFamily.GPT2, m, d);
    }
    Run e = run("eval", "--model", d.toString(), "--data", data().toString());
    assertFalse(e.out().contains("NaN"), e.out());
    assertUserError(e, "model.safetensors", "'transformer.h.0.ln_1.weight'", "NaN",
        "element 3");
    assertUserError(run("generate", "--model", d.toString(), "--prompt-ids", "1 2",
        "--max-new-tokens", "2", "--ids"), "transformer.h.0.ln_1.weight", "non-finite");
  }

  // ---- config values

  @Test
  void wrongTypesInConfigJsonNameTheFieldAndFile() throws IOException {
    Path eps = config("eps.json", TINY + ",\"layer_norm_epsilon\":\"x\"}");
    assertUserError(run(train("--config", eps.toString(), "--out", tmp.resolve("o").toString())),
        eps.toString(), "layer_norm_epsilon must be a number", "\"x\"");
    Path m = modelDir("bool", TINY + ",\"tie_word_embeddings\":\"no\"}");
    assertUserError(run("eval", "--model", m.toString(), "--data", data().toString()),
        "config.json", "tie_word_embeddings must be true or false");
    Path dup = config("dup.json", TINY + ",\"n_embd\":32}");
    assertUserError(run(train("--config", dup.toString(), "--out", tmp.resolve("o").toString())),
        dup.toString(), "duplicate key 'n_embd'");
  }

  @Test
  void aConfigThatIsNotUtf8SaysSo() throws IOException {
    Path m = modelDir("latin1", TINY + "}");
    byte[] bytes = (TINY + ",\"note\":\"caf\u00e9\"}").getBytes(StandardCharsets.ISO_8859_1);
    Files.write(m.resolve("config.json"), bytes);
    String line = assertUserError(run("eval", "--model", m.toString(), "--data",
        data().toString()), "config.json", "not valid UTF-8", "offset " + (bytes.length - 3));
    assertFalse(line.contains("Input length"), line);
  }

  // ---- option values, refused before any work

  @Test
  void negativeAndNonFiniteOptionValuesAreRefusedBeforeWork() throws IOException {
    String c = config("tiny.json", TINY + "}").toString();
    Path out = tmp.resolve("never");
    assertUserError(run(train("--config", c, "--out", out.toString(), "--threads", "-1")),
        "--threads must be >= 0", "(see fuselm train --help)");
    assertUserError(run(train("--config", c, "--out", out.toString(), "--sample-every", "-1")),
        "--sample-every must be >= 0");
    assertUserError(run(train("--config", c, "--out", out.toString(), "--lr", "Infinity")),
        "--lr must be a finite number", "Infinity");
    assertUserError(run(train("--config", c, "--out", out.toString(), "--lr", "NaN")),
        "--lr must be a finite number", "NaN");
    assertUserError(run(train("--config", c, "--out", out.toString(), "--clip", "-1")),
        "--clip must be >= 0");
    assertUserError(run("eval", "--model", tmp.toString(), "--data", "x.ids", "--threads", "-2"),
        "--threads must be >= 0", "(see fuselm eval --help)");
    assertFalse(Files.exists(out), "no work started");
  }

  @Test
  void dropoutIsCheckedAndNotIgnoredWithInit() throws IOException {
    Path init = tinyModel("init");
    Path out = tmp.resolve("o");
    assertUserError(run(train("--init", init.toString(), "--out", out.toString(), "--dropout",
        "1.5")), "--dropout must be a probability in [0, 1)", "1.5");
    assertUserError(run(train("--init", init.toString(), "--out", out.toString(), "--dropout",
        "0.1")), "--dropout sets up a new model");
    assertUserError(run(train("--config", config("t.json", TINY + "}").toString(), "--out",
        out.toString(), "--dropout", "-0.5")), "--dropout must be a probability");
    assertFalse(Files.exists(out));
  }

  @Test
  void optionChecksCoverEveryCommandThatSharesTheOption() {
    assertEquals(null, OptionChecks.problem("--threads", 0));
    assertEquals(null, OptionChecks.problem("--lr", 1e-3f));
    assertEquals(null, OptionChecks.problem("--dropout", 0f));
    assertTrue(OptionChecks.problem("--lr", 0f).contains("> 0"));
    assertTrue(OptionChecks.problem("--lr", Float.NEGATIVE_INFINITY).contains("finite"));
    assertTrue(OptionChecks.problem("--temperature", Float.NaN).contains("finite"));
    assertTrue(OptionChecks.problem("--dropout", 1f).contains("[0, 1)"));
    assertTrue(OptionChecks.problem("--warmup", -3).contains(">= 0"));
    Run r = run("finetune-classify", "--init", tmp.toString(), "--data", "x.tsv",
        "--text-column", "1", "--label-column", "0", "--out", tmp.resolve("o").toString(),
        "--threads", "-1");
    assertUserError(r, "--threads must be >= 0", "fuselm finetune-classify --help");
  }

  // ---- files and directories

  @Test
  void outNamingAFileAndInputNamingADirectorySaySo() throws IOException {
    Path file = Files.writeString(tmp.resolve("a-file"), "x");
    assertUserError(run(train("--config", config("t.json", TINY + "}").toString(), "--out",
        file.toString())), file.toString(), "is a file, not a directory");
    assertUserError(run("tokenize", "--tokenizer", "gpt2", "--input", tmp.toString()),
        tmp.toString(), "is a directory");
    assertUserError(run("train", "--data", tmp.toString(), "--config", config("d.json",
        TINY + "}").toString(), "--steps", "1", "--batch", "1", "--ctx", "4", "--quiet", "--out",
        tmp.resolve("out").toString()), tmp.toString(), "is a directory, not a data file");
  }

  @Test
  void fileSystemExceptionsGetFuselmWording() throws IOException {
    Path file = Files.writeString(tmp.resolve("f"), "x");
    assertEquals(file + ": is a file, not a directory", Main.message(
        new java.nio.file.FileAlreadyExistsException(file.toString())));
    assertEquals("/x/y: no such file or directory", Main.message(
        new java.nio.file.NoSuchFileException("/x/y")));
    assertEquals("/x/y: is a file, not a directory", Main.message(
        new java.nio.file.NotDirectoryException("/x/y")));
    assertEquals("/x: permission denied", Main.message(
        new java.nio.file.AccessDeniedException("/x")));
  }

  @Test
  void badIdsInEncoderJsonAreReportedAgainstEncoderJson() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("tok"));
    StringBuilder enc = new StringBuilder("{");
    for (int b = 0; b < 256; b++) {
      enc.append(b == 0 ? "" : ",");
      enc.append('"').append(byteLevelEscaped(b)).append("\":").append(b == 7 ? 900 : b);
    }
    Files.writeString(dir.resolve("encoder.json"), enc.append("}").toString());
    Files.writeString(dir.resolve("vocab.bpe"), "#version: 0.2\n");
    Path in = Files.writeString(tmp.resolve("in.txt"), "hi");
    String line = assertUserError(run("tokenize", "--tokenizer", dir.toString(), "--input",
        in.toString()), "encoder.json", "has id 900");
    assertFalse(line.contains("vocab.bpe"), line);
  }

  /** GPT-2's byte-level character for byte b, as a JSON string body. */
  private static String byteLevelEscaped(int b) {
    char c = ByteLevel.byteToChar(b);
    return c == '"' || c == '\\' ? "\\" + c : String.valueOf(c);
  }

  // ---- picocli's own errors

  @Test
  void parseErrorsAreOneLineWithAHintNotTheUsageText() throws IOException {
    Run r = run(train("--config", "gpt2", "--out", tmp.resolve("o").toString(), "--bogus"));
    assertEquals("fuselm: Unknown option: '--bogus' (see fuselm train --help)", r.err().strip());
    assertTrue(r.out().isEmpty(), r.out());
    assertUserError(run("eval", "--model"), "Missing required parameter for option '--model'",
        "(see fuselm eval --help)");
    assertUserError(run("eval", "--model", "m", "--data", "d", "--threads", "many"),
        "'many' is not an int");
    assertUserError(run("train", "--thread", "3"), "(see fuselm train --help)");
    assertUserError(run("no-such-command"), "Unmatched argument", "(see fuselm --help)");
    assertUserError(run("bench", "gemm", "--m"), "(see fuselm bench gemm --help)");
  }
}
