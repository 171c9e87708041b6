package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The token-classification head: its gradients (head weight, bias, hidden states, and through the
 * backbone, entries spread over a BERT's and a GPT's slab) match central differences of its loss;
 * positions labelled -100 add nothing to the loss or the gradients; the mean runs over labelled
 * positions only.
 */
class TokenClassifierTest {
  static ComputeContext ctx;
  static final int K = 3;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
    SequenceClassifierTest.ctx = ctx;
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  /** Three sequences of 2, 5 and 4 tokens right-padded to 6: labels on some, -100 elsewhere. */
  static TokenBatch batch(boolean types) {
    TokenBatch tb = TokenBatch.rightPadded(List.of(new int[] {1, 5}, new int[] {1, 7, 3, 9, 4},
        new int[] {1, 2, 8, 6}), 0, 6);
    return types ? new TokenBatch(tb.ids(), new int[tb.ids().length], tb.attentionMask(), 3, 6)
        : tb;
  }

  static final int I = TokenClassificationHead.IGNORE;
  static final int[] LABELS = {
      I, 2, I, I, I, I,
      I, 0, 1, I, 2, I,
      I, 1, 1, 0, I, I};

  static TokenClassificationHead head(Backbone bb, long seed) {
    int c = bb.hiddenSize();
    float[] w = SequenceClassificationHead.initialWeight(K, c, seed);
    for (int i = 0; i < w.length; i++) {
      w[i] *= 25; // a head far from uniform, so that the backbone's gradients are not tiny
    }
    float[] b = {0.3f, -0.2f, 0.1f};
    return new TokenClassificationHead(w, b, K, c, 0.1f);
  }

  static void gradientsMatchFiniteDifferences(Supplier<Backbone> make, TokenBatch batch) {
    try (Backbone bb = make.get()) {
      bb.enableGradients();
      bb.setTraining(false); // no dropout: the loss is a function of the weights
      TokenClassificationHead h = head(bb, 7);
      float[] dW = new float[h.weight().length];
      float[] dB = new float[K];
      bb.zeroGrad();
      h.forwardBackward(bb, batch, LABELS, dW, dB, 0, 0L);
      List<double[]> checks = new ArrayList<>();
      for (int i : new int[] {0, 7, dW.length - 1}) {
        checks.add(new double[] {dW[i], numeric(bb, h, batch, h.weight(), i)});
      }
      for (int i = 0; i < K; i++) {
        checks.add(new double[] {dB[i], numeric(bb, h, batch, h.bias(), i)});
      }
      ParameterSlab params = bb.params(), grads = bb.grads();
      List<String> names = params.names();
      int backbone = 0;
      for (int n = 0; n < names.size(); n += Math.max(1, names.size() / 8)) {
        float[] g = grads.get(names.get(n)).toFloatArray();
        int best = 0;
        for (int i = 1; i < g.length; i++) {
          if (Math.abs(g[i]) > Math.abs(g[best])) {
            best = i;
          }
        }
        if (Math.abs(g[best]) < 2e-3) {
          continue; // not reached by this loss (an unused embedding row, the LM head), or too
                    // small a gradient for a float32 central difference to resolve
        }
        backbone++;
        checks.add(new double[] {g[best], numeric(bb, h, batch, params.get(names.get(n)), best)});
      }
      assertTrue(backbone >= 4, "too few backbone entries checked: " + backbone);
      for (double[] c : checks) {
        assertEquals(c[1], c[0], 3e-5 + 0.01 * Math.abs(c[1]),
            "analytic " + c[0] + " vs finite difference " + c[1]);
      }
    }
  }

  static final float EPS = 1e-3f;

  static double numeric(Backbone bb, TokenClassificationHead h, TokenBatch batch, float[] w,
      int i) {
    float v = w[i];
    w[i] = v + EPS;
    double plus = h.evaluate(bb, batch, LABELS).loss();
    w[i] = v - EPS;
    double minus = h.evaluate(bb, batch, LABELS).loss();
    w[i] = v;
    return (plus - minus) / (2 * EPS);
  }

  static double numeric(Backbone bb, TokenClassificationHead h, TokenBatch batch, Tensor p,
      int i) {
    Tensor one = p.view(i, 1);
    float v = one.toFloatArray()[0];
    one.copyFrom(new float[] {v + EPS});
    double plus = h.evaluate(bb, batch, LABELS).loss();
    one.copyFrom(new float[] {v - EPS});
    double minus = h.evaluate(bb, batch, LABELS).loss();
    one.copyFrom(new float[] {v});
    return (plus - minus) / (2 * EPS);
  }

  @Test
  void gradientsOverBertMatchFiniteDifferences() {
    gradientsMatchFiniteDifferences(() -> SequenceClassifierTest.bert(2), batch(true));
  }

  @Test
  void gradientsOverGptMatchFiniteDifferences() {
    gradientsMatchFiniteDifferences(() -> SequenceClassifierTest.gpt(2), batch(false));
  }

  /**
   * Over fixed hidden states (no model rounding): the hidden-state gradient matches central
   * differences (2e-5 + 1e-4 relative: the O(e^2) truncation of e = 0.01), is exactly 0 on every -100 position, and the loss is the mean of -log p
   * over the 7 labelled positions.
   */
  @Test
  void ignoredPositionsHaveNoLossAndNoGradient() {
    int n = 18, c = 5;
    Random r = new Random(3);
    float[] h = new float[n * c];
    for (int i = 0; i < h.length; i++) {
      h[i] = (float) r.nextGaussian();
    }
    float[] w = new float[K * c];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian() * 0.5f;
    }
    TokenClassificationHead head = new TokenClassificationHead(w, new float[K], K, c, 0f);
    TokenBatch batch = batch(false);
    try (SequenceClassifierTest.FixedHidden bb = new SequenceClassifierTest.FixedHidden(h, c)) {
      float[] dW = new float[w.length];
      TokenClassificationHead.Result res = head.forwardBackward(bb, batch, LABELS, dW, new float[K],
          0, 0L);
      assertEquals(7, res.labelled());
      double[] p = head.probabilities(bb, batch);
      double want = 0;
      for (int i = 0; i < n; i++) {
        if (LABELS[i] != I) {
          want -= Math.log(p[i * K + LABELS[i]]);
        }
      }
      assertEquals(want / 7, res.loss(), 1e-12);
      float[] dH = bb.dHidden;
      for (int i = 0; i < n; i++) {
        for (int x = 0; x < c; x++) {
          if (LABELS[i] == I) {
            assertEquals(0f, dH[i * c + x], "position " + i + " is ignored");
          } else {
            float v = h[i * c + x];
            float e = 1e-2f;
            h[i * c + x] = v + e;
            double plus = head.evaluate(bb, batch, LABELS).loss();
            h[i * c + x] = v - e;
            double minus = head.evaluate(bb, batch, LABELS).loss();
            h[i * c + x] = v;
            double fd = (plus - minus) / (2 * e);
            assertEquals(fd, dH[i * c + x], 2e-5 + 1e-4 * Math.abs(fd)); // O(e^2) truncation
          }
        }
      }
      // changing the hidden state of an ignored position changes nothing
      h[0] += 5f;
      float[] dW2 = new float[w.length];
      TokenClassificationHead.Result res2 = head.forwardBackward(bb, batch, LABELS, dW2,
          new float[K], 0, 0L);
      assertEquals(res.loss(), res2.loss(), 0.0);
      assertArrayEquals(dW, dW2, 0f);
      // nothing labelled: loss 0, no gradient
      int[] none = new int[n];
      java.util.Arrays.fill(none, I);
      float[] dW3 = new float[w.length];
      TokenClassificationHead.Result res3 = head.forwardBackward(bb, batch, none, dW3,
          new float[K], 0, 0L);
      assertEquals(0, res3.labelled());
      assertEquals(0.0, res3.loss());
      assertArrayEquals(new float[w.length], dW3, 0f);
    }
  }

  @Test
  void refusesLabelsOutsideTheHead() {
    try (SequenceClassifierTest.FixedHidden bb =
        new SequenceClassifierTest.FixedHidden(new float[18 * 4], 4)) {
      TokenClassificationHead head = new TokenClassificationHead(new float[K * 4], new float[K], K,
          4, 0f);
      int[] bad = LABELS.clone();
      bad[1] = K;
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> head.evaluate(bb, batch(false), bad));
      assertTrue(e.getMessage().contains("outside 0..2"), e.getMessage());
      assertThrows(IllegalArgumentException.class,
          () -> head.evaluate(bb, batch(false), new int[5]));
    }
  }
}
