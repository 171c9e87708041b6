package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SentenceEmbedderTest {
  static ComputeContext ctx;
  static BertModel model;
  static final WordPieceTokenizer TOK = WordPieceTokenizer.bertBaseUncased();
  static final List<String> TEXTS = List.of("A short one.",
      "The quick brown fox jumps over the lazy dog, twice, and then sleeps.", "",
      "Embeddings of sentences of different lengths share a batch with padding.", "hello world");

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
    // scaled-up random weights so that different texts get clearly different embeddings
    model = BertModelTest.model(ctx, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f, 0.1f, 0.1f), 1);
  }

  @AfterAll
  static void release() {
    model.close();
    ctx.close();
  }

  /** The mean of the hidden states of [CLS] text [SEP] run alone (no padding), in double. */
  static float[] alone(String text, int maxLength) {
    int[] ids = TOK.encodeForModel(text, null, maxLength, 0).ids();
    float[] h = model.forwardHidden(new TokenBatch(ids, null, null, 1, ids.length)).toFloatArray();
    return SentenceEmbedder.meanPool(h, 0, ids.length, 16);
  }

  @Test
  void batchedPaddedEmbeddingsEqualEachTextAloneInInputOrder() {
    SentenceEmbedder emb = new SentenceEmbedder(model, TOK, 64, 2); // batches of 2 after sorting
    float[][] got = emb.embed(TEXTS, false);
    assertEquals(TEXTS.size(), got.length);
    for (int i = 0; i < TEXTS.size(); i++) {
      float[] want = alone(TEXTS.get(i), 64);
      for (int k = 0; k < want.length; k++) {
        assertEquals(want[k], got[i][k], 1e-5f * Math.max(1f, Math.abs(want[k])),
            "text " + i + " dim " + k);
      }
    }
    assertTrue(Math.abs(got[0][0] - got[4][0]) > 1e-3, "different texts, different embeddings");
  }

  @Test
  void normalizedEmbeddingsAreUnitVectorsInTheSameDirection() {
    SentenceEmbedder emb = new SentenceEmbedder(model, TOK, 64, 32);
    float[][] raw = emb.embed(TEXTS, false);
    float[][] unit = emb.embed(TEXTS, true);
    for (int i = 0; i < raw.length; i++) {
      double norm = 0;
      for (float v : raw[i]) {
        norm += (double) v * v;
      }
      norm = Math.sqrt(norm);
      double n2 = 0;
      for (int k = 0; k < raw[i].length; k++) {
        n2 += (double) unit[i][k] * unit[i][k];
        assertEquals(raw[i][k] / norm, unit[i][k], 1e-6);
      }
      assertEquals(1.0, n2, 1e-5);
    }
  }

  @Test
  void longTextsAreTruncatedToMaxLength() {
    String longText = "word ".repeat(100);
    SentenceEmbedder emb = new SentenceEmbedder(model, TOK, 10, 4);
    assertArrayEquals(alone(longText, 10), emb.embed(longText, false), 1e-5f);
    assertThrows(IllegalArgumentException.class, () -> new SentenceEmbedder(model, TOK, 65, 4));
    assertThrows(IllegalArgumentException.class, () -> new SentenceEmbedder(model, TOK, 64, 0));
  }

  @Test
  void concurrentCallersGetTheSameResultsAsOneCaller() throws Exception {
    SentenceEmbedder emb = new SentenceEmbedder(model, TOK, 64, 3);
    float[][] want = emb.embed(TEXTS, true);
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      List<Future<float[][]>> futures = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        futures.add(pool.submit(() -> emb.embed(TEXTS, true)));
      }
      for (Future<float[][]> f : futures) {
        float[][] got = f.get();
        for (int i = 0; i < want.length; i++) {
          assertArrayEquals(want[i], got[i]);
        }
      }
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void clsAndMaxPoolingEqualHandComputationsOnEachTextAlone() {
    SentenceEmbedder emb = new SentenceEmbedder(model, TOK, 64, 2);
    float[][] cls = emb.embed(TEXTS, Pooling.CLS, false);
    float[][] max = emb.embed(TEXTS, Pooling.MAX, false);
    for (int i = 0; i < TEXTS.size(); i++) {
      int[] ids = TOK.encodeForModel(TEXTS.get(i), null, 64, 0).ids();
      float[] h = model.forwardHidden(new TokenBatch(ids, null, null, 1, ids.length))
          .toFloatArray();
      for (int k = 0; k < 16; k++) {
        float m = Float.NEGATIVE_INFINITY;
        for (int r = 0; r < ids.length; r++) {
          m = Math.max(m, h[r * 16 + k]);
        }
        assertEquals(h[k], cls[i][k], 1e-5f * Math.max(1f, Math.abs(h[k])), "cls " + i);
        assertEquals(m, max[i][k], 1e-5f * Math.max(1f, Math.abs(m)), "max " + i);
      }
    }
    assertEquals(Pooling.MEAN, emb.pooling());
    assertEquals(false, emb.normalizes());
    assertEquals(Pooling.MAX, Pooling.parse("Max"));
    assertThrows(IllegalArgumentException.class, () -> Pooling.parse("weightedmean"));
  }
}
