package dev.fuselm.train;

import dev.fuselm.finetune.ClassificationHead;
import dev.fuselm.finetune.SequenceClassifier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
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
    return new ClassifierTrainer.Examples(seqs, y);
  }

  static GptConfig tiny() {
    return GptConfig.of(24, 16, 32, 2, 2).withDropout(0f);
  }

  @Test
  void learnsASeparableTaskAndFreezesAllButTheLastBlock() {
    ClassifierTrainer.Examples train = synthetic(240, 1), test = synthetic(80, 2);
    GptConfig cfg = tiny().withTiedHead(false);
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, cfg, 5),
        List.of("no", "yes"), PAD, 9)) {
      GptModel m = clf.model();
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
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, tiny(), 6),
        List.of("no", "yes"), PAD, 9)) {
      float[] wte = clf.model().tokenEmbedding().toFloatArray();
      ClassifierTrainer.train(clf, train, null,
          new ClassifierTrainer.Config(10, 16, 3e-3f, 0.1f, 1f, true, 4), n -> {});
      assertTrue(!java.util.Arrays.equals(wte, clf.model().tokenEmbedding().toFloatArray()));
      ClassifierTrainer.Metrics r = ClassifierTrainer.evaluate(clf, test, 8);
      assertTrue(r.accuracy() >= 0.9, "test accuracy " + r.accuracy());
      assertEquals(80, r.count());
    }
  }

  @Test
  void headGradientMatchesFiniteDifferences() {
    int b = 3, t = 4, c = 5, k = 3;
    int[] lengths = {4, 2, 1};
    int[] labels = {2, 0, 1};
    Random r = new Random(11);
    float[] h = new float[b * t * c];
    float[] w = new float[k * c];
    for (int i = 0; i < h.length; i++) {
      h[i] = (float) r.nextGaussian();
    }
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian() * 0.5f;
    }
    float[] dW = new float[w.length], dH = new float[h.length];
    ClassificationHead.forwardBackward(h, b, t, c, lengths, labels, w, k, dW, dH);
    float eps = 1e-2f;
    for (int i = 0; i < w.length; i++) {
      float[] wp = w.clone(), wm = w.clone();
      wp[i] += eps;
      wm[i] -= eps;
      double fd = (loss(h, b, t, c, lengths, labels, wp, k) - loss(h, b, t, c, lengths, labels, wm, k))
          / (2 * eps);
      assertEquals(fd, dW[i], 1e-4, "dW[" + i + "]");
    }
    for (int i = 0; i < h.length; i++) {
      float[] hp = h.clone(), hm = h.clone();
      hp[i] += eps;
      hm[i] -= eps;
      double fd = (loss(hp, b, t, c, lengths, labels, w, k) - loss(hm, b, t, c, lengths, labels, w, k))
          / (2 * eps);
      assertEquals(fd, dH[i], 1e-4, "dHidden[" + i + "]");
      int row = i / c, pos = row % t, seq = row / t;
      if (pos != lengths[seq] - 1) {
        assertEquals(0f, dH[i], "only the last non-padding token gets gradient");
      }
    }
  }

  static double loss(float[] h, int b, int t, int c, int[] len, int[] y, float[] w, int k) {
    return ClassificationHead.forwardBackward(h, b, t, c, len, y, w, k, null, null).loss();
  }

  @Test
  void modelGradientThroughTheLastTokenMatchesFiniteDifferences() {
    GptConfig cfg = tiny();
    try (SequenceClassifier clf = SequenceClassifier.create(GptModel.random(ctx, cfg, 8),
        List.of("a", "b", "c"), PAD, 3)) {
      GptModel m = clf.model().enableGradients();
      java.util.Arrays.fill(clf.headWeight(), 0f);
      Random r = new Random(2);
      for (int i = 0; i < clf.headWeight().length; i++) {
        clf.headWeight()[i] = (float) r.nextGaussian();
      }
      SequenceClassifier.Batch batch = SequenceClassifier.collate(
          List.of(new int[] {5, 6, 7}, new int[] {8}, new int[] {9, 10, 11, 12, 13}), PAD);
      int[] y = {0, 2, 1};
      m.zeroGrad();
      float[] dHead = new float[clf.headWeight().length];
      clf.forwardBackward(batch, y, dHead, 1);
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
