package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.NativeBuffer;
import dev.fuselm.tensor.NativeMemoryException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * config.json read strictly (UTF-8, no duplicate key, every known field of its JSON type, finite
 * numbers), weights refused when they hold NaN or infinities, and a model directory whose config
 * asks for more memory than there is refused before anything is allocated.
 */
class StrictModelFilesTest {
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

  private static final String GPT = "{\"vocab_size\":29,\"n_positions\":12,\"n_embd\":16,"
      + "\"n_layer\":1,\"n_head\":4";
  private static final String BERT = "{\"model_type\":\"bert\",\"vocab_size\":41,"
      + "\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
      + "\"intermediate_size\":32";

  private static String gptError(String json) {
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.parseConfig("dir/config.json", json, ModelFamily.GPT2));
    assertTrue(e.getMessage().startsWith("dir/config.json: "), e.getMessage());
    return e.getMessage();
  }

  private static String bertError(String json) {
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.parseConfig("dir/config.json", json, ModelFamily.BERT));
    assertTrue(e.getMessage().startsWith("dir/config.json: "), e.getMessage());
    return e.getMessage();
  }

  @Test
  void knownFieldsOfTheWrongJsonTypeAreErrorsNamingTheField() {
    assertTrue(gptError(GPT + ",\"layer_norm_epsilon\":\"x\"}")
        .contains("layer_norm_epsilon must be a number, got \"x\""));
    assertTrue(gptError(GPT + ",\"embd_pdrop\":[0.1]}").contains("embd_pdrop must be a number"));
    assertTrue(gptError(GPT + ",\"resid_pdrop\":true}").contains("resid_pdrop must be a number"));
    assertTrue(gptError(GPT + ",\"tie_word_embeddings\":\"false\"}")
        .contains("tie_word_embeddings must be true or false"));
    assertTrue(gptError(GPT + ",\"activation_function\":1}")
        .contains("activation_function must be a string"));
    assertTrue(gptError("{\"model_type\":{},\"n_embd\":16}")
        .contains("model_type must be a string"));
    assertTrue(gptError(GPT + ",\"n_ctx\":\"12\"}").contains("n_ctx must be an integer"));
    assertTrue(gptError("{\"n_embd\":16.5}").contains("n_embd must be an integer"));
    assertTrue(bertError(BERT + ",\"layer_norm_eps\":\"1e-12\"}")
        .contains("layer_norm_eps must be a number"));
    assertTrue(bertError(BERT + ",\"is_decoder\":\"no\"}").contains("is_decoder must be true or"));
    assertTrue(bertError(BERT + ",\"hidden_act\":null,\"hidden_dropout_prob\":\"0.1\"}")
        .contains("hidden_dropout_prob must be a number"));
  }

  @Test
  void numbersMustBeFiniteAndFitFloat32() {
    assertTrue(gptError(GPT + ",\"layer_norm_epsilon\":1e400}")
        .contains("layer_norm_epsilon must be a number, got Infinity"));
    assertTrue(gptError(GPT + ",\"layer_norm_epsilon\":1e39}").contains("out of float32 range"));
    assertTrue(gptError(GPT + ",\"attn_pdrop\":1.5}").contains("attn_pdrop must be in [0, 1)"));
  }

  @Test
  void nullsAndAbsentFieldsTakeTheDefaults() throws IOException {
    GptConfig c = Checkpoint.parseConfig("c", GPT + ",\"n_inner\":null,\"n_ctx\":null,"
        + "\"layer_norm_epsilon\":null,\"activation_function\":null}", ModelFamily.GPT2);
    assertEquals(1e-5f, c.layerNormEps());
    assertEquals(12, c.contextLength());
    BertConfig b = Checkpoint.parseConfig("c", BERT + "}", ModelFamily.BERT);
    assertEquals(1e-12f, b.layerNormEps());
  }

  @Test
  void duplicateKeysAndTrailingTextAreRefused() {
    assertTrue(gptError(GPT + ",\"n_layer\":2}").contains("duplicate key 'n_layer'"));
    assertTrue(gptError(GPT + "} {}").contains("not valid JSON"));
  }

  @Test
  void aConfigThatIsNotUtf8NamesTheFileAndOffset() throws IOException {
    Path f = tmp.resolve("config.json");
    Files.write(f, new byte[] {'{', '"', 'a', (byte) 0xC3, '"', ':', '1', '}'});
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.readConfigFile(f, ModelFamily.GPT2));
    assertEquals(f + ": not valid UTF-8 (bad byte at offset 3); a JSON config must be UTF-8 text",
        e.getMessage());
    IOException d = assertThrows(IOException.class,
        () -> Checkpoint.readConfigFile(tmp, ModelFamily.GPT2));
    assertTrue(d.getMessage().contains("is a directory"), d.getMessage());
  }

  // ---- non-finite weights

  private Path savedGpt(float poison, String tensor, int index) throws IOException {
    Path d = tmp.resolve("m" + System.nanoTime());
    try (GptModel m = GptModel.random(ctx, GptConfig.of(29, 12, 16, 1, 4), 3)) {
      float[] w = m.parameter(tensor).toFloatArray();
      w[index] = poison;
      m.parameter(tensor).copyFrom(w);
      Checkpoint.save(ModelFamily.GPT2, m, d);
    }
    return d;
  }

  @Test
  void nanAndInfiniteWeightsAreRefusedNamingTheTensor() throws IOException {
    long live = NativeBuffer.liveBytes();
    for (float poison : new float[] {Float.NaN, Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY}) {
      Path d = savedGpt(poison, "transformer.h.0.mlp.c_fc.weight", 17);
      IOException e = assertThrows(IOException.class,
          () -> Checkpoint.load(ctx, d, ModelFamily.GPT2).close());
      assertTrue(e.getMessage().startsWith(d.resolve("model.safetensors").toString()),
          e.getMessage());
      assertTrue(e.getMessage().contains("tensor 'transformer.h.0.mlp.c_fc.weight' holds 1"
          + " non-finite value (the first, " + poison + ", at element 17 of 1024)"),
          e.getMessage());
      assertThrows(IOException.class, () -> Checkpoint.loadBf16Matrices(ctx, d).close());
    }
    assertEquals(live, NativeBuffer.liveBytes(), "the half-built model was freed");
    Path fine = savedGpt(3e38f, "transformer.wte.weight", 0);
    Checkpoint.load(ctx, fine, ModelFamily.GPT2).close();
  }

  // ---- memory a config asks for

  @Test
  void aModelDirectoryAskingForTooMuchMemoryIsRefusedBeforeAllocating() throws IOException {
    Path d = Files.createDirectories(tmp.resolve("huge"));
    Files.writeString(d.resolve("config.json"), "{\"vocab_size\":50257,\"n_positions\":1024,"
        + "\"n_embd\":65536,\"n_layer\":48,\"n_head\":64}", StandardCharsets.UTF_8);
    new SafeTensors.Writer().write(d.resolve("model.safetensors"));
    long live = NativeBuffer.liveBytes();
    NativeMemoryException e = assertThrows(NativeMemoryException.class,
        () -> Checkpoint.load(ctx, d, ModelFamily.GPT2).close());
    assertTrue(e.getMessage().startsWith(d + ": cannot allocate 9.9 TB of native memory for the"
        + " parameters of a GPT model with vocab_size 50257, n_positions 1024, n_embd 65536,"
        + " n_layer 48, n_head 64 (float32): more than the limit of "), e.getMessage());
    assertEquals(4 * GptConfig.of(50257, 1024, 65536, 48, 64).parameterCount(),
        e.requestedBytes());
    assertEquals(live, NativeBuffer.liveBytes());
    NativeMemoryException b = assertThrows(NativeMemoryException.class,
        () -> BertModel.create(ctx, BertConfig.of(30522, 65536, 48, 64, 262144), true, true));
    assertTrue(b.getMessage().contains("parameters of a BERT model with vocab_size 30522,"
        + " hidden_size 65536"), b.getMessage());
  }

  @Test
  void parameterCountsThatOverflowAreRefusedNotWrapped() {
    GptConfig c = GptConfig.of(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE,
        Integer.MAX_VALUE, 1);
    assertThrows(ArithmeticException.class, c::parameterCount);
    NativeMemoryException e = assertThrows(NativeMemoryException.class,
        () -> GptModel.create(ctx, c));
    assertTrue(e.getMessage().contains("more than 9.2 EB (the size overflows 64 bits)"),
        e.getMessage());
    assertThrows(NativeMemoryException.class, () -> GptModel.createWithBf16Matrices(ctx, c));
  }

  @Test
  void bertParameterCountMatchesItsLayout() {
    BertConfig c = BertConfig.of(41, 16, 2, 4, 32);
    for (boolean pooler : new boolean[] {false, true}) {
      for (boolean heads : new boolean[] {false, true}) {
        if (heads && !pooler) {
          continue;
        }
        try (BertModel m = BertModel.create(ctx, c, pooler, heads)) {
          assertEquals(m.params().size(), c.parameterCount(pooler, heads), pooler + " " + heads);
        }
      }
    }
  }
}
