package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.GgufFile;
import dev.fuselm.io.GgufType;
import dev.fuselm.io.GgufWriter;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * fuselm export gguf / import gguf on small GPT-2 models (GPT-2's vocabulary, tied and untied
 * heads, with and without qkv bias): F32 round trips bit for bit, F16/BF16/Q8_0 to their rounding,
 * generate and eval accept the .gguf file directly with the same ids and loss as the directory,
 * and bad input exits 2 with one line.
 */
class GgufCommandTest {
  @TempDir static Path tmp;
  static Path tied;
  static Path untied;

  @BeforeAll
  static void models() throws Exception {
    tied = model(tmp.resolve("tied"), GptConfig.of(50257, 32, 32, 2, 4));
    untied = model(tmp.resolve("untied"), GptConfig.of(50257, 32, 32, 2, 4).withTiedHead(false)
        .withQkvBias(false));
  }

  /** A random GPT of config c saved in dir with GPT-2's tokenizer files. */
  static Path model(Path dir, GptConfig c) throws Exception {
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = GptModel.create(ctx, c)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    Gpt2BpeTokenizer.gpt2().save(dir);
    return dir;
  }

  static EmbedCommandTest.Run run(String... args) {
    return EmbedCommandTest.run(args);
  }

  static float[] weights(Path dir, String name) throws Exception {
    try (SafeTensors.Reader r = SafeTensors.open(dir.resolve("model.safetensors"))) {
      return r.readFloats(name);
    }
  }

  @Test
  void f32RoundTripsBitForBitAndGeneratesTheSameIds() throws Exception {
    for (Path src : List.of(tied, untied)) {
      Path gguf = tmp.resolve(src.getFileName() + ".gguf");
      EmbedCommandTest.Run r = run("export", "gguf", src.toString(), "--out", gguf.toString());
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains("50257 tokens"), r.out());
      Path back = tmp.resolve(src.getFileName() + "-back");
      r = run("import", "gguf", gguf.toString(), "--out", back.toString());
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains((src == tied ? "tied" : "untied") + " head"), r.out());
      for (String n : List.of("transformer.wte.weight", "transformer.h.1.attn.c_attn.weight",
          "transformer.h.0.mlp.c_proj.weight", "transformer.ln_f.bias")) {
        assertArrayEquals(weights(src, n), weights(back, n), n);
      }
      if (src == untied) {
        assertArrayEquals(weights(src, "lm_head.weight"), weights(back, "lm_head.weight"));
      }
      String[] gen = {"generate", "--prompt", "The quick brown fox", "--max-new-tokens", "12",
          "--temperature", "0", "--ids", "--no-stop"};
      EmbedCommandTest.Run a = run(concat(gen, "--model", src.toString()));
      EmbedCommandTest.Run b = run(concat(gen, "--model", gguf.toString()));
      EmbedCommandTest.Run c = run(concat(gen, "--model", back.toString()));
      assertEquals(0, a.code(), a.err());
      assertEquals(0, b.code(), b.err());
      assertEquals(a.out(), b.out(), "ids from the .gguf file");
      assertEquals(a.out(), c.out(), "ids from the imported directory");
      assertTrue(a.out().trim().split("\\s+").length >= 12, a.out());
    }
    Path text = tmp.resolve("eval.txt");
    Files.writeString(text, "It was a bright cold day in April, and the clocks were striking"
        + " thirteen. ".repeat(8));
    EmbedCommandTest.Run a = run("eval", "--model", tied.toString(), "--data", text.toString(),
        "--ctx", "32");
    EmbedCommandTest.Run b = run("eval", "--model", tmp.resolve("tied.gguf").toString(),
        "--data", text.toString(), "--ctx", "32");
    assertEquals(0, a.code(), a.err());
    assertEquals(a.out(), b.out());
  }

  @Test
  void quantizedTypesHoldTheirRounding() throws Exception {
    float[] src = weights(tied, "transformer.h.0.mlp.c_fc.weight"); // (32, 128) Conv1D
    for (String type : List.of("f16", "bf16", "q8_0")) {
      Path gguf = tmp.resolve("tied-" + type + ".gguf");
      EmbedCommandTest.Run r = run("export", "gguf", tied.toString(), "--out", gguf.toString(),
          "--type", type);
      assertEquals(0, r.code(), r.err());
      try (GgufFile g = GgufFile.open(gguf)) {
        GgufFile.TensorInfo up = g.tensor("blk.0.ffn_up.weight");
        assertEquals(type.toUpperCase(), up.type().name());
        assertArrayEquals(new long[] {32, 128}, up.dims(), "ne = (in, out): stored (out, in)");
        assertEquals(GgufType.F32, g.tensor("blk.0.ffn_up.bias").type());
        assertEquals(GgufType.F32, g.tensor("output_norm.weight").type());
        assertEquals(type.equals("q8_0") ? 7L : type.equals("f16") ? 1L : 32L,
            g.require("general.file_type").asLong());
      }
      Path back = tmp.resolve("tied-" + type);
      r = run("import", "gguf", gguf.toString(), "--out", back.toString());
      assertEquals(0, r.code(), r.err());
      float[] got = weights(back, "transformer.h.0.mlp.c_fc.weight");
      float tol = type.equals("f16") ? 1e-3f : type.equals("bf16") ? 8e-3f : 0.02f;
      for (int i = 0; i < src.length; i++) {
        assertEquals(src[i], got[i], Math.abs(src[i]) * tol + (type.equals("q8_0") ? 1e-3f : 0),
            type + " element " + i);
      }
      r = run("generate", "--model", gguf.toString(), "--prompt", "Hello", "--max-new-tokens",
          "4", "--temperature", "0", "--ids");
      assertEquals(0, r.code(), r.err());
    }
  }

  @Test
  void badInputExitsTwoWithOneLine() throws Exception {
    EmbedCommandTest.Run r = run("export", "gguf", tied.toString(), "--out",
        tmp.resolve("x.gguf").toString(), "--type", "q4_k");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("'q4_k' is not one of f32, f16, bf16, q8_0"), r.err());

    Path notGguf = tmp.resolve("not.gguf");
    Files.writeString(notGguf, "GGML is not GGUF, this file is text\n");
    r = run("import", "gguf", notGguf.toString(), "--out", tmp.resolve("o1").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("not a GGUF file") && r.err().strip().lines().count() == 1,
        r.err());

    Path llama = tmp.resolve("llama.gguf");
    new GgufWriter().putString("general.architecture", "llama")
        .tensor("token_embd.weight", new long[] {2, 32}, GgufType.F32, new float[64])
        .write(llama);
    r = run("import", "gguf", llama.toString(), "--out", tmp.resolve("o2").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("architecture 'llama' is not supported"), r.err());

    r = run("generate", "--model", llama.toString(), "--prompt", "x", "--max-new-tokens", "1");
    assertEquals(2, r.code());
    assertTrue(r.err().strip().lines().count() == 1, r.err());

    Path bert = tmp.resolve("bert-dir");
    Files.createDirectories(bert);
    Files.writeString(bert.resolve("config.json"), "{\"model_type\": \"bert\"}");
    r = run("export", "gguf", bert.toString(), "--out", tmp.resolve("b.gguf").toString());
    assertEquals(2, r.code());
    assertTrue(r.err().contains("GGUF export supports GPT-2 models"), r.err());
  }

  static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
