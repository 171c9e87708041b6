package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every family through the one {@link Checkpoint}: save, load, compare every tensor by name. */
class CheckpointTest {
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

  static final GptConfig GPT = GptConfig.of(29, 12, 16, 2, 4);
  static final BertConfig BERT = BertConfig.of(41, 16, 2, 4, 32);

  static <M extends AutoCloseable> void assertSameTensors(ModelFamily<?, M> f, M a, M b) {
    assertEquals(f.parameterNames(a), f.parameterNames(b));
    for (String name : f.parameterNames(a)) {
      assertArrayEquals(f.parameter(a, name).shape(), f.parameter(b, name).shape(), name);
      assertArrayEquals(f.parameter(a, name).toFloatArray(), f.parameter(b, name).toFloatArray(),
          name);
    }
  }

  static float[] random(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }

  @Test
  void gptRoundTripsEveryTensorAndIsDetectedAsGpt2() throws IOException {
    Path d = tmp.resolve("gpt");
    try (GptModel m = GptModel.random(ctx, GPT, 3)) {
      Checkpoint.save(ModelFamily.GPT2, m, d, Map.of("k", "v"));
      assertSame(ModelFamily.GPT2, Checkpoint.family(d));
      assertEquals(GPT, Checkpoint.readConfig(d, ModelFamily.GPT2));
      try (GptModel back = Checkpoint.load(ctx, d, ModelFamily.GPT2)) {
        assertSameTensors(ModelFamily.GPT2, m, back);
      }
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve(Checkpoint.WEIGHTS))) {
        assertEquals("v", r.metadata().get("k"));
        assertEquals("pt", r.metadata().get("format"));
      }
    }
  }

  /** Without qkv bias, save writes zero c_attn.bias tensors and load accepts only zeros. */
  @Test
  void gptWithoutQkvBiasWritesZeroBiasesAndRefusesNonzeroOnes() throws IOException {
    GptConfig c = new GptConfig(29, 12, 16, 2, 4, 0f, 0f, 0f, false, true, 1e-5f);
    Path d = tmp.resolve("noqkv");
    try (GptModel m = GptModel.random(ctx, c, 4)) {
      Checkpoint.save(ModelFamily.GPT2, m, d);
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve(Checkpoint.WEIGHTS))) {
        assertArrayEquals(new float[48], r.readFloats("transformer.h.1.attn.c_attn.bias"));
      }
      try (GptModel back = Checkpoint.load(ctx, d, ModelFamily.GPT2)) {
        assertSameTensors(ModelFamily.GPT2, m, back);
      }
      SafeTensors.Writer w = new SafeTensors.Writer();
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve(Checkpoint.WEIGHTS))) {
        for (String k : r.entries().keySet()) {
          float[] v = r.readFloats(k);
          if (k.endsWith("h.0.attn.c_attn.bias")) {
            v[7] = 1f;
          }
          w.addFloats(k, r.entry(k).shape(), v);
        }
      }
      w.write(d.resolve(Checkpoint.WEIGHTS));
      IOException e = assertThrows(IOException.class,
          () -> Checkpoint.load(ctx, d, ModelFamily.GPT2));
      assertTrue(e.getMessage().contains("'transformer.h.0.attn.c_attn.bias' holds nonzero"),
          e.getMessage());
    }
  }

  @Test
  void bertWithHeadsRoundTripsEveryTensorAndIsDetectedAsBert() throws IOException {
    Path d = tmp.resolve("bert");
    try (BertModel m = BertModel.random(ctx, BERT, 5)) {
      assertTrue(m.hasHeads() && m.hasPooler());
      Checkpoint.save(ModelFamily.BERT, m, d);
      assertSame(ModelFamily.BERT, Checkpoint.family(d));
      assertTrue(Files.readString(d.resolve(Checkpoint.CONFIG)).contains("BertForPreTraining"));
      try (BertModel back = Checkpoint.load(ctx, d, ModelFamily.BERT)) {
        assertTrue(back.hasHeads() && back.hasPooler());
        assertSameTensors(ModelFamily.BERT, m, back);
      }
    }
  }

  @Test
  void bertWithoutHeadsLoadsWithoutThem() throws IOException {
    Path d = tmp.resolve("encoder");
    try (BertModel m = BertModel.create(ctx, BERT, true, false)) {
      m.initialize(6);
      Checkpoint.save(ModelFamily.BERT, m, d);
      assertTrue(Files.readString(d.resolve(Checkpoint.CONFIG)).contains("\"BertModel\""));
      try (BertModel back = Checkpoint.load(ctx, d, ModelFamily.BERT)) {
        assertFalse(back.hasHeads());
        assertTrue(back.hasPooler());
        assertSameTensors(ModelFamily.BERT, m, back);
      }
    }
  }

  @Test
  void gptClassifierRoundTripsModelHeadAndMeta() throws IOException {
    Path d = tmp.resolve("cls");
    Path src = tmp.resolve("src");
    Files.createDirectories(src);
    Files.writeString(src.resolve("tokenizer.json"), "{}");
    Files.writeString(src.resolve("vocab.txt"), "not a GPT tokenizer file\n");
    float[] w = random(3 * 16, 7);
    try (GptModel m = GptModel.random(ctx, GPT, 8)) {
      Checkpoint.saveClassifier(ModelFamily.GPT2, m, d,
          new ClassifierHead.Meta(List.of("a", "b", "c"), 5, 10, false),
          Map.of("score.weight", w), src);
      assertTrue(Files.isRegularFile(d.resolve("tokenizer.json")));
      assertFalse(Files.exists(d.resolve("vocab.txt")), "only the family's tokenizer files");
      assertFalse(Files.readString(d.resolve(ClassifierHead.META_FILE)).contains("model_type"),
          "GPT-2 classifier.json stays as it was");
      var c = Checkpoint.loadClassifier(ctx, d, ModelFamily.GPT2);
      try (GptModel back = c.model()) {
        assertSameTensors(ModelFamily.GPT2, m, back);
        assertEquals(new ClassifierHead.Meta(List.of("a", "b", "c"), 5, 10, false), c.meta());
        assertArrayEquals(w, c.head().get("score.weight"));
      }
      try (SafeTensors.Reader r = SafeTensors.open(d.resolve(Checkpoint.WEIGHTS))) {
        assertEquals("sequence-classification", r.metadata().get("fuselm_task"));
      }
    }
  }

  @Test
  void bertClassifierRoundTripsModelHeadAndMeta() throws IOException {
    Path d = tmp.resolve("bcls");
    float[] w = random(2 * 16, 9), b = random(2, 10);
    try (BertModel m = BertModel.create(ctx, BERT, true, false)) {
      m.initialize(11);
      ClassifierHead.Meta meta = new ClassifierHead.Meta(List.of("no", "yes"), 0, 16, true);
      Checkpoint.saveClassifier(ModelFamily.BERT, m, d, meta,
          Map.of("classifier.weight", w, "classifier.bias", b), null);
      var c = Checkpoint.loadClassifier(ctx, d, ModelFamily.BERT);
      try (BertModel back = c.model()) {
        assertSameTensors(ModelFamily.BERT, m, back);
        assertEquals(meta, c.meta());
        assertArrayEquals(w, c.head().get("classifier.weight"));
        assertArrayEquals(b, c.head().get("classifier.bias"));
      }
    }
  }

  @Test
  void headWithTheWrongShapeIsAClearError() throws IOException {
    Path d = tmp.resolve("bad");
    try (GptModel m = GptModel.random(ctx, GPT, 12)) {
      Checkpoint.saveClassifier(ModelFamily.GPT2, m, d,
          new ClassifierHead.Meta(List.of("a", "b"), 0, 10, false),
          Map.of("score.weight", random(32, 1)), null);
    }
    new SafeTensors.Writer().addFloats("score.weight", new long[] {3, 16}, random(48, 2))
        .write(d.resolve(ClassifierHead.HEAD_FILE));
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.loadClassifier(ctx, d, ModelFamily.GPT2));
    assertTrue(e.getMessage().endsWith("score.weight has shape [3, 16], expected [2, 16]"),
        e.getMessage());
  }

  @Test
  void configErrorsNameTheFileAndTheField() throws IOException {
    IOException e = assertThrows(IOException.class,
        () -> Checkpoint.parseConfig("c.json", "{\"n_layer\": 2.5}", ModelFamily.GPT2));
    assertEquals("c.json: n_layer must be an integer, got 2.5", e.getMessage());
    e = assertThrows(IOException.class,
        () -> Checkpoint.parseConfig("c.json", "{\"vocab_size\": \"9\"}", ModelFamily.BERT));
    assertEquals("c.json: vocab_size must be an integer, got \"9\"", e.getMessage());
    assertSame(ModelFamily.BERT, ModelFamily.forModelType("bert"));
    assertSame(ModelFamily.GPT2, ModelFamily.forModelType(null));
  }

  /** config.json written through the descriptor reads back to the same config. */
  @Test
  void configJsonRoundTrips() throws IOException {
    GptConfig g = new GptConfig(50257, 64, 32, 3, 4, 0.1f, 0.2f, 0.3f, false, false, 1e-6f);
    assertEquals(g, Checkpoint.parseConfig("x",
        Checkpoint.configText(ModelFamily.GPT2.configJson(g)), ModelFamily.GPT2));
    assertEquals(BERT, Checkpoint.parseConfig("x",
        Checkpoint.configText(ModelFamily.BERT.configJson(BERT, true)), ModelFamily.BERT));
  }
}
