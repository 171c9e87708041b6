package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LanguageModel, TextClassifier and TextEmbedder: each loads a directory in one call and gives the
 * same answers as the manual way (Generator + decode; encode, truncate, collate and argmax; the
 * SentenceEmbedder).
 */
class OneCallLoadingTest {
  static final GptConfig GPT = GptConfig.of(50257, 64, 32, 2, 2).withDropout(0f);
  static final String PROMPT = "Hello, my name is";

  @TempDir static Path tmp;
  static Path gptDir;
  static Path classifierDir;
  static Path bertDir;

  @BeforeAll
  static void writeDirectories() throws IOException {
    gptDir = tmp.resolve("gpt");
    classifierDir = tmp.resolve("clf");
    bertDir = tmp.resolve("bert");
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GPT, 3)) {
      float[] w = m.tokenEmbedding().toFloatArray();
      for (int i = 0; i < w.length; i++) {
        w[i] *= 30; // logits that differ clearly between tokens
      }
      m.tokenEmbedding().copyFrom(w);
      Checkpoint.save(ModelFamily.GPT2, m, gptDir);
    }
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GptModel.random(c, GPT, 4);
        SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(m, List.of("ham", "spam"),
            50256, 9)) {
      Checkpoint.saveClassifier(clf, 16, false, classifierDir, null);
    }
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f,
            0.1f, 0.1f), 3)) {
      Checkpoint.save(ModelFamily.BERT, m, bertDir);
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), bertDir);
  }

  /** The manual way: Generator on the ids, stop token dropped, decoded. */
  static String manual(GenerationConfig gc) throws IOException {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.gpt2();
    try (ComputeContext c = ComputeContext.create();
        GptModel m = Checkpoint.load(c, gptDir, ModelFamily.GPT2);
        Generator g = new Generator(m, 1)) {
      int[] ids = g.generate(tok.encode(PROMPT), gc, null).ids();
      if (gc.stopToken() >= 0 && ids.length > 0 && ids[ids.length - 1] == gc.stopToken()) {
        ids = Arrays.copyOf(ids, ids.length - 1);
      }
      return tok.decode(ids);
    }
  }

  @Test
  void languageModelGeneratesWhatTheGeneratorDoes() throws IOException {
    GenerationConfig gc = GenerationConfig.builder().maxNewTokens(12).build();
    String want = manual(gc.withEndOfText(50256));
    try (LanguageModel lm = LanguageModel.load(gptDir)) {
      assertEquals(want, lm.generate(PROMPT, gc));
      List<String> pieces = new ArrayList<>();
      String streamed = lm.generate(PROMPT, gc, pieces::add);
      assertEquals(want, streamed);
      assertEquals(want, String.join("", pieces));
      // the old factories keep working through the facade
      assertEquals(manual(GenerationConfig.greedy(12)),
          lm.generate(PROMPT, GenerationConfig.greedy(12)));
    }
  }

  @Test
  void samplingWithASeedRepeats() throws IOException {
    GenerationConfig gc = GenerationConfig.builder().maxNewTokens(10).temperature(0.9f).topK(40)
        .topP(0.95f).seed(42).build();
    try (LanguageModel lm = LanguageModel.load(gptDir)) {
      assertEquals(lm.generate(PROMPT, gc), lm.generate(PROMPT, gc));
      assertEquals(manual(gc.withEndOfText(50256)), lm.generate(PROMPT, gc));
    }
  }

  @Test
  void aStopStringEndsTheTextBeforeIt() throws IOException {
    GenerationConfig plain = GenerationConfig.builder().maxNewTokens(20).build();
    try (LanguageModel lm = LanguageModel.load(gptDir)) {
      String full = lm.generate(PROMPT, plain);
      assertTrue(full.length() >= 6, "need some text to cut: '" + full + "'");
      String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
      String want = full.substring(0, full.indexOf(stop));
      List<String> pieces = new ArrayList<>();
      String got = lm.generate(PROMPT, plain.toBuilder().stopStrings(stop).build(), pieces::add);
      assertEquals(want, got);
      assertEquals(want, String.join("", pieces));
    }
  }

  @Test
  void aGptDirectoryIsNotAnEmbedderAndABertOneDoesNotGenerate() {
    IOException e = assertThrows(IOException.class, () -> TextEmbedder.load(gptDir));
    assertTrue(e.getMessage().contains("not a sentence embedder"), e.getMessage());
    e = assertThrows(IOException.class, () -> LanguageModel.load(bertDir));
    assertTrue(e.getMessage().contains("does not generate"), e.getMessage());
  }

  @Test
  void textClassifierEqualsTheManualWay() throws IOException {
    String text = "WINNER!! Claim your free prize now, call 09061701461 before it is too late";
    double[] want;
    try (ComputeContext c = ComputeContext.create();
        SequenceClassifier<GptModel> clf = Checkpoint.loadSequenceClassifier(c, classifierDir,
            ModelFamily.GPT2)) {
      int[] ids = Gpt2BpeTokenizer.gpt2().encode(text);
      ids = Arrays.copyOf(ids, Math.min(ids.length, 16));
      want = clf.probabilities(TokenBatch.rightPadded(List.of(ids), clf.padId(), 0));
    }
    try (TextClassifier clf = TextClassifier.load(classifierDir)) {
      assertEquals(List.of("ham", "spam"), clf.labels());
      TextClassifier.Prediction p = clf.classify(text);
      assertEquals(Map.of("ham", want[0], "spam", want[1]), p.probabilities());
      assertEquals(want[1] > want[0] ? "spam" : "ham", p.label());
      assertThrows(IllegalArgumentException.class, () -> clf.classify("a", "b"));
    }
  }

  @Test
  void textEmbedderEqualsTheSentenceEmbedder() throws IOException {
    List<String> texts = List.of("a cat sat on the mat", "the stock market fell");
    float[][] want;
    try (ComputeContext c = ComputeContext.create();
        SentenceEmbedder e = Checkpoint.loadEmbedder(c, bertDir, Integer.MAX_VALUE, 32)) {
      want = e.embed(texts);
    }
    try (TextEmbedder e = TextEmbedder.load(bertDir)) {
      assertEquals(16, e.dimension());
      float[][] got = e.embed(texts);
      assertEquals(2, got.length);
      // the same computation; the kernels' thread split may move the last bit
      for (int i = 0; i < 2; i++) {
        assertArrayEquals(want[i], got[i], 1e-6f);
      }
      assertArrayEquals(want[0], e.embed(texts.get(0)), 1e-6f);
      assertFalse(Arrays.equals(got[0], got[1]));
    }
  }
}
