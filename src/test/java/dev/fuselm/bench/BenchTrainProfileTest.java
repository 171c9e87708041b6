package dev.fuselm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.Main;
import dev.fuselm.ops.OpProfile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fuselm bench train --profile}: the per-op breakdown, and the profile off by default. */
class BenchTrainProfileTest {
  @TempDir Path tmp;

  private String[] run(String... args) throws Exception {
    PrintStream old = System.out, oldErr = System.err;
    ByteArrayOutputStream buf = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      rc = Main.execute(args);
    } finally {
      System.setOut(old);
      System.setErr(oldErr);
    }
    assertEquals(0, rc, buf.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8));
    return new String[] {buf.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
  }

  private String tinyConfig() throws Exception {
    Path cfg = tmp.resolve("config.json");
    Files.writeString(cfg, "{\"vocab_size\":97,\"n_positions\":32,\"n_embd\":32,\"n_layer\":2,"
        + "\"n_head\":4}");
    return cfg.toString();
  }

  @Test
  void profileBreaksTheStepDownByOpFamily() throws Exception {
    for (String precision : new String[] {"fp32", "bf16"}) {
      String[] out = run("bench", "train", "--config", tinyConfig(), "--batch", "2", "--ctx", "16",
          "--steps", "2", "--threads", "1", "--precision", precision, "--profile");
      ObjectMapper json = new ObjectMapper();
      Map<String, JsonNode> ops = new HashMap<>();
      JsonNode step = null;
      for (String line : out[0].trim().split("\n")) {
        JsonNode n = json.readTree(line);
        if (n.get("bench").asText().equals("train_profile")) {
          ops.put(n.get("op").asText(), n);
        } else {
          step = n;
        }
      }
      assertEquals("train", step.get("bench").asText(), "the usual line still comes last");
      // every GEMM was recognised (none left as other), each layer kind in both directions
      for (String layer : new String[] {"qkv", "attn_proj", "fc", "mlp_proj"}) {
        assertEquals(2, ops.get("matmul_fwd_" + layer).get("calls_per_step").asInt(), layer);
        assertEquals(4, ops.get("matmul_bwd_" + layer).get("calls_per_step").asInt(), layer);
      }
      assertEquals(1, ops.get("matmul_fwd_lm_head").get("calls_per_step").asInt());
      assertEquals(2, ops.get("matmul_bwd_lm_head").get("calls_per_step").asInt());
      assertFalse(ops.containsKey("matmul_other") || ops.containsKey("other_ops"), ops.keySet()
          .toString());
      for (String f : new String[] {"attention_fwd", "attention_bwd", "layernorm_fwd",
          "layernorm_bwd", "gelu_fwd", "gelu_bwd", "softmax_xent_fwd", "softmax_xent_bwd",
          "embedding_fwd", "embedding_bwd", "adamw", "rest"}) {
        assertTrue(ops.containsKey(f), f + " missing from " + ops.keySet());
      }
      assertEquals(precision.equals("bf16"), ops.containsKey("bf16_convert"));
      assertEquals(1, ops.get("adamw").get("calls_per_step").asInt());
      double sum = 0;
      for (JsonNode n : ops.values()) {
        sum += n.get("percent").asDouble();
        if (!n.get("op").asText().equals("rest")) {
          assertTrue(n.get("ms_per_step").asDouble() >= 0, n.toString());
        }
      }
      assertEquals(100, sum, 0.5 + 0.05 * ops.size(), "the families and the rest make the step");
      assertTrue(out[1].contains("op family") && out[1].contains("matmul_fwd_fc"), out[1]);
      assertFalse(OpProfile.enabled(), "the profile is switched off after the timed steps");
    }
  }

  @Test
  void withoutTheFlagNothingIsRecorded() throws Exception {
    OpProfile.enable(false);
    String[] out = run("bench", "train", "--config", tinyConfig(), "--batch", "2", "--ctx", "8",
        "--steps", "1", "--threads", "1");
    assertEquals(1, out[0].trim().split("\n").length);
    assertTrue(OpProfile.snapshot().isEmpty());
  }

  @Test
  void gemmsAreAttributedToTheirLayerByShape() {
    TrainProfile p = new TrainProfile(768, 50257);
    long bt = 256;
    assertEquals("matmul_fwd_qkv", p.matmulFamily("NN", bt, 2304, 768));
    assertEquals("matmul_bwd_qkv", p.matmulFamily("TN", 768, 2304, bt)); // dW = x^T dout
    assertEquals("matmul_bwd_qkv", p.matmulFamily("NT", bt, 768, 2304)); // dx = dout W^T
    assertEquals("matmul_fwd_mlp_proj", p.matmulFamily("NN", bt, 768, 3072));
    assertEquals("matmul_bwd_fc", p.matmulFamily("NT", bt, 768, 3072));
    assertEquals("matmul_fwd_lm_head", p.matmulFamily("NT", bt, 50257, 768));
    assertEquals("matmul_bwd_lm_head", p.matmulFamily("NN", bt, 768, 50257));
    assertEquals("matmul_bwd_lm_head", p.matmulFamily("TN", 50257, 768, bt));
    assertEquals("matmul_fwd_other", p.matmulFamily("NN", bt, 5, 7));
    assertEquals("attention_bwd", TrainProfile.family("fl_attention_backward"));
    assertEquals("other_ops", TrainProfile.family("fl_something_new"));
  }
}
