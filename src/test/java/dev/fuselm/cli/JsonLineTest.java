package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The bench commands' JSON lines through {@link JsonLine}: byte-identical to the printf lines they
 * replaced for ordinary values, and valid JSON for the values printf broke (a quote or a backslash
 * in a string, NaN, infinities).
 */
class JsonLineTest {
  static final ObjectMapper JSON = new ObjectMapper();
  // representative values: tiny, rounding edges, negative, large, integral, half-way cases
  static final double[] VALUES = {0, 1e-7, 0.004999, 0.005, 0.05, 0.125, 1.0 / 3, 2.5, 12.345,
      -3.75, 99.995, 1234.5678, 4.2e6, 1e15, 123456789.987654321, Double.MIN_VALUE, -1e-9};

  @Test
  void numbersHavePrintfsDigitsForEveryPrecisionTheBenchLinesUse() {
    for (int decimals = 0; decimals <= 4; decimals++) {
      for (double v : VALUES) {
        String old = String.format(Locale.ROOT, "{\"x\":%." + decimals + "f}", v);
        String now = new JsonLine().put("x", v, decimals).toString();
        // (printf's -0.0 for a tiny negative is valid JSON and kept as it is)
        assertEquals(old, now, v + " at " + decimals + " decimals");
      }
    }
  }

  @Test
  void theServeLineIsByteIdenticalToItsPrintf() {
    String old = String.format(Locale.ROOT, "{\"bench\":\"serve\",\"model\":\"%s\",\"clients\":%d,"
        + "\"requests_per_round\":%d,\"rounds\":%d,\"prompt_tokens\":%d,\"new_tokens\":%d,"
        + "\"slots\":%d,\"threads\":%d,\"tokens_per_s\":%.1f,\"p50_ms\":%.1f,"
        + "\"p99_ms\":%.1f,\"first_token_p50_ms\":%.1f,\"generator_tokens_per_s\":%.1f,"
        + "\"vs_generator\":%.2f,\"vs_generator_range\":[%.2f,%.2f],\"weights\":\"%s\","
        + "\"requests_per_s\":%.2f}",
        "gpt2", 4, 8, 2, 16, 32, 8, 2, 41.25, 812.04, 1999.5, 93.3, 39.05, 1.0567, 0.994, 1.1,
        "bf16", 0.5);
    String now = new JsonLine().put("bench", "serve").put("model", "gpt2").put("clients", 4)
        .put("requests_per_round", 8).put("rounds", 2).put("prompt_tokens", 16)
        .put("new_tokens", 32).put("slots", 8).put("threads", 2).put("tokens_per_s", 41.25, 1)
        .put("p50_ms", 812.04, 1).put("p99_ms", 1999.5, 1).put("first_token_p50_ms", 93.3, 1)
        .put("generator_tokens_per_s", 39.05, 1).put("vs_generator", 1.0567, 2)
        .putArray("vs_generator_range", 2, 0.994, 1.1).put("weights", "bf16")
        .put("requests_per_s", 0.5, 2).toString();
    assertEquals(old, now);
  }

  @Test
  void theGenerateLineWithItsProfileIsByteIdenticalToItsPrintf() {
    String prof = String.format(Locale.ROOT, ",\"profile\":{\"a\":%.3f,\"b\":%.3f"
        + ",\"matrices_gbs\":%.2f,\"lm_head_gbs\":%.2f}", 1.23456, 0.5, 20.494, 11.615);
    String old = String.format(Locale.ROOT, "{\"bench\":\"generate\",\"config\":\"%s\","
        + "\"batch\":%d,\"tokens_per_s\":%.2f,\"ids_equal\":%b%s}", "gpt2", 1, 238.245, true,
        prof);
    String now = new JsonLine().put("bench", "generate").put("config", "gpt2").put("batch", 1)
        .put("tokens_per_s", 238.245, 2).put("ids_equal", true)
        .putObject("profile", p -> p.put("a", 1.23456, 3).put("b", 0.5, 3)
            .put("matrices_gbs", 20.494, 2).put("lm_head_gbs", 11.615, 2)).toString();
    assertEquals(old, now);
  }

  @Test
  void quotesBackslashesAndNonFiniteNumbersStayValidJson() throws Exception {
    String path = "/tmp/a \"quoted\" dir\\x\n.txt";
    String line = new JsonLine().put("input", path).put("mb", Double.NaN, 3)
        .put("ratio", Double.POSITIVE_INFINITY, 2).putArray("range", 2, 1.5, Double.NaN)
        .put("none", (String) null).toString();
    JsonNode n = JSON.readTree(line); // throws on invalid JSON
    assertEquals(path, n.get("input").asText());
    assertTrue(n.get("mb").isNull());
    assertTrue(n.get("ratio").isNull());
    assertEquals(1.5, n.get("range").get(0).asDouble());
    assertTrue(n.get("range").get(1).isNull());
    assertTrue(n.get("none").isNull());
    // what printf made of the same values: not JSON
    String old = String.format(Locale.ROOT, "{\"input\":\"%s\",\"mb\":%.3f}", path, Double.NaN);
    assertThrows(Exception.class, () -> JSON.readTree(old));
  }

  @Test
  void aWrittenLineTakesNoMoreFields() {
    JsonLine l = new JsonLine().put("a", 1);
    assertEquals("{\"a\":1}", l.toString());
    assertEquals("{\"a\":1}", l.toString());
    assertThrows(IllegalStateException.class, () -> l.put("b", 2));
  }
}
