package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ClassifierTrainingTest {
  static ComputeContext ctx;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  static final int PAD = 0;

  /** Label 1 iff token 1 occurs (else token 2 does), among noise tokens 3..23, lengths 3..9. */
  static ClassifierTrainer.Examples synthetic(int n, long seed) {
    Random r = new Random(seed);
    List<int[]> seqs = new ArrayList<>();
    int[] y = new int[n];
    for (int i = 0; i < n; i++) {
      int len = 3 + r.nextInt(7);
      int[] s = new int[len];
      for (int j = 0; j < len; j++) {
        s[j] = 3 + r.nextInt(21);
      }
      y[i] = r.nextInt(2);
      s[r.nextInt(len)] = y[i] == 1 ? 1 : 2;
      seqs.add(s);
    }
    return ClassifierTrainer.Examples.ofTokens(seqs, y);
  }

  static GptConfig tiny() {
    return GptConfig.of(24, 16, 32, 2, 2).withDropout(0f);
  }

  @Test
  void learnsASeparableTaskAndFreezesAllButTheLastBlock() {
    ClassifierTrainer.Examples train = synthetic(240, 1), test = synthetic(80, 2);
    GptConfig cfg = tiny().withTiedHead(false);
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(GptModel.random(ctx, cfg, 5),
        List.of("no", "yes"), PAD, 9)) {
      GptModel m = clf.backbone();
      Map<String, float[]> before = new HashMap<>();
      for (String name : m.parameterNames()) {
        before.put(name, m.params().get(name).toFloatArray());
      }
      List<Map<String, Object>> logs = new ArrayList<>();
      ClassifierTrainer.Config tc = new ClassifierTrainer.Config(12, 16, 3e-3f, 0.1f, 1f, false, 4);
      ClassifierTrainer.train(clf, train, test, tc, n -> logs.add(Map.of("n", n)));
      assertEquals(12, logs.size());
      ClassifierTrainer.Metrics r = ClassifierTrainer.evaluate(clf, test, 8);
      assertTrue(r.accuracy() >= 0.9, "test accuracy " + r.accuracy());
      List<String> trainable = ClassifierTrainer.trainableNames(m, false);
      assertTrue(trainable.contains("transformer.h.1.attn.c_attn.weight"));
      assertTrue(trainable.contains("transformer.ln_f.weight"));
      assertTrue(!trainable.contains("lm_head.weight"));
      int changed = 0;
      for (String name : m.parameterNames()) {
        float[] now = m.params().get(name).toFloatArray();
        if (trainable.contains(name)) {
          changed += java.util.Arrays.equals(now, before.get(name)) ? 0 : 1;
        } else {
          assertArrayEquals(before.get(name), now, name + " is frozen but changed");
        }
      }
      assertEquals(trainable.size(), changed, "every trainable tensor moved");
      // no gradient work below the last block
      for (String name : m.parameterNames()) {
        if (!trainable.contains(name)) {
          for (float g : m.grads().get(name).toFloatArray()) {
            assertEquals(0f, g, name + " has gradient");
          }
        }
      }
    }
  }

  @Test
  void trainAllLearnsToo() {
    ClassifierTrainer.Examples train = synthetic(240, 3), test = synthetic(80, 4);
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(
        GptModel.random(ctx, tiny(), 6), List.of("no", "yes"), PAD, 9)) {
      float[] wte = clf.backbone().tokenEmbedding().toFloatArray();
      ClassifierTrainer.train(clf, train, null,
          new ClassifierTrainer.Config(10, 16, 3e-3f, 0.1f, 1f, true, 4), n -> {});
      assertTrue(!java.util.Arrays.equals(wte, clf.backbone().tokenEmbedding().toFloatArray()));
      ClassifierTrainer.Metrics r = ClassifierTrainer.evaluate(clf, test, 8);
      assertTrue(r.accuracy() >= 0.9, "test accuracy " + r.accuracy());
      assertEquals(80, r.count());
    }
  }

  @Test
  void modelGradientThroughTheLastTokenMatchesFiniteDifferences() {
    GptConfig cfg = tiny();
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(GptModel.random(ctx, cfg, 8),
        List.of("a", "b", "c"), PAD, 3)) {
      GptModel m = clf.backbone().enableGradients();
      float[] head = clf.head().weight();
      Random r = new Random(2);
      for (int i = 0; i < head.length; i++) {
        head[i] = (float) r.nextGaussian();
      }
      TokenBatch batch = TokenBatch.rightPadded(
          List.of(new int[] {5, 6, 7}, new int[] {8}, new int[] {9, 10, 11, 12, 13}), PAD, 0);
      int[] y = {0, 2, 1};
      m.zeroGrad();
      float[] dHead = new float[head.length];
      clf.forwardBackward(batch, y, dHead, null, 1, 0L);
      String[] names = {"transformer.ln_f.weight", "transformer.ln_f.bias",
          "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.attn.c_attn.weight"};
      float eps = 1e-2f;
      for (String name : names) {
        Tensor p = m.params().get(name);
        float[] v = p.toFloatArray();
        float[] g = m.grads().get(name).toFloatArray();
        double norm = 0;
        for (float x : g) {
          norm += Math.abs(x);
        }
        assertTrue(norm > 1e-3, name + " has no gradient");
        for (int idx : new int[] {0, 3, v.length / 2, v.length - 1}) {
          float keep = v[idx];
          v[idx] = keep + eps;
          p.copyFrom(v);
          double lp = clf.evaluate(batch, y).loss();
          v[idx] = keep - eps;
          p.copyFrom(v);
          double lm = clf.evaluate(batch, y).loss();
          v[idx] = keep;
          p.copyFrom(v);
          double fd = (lp - lm) / (2 * eps);
          assertEquals(fd, g[idx], 2e-3 + 0.05 * Math.abs(fd), name + "[" + idx + "]");
        }
      }
      for (float g : m.grads().get("transformer.h.0.mlp.c_fc.weight").toFloatArray()) {
        assertEquals(0f, g, "block 0 is frozen: no gradient work");
      }
    }
  }

  @Test
  void forwardHiddenIsTheLmHeadsInput() {
    GptConfig cfg = tiny();
    try (GptModel m = GptModel.random(ctx, cfg, 4)) {
      int[] ids = {1, 2, 3, 4, 5, 6};
      float[] h = m.forwardHidden(ids, 2, 3).toFloatArray();
      m.forward(ids, null, 2, 3);
      float[] logits = m.logits().toFloatArray();
      float[] wte = m.tokenEmbedding().toFloatArray();
      int c = cfg.dModel(), v = cfg.vocabSize();
      for (int row = 0; row < 6; row++) {
        for (int j = 0; j < v; j++) {
          double s = 0;
          for (int x = 0; x < c; x++) {
            s += h[row * c + x] * wte[j * c + x];
          }
          assertEquals(s, logits[row * v + j], 1e-4);
        }
      }
    }
  }
}
