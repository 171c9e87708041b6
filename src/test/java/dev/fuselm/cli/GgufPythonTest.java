package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.GgufFile;
import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.GgufType;
import dev.fuselm.model.GptConfig;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * fuselm's GGUF files against the gguf Python package (llama.cpp's gguf-py, the reference reader
 * and writer), through benchmarks/parity/gguf_reference.py: files fuselm writes are read by gguf
 * with the right keys, tensors and values; files gguf writes the way llama.cpp's converter does
 * (F32, F16, BF16, Q8_0) are read by fuselm with values equal to gguf's own dequantize, bit for
 * bit;
 * fuselm's F16/BF16/Q8_0 bytes equal gguf's quantizer's; and generation from the gguf-written F32
 * file gives the source directory's ids.
 *
 * <p>Runs only when a python with gguf is given ({@code -Dfuselm.ggufPython=PATH} or
 * {@code FUSELM_GGUF_PYTHON}; {@code benchmarks/parity/gguf_venv.sh DIR} makes one, and .ci/run
 * does); otherwise every test is skipped with that reason.
 */
class GgufPythonTest {
  static final String NO_PYTHON = "no python with gguf given: set FUSELM_GGUF_PYTHON or"
      + " -Dfuselm.ggufPython (benchmarks/parity/gguf_venv.sh DIR makes one)";
  static final List<String> TYPES = List.of("f32", "f16", "bf16", "q8_0");
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  static Path src;

  static String python() {
    String p = System.getProperty("fuselm.ggufPython");
    if (p == null || p.isBlank()) {
      p = System.getenv("FUSELM_GGUF_PYTHON");
    }
    return p == null || p.isBlank() ? null : p;
  }

  static void py(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of(python(),
        "benchmarks/parity/gguf_reference.py"));
    cmd.addAll(List.of(args));
    Path log = tmp.resolve("python.log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
        .start();
    if (!p.waitFor(1200, TimeUnit.SECONDS)) { // all 12 conversions; ~6 min at load 36
      p.destroyForcibly();
      throw new AssertionError("gguf_reference.py timed out");
    }
    assertEquals(0, p.exitValue(), "gguf_reference.py " + String.join(" ", args) + ":\n"
        + Files.readString(log));
  }

  @BeforeAll
  static void writeBothWays() throws Exception {
    if (python() == null) {
      return; // each test is skipped with the reason
    }
    src = GgufCommandTest.model(tmp.resolve("py-src"), GptConfig.of(50257, 64, 64, 2, 4)
        .withTiedHead(false));
    List<String> commands = new java.util.ArrayList<>(); // one python process runs them all
    try (ComputeContext ctx = ComputeContext.create()) {
      for (String t : TYPES) {
        Path ours = tmp.resolve("ours-" + t + ".gguf");
        GgufGpt2.export(ctx, src, ours, GgufGpt2.parseType(t));
        Path theirs = tmp.resolve("py-" + t + ".gguf");
        commands.addAll(List.of("dump", ours.toString(), tmp.resolve("ours-" + t).toString(),
            "::", "from-hf", src.toString(), theirs.toString(), t,
            "::", "dump", theirs.toString(), tmp.resolve("py-" + t).toString(), "::"));
      }
    }
    py(commands.toArray(String[]::new));
  }

  @BeforeEach
  void needsPython() {
    assumeTrue(python() != null, NO_PYTHON);
  }

  static float[] dumped(Path dir, String tensor) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(tensor + ".f32")))
        .order(ByteOrder.LITTLE_ENDIAN);
    float[] f = new float[b.remaining() / 4];
    b.asFloatBuffer().get(f);
    return f;
  }

  /** gguf reads fuselm's files: the keys and values written, every tensor's dims, type, values. */
  @Test
  void ggufReadsWhatFuselmWrites() throws Exception {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.gpt2();
    for (String t : TYPES) {
      Path dump = tmp.resolve("ours-" + t);
      JsonNode meta = JSON.readTree(dump.resolve("meta.json").toFile());
      JsonNode kv = meta.get("metadata");
      assertEquals("gpt2", kv.get("general.architecture").get("value").asText());
      assertEquals(2, kv.get("gpt2.block_count").get("value").asInt());
      assertEquals(64, kv.get("gpt2.embedding_length").get("value").asInt());
      assertEquals(256, kv.get("gpt2.feed_forward_length").get("value").asInt());
      assertEquals(4, kv.get("gpt2.attention.head_count").get("value").asInt());
      assertEquals(64, kv.get("gpt2.context_length").get("value").asInt());
      assertEquals(1e-5, kv.get("gpt2.attention.layer_norm_epsilon").get("value").asDouble(),
          1e-12);
      assertEquals("UINT32", kv.get("gpt2.block_count").get("type").asText());
      assertEquals("gpt2", kv.get("tokenizer.ggml.model").get("value").asText());
      JsonNode tokens = kv.get("tokenizer.ggml.tokens").get("value");
      assertEquals(50257, tokens.size());
      for (int id = 0; id < tokens.size(); id += 97) {
        assertEquals(tok.idToToken(id), tokens.get(id).asText(), "token " + id);
      }
      assertEquals("<|endoftext|>", tokens.get(50256).asText());
      assertEquals(3, kv.get("tokenizer.ggml.token_type").get("value").get(50256).asInt());
      JsonNode merges = kv.get("tokenizer.ggml.merges").get("value");
      assertEquals(50000, merges.size());
      assertEquals(tok.merge(0), merges.get(0).asText());
      assertEquals(tok.merge(49999), merges.get(49999).asText());
      assertEquals(50256, kv.get("tokenizer.ggml.eos_token_id").get("value").asInt());
      try (GgufFile g = GgufFile.open(tmp.resolve("ours-" + t + ".gguf"))) {
        assertEquals(g.tensors().size(), meta.get("tensors").size());
        assertEquals(2 + 2 * 12 + 2 + 1, g.tensors().size(), "untied: output.weight too");
        for (JsonNode info : meta.get("tensors")) {
          String name = info.get("name").asText();
          GgufFile.TensorInfo ti = g.tensor(name);
          assertEquals(ti.type().name(), info.get("type").asText(), name);
          long[] dims = JSON.convertValue(info.get("dims"), long[].class);
          assertArrayEquals(ti.dims(), dims, name);
          assertArrayEquals(g.floats(name), dumped(dump, name), t + " " + name);
        }
      }
    }
  }

  /**
   * fuselm reads gguf's files (written as llama.cpp's converter writes GPT-2) with gguf's values,
   * Q8_0 dequantization included; and fuselm's own encoding of each type is byte for byte gguf's.
   */
  @Test
  void fuselmReadsWhatGgufWritesAndEncodesAsGgufDoes() throws Exception {
    for (String t : TYPES) {
      Path dump = tmp.resolve("py-" + t);
      try (GgufFile theirs = GgufFile.open(tmp.resolve("py-" + t + ".gguf"));
          GgufFile ours = GgufFile.open(tmp.resolve("ours-" + t + ".gguf"))) {
        assertEquals(ours.tensors().keySet(), theirs.tensors().keySet(), t);
        for (GgufFile.TensorInfo ti : theirs.tensors().values()) {
          String name = ti.name();
          assertArrayEquals(dumped(dump, name), theirs.floats(name), t + " " + name);
          assertEquals(ti.type(), ours.tensor(name).type(), t + " " + name);
          assertArrayEquals(ti.dims(), ours.tensor(name).dims(), t + " " + name);
          assertEquals(theirs.rawBytes(name), ours.rawBytes(name), t + " bytes of " + name);
        }
        if (t.equals("q8_0")) {
          assertEquals(GgufType.Q8_0, theirs.tensor("blk.0.attn_qkv.weight").type());
        }
      }
    }
  }

  /** Generation from gguf's F32 file equals generation from the source directory, id for id. */
  @Test
  void generationFromTheGgufWrittenFileEqualsTheDirectory() throws Exception {
    String[] gen = {"generate", "--prompt", "Once upon a time", "--max-new-tokens", "16",
        "--temperature", "0", "--ids", "--no-stop"};
    EmbedCommandTest.Run a = EmbedCommandTest.run(GgufCommandTest.concat(gen, "--model",
        src.toString()));
    EmbedCommandTest.Run b = EmbedCommandTest.run(GgufCommandTest.concat(gen, "--model",
        tmp.resolve("py-f32.gguf").toString()));
    assertEquals(0, a.code(), a.err());
    assertEquals(0, b.code(), b.err());
    assertEquals(a.out(), b.out());
    Path imported = tmp.resolve("py-f32-imported");
    EmbedCommandTest.Run r = EmbedCommandTest.run("import", "gguf",
        tmp.resolve("py-f32.gguf").toString(), "--out", imported.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals(Files.readString(src.resolve("encoder.json"), StandardCharsets.UTF_8).length(),
        Files.readString(imported.resolve("encoder.json"), StandardCharsets.UTF_8).length());
    assertTrue(r.out().contains("50257 tokens"), r.out());
  }
}
