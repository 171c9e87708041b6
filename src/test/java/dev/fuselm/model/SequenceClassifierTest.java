package dev.fuselm.model;

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
 * The sequence-classification head over the {@link Backbone} seam: the same head code runs over a
 * GPT and a BERT backbone, right padding never changes a prediction, and its gradients (head and
 * backbone) match finite differences of its loss.
 */
class SequenceClassifierTest {
  static ComputeContext ctx;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  static final int K = 3;
  static final int[] LABELS = {0, 2, 1};

  static Backbone gpt(long seed) {
    return GptModel.random(ctx, GptConfig.of(24, 16, 16, 2, 2).withDropout(0f), seed);
  }

  static Backbone bert(long seed) {
    BertModel m = BertModel.create(ctx, new BertConfig(24, 16, 2, 2, 32, 16, 2, 1e-12f, 0f, 0f),
        true, false);
    m.initialize(seed);
    return m;
  }

  /** Three sequences of 2, 5 and 4 tokens (token 1 first, as BERT's [CLS]), right-padded to 6. */
  static TokenBatch batch(boolean types) {
    List<int[]> seqs = List.of(new int[] {1, 5}, new int[] {1, 7, 3, 9, 4}, new int[] {1, 2, 8, 6});
    TokenBatch tb = TokenBatch.rightPadded(seqs, 0, 6);
    if (!types) {
      return tb;
    }
    int[] typeIds = new int[tb.ids().length];
    typeIds[6 + 3] = typeIds[6 + 4] = 1; // a second segment in the middle row
    return new TokenBatch(tb.ids(), typeIds, tb.attentionMask(), tb.b(), tb.t());
  }

  static SequenceClassificationHead head(Backbone bb, long seed) {
    boolean isBert = bb instanceof BertModel;
    float[] w = SequenceClassificationHead.initialWeight(K, bb.hiddenSize(), seed);
    for (int i = 0; i < w.length; i++) {
      w[i] *= 25; // weights of 0.5 rather than 0.02: gradients well above rounding noise
    }
    float[] bias = isBert ? new float[] {0.1f, -0.2f, 0.05f} : null;
    return new SequenceClassificationHead(isBert ? SequenceClassificationHead.Pooling.CLS_POOLER
        : SequenceClassificationHead.Pooling.LAST_TOKEN, w, bias, K, bb.hiddenSize(), 0f);
  }

  /** The one code path both families go through: a classifier over any backbone. */
  static void trainsAndPredicts(Backbone bb, TokenBatch batch) {
    SequenceClassificationHead h = head(bb, 3);
    try (SequenceClassifier<Backbone> clf = new SequenceClassifier<>(bb, h, List.of("a", "b", "c"),
        0)) {
      clf.backbone().enableGradients();
      float[] dW = new float[h.weight().length];
      float[] dB = h.bias() == null ? null : new float[K];
      SequenceClassificationHead.Result r = clf.forwardBackward(batch, LABELS, dW, dB, 0, 1L);
      assertTrue(r.loss() > 0 && Double.isFinite(r.loss()), "loss " + r.loss());
      assertTrue(sumAbs(dW) > 0, "head weight gradient is zero");
      assertTrue(sumAbs(bb.grads().flat().toFloatArray()) > 0, "backbone gradient is zero");
      assertEquals(r.loss(), clf.evaluate(batch, LABELS).loss(), 1e-6,
          "evaluation mode without dropout is the training forward");

      double[] p = clf.probabilities(batch);
      for (int i = 0; i < batch.b(); i++) {
        double s = 0;
        for (int j = 0; j < K; j++) {
          s += p[i * K + j];
        }
        assertEquals(1.0, s, 1e-9);
      }
      // the middle row alone, unpadded, gets the same probabilities as inside the padded batch
      int t = batch.t();
      int len = batch.lengths()[1];
      int[] ids = java.util.Arrays.copyOfRange(batch.ids(), t, t + len);
      int[] types = batch.tokenTypes() == null ? null
          : java.util.Arrays.copyOfRange(batch.tokenTypes(), t, t + len);
      double[] alone = clf.probabilities(new TokenBatch(ids, types, null, 1, len));
      for (int j = 0; j < K; j++) {
        assertEquals(p[K + j], alone[j], 1e-5, "class " + j + " of the middle row");
      }
    }
  }

  @Test
  void oneHeadCodePathServesGptAndBert() {
    trainsAndPredicts(gpt(1), batch(false));
    trainsAndPredicts(bert(1), batch(true));
  }

  /**
   * Central differences of the head's loss against its analytic gradients: the head weight (and
   * bias), and in the backbone the largest-gradient entry of several tensors spread over the slab
   * (embeddings, blocks, final norm or pooler).
   */
  static void gradientsMatchFiniteDifferences(Supplier<Backbone> make, TokenBatch batch) {
    try (Backbone bb = make.get()) {
      bb.enableGradients();
      bb.setTraining(false);
      SequenceClassificationHead h = head(bb, 7);
      float[] dW = new float[h.weight().length];
      float[] dB = h.bias() == null ? null : new float[K];
      bb.zeroGrad();
      h.forwardBackward(bb, batch, LABELS, dW, dB, 0, 0L);

      List<double[]> checks = new ArrayList<>(); // {analytic, numeric}
      for (int i : new int[] {0, 5, dW.length - 1}) {
        checks.add(new double[] {dW[i], numeric(bb, h, batch, h.weight(), i)});
      }
      if (dB != null) {
        checks.add(new double[] {dB[1], numeric(bb, h, batch, h.bias(), 1)});
      }
      ParameterSlab params = bb.params(), grads = bb.grads();
      List<String> names = params.names();
      for (int n = 0; n < names.size(); n += Math.max(1, names.size() / 6)) {
        float[] g = grads.get(names.get(n)).toFloatArray();
        int best = 0;
        for (int i = 1; i < g.length; i++) {
          if (Math.abs(g[i]) > Math.abs(g[best])) {
            best = i;
          }
        }
        if (g[best] == 0) {
          continue; // a tensor this loss does not reach (an unused embedding row, the LM head)
        }
        checks.add(new double[] {g[best], numeric(bb, h, batch, params.get(names.get(n)), best)});
      }
      assertTrue(checks.size() >= 6, "too few entries checked: " + checks.size());
      for (double[] c : checks) {
        assertEquals(c[1], c[0], 3e-5 + 0.01 * Math.abs(c[1]),
            "analytic " + c[0] + " vs finite difference " + c[1]);
      }
    }
  }

  static final float EPS = 1e-3f;

  static double numeric(Backbone bb, SequenceClassificationHead h, TokenBatch batch, float[] w,
      int i) {
    float v = w[i];
    w[i] = v + EPS;
    double plus = h.evaluate(bb, batch, LABELS).loss();
    w[i] = v - EPS;
    double minus = h.evaluate(bb, batch, LABELS).loss();
    w[i] = v;
    return (plus - minus) / (2 * EPS);
  }

  static double numeric(Backbone bb, SequenceClassificationHead h, TokenBatch batch, Tensor p,
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
  void gradientsOverGptMatchFiniteDifferences() {
    gradientsMatchFiniteDifferences(() -> gpt(2), batch(false));
  }

  @Test
  void gradientsOverBertMatchFiniteDifferences() {
    gradientsMatchFiniteDifferences(() -> bert(2), batch(true));
  }

  /**
   * A backbone whose hidden states are given numbers (B*T, C): the head's own maths, with nothing
   * of a model's rounding in the way. It records the hidden-state gradient the head hands back.
   */
  static final class FixedHidden implements Backbone {
    final float[] hidden;
    final int c;
    float[] dHidden;
    Tensor out;

    FixedHidden(float[] hidden, int c) {
      this.hidden = hidden;
      this.c = c;
    }

    @Override
    public Tensor forwardHidden(TokenBatch batch) {
      if (out == null) {
        out = Tensor.zeros(ctx, (long) batch.b() * batch.t(), c);
      }
      out.copyFrom(hidden); // read now, so that a test may change hidden between calls
      return out;
    }

    @Override
    public void backwardHidden(float[] d, int fromBlock) {
      dHidden = d.clone();
    }

    @Override
    public int hiddenSize() {
      return c;
    }

    @Override
    public ComputeContext context() {
      return ctx;
    }

    @Override
    public ParameterSlab params() {
      return null;
    }

    @Override
    public ParameterSlab grads() {
      return null;
    }

    @Override
    public Backbone enableGradients() {
      return this;
    }

    @Override
    public void zeroGrad() {}

    @Override
    public void setTraining(boolean training) {}

    @Override
    public boolean isTraining() {
      return false;
    }

    @Override
    public void setDropoutSeed(long seed) {}

    @Override
    public void close() {
      if (out != null) {
        out.close();
      }
    }
  }

  /**
   * Last-token pooling over fixed hidden states: the gradients of the weight and of the hidden
   * states match central differences, and only each row's last real token gets any.
   */
  @Test
  void lastTokenHeadGradientMatchesFiniteDifferences() {
    int b = 3, t = 4, c = 5, k = 3;
    int[] lengths = {4, 2, 1};
    Random r = new Random(11);
    float[] h = new float[b * t * c];
    float[] w = new float[k * c];
    for (int i = 0; i < h.length; i++) {
      h[i] = (float) r.nextGaussian();
    }
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian() * 0.5f;
    }
    List<int[]> seqs = new ArrayList<>();
    for (int len : lengths) {
      seqs.add(new int[len]);
    }
    TokenBatch batch = TokenBatch.rightPadded(seqs, 0, t);
    SequenceClassificationHead head = new SequenceClassificationHead(
        SequenceClassificationHead.Pooling.LAST_TOKEN, w, null, k, c, 0f);
    try (FixedHidden bb = new FixedHidden(h, c)) {
      float[] dW = new float[w.length];
      head.forwardBackward(bb, batch, LABELS, dW, null, 0, 0L);
      float[] dH = bb.dHidden;
      float eps = 1e-2f;
      for (int i = 0; i < w.length; i++) {
        assertEquals(centralDifference(bb, head, batch, w, i, eps), dW[i], 1e-4, "dW[" + i + "]");
      }
      for (int i = 0; i < h.length; i++) {
        assertEquals(centralDifference(bb, head, batch, h, i, eps), dH[i], 1e-4,
            "dHidden[" + i + "]");
        int row = i / c, pos = row % t, seq = row / t;
        if (pos != lengths[seq] - 1) {
          assertEquals(0f, dH[i], "only the last non-padding token gets gradient");
        }
      }
    }
  }

  /** (loss(v[i] + eps) - loss(v[i] - eps)) / 2 eps, v being one of the head's inputs. */
  static double centralDifference(Backbone bb, SequenceClassificationHead head, TokenBatch batch,
      float[] v, int i, float eps) {
    float keep = v[i];
    v[i] = keep + eps;
    double plus = head.evaluate(bb, batch, LABELS).loss();
    v[i] = keep - eps;
    double minus = head.evaluate(bb, batch, LABELS).loss();
    v[i] = keep;
    return (plus - minus) / (2 * eps);
  }

  @Test
  void backwardFromALaterBlockLeavesTheLowerBlocksAlone() {
    try (Backbone bb = bert(4)) {
      bb.enableGradients();
      SequenceClassificationHead h = head(bb, 5);
      h.forwardBackward(bb, batch(true), LABELS, new float[h.weight().length], new float[K], 1,
          0L);
      ParameterSlab g = bb.grads();
      assertEquals(0.0, sumAbs(g.get(BertModel.PREFIX + "embeddings.word_embeddings.weight")
          .toFloatArray()));
      assertEquals(0.0, sumAbs(g.get(BertModel.PREFIX + "encoder.layer.0.output.dense.weight")
          .toFloatArray()));
      assertTrue(sumAbs(g.get(BertModel.PREFIX + "encoder.layer.1.output.dense.weight")
          .toFloatArray()) > 0);
    }
  }

  @Test
  void batchesSayWhatAFamilyCannotHonour() {
    TokenBatch leftPadded = new TokenBatch(new int[] {0, 1, 2}, null, new int[] {0, 1, 1}, 1, 3);
    assertThrows(IllegalArgumentException.class, leftPadded::lengths);
    try (Backbone g = gpt(3)) {
      assertThrows(IllegalArgumentException.class, () -> g.forwardHidden(batch(true)),
          "GPT-2 has no token types");
      assertThrows(IllegalArgumentException.class, () -> g.forwardHidden(leftPadded),
          "causal attention cannot hide left padding");
      SequenceClassificationHead cls = new SequenceClassificationHead(
          SequenceClassificationHead.Pooling.CLS_POOLER, new float[K * g.hiddenSize()],
          new float[K], K, g.hiddenSize(), 0f);
      assertThrows(IllegalArgumentException.class, () -> cls.checkFits(g));
    }
    assertThrows(IllegalArgumentException.class,
        () -> new TokenBatch(new int[] {1, 2}, null, new int[] {1, 2}, 1, 2));
  }

  static double sumAbs(float[] v) {
    double s = 0;
    for (float x : v) {
      s += Math.abs(x);
    }
    return s;
  }
}
