package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fuselm.model.Pooling;
import dev.fuselm.model.Precision;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import java.net.JarURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The accuracy of bf16 inference ({@link SentenceEmbedder#precision}): the real all-MiniLM-L6-v2
 * (LangChain4j's jar, a test dependency) embeds real sentences (the first 100 lines of each of the
 * three sentiment-labelled-sentences files in shared/data) in float32 and in bf16, and the
 * normalised embeddings are compared by cosine. Measured on the shared AMD EPYC (AVX512_BF16,
 * vdpbf16ps): min 0.99996, mean 0.99999 over the 300 sentences. Bounds: min 0.9995, mean 0.9999.
 * Also checks that bf16 is not float32 in disguise (the embeddings differ) and that switching back
 * to fp32 gives the float32 bits again.
 */
class MiniLmBf16EmbeddingTest {
  static final double MIN_COSINE = 0.9995;
  static final double MEAN_COSINE = 0.9999;

  @TempDir Path tmp;

  static Path dataDir() {
    String p = System.getProperty("fuselm.data");
    if (p == null) {
      p = System.getenv("FUSELM_DATA");
    }
    return Path.of(p != null ? p : "../shared/data");
  }

  @Test
  void bf16EmbeddingsStayCloseToFloat32OnRealSentences() throws Exception {
    Path sents = dataDir().resolve("sentiment-labelled-sentences");
    assumeTrue(Files.isDirectory(sents), "shared data not found at " + sents);
    List<String> texts = new ArrayList<>();
    for (String f : new String[] {"amazon_cells", "imdb", "yelp"}) {
      List<String> lines = Files.readAllLines(sents.resolve(f + "_labelled.txt"),
          StandardCharsets.UTF_8);
      for (String l : lines.subList(0, 100)) {
        texts.add(l.split("\t")[0]);
      }
    }
    URL url = MiniLmBf16EmbeddingTest.class.getResource("/all-minilm-l6-v2.onnx");
    assertNotNull(url, "the LangChain4j MiniLM jar is a test dependency");
    Path jar = Path.of(((JarURLConnection) url.openConnection()).getJarFileURL().toURI());
    Path dir = tmp.resolve("minilm");
    OnnxImport.toDirectory(jar, null, dir, Pooling.MEAN, true);
    try (ComputeContext ctx = ComputeContext.create();
        SentenceEmbedder emb = Checkpoint.loadEmbedder(ctx, dir, 128, 32)) {
      ctx.threads(2);
      float[][] f32 = emb.embed(texts, Pooling.MEAN, true);
      float[][] b16 = emb.precision(Precision.BF16).embed(texts, Pooling.MEAN, true);
      float[][] again = emb.precision(Precision.FP32).embed(texts, Pooling.MEAN, true);
      double min = 1, sum = 0;
      boolean differs = false;
      for (int i = 0; i < texts.size(); i++) {
        double cos = cosine(f32[i], b16[i]);
        min = Math.min(min, cos);
        sum += cos;
        differs |= !java.util.Arrays.equals(f32[i], b16[i]);
        assertTrue(java.util.Arrays.equals(f32[i], again[i]), "fp32 again, text " + i);
      }
      double mean = sum / texts.size();
      System.out.printf("MiniLM bf16 vs fp32 over %d real sentences: min cosine %.5f, mean %.5f%n",
          texts.size(), min, mean);
      assertTrue(differs, "bf16 embeddings equal the float32 ones: bf16 was not used");
      assertTrue(min >= MIN_COSINE, "min cosine " + min);
      assertTrue(mean >= MEAN_COSINE, "mean cosine " + mean);
      assertNotEquals(0, texts.size());
      assertEquals(texts.size(), b16.length);
    }
  }

  static double cosine(float[] a, float[] b) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < a.length; i++) {
      ab += (double) a[i] * b[i];
      aa += (double) a[i] * a[i];
      bb += (double) b[i] * b[i];
    }
    return ab / Math.sqrt(aa * bb);
  }
}
