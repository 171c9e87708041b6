package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ComputeContext;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Fixed-length padding and LoRA for the sequence classifier. */
class ClassifierLoraTest {
  static ComputeContext ctx;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  @Test
  void fixedPaddingPadsToTheLengthAndLeavesPredictionsUnchanged() {
    TokenBatch b = TokenBatch.rightPadded(List.of(new int[] {5, 6, 7}, new int[] {8}), 0, 6);
    assertEquals(6, b.t());
    assertArrayEquals(new int[] {5, 6, 7, 0, 0, 0, 8, 0, 0, 0, 0, 0}, b.ids());
    assertArrayEquals(new int[] {3, 1}, b.lengths());
    assertThrows(IllegalArgumentException.class, () -> TokenBatch.rightPadded(
        List.of(new int[] {5, 6, 7}), 0, 2));

    // a causal model's last real token does not see the padding after it: same probabilities
    ClassifierTrainer.Examples set = ClassifierTrainingTest.synthetic(20, 3);
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(
        GptModel.random(ctx, ClassifierTrainingTest.tiny(), 4), List.of("a", "b"), 0, 5)) {
      ClassifierTrainer.Metrics longest = ClassifierTrainer.evaluate(clf, set, 8, 0);
      ClassifierTrainer.Metrics fixed = ClassifierTrainer.evaluate(clf, set, 8, 16);
      assertEquals(longest.loss(), fixed.loss(), 1e-5);
      assertEquals(longest.accuracy(), fixed.accuracy());
    }
  }

  @Test
  void loraTrainsHeadAndAdaptersOnlyAndTheBaseStaysBitIdentical() {
    ClassifierTrainer.Examples train = ClassifierTrainingTest.synthetic(160, 1);
    ClassifierTrainer.Examples test = ClassifierTrainingTest.synthetic(60, 2);
    var cfg = ClassifierTrainingTest.tiny();
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(GptModel.random(ctx, cfg, 7),
            List.of("no", "yes"), 0, 8)) {
      GptModel model = clf.backbone();
      float[] base = model.params().flat().toFloatArray();
      double before = ClassifierTrainer.evaluate(clf, test, 16).accuracy();
      LoraAdapters lora = model.addLora(new LoraOptions(4, 8, LoraOptions.DEFAULT_TARGETS), 9)
          .lora();
      assertEquals(before, ClassifierTrainer.evaluate(clf, test, 16).accuracy(),
          "new adapters (B = 0) change nothing");
      float[] a0 = lora.params().flat().toFloatArray();
      float[] head0 = clf.head().weight().clone();
      ClassifierTrainer.train(clf, train, null,
          new ClassifierTrainer.Config(6, 8, 5e-3f, 0f, 1f, false, 10, 16), n -> { });
      assertNull(model.grads(), "no gradient slab for the frozen base");
      assertArrayEquals(base, model.params().flat().toFloatArray(), "base bit-identical");
      float[] a1 = lora.params().flat().toFloatArray();
      int moved = 0;
      for (int i = 0; i < a0.length; i++) {
        moved += a0[i] != a1[i] ? 1 : 0;
      }
      assertTrue(moved > a0.length / 2, moved + " of " + a0.length + " adapter weights moved");
      assertTrue(!java.util.Arrays.equals(head0, clf.head().weight()), "the head trained");
      double after = ClassifierTrainer.evaluate(clf, test, 16).accuracy();
      assertTrue(after >= 0.9, "test accuracy " + before + " -> " + after);
      // merging keeps the predictions
      double loss = ClassifierTrainer.evaluate(clf, test, 16).loss();
      model.mergeLora();
      assertNull(model.lora(), "merged adapters are detached (and, owned, closed)");
      assertEquals(loss, ClassifierTrainer.evaluate(clf, test, 16).loss(), 1e-4);
    }
  }
}
