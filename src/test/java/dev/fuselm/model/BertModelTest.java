package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.train.AdamW;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class BertModelTest {
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void release() {
    ctx.close();
  }

  static final BertConfig TINY = new BertConfig(53, 24, 2, 3, 40, 16, 2, 1e-12f, 0f, 0f);

  static float[] gaussian(long seed, int n, double std) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian() * std);
    }
    return v;
  }

  /** Scales every weight up from BERT's 0.02 so that gradients are large enough to difference. */
  static BertModel model(BertConfig c, long seed) {
    return model(ctx, c, seed);
  }

  static BertModel model(ComputeContext ctx, BertConfig c, long seed) {
    BertModel m = BertModel.random(ctx, c, seed);
    for (String name : m.parameterNames()) {
      Tensor t = m.params().get(name);
      float[] v = t.toFloatArray();
      float[] noise = gaussian(seed + name.hashCode(), v.length, name.contains("LayerNorm") ? 0.1
          : 0.2);
      for (int i = 0; i < v.length; i++) {
        v[i] += noise[i];
      }
      t.copyFrom(v);
    }
    return m;
  }

  static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }

  /**
   * The task-head path (gradients of the hidden states and of the pooled output handed to
   * backward) and hidden dropout, against central differences of L = r1 . hidden + r2 . pooled on
   * parameters of every kind. Tolerance: float32 forward passes make the loss noisy at ~1e-6
   * relative, so with h = 1e-2 the difference quotient is good to ~1e-3; 3e-2 relative + 3e-3.
   */
  @Test
  void hiddenAndPooledGradientsMatchFiniteDifferences() {
    checkHiddenAndPooledGradients(TINY.withDropout(0.2f, 0f));
  }

  /** The same with attention_probs_dropout_prob on (and hidden dropout too). */
  @Test
  void attentionDropoutGradientsMatchFiniteDifferences() {
    checkHiddenAndPooledGradients(TINY.withDropout(0f, 0.3f));
    checkHiddenAndPooledGradients(TINY.withDropout(0.1f, 0.2f));
  }

  /**
   * Attention dropout acts in training only, is seeded (same seed, same hidden states; another
   * seed, others) and p = 0 changes nothing.
   */
  @Test
  void attentionDropoutIsTrainingOnlyAndSeeded() {
    int b = 2, t = 5;
    int[] ids = {2, 7, 11, 3, 0, 5, 9, 31, 0, 0};
    int[] types = new int[b * t];
    int[] mask = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0};
    float[] eval, none, a1, a2, other;
    try (BertModel m = model(TINY.withDropout(0f, 0f), 3)) {
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      eval = m.hidden().toFloatArray();
      m.setTraining(true);
      m.setDropoutSeed(5);
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      none = m.hidden().toFloatArray();
    }
    try (BertModel m = model(TINY.withDropout(0f, 0.3f), 3)) {
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      org.junit.jupiter.api.Assertions.assertArrayEquals(eval, m.hidden().toFloatArray());
      m.setTraining(true);
      m.setDropoutSeed(5);
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      a1 = m.hidden().toFloatArray();
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      a2 = m.hidden().toFloatArray();
      m.setDropoutSeed(6);
      m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
      other = m.hidden().toFloatArray();
    }
    org.junit.jupiter.api.Assertions.assertArrayEquals(eval, none);
    org.junit.jupiter.api.Assertions.assertArrayEquals(a1, a2);
    assertTrue(!java.util.Arrays.equals(a1, eval) && !java.util.Arrays.equals(a1, other));
  }

  private void checkHiddenAndPooledGradients(BertConfig c) {
    int b = 2, t = 5;
    int[] ids = {2, 7, 11, 3, 0, 5, 9, 31, 0, 0};
    int[] types = {0, 0, 1, 1, 0, 0, 0, 1, 0, 0};
    int[] mask = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0};
    float[] r1 = gaussian(1, b * t * c.hiddenSize(), 1);
    float[] r2 = gaussian(2, b * c.hiddenSize(), 1);
    try (BertModel m = model(c, 3).enableGradients()) {
      m.setTraining(true);
      m.setDropoutSeed(99);
      java.util.function.DoubleSupplier loss = () -> {
        m.forwardHidden(new TokenBatch(ids, types, mask, b, t));
        return dot(m.hidden().toFloatArray(), r1) + dot(m.pooled().toFloatArray(), r2);
      };
      m.zeroGrad();
      loss.getAsDouble();
      m.backward(0f, 0f, r1, r2);
      String[] names = {"bert.embeddings.word_embeddings.weight",
          "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
          "bert.encoder.layer.0.attention.self.key.weight",
          "bert.encoder.layer.0.attention.self.value.bias",
          "bert.encoder.layer.1.attention.self.query.weight",
          "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
          "bert.encoder.layer.0.attention.output.LayerNorm.bias", "bert.pooler.dense.weight"};
      SplittableRandom pick = new SplittableRandom(4);
      int checked = 0;
      for (String name : names) {
        Tensor p = m.params().get(name);
        float[] g = m.grads().get(name).toFloatArray();
        for (int k = 0; k < 4; k++) {
          int i = pick.nextInt(g.length);
          if (name.contains("word_embeddings")) {
            i = 7 * c.hiddenSize() + k; // a row that is used
          }
          float keep = p.getFloat(i);
          float h = 1e-2f;
          float[] v = p.toFloatArray();
          v[i] = keep + h;
          p.copyFrom(v);
          double lp = loss.getAsDouble();
          v[i] = keep - h;
          p.copyFrom(v);
          double lm = loss.getAsDouble();
          v[i] = keep;
          p.copyFrom(v);
          double fd = (lp - lm) / (2 * h);
          assertTrue(Math.abs(fd - g[i]) <= 3e-2 * Math.abs(g[i]) + 3e-3,
              name + "[" + i + "]: finite difference " + fd + ", backward " + g[i]);
          checked++;
        }
      }
      assertEquals(40, checked);
    }
  }

  /**
   * Padding is invisible to the real tokens: a sequence alone and the same sequence padded inside
   * a batch give the same hidden states at its real positions, with gradients on (one activation
   * set per block) and off (blocks share activations).
   */
  @Test
  void paddingDoesNotChangeRealTokensAndInferenceMatchesTraining() {
    int c = TINY.hiddenSize();
    int[] alone = {4, 8, 15, 16};
    int[] batch = {4, 8, 15, 16, 0, 0, 1, 2, 3, 5, 6, 7};
    int[] mask = {1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1};
    try (BertModel m = model(TINY, 5)) {
      float[] a = m.forwardHidden(new TokenBatch(alone, null, null, 1, 4)).toFloatArray();
      float[] inBatch = m.forwardHidden(new TokenBatch(batch, null, mask, 2, 6)).toFloatArray();
      float[] pooledInference = m.pooled().toFloatArray();
      for (int i = 0; i < 4 * c; i++) {
        assertEquals(a[i], inBatch[i], 2e-5f * Math.max(1f, Math.abs(a[i])), "position " + i / c);
      }
      m.enableGradients();
      float[] trainingMode =
          m.forwardHidden(new TokenBatch(batch, null, mask, 2, 6)).toFloatArray();
      assertArrayEquals(inBatch, trainingMode);
      assertArrayEquals(pooledInference, m.pooled().toFloatArray());
    }
  }

  /** A few AdamW steps on one batch of masked tokens drive the MLM + NSP loss down. */
  @Test
  void mlmAndNspLossFallWithAdamW() {
    int b = 4, t = 12;
    SplittableRandom r = new SplittableRandom(6);
    int[] ids = new int[b * t];
    int[] labels = new int[b * t];
    Arrays.fill(labels, SoftmaxOps.IGNORE_INDEX);
    for (int i = 0; i < ids.length; i++) {
      ids[i] = 5 + r.nextInt(40);
      if (r.nextInt(5) == 0) {
        labels[i] = ids[i];
        ids[i] = 4; // [MASK]
      }
    }
    int[] nsp = {0, 1, 1, 0};
    try (BertModel m = BertModel.random(ctx, TINY, 7).enableGradients();
        AdamW opt = new AdamW(ctx, m.params(), m.grads(), 0.9f, 0.999f, 1e-8f, 0.01f, 1f)) {
      float first = 0, last = 0;
      for (int step = 1; step <= 25; step++) {
        m.zeroGrad();
        m.forwardHidden(new TokenBatch(ids, null, null, b, t));
        float loss = m.mlmHead().loss(m.hidden(), labels) + m.nspHead().loss(m.pooled(), nsp);
        m.backward(1f, 1f, null, null);
        opt.step(step, 3e-3f, opt.gradNorm());
        if (step == 1) {
          first = loss;
        }
        last = loss;
      }
      assertTrue(first > 3.5f, "an untrained model is near log(53) + log(2), got " + first);
      assertTrue(last < first - 1.5f, "loss " + first + " -> " + last);
    }
  }

  @Test
  void badInputsAreClearErrors() {
    try (BertModel m = BertModel.random(ctx, TINY, 8)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.forwardHidden(new TokenBatch(new int[17], null, null, 1, 17)));
      assertTrue(e.getMessage().contains("longer than the model's 16 positions"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> m.forwardHidden(
              new TokenBatch(new int[] {1, 2}, null, new int[] {1, 2}, 1, 2)));
      assertTrue(e.getMessage().contains("only 0 (padding) and 1"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> m.forwardHidden(new TokenBatch(new int[] {1, 99}, null, null, 1, 2)));
      assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> m.forwardHidden(
              new TokenBatch(new int[] {1, 2}, new int[] {0, 2}, null, 1, 2)));
      assertTrue(e.getMessage().contains("outside"), e.getMessage());
      IllegalStateException s = assertThrows(IllegalStateException.class, m::pooled);
      assertTrue(s.getMessage().contains("needs a forward()"), s.getMessage());
      m.forwardHidden(new TokenBatch(new int[] {1, 2}, null, null, 1, 2));
      e = assertThrows(IllegalArgumentException.class,
          () -> m.mlmHead().loss(m.hidden(), new int[] {53, -100}));
      assertTrue(e.getMessage().contains("outside the vocabulary"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class,
          () -> m.nspHead().loss(m.pooled(), new int[] {2}));
      assertTrue(e.getMessage().contains("is not 0 (next) or 1"), e.getMessage());
      s = assertThrows(IllegalStateException.class, () -> m.backward(1f, 0f, null, null));
      assertTrue(s.getMessage().contains("enableGradients"), s.getMessage());
    }
  }
}
