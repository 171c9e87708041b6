package dev.fuselm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.io.Checkpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchGenerateCommandTest {
  @TempDir Path tmp;

  private JsonNode bench(String config, String weights, String... more) throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      String[] args = {"bench", "generate", "--config", config, "--ctx", "4", "--steps", "5",
          "--runs", "1", "--threads", "1", "--weights", weights};
      String[] all = java.util.Arrays.copyOf(args, args.length + more.length);
      System.arraycopy(more, 0, all, args.length, more.length);
      rc = Main.execute(all);
    } finally {
      System.setOut(old);
    }
    assertEquals(0, rc);
    String[] lines = buf.toString(StandardCharsets.UTF_8).trim().split("\n");
    profileLines = java.util.Arrays.copyOf(lines, lines.length - 1);
    return new ObjectMapper().readTree(lines[lines.length - 1]);
  }

  /** The lines before the last of the latest {@link #bench} (--profile's per-part lines). */
  private String[] profileLines;

  @Test
  void bf16WeightsHalveTheMatmulBytesPerToken() throws Exception {
    Path cfg = tmp.resolve("config.json");
    Checkpoint.writeConfig(cfg, ModelFamily.GPT2.configJson(GptConfig.of(97, 16, 32, 2, 4)));
    JsonNode fp32 = bench(cfg.toString(), "fp32");
    JsonNode bf16 = bench(cfg.toString(), "bf16");
    assertEquals(0, profileLines.length); // no --profile: one line
    assertEquals("bf16", bf16.get("weights").asText());
    long matmul = 4L * (2 * (32 * 96 + 32 * 32 + 2 * 32 * 128) + 97 * 32); // tied head included
    assertEquals(matmul, fp32.get("matmul_weight_bytes_per_token").asLong());
    assertEquals(matmul / 2, bf16.get("matmul_weight_bytes_per_token").asLong());
    assertTrue(bf16.get("tokens_per_s").asDouble() > 0);
  }

  @Test
  void int8WeightsReadQ80BytesAndProfileSplitsTheStep() throws Exception {
    Path cfg = tmp.resolve("config.json");
    Checkpoint.writeConfig(cfg, ModelFamily.GPT2.configJson(GptConfig.of(97, 16, 32, 2, 4)));
    JsonNode int8 = bench(cfg.toString(), "int8", "--profile");
    assertEquals("int8", int8.get("weights").asText());
    long params = 2 * (32 * 96 + 32 * 32 + 2 * 32 * 128) + 97 * 32;
    assertEquals(params / 32 * 34, int8.get("matmul_weight_bytes_per_token").asLong());
    JsonNode prof = int8.get("profile");
    for (String part : new String[] {"matrices", "lm_head", "attention", "rest"}) {
      assertTrue(prof.get(part).asDouble() > 0, part + " in " + prof);
    }
    assertTrue(prof.get("matrices_gbs").asDouble() > 0);
    assertTrue(int8.get("tokens_per_s").asDouble() > 0);
  }

  @Test
  void profileWithBandwidthPrintsEachPartsFractionOfItsBound() throws Exception {
    Path cfg = tmp.resolve("config.json");
    Checkpoint.writeConfig(cfg, ModelFamily.GPT2.configJson(GptConfig.of(97, 16, 32, 2, 4)));
    JsonNode fp32 = bench(cfg.toString(), "fp32", "--profile", "--read-gbs", "40");
    assertEquals(5, profileLines.length, String.join("\n", profileLines));
    String[] parts = {"matrices", "lm_head", "attention", "rest", "step"};
    long head = 4L * 97 * 32;
    // ctx 4, steps 5: the profiled steps attend over 4 + 1 .. 4 + 4 positions, 6.5 on average
    long kv = Math.round(2 * 6.5 * 2 * 32 * 4);
    long[] bytes = {fp32.get("matmul_weight_bytes_per_token").asLong() - head, head, kv, 0,
        fp32.get("matmul_weight_bytes_per_token").asLong() + kv};
    double sumMs = 0;
    for (int i = 0; i < parts.length; i++) {
      JsonNode p = new ObjectMapper().readTree(profileLines[i]);
      assertEquals("generate_profile", p.get("bench").asText());
      assertEquals(parts[i], p.get("part").asText());
      assertEquals(bytes[i], p.get("bytes_per_token").asLong(), parts[i]);
      double ms = p.get("ms_per_token").asDouble();
      double bound = bytes[i] / 40e9 * 1e3;
      assertEquals(bound, p.get("bound_ms").asDouble(), 1e-4, parts[i]);
      assertTrue(ms > 0, parts[i]);
      // ms and the fraction are rounded to 4 and 3 decimals
      assertEquals(bound / ms, p.get("fraction_of_bound").asDouble(),
          6e-4 + bound / ms * 6e-5 / ms, parts[i]);
      if (i < 4) {
        sumMs += ms;
        assertEquals(fp32.get("profile").get(parts[i]).asDouble(), ms, 1e-3, parts[i]);
      } else {
        assertEquals(sumMs, ms, 3e-4);
      }
    }
  }

  @Test
  void readGbsWithoutProfileOrNotPositiveExitsWithCode2() {
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("bench", "generate", "--config", "gpt2",
        "--read-gbs", "40"));
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("bench", "generate", "--config", "gpt2",
        "--profile", "--read-gbs", "-1"));
  }

  @Test
  void unknownWeightTypeExitsWithCode2() {
    assertEquals(Main.EXIT_USER_ERROR,
        Main.execute("bench", "generate", "--config", "gpt2", "--weights", "fp16"));
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("generate", "--model", tmp.toString(),
        "--prompt-ids", "1", "--max-new-tokens", "1", "--weights", "int4"));
  }
}
