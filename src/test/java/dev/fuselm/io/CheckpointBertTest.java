package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.BertModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointBertTest {
  static ComputeContext ctx;
  @TempDir Path tmp;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void release() {
    ctx.close();
  }

  static final BertConfig C = new BertConfig(41, 16, 2, 4, 24, 20, 2, 1e-12f, 0f, 0f);

  @Test
  void saveAndLoadRoundTripWithHuggingFaceLayout() throws IOException {
    Path d = tmp.resolve("m");
    try (BertModel m = BertModel.random(ctx, C, 5)) {
      Checkpoint.save(ModelFamily.BERT, m, d);
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve("model.safetensors"))) {
        assertEquals("pt", r.metadata().get("format"));
        assertArrayEquals(new long[] {24, 16},
            r.entry("bert.encoder.layer.1.intermediate.dense.weight").shape());
        assertArrayEquals(new long[] {16, 24}, r.entry("bert.encoder.layer.0.output.dense.weight")
            .shape());
        assertArrayEquals(new long[] {2, 16}, r.entry("cls.seq_relationship.weight").shape());
        assertArrayEquals(new long[] {41}, r.entry("cls.predictions.bias").shape());
        assertFalse(r.contains("cls.predictions.decoder.weight"), "the tied decoder is not saved");
        assertEquals(m.parameterNames().size(), r.entries().size());
      }
      String json = Files.readString(d.resolve("config.json"));
      assertTrue(json.contains("\"hidden_size\" : 16") && json.contains("BertForPreTraining")
          && json.contains("\"hidden_act\" : \"gelu\""), json);
      try (BertModel back = Checkpoint.load(ctx, d, ModelFamily.BERT)) {
        assertEquals(C, back.config());
        assertTrue(back.hasHeads() && back.hasPooler());
        assertArrayEquals(m.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
    }
  }

  /**
   * Hub exports: no bert. prefix, old LayerNorm.gamma/beta names, the position_ids buffer and the
   * tied decoder weight and bias stored anyway.
   */
  @Test
  void loadsUnprefixedOldNamesAndSkipsBuffers() throws IOException {
    Path d = tmp.resolve("hub");
    Files.createDirectories(d);
    Checkpoint.writeConfig(d.resolve("config.json"), ModelFamily.BERT.configJson(C, true));
    try (BertModel m = BertModel.random(ctx, C, 6)) {
      SafeTensors.Writer w = new SafeTensors.Writer();
      for (String name : m.parameterNames()) {
        String n = name.startsWith("bert.") ? name.substring(5) : name;
        n = n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
        w.addFloats(n, m.params().get(name).shape(), m.params().get(name).toFloatArray());
      }
      w.addLongs("embeddings.position_ids", new long[20]);
      w.addFloats("cls.predictions.decoder.weight", new long[] {41, 16},
          m.wordEmbeddings().toFloatArray());
      w.addFloats("cls.predictions.decoder.bias", new long[] {41},
          m.params().get("cls.predictions.bias").toFloatArray());
      w.write(d.resolve("model.safetensors"));
      try (BertModel back = Checkpoint.load(ctx, d, ModelFamily.BERT)) {
        assertArrayEquals(m.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
    }
  }

  /** An encoder-only export (BertModel) has no cls.*; some have no pooler either. */
  @Test
  void encoderOnlyDirectoriesLoadWithoutHeads() throws IOException {
    Path d = tmp.resolve("enc");
    Files.createDirectories(d);
    Checkpoint.writeConfig(d.resolve("config.json"), ModelFamily.BERT.configJson(C, false));
    try (BertModel m = BertModel.random(ctx, C, 7)) {
      for (boolean pooler : new boolean[] {true, false}) {
        SafeTensors.Writer w = new SafeTensors.Writer();
        for (String name : m.parameterNames()) {
          if (name.startsWith("cls.") || (!pooler && name.contains("pooler"))) {
            continue;
          }
          w.addFloats(name, m.params().get(name).shape(), m.params().get(name).toFloatArray());
        }
        w.write(d.resolve("model.safetensors"));
        try (BertModel back = Checkpoint.load(ctx, d, ModelFamily.BERT)) {
          assertFalse(back.hasHeads());
          assertEquals(pooler, back.hasPooler());
          assertEquals(C.parameterCount(false) - (pooler ? 0 : 16 * 16 + 16),
              back.parameterCount());
          float[] want =
              m.forwardHidden(new TokenBatch(new int[] {2, 5, 9}, null, null, 1, 3)).toFloatArray();
          assertArrayEquals(want,
              back.forwardHidden(new TokenBatch(new int[] {2, 5, 9}, null, null, 1, 3))
              .toFloatArray());
          IllegalStateException e = assertThrows(IllegalStateException.class,
              () -> back.mlmHead().loss(back.hidden(), new int[] {1, -100, -100}));
          assertTrue(e.getMessage().contains("no MLM/NSP heads"), e.getMessage());
        }
      }
    }
  }

  @Test
  void mismatchesAndMissingFilesAreClearErrors() throws IOException {
    Path d = tmp.resolve("bad");
    try (BertModel m = BertModel.random(ctx, C, 5)) {
      Checkpoint.save(ModelFamily.BERT, m, d);
    }
    Checkpoint.writeConfig(d.resolve("config.json"),
        ModelFamily.BERT.configJson(new BertConfig(41, 16, 3, 4, 24, 20, 2, 1e-12f, 0f, 0f), true));
    IOException e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d,
        ModelFamily.BERT));
    assertTrue(e.getMessage().contains("config/weights mismatch") && e.getMessage()
        .contains("bert.encoder.layer.2.attention.self.query.weight"), e.getMessage());
    Checkpoint.writeConfig(d.resolve("config.json"),
        ModelFamily.BERT.configJson(new BertConfig(41, 32, 2, 4, 24, 20, 2, 1e-12f, 0f, 0f), true));
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("has shape [41, 16], the config needs [41, 32]"),
        e.getMessage());
    Files.writeString(d.resolve("config.json"), "{\"model_type\":\"bert\",\"hidden_act\":\"relu\"}");
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("hidden_act 'relu' is not supported"), e.getMessage());
    Files.writeString(d.resolve("config.json"), "{\"model_type\":\"gpt2\"}");
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("model_type is 'gpt2'"), e.getMessage());
    Files.writeString(d.resolve("config.json"), "{\"hidden_size\": ");
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
    Files.writeString(d.resolve("config.json"), "{\"hidden_size\": 30, \"num_attention_heads\": 4}");
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("not divisible"), e.getMessage());
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, tmp.resolve("nope"),
        ModelFamily.BERT));
    assertTrue(e.getMessage().contains("no such model directory"), e.getMessage());
    Files.delete(d.resolve("model.safetensors"));
    Checkpoint.writeConfig(d.resolve("config.json"), ModelFamily.BERT.configJson(C, true));
    e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d, ModelFamily.BERT));
    assertTrue(e.getMessage().contains("no model.safetensors"), e.getMessage());
    e = assertThrows(IOException.class, () -> Tokenizers.wordPiece(d));
    assertTrue(e.getMessage().contains("no vocab.txt"), e.getMessage());
  }

  @Test
  void configJsonReadsHuggingFaceBertBase() throws IOException {
    String hf = "{\"architectures\":[\"BertForMaskedLM\"],\"attention_probs_dropout_prob\":0.1,"
        + "\"gradient_checkpointing\":false,\"hidden_act\":\"gelu\",\"hidden_dropout_prob\":0.1,"
        + "\"hidden_size\":768,\"initializer_range\":0.02,\"intermediate_size\":3072,"
        + "\"layer_norm_eps\":1e-12,\"max_position_embeddings\":512,\"model_type\":\"bert\","
        + "\"num_attention_heads\":12,\"num_hidden_layers\":12,\"pad_token_id\":0,"
        + "\"position_embedding_type\":\"absolute\",\"transformers_version\":\"4.6.0.dev0\","
        + "\"type_vocab_size\":2,\"use_cache\":true,\"vocab_size\":30522}";
    BertConfig c = Checkpoint.parseConfig("hf", hf, ModelFamily.BERT);
    assertEquals(BertConfig.baseUncased(), c);
    assertEquals(109_482_240L, c.parameterCount(false)); // BertModel of bert-base-uncased
    assertEquals(c, Checkpoint.parseConfig("x", Checkpoint.configText(
        ModelFamily.BERT.configJson(c, true)), ModelFamily.BERT));
    assertEquals(BertConfig.preset("bert-base-cased").vocabSize(), 28996);
    assertThrows(IllegalArgumentException.class, () -> BertConfig.preset("bert-huge"));
  }

  /** vocab.txt beside the weights: lower-casing from tokenizer_config.json, else from the vocab. */
  @Test
  void vocabularyBesideTheWeightsLoadsTheTokenizer() throws IOException {
    Path d = tmp.resolve("tok");
    Files.createDirectories(d);
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseCased(), d);
    WordPieceTokenizer t = Tokenizers.wordPiece(d);
    assertEquals(28996, t.vocabSize());
    assertArrayEquals(WordPieceTokenizer.bertBaseCased().encode("Hello World", false),
        t.encode("Hello World", false));
    Files.writeString(d.resolve("tokenizer_config.json"), "{\"do_lower_case\": true}");
    assertArrayEquals(WordPieceTokenizer.bertBaseCased().encode("hello world", false),
        Tokenizers.wordPiece(d).encode("Hello World", false));
    Path u = tmp.resolve("uncased");
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), u);
    assertArrayEquals(WordPieceTokenizer.bertBaseUncased().encode("Hello World", false),
        Tokenizers.wordPiece(u).encode("Hello World", false));
  }
}
