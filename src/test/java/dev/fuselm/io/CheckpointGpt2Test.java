package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.model.ModelFamily;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointGpt2Test {
  static ComputeContext ctx;
  @TempDir Path tmp;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static final GptConfig C = GptConfig.of(29, 12, 16, 2, 4);

  @Test
  void saveAndLoadRoundTripWithHuggingFaceLayout() throws IOException {
    Path d = tmp.resolve("m");
    try (GptModel m = GptModel.random(ctx, C, 5)) {
      Checkpoint.save(ModelFamily.GPT2, m, d);
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve("model.safetensors"))) {
        assertEquals("pt", r.metadata().get("format"));
        assertArrayEquals(new long[] {16, 48}, r.entry("transformer.h.1.attn.c_attn.weight").shape());
        assertArrayEquals(new long[] {64, 16}, r.entry("transformer.h.0.mlp.c_proj.weight").shape());
        assertTrue(!r.contains("lm_head.weight"), "a tied head is not saved twice");
      }
      String json = Files.readString(d.resolve("config.json"));
      assertTrue(json.contains("\"n_embd\" : 16") && json.contains("GPT2LMHeadModel"), json);
      try (GptModel back = Checkpoint.load(ctx, d, ModelFamily.GPT2)) {
        assertEquals(C, back.config());
        assertArrayEquals(m.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
    }
  }

  /** Hugging Face hub exports: no transformer. prefix, causal-mask buffers, tied lm_head present. */
  @Test
  void loadsUnprefixedNamesAndSkipsMaskBuffers() throws IOException {
    Path d = tmp.resolve("hub");
    Files.createDirectories(d);
    Checkpoint.writeConfig(d.resolve("config.json"), ModelFamily.GPT2.configJson(C));
    try (GptModel m = GptModel.random(ctx, C, 6)) {
      SafeTensors.Writer w = new SafeTensors.Writer();
      for (String name : m.parameterNames()) {
        w.addFloats(name.substring("transformer.".length()), m.params().get(name).shape(),
            m.params().get(name).toFloatArray());
      }
      w.addFloats("h.0.attn.bias", new long[] {1, 1, 12, 12}, new float[144]);
      w.addFloats("lm_head.weight", new long[] {29, 16},
          m.params().get("transformer.wte.weight").toFloatArray());
      w.write(d.resolve("model.safetensors"));
      try (GptModel back = Checkpoint.load(ctx, d, ModelFamily.GPT2)) {
        assertArrayEquals(m.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
    }
  }

  @Test
  void mismatchesAndMissingFilesAreClearErrors() throws IOException {
    Path d = tmp.resolve("bad");
    try (GptModel m = GptModel.random(ctx, C, 5)) {
      Checkpoint.save(ModelFamily.GPT2, m, d);
    }
    // a config that asks for more layers than the weights hold
    Checkpoint.writeConfig(d.resolve("config.json"),
        ModelFamily.GPT2.configJson(GptConfig.of(29, 12, 16, 3, 4)));
    IOException e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d,
        ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("config/weights mismatch") && e.getMessage()
        .contains("transformer.h.2.ln_1.weight"), e.getMessage());
    // a config with fewer layers than the weights
    Checkpoint.writeConfig(d.resolve("config.json"),
        ModelFamily.GPT2.configJson(GptConfig.of(29, 12, 16, 1, 4)));
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("unexpected 12: transformer.h.1.ln_1.weight"),
        e.getMessage());
    // a wider config
    Checkpoint.writeConfig(d.resolve("config.json"),
        ModelFamily.GPT2.configJson(GptConfig.of(29, 12, 32, 2, 4)));
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("has shape [29, 16], the config needs [29, 32]"),
        e.getMessage());
    Files.writeString(d.resolve("config.json"), "{\"n_embd\": ");
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, tmp.resolve("nope"),
        ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("no such model directory"), e.getMessage());
    Path onlyConfig = tmp.resolve("cfg");
    Files.createDirectories(onlyConfig);
    Checkpoint.writeConfig(onlyConfig.resolve("config.json"), ModelFamily.GPT2.configJson(C));
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, onlyConfig, ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("no model.safetensors"), e.getMessage());
  }

  @Test
  void configJsonRoundTripsAndReadsHuggingFaceDefaults() throws IOException {
    GptConfig c = GptConfig.of(100, 64, 32, 3, 4).withTiedHead(false).withQkvBias(false);
    assertEquals(c, Checkpoint.parseConfig("x", Checkpoint.configText(
        ModelFamily.GPT2.configJson(c)), ModelFamily.GPT2));
    GptConfig hf = Checkpoint.parseConfig("hf", "{\"model_type\":\"gpt2\",\"n_layer\":12,"
        + "\"n_embd\":768,\"n_head\":12,\"vocab_size\":50257,\"n_positions\":1024,"
        + "\"attn_pdrop\":0.1,\"embd_pdrop\":0.1,\"resid_pdrop\":0.1}", ModelFamily.GPT2);
    assertEquals(124_439_808L, hf.parameterCount());
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.parseConfig("c", "{\"model_type\":\"bert\"}", ModelFamily.GPT2));
    assertTrue(e.getMessage().contains("bert"), e.getMessage());
  }
}
