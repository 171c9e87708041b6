package dev.fuselm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class BenchGemmCommandTest {
  @Test
  void printsOneJsonLineWithGflops() throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      rc = Main.execute("bench", "gemm", "--m", "16", "--n", "24", "--k", "8", "--threads", "1",
          "--trans-b", "--runs", "3");
    } finally {
      System.setOut(old);
    }
    assertEquals(0, rc);
    String[] lines = buf.toString(StandardCharsets.UTF_8).trim().split("\n");
    assertEquals(1, lines.length);
    JsonNode json = new ObjectMapper().readTree(lines[0]);
    assertEquals(16, json.get("m").asInt());
    assertEquals(true, json.get("trans_b").asBoolean());
    assertEquals(1, json.get("threads").asInt());
    assertTrue(json.get("gflops").asDouble() > 0);
  }

  @Test
  void bf16PrecisionTimesGemmBf16() throws Exception {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      rc = Main.execute("bench", "gemm", "--m", "20", "--n", "50", "--k", "9", "--threads", "1",
          "--trans-a", "--precision", "bf16", "--runs", "3");
    } finally {
      System.setOut(old);
    }
    assertEquals(0, rc);
    JsonNode json = new ObjectMapper().readTree(buf.toString(StandardCharsets.UTF_8).trim());
    assertEquals("bf16", json.get("precision").asText());
    assertEquals(true, json.get("trans_a").asBoolean());
    assertTrue(json.get("gflops").asDouble() > 0);
    assertTrue(json.get("gflops_max").asDouble() >= json.get("gflops").asDouble());
  }

  @Test
  void unknownPrecisionExitsWithCode2() {
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("bench", "gemm", "--m", "2", "--n", "2", "--k", "2",
        "--precision", "fp16"));
  }

  @Test
  void badSizesExitWithCode2() {
    assertEquals(Main.EXIT_USER_ERROR, Main.execute("bench", "gemm", "--m", "0", "--n", "1", "--k", "1"));
  }
}
