package dev.fuselm.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.baseline.NgramModel.Settings;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link NgramModel}: hand-computed probabilities, normalisation, evaluation, the file format. */
class NgramModelTest {
  /** Exact binary fractions below: the hand computations hold to rounding. */
  private static final double EXACT = 1e-12;
  /** Sums of V probabilities of order 1: V rounding errors of ~1e-16 each. */
  private static final double SUM = 1e-12;

  // The corpus of the hand-computed examples: tokens a=0 b=1 c=2 d=3 (V = 4), stream "a b a b c a".
  // Raw counts: a 3, b 2, c 1, d 0; bigrams ab 2, ba 1, bc 1, ca 1 (5 in all);
  // trigrams aba, bab, abc, bca (1 each).
  private static final int A = 0, B = 1, C = 2, D = 3;
  private static final int[] CORPUS = {A, B, A, B, C, A};

  /**
   * Order 2, discount 0.5. Unigram level (continuation counts N1+(. w): a 2 (after b, c), b 1, c 1,
   * d 0; N1+(. .) = 4, 3 types): p1(w) = max(N1+(. w) - 0.5, 0) / 4 + 0.5 * 3 / 4 * 1/4, so
   * p1(a) = 1.5/4 + 0.09375 = 0.46875, p1(b) = p1(c) = 0.5/4 + 0.09375 = 0.21875, p1(d) = 0.09375.
   * Bigram level (raw): after a, c(a .) = 2 (the last a is followed by nothing), one type:
   * p(b|a) = 1.5/2 + 0.5 * 1/2 * 0.21875 = 0.8046875, p(a|a) = 0.25 * 0.46875 = 0.1171875,
   * p(d|a) = 0.25 * 0.09375 = 0.0234375. After b, c(b .) = 2, two types: p(a|b) = 0.5/2 + 0.5 * 2/2
   * * 0.46875 = 0.484375, p(c|b) = 0.25 + 0.5 * 0.21875 = 0.359375. After c, one a: p(d|c) = 0.5 *
   * 0.09375 = 0.046875. After d (never seen): p1.
   */
  @Test
  void bigramKneserNeyByHand() {
    NgramModel m = NgramModel.train(Settings.kneserNey(2, 0.5), 4, CORPUS);
    assertEquals(0.46875, m.probability(new int[0], A), EXACT);
    assertEquals(0.21875, m.probability(new int[0], B), EXACT);
    assertEquals(0.21875, m.probability(new int[0], C), EXACT);
    assertEquals(0.09375, m.probability(new int[0], D), EXACT);
    assertEquals(0.8046875, m.probability(new int[] {A}, B), EXACT);
    assertEquals(0.1171875, m.probability(new int[] {A}, A), EXACT);
    assertEquals(0.0546875, m.probability(new int[] {A}, C), EXACT);
    assertEquals(0.0234375, m.probability(new int[] {A}, D), EXACT);
    assertEquals(0.484375, m.probability(new int[] {B}, A), EXACT);
    assertEquals(0.359375, m.probability(new int[] {B}, C), EXACT);
    assertEquals(0.046875, m.probability(new int[] {C}, D), EXACT);
    assertEquals(0.09375, m.probability(new int[] {D}, D), EXACT);
    // only the last token of a longer context counts
    assertEquals(0.8046875, m.probability(new int[] {D, C, A}, B), EXACT);
    // "a b c d": b|a, c|b, d|c are scored (the first token has nothing before it)
    NgramModel.Score s = m.evaluate(new int[] {A, B, C, D});
    assertEquals(3, s.tokens());
    assertEquals(-(Math.log(0.8046875) + Math.log(0.359375) + Math.log(0.046875)) / 3, s.loss(),
        EXACT);
    assertEquals(Math.exp(s.loss()), s.perplexity(), EXACT);
  }

  /**
   * Order 3, discount 0.5. The bigram level is now a lower order, over continuation counts from the
   * trigrams: ba 1 (a b a), ab 1 (b a b; the first "a b" has no left neighbour), bc 1, ca 1. So
   * after a: total 1, one type: p2(b|a) = 0.5/1 + 0.5 * 1/1 * p1(b) = 0.5 + 0.109375 = 0.609375,
   * p2(a|a) = 0.5 * 0.46875 = 0.234375, p2(d|a) = 0.046875; after b: total 2, two types:
   * p2(a|b) = 0.25 + 0.5 * 0.46875 = 0.484375, p2(c|b) = 0.359375, p2(b|b) = 0.5 * 0.21875 =
   * 0.109375, p2(d|b) = 0.046875. Trigram level (raw) after "a b": a 1, c 1 (total 2, two types):
   * p(c|a b) = 0.25 + 0.5 * 0.359375 = 0.4296875, p(a|a b) = 0.25 + 0.5 * 0.484375 = 0.4921875,
   * p(b|a b) = 0.5 * 0.109375 = 0.0546875, p(d|a b) = 0.5 * 0.046875 = 0.0234375 (sum 1). After
   * "b a": b 1: p(b|b a) = 0.5 + 0.5 * 0.609375 = 0.8046875. After "d a" (never seen): p2(.|a). A
   * one-token context (the start of a stream) uses the bigram level's p2.
   */
  @Test
  void trigramKneserNeyByHand() {
    NgramModel m = NgramModel.train(Settings.kneserNey(3, 0.5), 4, CORPUS);
    assertEquals(0.4296875, m.probability(new int[] {A, B}, C), EXACT);
    assertEquals(0.4921875, m.probability(new int[] {A, B}, A), EXACT);
    assertEquals(0.0546875, m.probability(new int[] {A, B}, B), EXACT);
    assertEquals(0.0234375, m.probability(new int[] {A, B}, D), EXACT);
    assertEquals(0.8046875, m.probability(new int[] {B, A}, B), EXACT);
    assertEquals(0.609375, m.probability(new int[] {D, A}, B), EXACT);
    assertEquals(0.609375, m.probability(new int[] {A}, B), EXACT);
    assertEquals(0.234375, m.probability(new int[] {A}, A), EXACT);
    assertEquals(0.484375, m.probability(new int[] {B}, A), EXACT);
    assertEquals(0.46875, m.probability(new int[0], A), EXACT);
    // "a b c": b|a with the one-token context, then c|a b
    NgramModel.Score s = m.evaluate(new int[] {A, B, C});
    assertEquals(-(Math.log(0.609375) + Math.log(0.4296875)) / 2, s.loss(), EXACT);
  }

  /**
   * Add-k with k = 1, V = 4: order 2, p(b|a) = (2 + 1) / (2 + 4) = 0.5, p(d|a) = 1/6, after d (never
   * seen) 1/4; order 1, p(a) = (3 + 1) / (6 + 4) = 0.4. A shorter context at the start uses the
   * lower order's counts: order 3, p(b|a) = (2 + 1) / (2 + 4).
   */
  @Test
  void addKByHand() {
    NgramModel m2 = NgramModel.train(Settings.addK(2, 1), 4, CORPUS);
    assertEquals(0.5, m2.probability(new int[] {A}, B), EXACT);
    assertEquals(1.0 / 6, m2.probability(new int[] {A}, D), EXACT);
    assertEquals(0.25, m2.probability(new int[] {D}, A), EXACT);
    NgramModel m1 = NgramModel.train(Settings.addK(1, 1), 4, CORPUS);
    assertEquals(0.4, m1.probability(new int[] {B}, A), EXACT);
    NgramModel m3 = NgramModel.train(Settings.addK(3, 1), 4, CORPUS);
    assertEquals(0.5, m3.probability(new int[] {A}, B), EXACT);
    // after "a b": a 1, c 1 -> (1 + 1) / (2 + 4)
    assertEquals(1.0 / 3, m3.probability(new int[] {A, B}, C), EXACT);
  }

  /**
   * Estimated discounts n1 / (n1 + 2 n2): bigrams (raw, the highest order) ab 2, ba bc ca 1: 3 / (3
   * + 2) = 0.6; unigrams (continuation) a 2, b 1, c 1: 2 / (2 + 2) = 0.5. Order 3: trigrams all 1
   * (n2 = 0: the fallback 0.75); bigram continuation counts all 1 (0.75 again).
   */
  @Test
  void estimatedDiscounts() {
    assertArrayEquals(new double[] {0.5, 0.6},
        NgramModel.train(Settings.kneserNey(2), 4, CORPUS).discounts(), EXACT);
    assertArrayEquals(new double[] {0.5, 0.75, 0.75},
        NgramModel.train(Settings.kneserNey(3), 4, CORPUS).discounts(), EXACT);
  }

  /** Every distribution sums to 1 over the vocabulary, for seen, unseen and short contexts. */
  @Test
  void probabilitiesSumToOne() throws IOException {
    int[] text = shakespeareBytes(20_000);
    int v = 256;
    int[][] contexts = {{}, {'e'}, {'t', 'h'}, {'t', 'h', 'e'}, {' ', 'o', 'f', ' '},
        {200, 201, 202, 203}, {'e', 200}, {200, 'e'}, Arrays.copyOfRange(text, 500, 510),
        Arrays.copyOfRange(text, 1234, 1238)};
    Settings[] all = {Settings.kneserNey(1), Settings.kneserNey(2, 0.75), Settings.kneserNey(3),
        Settings.kneserNey(4, 1.0), Settings.kneserNey(5, 0.1), Settings.addK(1, 0.5),
        Settings.addK(3, 0.01), Settings.addK(5, 2)};
    for (Settings s : all) {
      NgramModel m = NgramModel.train(s, v, text);
      for (int[] ctx : contexts) {
        double sum = 0;
        for (int w = 0; w < v; w++) {
          double p = m.probability(ctx, w);
          assertTrue(p > 0, s + " p(" + w + "|" + Arrays.toString(ctx) + ") = " + p);
          sum += p;
        }
        assertEquals(1.0, sum, SUM, s.describe() + " context " + Arrays.toString(ctx));
      }
    }
  }

  /** evaluate() (incremental contexts) equals the sum of probability() over explicit contexts. */
  @Test
  void evaluateMatchesProbabilities() throws IOException {
    int[] text = shakespeareBytes(12_000);
    for (Settings s : new Settings[] {Settings.kneserNey(4), Settings.addK(3, 0.1)}) {
      NgramModel m = NgramModel.train(s, 256, text, 0, 10_000);
      int from = 10_000, to = 12_000;
      double nll = 0;
      for (int i = from + 1; i < to; i++) {
        int[] ctx = Arrays.copyOfRange(text, Math.max(from, i - s.order() + 1), i);
        nll -= Math.log(m.probability(ctx, text[i]));
      }
      NgramModel.Score r = m.evaluate(text, from, to);
      assertEquals(to - from - 1, r.tokens());
      assertEquals(nll / (to - from - 1), r.loss(), 1e-12);
    }
  }

  /** Windows of w predictions: each window scored alone; one window as long as the range = evaluate. */
  @Test
  void evaluateWindowsScoresEachWindowAlone() throws IOException {
    int[] text = shakespeareBytes(11_000);
    NgramModel m = NgramModel.train(Settings.kneserNey(4), 256, text, 0, 10_000);
    assertEquals(m.evaluate(text, 10_000, 11_000), m.evaluateWindows(text, 10_000, 11_000, 999));
    assertEquals(m.evaluate(text, 10_000, 11_000), m.evaluateWindows(text, 10_000, 11_000, 5000));
    // 999 predictions in windows of 64: 15 full windows and one of 39
    double nll = 0;
    for (int pos = 10_000; pos < 10_999; pos += 64) {
      NgramModel.Score s = m.evaluate(text, pos, Math.min(pos + 65, 11_000));
      nll += s.loss() * s.tokens();
    }
    NgramModel.Score w = m.evaluateWindows(text, 10_000, 11_000, 64);
    assertEquals(999, w.tokens());
    assertEquals(nll / 999, w.loss(), 1e-12);
    assertTrue(w.loss() > m.evaluate(text, 10_000, 11_000).loss(), "shorter contexts cost");
  }

  @Test
  void saveAndLoadGiveTheSameModel(@TempDir Path tmp) throws IOException {
    int[] text = shakespeareBytes(5_000);
    for (Settings s : new Settings[] {Settings.kneserNey(3), Settings.kneserNey(2, 0.3),
        Settings.addK(2, 0.25)}) {
      NgramModel m = NgramModel.train(s, 300, text, 0, 4_000);
      Path f = tmp.resolve("m.ngram");
      m.save(f, "gpt2");
      NgramModel.Saved back = NgramModel.load(f);
      assertEquals("gpt2", back.tokenizer());
      assertEquals(s, back.model().settings());
      assertEquals(300, back.model().vocabSize());
      assertArrayEquals(m.discounts(), back.model().discounts());
      assertEquals(m.evaluate(text, 4_000, 5_000), back.model().evaluate(text, 4_000, 5_000));
    }
    Path f = tmp.resolve("m.ngram");
    byte[] good = Files.readAllBytes(f);
    Files.write(f, Arrays.copyOf(good, good.length - 3));
    IOException e = assertThrows(IOException.class, () -> NgramModel.load(f));
    assertTrue(e.getMessage().contains("damaged"), e.getMessage());
    Files.writeString(f, "hello\n");
    e = assertThrows(IOException.class, () -> NgramModel.load(f));
    assertTrue(e.getMessage().contains("not a fuselm n-gram model"), e.getMessage());
    e = assertThrows(IOException.class, () -> NgramModel.load(tmp.resolve("absent")));
    assertTrue(e.getMessage().contains("absent"), e.getMessage());
  }

  @Test
  void badSettingsAndIdsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> Settings.kneserNey(0));
    assertThrows(IllegalArgumentException.class, () -> Settings.kneserNey(NgramModel.MAX_ORDER + 1));
    assertThrows(IllegalArgumentException.class, () -> Settings.kneserNey(3, 0));
    assertThrows(IllegalArgumentException.class, () -> Settings.kneserNey(3, 1.5));
    assertThrows(IllegalArgumentException.class, () -> Settings.addK(3, 0));
    assertThrows(IllegalArgumentException.class, () -> Settings.addK(3, Double.NaN));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> NgramModel.train(Settings.kneserNey(2), 4, new int[] {0, 1, 4}));
    assertTrue(e.getMessage().contains("token 2 has id 4"), e.getMessage());
    NgramModel m = NgramModel.train(Settings.kneserNey(2), 4, CORPUS);
    assertThrows(IllegalArgumentException.class, () -> m.evaluate(new int[] {0, 7}));
    assertThrows(IllegalArgumentException.class, () -> m.probability(new int[] {-1}, 0));
    assertThrows(IllegalArgumentException.class,
        () -> NgramModel.train(Settings.kneserNey(2), 4, new int[0]));
  }

  /**
   * Speed on a realistic size: a random stream of 300k ids over a 1,024-id vocabulary with a
   * Zipf-like skew counts at order 4 and scores 30k tokens well inside the test's time; the bound is
   * loose (a shared 2-core machine), the README has the measured figure.
   */
  @Test
  void countsThreeHundredThousandTokensQuickly() {
    SplittableRandom r = new SplittableRandom(7);
    int[] ids = new int[330_000];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = (int) Math.min(1023, Math.floor(Math.exp(r.nextDouble() * Math.log(1024))) - 1);
    }
    long t0 = System.nanoTime();
    NgramModel m = NgramModel.train(Settings.kneserNey(4), 1024, ids, 0, 300_000);
    NgramModel.Score s = m.evaluate(ids, 300_000, ids.length);
    double seconds = (System.nanoTime() - t0) / 1e9;
    assertTrue(Double.isFinite(s.perplexity()));
    assertTrue(seconds < 30, "took " + seconds + " s");
  }

  static int[] shakespeareBytes(int n) throws IOException {
    try (InputStream in = NgramModelTest.class.getResourceAsStream(
        "/dev/fuselm/demo/tinyshakespeare.txt")) {
      byte[] b = in.readNBytes(n);
      int[] out = new int[b.length];
      for (int i = 0; i < b.length; i++) {
        out[i] = b[i] & 0xff;
      }
      return out;
    }
  }
}
