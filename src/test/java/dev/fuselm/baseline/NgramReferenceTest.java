package dev.fuselm.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.baseline.NgramModel.Settings;
import dev.fuselm.baseline.NgramModel.Smoothing;
import java.io.IOException;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/**
 * {@link NgramModel} against {@code src/test/resources/ngram/reference.json}, written by
 * {@code benchmarks/parity/ngram_reference.py}: a naive pure-Python implementation of the same
 * definitions, which that script first checks against NLTK 3.10.3's {@code KneserNeyInterpolated}
 * and {@code Lidstone} (equal to 1e-12 once NLTK's two documented departures are switched on in it;
 * see the NgramModel javadoc). Corpus: TinyShakespeare bytes as ids, 3,000 to train, 600 to score.
 */
class NgramReferenceTest {
  /**
   * Both sides compute the same sums in double precision in nearly the same order; the
   * differences seen are ~1e-16 relative, so 1e-12 relative leaves room without hiding a wrong
   * count (the smallest such change moves a probability by far more than 1e-6 relative).
   */
  private static final double RTOL = 1e-12;

  @Test
  void matchesTheReferenceImplementation() throws IOException {
    JsonNode ref;
    try (InputStream in = getClass().getResourceAsStream("/ngram/reference.json")) {
      assertNotNull(in, "ngram/reference.json is missing from the test resources");
      ref = new ObjectMapper().readTree(in);
    }
    assertTrue(ref.get("nltk_scores_matched").asInt() > 1000, "the generator checked NLTK");
    int v = ref.get("vocab_size").asInt();
    int[] train = ints(ref.get("train"));
    int[] eval = ints(ref.get("eval"));
    int cases = 0;
    for (JsonNode c : ref.get("cases")) {
      Smoothing sm = Smoothing.of(c.get("smoothing").asText());
      int order = c.get("order").asInt();
      Settings s = sm == Smoothing.ADD_K ? Settings.addK(order, c.get("k").asDouble())
          : c.get("discount").isNull() ? Settings.kneserNey(order)
          : Settings.kneserNey(order, c.get("discount").asDouble());
      NgramModel m = NgramModel.train(s, v, train);
      String what = s.describe() + " discount " + c.get("discount");
      double[] discounts = new double[c.get("discounts").size()];
      for (int i = 0; i < discounts.length; i++) {
        discounts[i] = c.get("discounts").get(i).asDouble();
      }
      assertArrayEquals(discounts, m.discounts(), 1e-15, what);
      NgramModel.Score score = m.evaluate(eval);
      assertEquals(c.get("scored_tokens").asLong(), score.tokens(), what);
      close(c.get("perplexity").asDouble(), score.perplexity(), what + " perplexity");
      for (JsonNode p : c.get("probabilities")) {
        int[] ctx = ints(p.get("context"));
        int w = p.get("word").asInt();
        close(p.get("p").asDouble(), m.probability(ctx, w), what + " p(" + w + " | " + p.get("context")
            + ")");
      }
      cases++;
    }
    assertEquals(10, cases);
  }

  private static void close(double want, double got, String what) {
    assertTrue(Math.abs(got - want) <= RTOL * Math.abs(want), what + ": want " + want + ", got "
        + got);
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }
}
