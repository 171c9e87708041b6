package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model directories written by the real Hugging Face {@code transformers} 5.18.0 ({@code
 * save_pretrained}, safetensors), loaded by fuselm's loaders and run by fuselm, against what
 * transformers computed for the same inputs. The fixtures and their generator are
 * {@code src/test/resources/hf/} and {@code benchmarks/parity/hf_interop.py make-fixtures}.
 *
 * <p>Each test also pins the layout transformers wrote (prefixes, a tied head left out, dtypes), so
 * regenerating the fixtures with a transformers that writes something else shows up here.
 *
 * <p>Tolerance: {@link #RTOL} = 1e-4 relative, as the issues ask, plus {@link #ATOL} = 1e-5
 * absolute for values near zero, where a relative bound means nothing: fuselm and PyTorch sum in
 * different orders, which costs about float32's 6e-8 times the largest term per reduction, and the
 * outputs here (|x| up to about 10) pass through a few of them per layer.
 */
class HfFixtureTest {
  static final double RTOL = 1e-4;
  static final double ATOL = 1e-5;

  static ComputeContext ctx;
  static Path root;

  @BeforeAll
  static void open() throws URISyntaxException {
    ctx = ComputeContext.create();
    root = Path.of(HfFixtureTest.class.getResource("/hf/tokenizer.json").toURI()).getParent();
  }

  @AfterAll
  static void release() {
    ctx.close();
  }

  /** allclose: |a - e| <= atol + rtol * |e| everywhere; the message names the worst element. */
  static void assertClose(String what, float[] expected, float[] actual, double rtol,
      double atol) {
    assertEquals(expected.length, actual.length, what + ": length");
    double worst = 0;
    int at = -1;
    for (int i = 0; i < expected.length; i++) {
      assertTrue(Float.isFinite(actual[i]), what + "[" + i + "] is " + actual[i]);
      double excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
      if (excess > worst) {
        worst = excess;
        at = i;
      }
    }
    if (at >= 0) {
      throw new AssertionError(what + "[" + at + "]: fuselm " + actual[at] + " vs Hugging Face "
          + expected[at] + " (rtol " + rtol + ", atol " + atol + ")");
    }
  }

  static void assertClose(String what, float[] expected, float[] actual) {
    assertClose(what, expected, actual, RTOL, ATOL);
  }

  static int[] ints(long[] v) {
    return Arrays.stream(v).mapToInt(Math::toIntExact).toArray();
  }

  /** The LM targets Hugging Face uses for labels = ids: the next token, nothing for the last. */
  static int[] nextTokenTargets(int[] ids, int b, int t) {
    int[] targets = new int[ids.length];
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        targets[i * t + j] = j + 1 < t ? ids[i * t + j + 1] : SoftmaxOps.IGNORE_INDEX;
      }
    }
    return targets;
  }

  static SafeTensors.Reader expected(String name) throws IOException {
    return SafeTensors.open(root.resolve(name + ".expected.safetensors"));
  }

  static SafeTensors.Reader weights(String name) throws IOException {
    return SafeTensors.open(root.resolve(name).resolve(ModelDirectory.WEIGHTS));
  }

  static JsonNode config(String name) throws IOException {
    return new ObjectMapper().readTree(root.resolve(name).resolve(ModelDirectory.CONFIG).toFile());
  }

  /** Runs a GPT-2 directory on its expected inputs; checks logits (and the loss when stored). */
  static void checkGptLogits(String name, boolean tied) throws IOException {
    try (GptModel m = Checkpoint.load(ctx, root.resolve(name), ModelFamily.GPT2);
        SafeTensors.Reader ex = expected(name)) {
      assertEquals(tied, m.config().tiedHead(), name + ": tied head");
      long[] shape = ex.entry("input_ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      int[] ids = ints(ex.readLongs("input_ids"));
      float loss = m.forward(ids, nextTokenTargets(ids, b, t), b, t);
      assertClose(name + " logits", ex.readFloats("logits"), m.logits().toFloatArray());
      if (ex.contains("loss")) {
        assertClose(name + " loss", ex.readFloats("loss"), new float[] {loss});
      }
    }
  }

  @Test
  void gpt2LmHeadModelWithTiedHead() throws IOException {
    try (SafeTensors.Reader w = weights("gpt2-lmhead")) {
      // what transformers 5.18 writes for a tied GPT2LMHeadModel: transformer.* and no lm_head
      assertTrue(w.entries().keySet().stream().allMatch(k -> k.startsWith("transformer.")),
          w.entries().keySet().toString());
      assertFalse(w.contains("lm_head.weight"));
      assertEquals("pt", w.metadata().get("format"));
    }
    JsonNode c = config("gpt2-lmhead");
    assertEquals("float32", c.path("dtype").asText());
    assertEquals(GptConfig.of(300, 64, 32, 2, 4), Checkpoint.readConfig(root.resolve(
        "gpt2-lmhead"), ModelFamily.GPT2));
    checkGptLogits("gpt2-lmhead", true);
  }

  @Test
  void gpt2LmHeadModelWithUntiedHead() throws IOException {
    try (SafeTensors.Reader w = weights("gpt2-untied")) {
      assertTrue(w.contains("lm_head.weight"), "an untied head is written");
    }
    assertFalse(config("gpt2-untied").path("tie_word_embeddings").asBoolean(true));
    checkGptLogits("gpt2-untied", false);
  }

  @Test
  void gpt2ModelWithoutPrefixGivesHuggingFacesHiddenStates() throws IOException {
    try (SafeTensors.Reader w = weights("gpt2-base")) {
      // GPT2Model has no base-model prefix: h.0..., wte.weight
      assertTrue(w.contains("wte.weight") && w.contains("h.0.attn.c_attn.weight"));
      assertFalse(w.entries().keySet().stream().anyMatch(k -> k.startsWith("transformer.")));
    }
    assertEquals("GPT2Model", config("gpt2-base").path("architectures").get(0).asText());
    try (GptModel m = Checkpoint.load(ctx, root.resolve("gpt2-base"), ModelFamily.GPT2);
        SafeTensors.Reader ex = expected("gpt2-base")) {
      long[] shape = ex.entry("input_ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      float[] hidden = m.forwardHidden(ints(ex.readLongs("input_ids")), b, t).toFloatArray();
      assertClose("gpt2-base hidden", ex.readFloats("hidden"), hidden);
    }
  }

  @Test
  void gpt2SavedInBfloat16IsWidened() throws IOException {
    try (SafeTensors.Reader w = weights("gpt2-bf16")) {
      assertTrue(w.entries().values().stream().allMatch(e -> e.dtype() == SafeTensors.DType.BF16));
    }
    assertEquals("bfloat16", config("gpt2-bf16").path("dtype").asText());
    // the reference is transformers' float32 run of the bf16 values: widening is exact
    checkGptLogits("gpt2-bf16", true);
  }

  @Test
  void bertForPreTrainingWithPaddingAndTokenTypes() throws IOException {
    Path dir = root.resolve("bert-pretraining");
    try (SafeTensors.Reader w = weights("bert-pretraining")) {
      // transformers 5.18 leaves out the decoder tied to the word embeddings and cls.predictions.bias
      assertFalse(w.contains("cls.predictions.decoder.weight"));
      assertFalse(w.contains("cls.predictions.decoder.bias"));
      assertTrue(w.contains("cls.predictions.bias") && w.contains("bert.pooler.dense.weight")
          && w.contains("cls.seq_relationship.weight"));
    }
    try (BertModel m = Checkpoint.load(ctx, dir, ModelFamily.BERT);
        SafeTensors.Reader ex = expected("bert-pretraining")) {
      assertTrue(m.hasPooler() && m.hasHeads());
      long[] shape = ex.entry("input_ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      int[] ids = ints(ex.readLongs("input_ids"));
      int[] mask = ints(ex.readLongs("attention_mask"));
      assertTrue(Arrays.stream(mask).anyMatch(v -> v == 0), "the batch has padding");
      m.forwardHidden(new TokenBatch(ids, ints(ex.readLongs("token_type_ids")), mask, b, t));
      assertClose("hidden", ex.readFloats("hidden"), m.hidden().toFloatArray());
      assertClose("pooled", ex.readFloats("pooled"), m.pooled().toFloatArray());
      assertClose("nsp logits", ex.readFloats("nsp_logits"), m.nspHead().logits(m.pooled()));
      // the MLM head at every position: label each position with its own id
      m.mlmHead().loss(m.hidden(), ids);
      assertClose("mlm logits", ex.readFloats("mlm_logits"), m.mlmHead().logits().toFloatArray());
      // Hugging Face's pre-training loss is the sum of the MLM and NSP means
      float loss = m.mlmHead().loss(m.hidden(), ints(ex.readLongs("mlm_labels")))
          + m.nspHead().loss(m.pooled(), ints(ex.readLongs("nsp_labels")));
      assertClose("loss", ex.readFloats("loss"), new float[] {loss});
    }
  }

  @Test
  void bertModelWithoutPrefixLoadsWithPoolerAndNoHeads() throws IOException {
    try (SafeTensors.Reader w = weights("bert-model")) {
      assertTrue(w.contains("embeddings.word_embeddings.weight") && w.contains("pooler.dense.weight"));
    }
    try (BertModel m = Checkpoint.load(ctx, root.resolve("bert-model"), ModelFamily.BERT);
        SafeTensors.Reader ex = expected("bert-model")) {
      assertTrue(m.hasPooler());
      assertFalse(m.hasHeads());
      long[] shape = ex.entry("input_ids").shape();
      int b = (int) shape[0], t = (int) shape[1];
      m.forwardHidden(new TokenBatch(ints(ex.readLongs("input_ids")),
          ints(ex.readLongs("token_type_ids")),
          ints(ex.readLongs("attention_mask")), b, t));
      assertClose("hidden", ex.readFloats("hidden"), m.hidden().toFloatArray());
      assertClose("pooled", ex.readFloats("pooled"), m.pooled().toFloatArray());
    }
  }

  /**
   * transformers 5.18 saves a BERT tokenizer as tokenizer.json + tokenizer_config.json, without
   * vocab.txt; fuselm's tokenizer of that directory gives BertTokenizerFast's ids.
   */
  @Test
  void bertTokenizerSavedByTransformersGivesTheSameIds() throws IOException {
    Path dir = root.resolve("bert-pretraining");
    assertFalse(Files.exists(dir.resolve("vocab.txt")));
    WordPieceTokenizer tok = Tokenizers.wordPiece(dir);
    JsonNode cases = new ObjectMapper().readTree(root.resolve("tokenizer.json").toFile())
        .get("cases");
    assertTrue(cases.size() >= 5);
    for (JsonNode c : cases) {
      String pair = c.has("pair") ? c.get("pair").asText() : null;
      BertEncoding e = tok.encodeForModel(c.get("text").asText(), pair, 0, 0);
      String what = c.get("text").asText() + (pair == null ? "" : " | " + pair);
      assertArrayEquals(ints(c.get("input_ids")), e.ids(), what);
      assertArrayEquals(ints(c.get("token_type_ids")), e.typeIds(), what);
    }
  }

  /**
   * Hugging Face's GPT-2 always has a qkv bias, so a model without one is saved with zero
   * {@code c_attn.bias} tensors (HfRoundTripTest loads such a directory in transformers); fuselm
   * reads it back as the same bias-free model, and refuses a nonzero bias under
   * {@code fuselm_qkv_bias: false} rather than dropping it.
   */
  @Test
  void gptWithoutQkvBiasIsSavedWithZeroBiasAndReadBack(@TempDir Path tmp) throws IOException {
    GptConfig c = GptConfig.of(40, 16, 16, 2, 2).withQkvBias(false);
    Path d = tmp.resolve("m");
    try (GptModel m = GptModel.random(ctx, c, 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, d);
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve(ModelDirectory.WEIGHTS))) {
        for (int l = 0; l < 2; l++) {
          float[] bias = r.readFloats("transformer.h." + l + ".attn.c_attn.bias");
          assertEquals(48, bias.length);
          assertTrue(IntStream.range(0, bias.length).allMatch(i -> bias[i] == 0f));
        }
      }
      assertTrue(Files.readString(d.resolve("config.json")).contains("\"fuselm_qkv_bias\" : false"));
      try (GptModel back = Checkpoint.load(ctx, d, ModelFamily.GPT2)) {
        assertEquals(c, back.config());
        assertArrayEquals(m.params().flat().toFloatArray(), back.params().flat().toFloatArray());
      }
      // a nonzero bias under fuselm_qkv_bias: false is an error, not silently dropped weights
      try (GptModel withBias = GptModel.random(ctx, c.withQkvBias(true), 4)) {
        float[] half = new float[48];
        Arrays.fill(half, 0.5f);
        withBias.params().get("transformer.h.1.attn.c_attn.bias").copyFrom(half);
        Checkpoint.save(ModelFamily.GPT2, withBias, d);
      }
      Checkpoint.writeConfig(d.resolve("config.json"), ModelFamily.GPT2.configJson(c));
      IOException e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d,
          ModelFamily.GPT2));
      assertTrue(e.getMessage().contains("c_attn.bias' holds nonzero values"), e.getMessage());
    }
  }

  /**
   * Hugging Face task layouts fuselm's BERT cannot hold (BertForMaskedLM: MLM head without NSP
   * head and pooler; BertForSequenceClassification: classifier.*) are refused with a message that
   * names them, not a misleading layer count. The names are those transformers 5.18 writes.
   */
  @Test
  void bertTaskLayoutsFuselmCannotHoldAreNamed(@TempDir Path tmp) throws IOException {
    dev.fuselm.model.BertConfig c = new dev.fuselm.model.BertConfig(30, 16, 1, 2, 24, 16, 2,
        1e-12f, 0f, 0f);
    Path full = tmp.resolve("full");
    try (BertModel m = BertModel.random(ctx, c, 1)) {
      Checkpoint.save(ModelFamily.BERT, m, full);
    }
    String[][] layouts = {
        {"mlm", "BertForMaskedLM", "bert.pooler.", "cls.seq_relationship."},
        {"seqcls", "task model with a classifier.* head", "cls.", null}};
    for (String[] l : layouts) {
      Path d = tmp.resolve(l[0]);
      Files.createDirectories(d);
      Files.copy(full.resolve("config.json"), d.resolve("config.json"));
      SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
      try (SafeTensors.Reader r = SafeTensors.open(full.resolve(ModelDirectory.WEIGHTS))) {
        for (SafeTensors.Entry e : r.entries().values()) {
          if (!e.name().startsWith(l[2]) && (l[3] == null || !e.name().startsWith(l[3]))) {
            w.addFloats(e.name(), e.shape(), r.readFloats(e.name()));
          }
        }
      }
      if (l[3] == null) {
        w.addFloats("classifier.weight", new long[] {2, 16}, new float[32]);
        w.addFloats("classifier.bias", new long[] {2}, new float[2]);
      }
      w.write(d.resolve(ModelDirectory.WEIGHTS));
      IOException e = assertThrows(IOException.class, () -> Checkpoint.load(ctx, d,
          ModelFamily.BERT));
      assertTrue(e.getMessage().contains(l[1]), e.getMessage());
    }
  }

  /** Token ids outside the vocabulary make Hugging Face warn: only GPT-2's vocabulary has 50256. */
  @Test
  void configJsonNamesEndOfTextOnlyForGpt2sVocabulary() throws IOException {
    JsonNode small = new ObjectMapper().readTree(Checkpoint.configText(
        ModelFamily.GPT2.configJson(GptConfig.of(300, 64, 32, 2, 4))));
    assertTrue(small.get("bos_token_id").isNull() && small.get("eos_token_id").isNull());
    JsonNode gpt2 = new ObjectMapper().readTree(Checkpoint.configText(
        ModelFamily.GPT2.configJson(GptConfig.gpt2())));
    assertEquals(50256, gpt2.get("eos_token_id").asInt());
    assertEquals("float32", gpt2.get("dtype").asText());
  }

  static int[] ints(JsonNode a) {
    int[] v = new int[a.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = a.get(i).asInt();
    }
    return v;
  }
}
