package dev.fuselm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fuselm bench train [--forward]} and {@code bench generate} on a tiny config.json. */
class BenchTrainCommandTest {
  @TempDir Path tmp;

  JsonNode bench(String... args) throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      rc = Main.execute(args);
    } finally {
      System.setOut(old);
    }
    assertEquals(0, rc, buf.toString(StandardCharsets.UTF_8));
    String[] lines = buf.toString(StandardCharsets.UTF_8).trim().split("\n");
    assertEquals(1, lines.length);
    return new ObjectMapper().readTree(lines[0]);
  }

  Path tinyConfig() throws Exception {
    Path cfg = tmp.resolve("config.json");
    Files.writeString(cfg, "{\"vocab_size\":97,\"n_positions\":32,\"n_embd\":32,\"n_layer\":2,"
        + "\"n_head\":4}");
    return cfg;
  }

  @Test
  void trainAndForwardPrintMedians() throws Exception {
    String cfg = tinyConfig().toString();
    JsonNode train = bench("bench", "train", "--config", cfg, "--batch", "2", "--ctx", "16",
        "--steps", "3", "--threads", "1");
    assertEquals("train", train.get("bench").asText());
    assertEquals(16, train.get("ctx").asInt());
    assertTrue(train.get("ms_per_step").asDouble() > 0 && train.get("tokens_per_s").asDouble() > 0);
    assertEquals("fp32", train.get("precision").asText());
    JsonNode bf16 = bench("bench", "train", "--config", cfg, "--batch", "2", "--ctx", "16",
        "--steps", "2", "--threads", "1", "--precision", "bf16");
    assertEquals("bf16", bf16.get("precision").asText());
    assertEquals(train.get("parameters").asLong(), bf16.get("parameters").asLong());
    JsonNode fwd = bench("bench", "train", "--forward", "--config", cfg, "--batch", "2", "--ctx",
        "16", "--steps", "3", "--threads", "1");
    assertEquals("forward", fwd.get("bench").asText());
    assertEquals(train.get("parameters").asLong(), fwd.get("parameters").asLong());
    assertTrue(fwd.get("tokens_per_s").asDouble() > 0 && fwd.get("gflops").asDouble() > 0);
    JsonNode gen = bench("bench", "generate", "--config", cfg, "--ctx", "4", "--steps", "6",
        "--runs", "2", "--threads", "1");
    assertEquals("generate", gen.get("bench").asText());
    assertTrue(gen.get("tokens_per_s").asDouble() > 0);
  }

  @Test
  void ctxLargerThanTheModelsIsAUserError() throws Exception {
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("bench", "train", "--forward", "--config",
        tinyConfig().toString(), "--batch", "1", "--ctx", "33"));
  }
}
