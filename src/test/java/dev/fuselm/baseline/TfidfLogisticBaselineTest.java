package dev.fuselm.baseline;

import dev.fuselm.data.ClassificationData;
import dev.fuselm.train.ClassifierTrainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TfidfLogisticBaselineTest {
  private static final List<String> LABELS = List.of("neg", "pos");

  /** Separable data: a "pos" text holds one of the positive words, a "neg" text one negative. */
  private static ClassificationData data(int n, long seed) {
    String[] posWords = {"great", "good", "excellent", "lovely"};
    String[] negWords = {"awful", "bad", "terrible", "poor"};
    String[] filler = {"the", "film", "was", "a", "plot", "and", "cast", "it", "really", "quite"};
    Random r = new Random(seed);
    List<ClassificationData.Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      boolean pos = r.nextBoolean();
      StringBuilder sb = new StringBuilder();
      int len = 3 + r.nextInt(6);
      int at = r.nextInt(len);
      for (int j = 0; j < len; j++) {
        if (j == at) {
          String[] w = pos ? posWords : negWords;
          sb.append(w[r.nextInt(w.length)].toUpperCase()).append("! ");
        } else {
          sb.append(filler[r.nextInt(filler.length)]).append(' ');
        }
      }
      out.add(new ClassificationData.Example(sb.toString(), pos ? "pos" : "neg", i + 1));
    }
    return ClassificationData.of(out);
  }

  @Test
  void tokensAreLowercasedRunsOfLettersAndDigits() {
    assertEquals(List.of("win", "a", "1000", "prize", "txt", "now"),
        TfidfLogisticBaseline.tokens("WIN a £1000 prize!! Txt:NOW"));
  }

  @Test
  void separableDataReachesHighAccuracyOnHeldOutTest() {
    ClassificationData.Split s = data(400, 1).split(0.1, 0.2, 123);
    TfidfLogisticBaseline m = TfidfLogisticBaseline.train(s.train(), LABELS,
        TfidfLogisticBaseline.Config.defaults());
    ClassifierTrainer.Metrics test = m.evaluate(s.test());
    assertEquals(s.test().size(), test.count());
    assertTrue(test.accuracy() >= 0.98, "test accuracy " + test.accuracy());
    assertTrue(m.evaluate(s.train()).accuracy() >= 0.99);
    assertEquals(1, m.predict("an EXCELLENT film"));
    assertEquals(0, m.predict("a terrible film"));
    double[] p = m.probabilities("good");
    assertEquals(1.0, p[0] + p[1], 1e-12);
  }

  @Test
  void trainingIsDeterministic() {
    ClassificationData.Split s = data(200, 2).split(0.1, 0.2, 7);
    TfidfLogisticBaseline a = TfidfLogisticBaseline.train(s.train(), LABELS,
        TfidfLogisticBaseline.Config.defaults());
    TfidfLogisticBaseline b = TfidfLogisticBaseline.train(s.train(), LABELS,
        TfidfLogisticBaseline.Config.defaults());
    assertEquals(a.vocabulary(), b.vocabulary());
    for (ClassificationData.Example e : s.test()) {
      assertArrayEquals(a.probabilities(e.text()), b.probabilities(e.text()), 0.0);
    }
    ClassifierTrainer.Metrics ma = a.evaluate(s.test()), mb = b.evaluate(s.test());
    assertEquals(ma.loss(), mb.loss(), 0.0);
    assertEquals(ma.accuracy(), mb.accuracy(), 0.0);
  }

  @Test
  void vocabularyComesOnlyFromTheTrainingSplit() {
    List<ClassificationData.Example> train = List.of(
        new ClassificationData.Example("good film", "pos", 1),
        new ClassificationData.Example("bad film", "neg", 2));
    List<ClassificationData.Example> test = List.of(
        new ClassificationData.Example("unseenword good", "pos", 3),
        new ClassificationData.Example("zzz", "neg", 4));
    TfidfLogisticBaseline m = TfidfLogisticBaseline.train(train, LABELS,
        TfidfLogisticBaseline.Config.defaults());
    assertEquals(List.of("bad", "film", "good"), List.copyOf(m.vocabulary().keySet()));
    assertFalse(m.vocabulary().containsKey("unseenword"));
    m.evaluate(test); // evaluation must not grow the vocabulary
    assertEquals(3, m.vocabulary().size());
    // an all-unknown text gets no features, so only the biases decide: near-uniform here
    assertEquals(0, m.features("zzz unseenword").idx().length);
    assertEquals(1, m.predict("unseenword good"));
  }
}
