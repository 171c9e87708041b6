package dev.fuselm.ops;

import static dev.fuselm.ops.OpsTestSupport.random;
import static dev.fuselm.ops.OpsTestSupport.randomInts;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Finite-difference checks of every backward pass, through the Java ops, on the CPU backend (best
 * ISA, 2 threads) and on the reference backend. The scalar loss is L = sum(out * R) for a fixed
 * random R, computed in double on the host; central differences with step 1e-2 in fp32 inputs.
 *
 * <p>Tolerance: the truncation error of central differences is O(h^2) (about 1e-4 here) and the
 * fp32 rounding of L is about 1e-6 * |L| / h; |grad - fd| <= 3e-3 + 3e-2 |grad| covers both.
 */
class GradientCheckTest {
  private static final float H = 1e-2f;
  private static final double ATOL = 3e-3;
  private static final double RTOL = 3e-2;
  private static ComputeContext cpu;
  private static ComputeContext ref;

  @BeforeAll
  static void setUp() {
    cpu = ComputeContext.create(Backend.CPU).threads(2);
    ref = ComputeContext.create(Backend.REFERENCE);
  }

  @AfterAll
  static void tearDown() {
    cpu.close();
    ref.close();
  }

  private static ComputeContext ctx(String backend) {
    return backend.equals("cpu") ? cpu : ref;
  }

  static double dot(float[] a, float[] r) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * r[i];
    }
    return s;
  }

  /** Compares analytic[i] with the central difference of loss at up to `samples` coordinates. */
  static void check(String what, float[] x, float[] analytic, Function<float[], Double> loss, int samples) {
    SplittableRandom rng = new SplittableRandom(what.hashCode());
    for (int s = 0; s < Math.min(samples, x.length); s++) {
      int i = samples >= x.length ? s : rng.nextInt(x.length);
      float keep = x[i];
      x[i] = keep + H;
      double up = loss.apply(x);
      x[i] = keep - H;
      double down = loss.apply(x);
      x[i] = keep;
      double fd = (up - down) / (2 * H);
      if (!(Math.abs(fd - analytic[i]) <= ATOL + RTOL * Math.abs(analytic[i]))) {
        fail(what + ": d/dx[" + i + "] analytic " + analytic[i] + " vs finite difference " + fd);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void linearLayer(String backend) {
    ComputeContext c = ctx(backend);
    int m = 5, k = 7, n = 9; // out (m, n) = inp (m, k) * W^T, W (n, k), + b
    float[] inp = random(1, m * k), w = random(2, n * k), b = random(3, n), r = random(4, m * n);
    Function<float[][], Double> loss = xs -> {
      try (Tensor ti = Tensor.of(c, xs[0], m, k); Tensor tw = Tensor.of(c, xs[1], n, k);
          Tensor tb = Tensor.of(c, xs[2], n); Tensor out = Tensor.zeros(c, m, n)) {
        GemmOps.sgemmBias(c, false, true, ti, tw, tb, out);
        return dot(out.toFloatArray(), r);
      }
    };
    float[][] grads;
    try (Tensor ti = Tensor.of(c, inp, m, k); Tensor tw = Tensor.of(c, w, n, k);
        Tensor dout = Tensor.of(c, r, m, n); Tensor dinp = Tensor.zeros(c, m, k);
        Tensor dw = Tensor.zeros(c, n, k); Tensor db = Tensor.zeros(c, n)) {
      GemmOps.sgemm(c, false, false, 1f, dout, tw, 1f, dinp); // dinp += dout * W
      GemmOps.sgemm(c, true, false, 1f, dout, ti, 1f, dw); // dW += dout^T * inp
      GemmOps.biasBackward(c, db, dout);
      grads = new float[][] {dinp.toFloatArray(), dw.toFloatArray(), db.toFloatArray()};
    }
    float[][] xs = {inp, w, b};
    String[] names = {"dinp", "dweight", "dbias"};
    for (int j = 0; j < 3; j++) {
      final int jj = j;
      check("linear " + names[j] + " " + backend, xs[j], grads[j], x -> {
        float[][] all = xs.clone();
        all[jj] = x;
        return loss.apply(all);
      }, 30);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void layerNorm(String backend) {
    ComputeContext c = ctx(backend);
    int n = 3, ch = 11;
    float[] x = random(5, n * ch), w = random(6, ch), b = random(7, ch), r = random(8, n * ch);
    Function<float[][], Double> loss = xs -> {
      try (Tensor ti = Tensor.of(c, xs[0], n, ch); Tensor tw = Tensor.of(c, xs[1], ch);
          Tensor tb = Tensor.of(c, xs[2], ch); Tensor out = Tensor.zeros(c, n, ch)) {
        LayerNormOps.forward(c, out, null, null, ti, tw, tb, 1e-5f);
        return dot(out.toFloatArray(), r);
      }
    };
    float[][] grads;
    try (Tensor ti = Tensor.of(c, x, n, ch); Tensor tw = Tensor.of(c, w, ch);
        Tensor tb = Tensor.of(c, b, ch); Tensor out = Tensor.zeros(c, n, ch);
        Tensor mean = Tensor.zeros(c, n); Tensor rstd = Tensor.zeros(c, n);
        Tensor dout = Tensor.of(c, r, n, ch); Tensor dx = Tensor.zeros(c, n, ch);
        Tensor dw = Tensor.zeros(c, ch); Tensor db = Tensor.zeros(c, ch)) {
      LayerNormOps.forward(c, out, mean, rstd, ti, tw, tb, 1e-5f);
      LayerNormOps.backward(c, dx, dw, db, dout, ti, tw, mean, rstd);
      grads = new float[][] {dx.toFloatArray(), dw.toFloatArray(), db.toFloatArray()};
    }
    float[][] xs = {x, w, b};
    for (int j = 0; j < 3; j++) {
      final int jj = j;
      check("layernorm grad " + j + " " + backend, xs[j], grads[j], v -> {
        float[][] all = xs.clone();
        all[jj] = v;
        return loss.apply(all);
      }, 33);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void attention(String backend) {
    ComputeContext c = ctx(backend);
    int b = 2, t = 6, ch = 6, nh = 2;
    int[] mask = {1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0};
    for (boolean causal : new boolean[] {true, false}) {
      float[] qkv = random(9, b * t * 3 * ch), r = random(10, b * t * ch);
      Function<float[], Double> loss = x -> {
        try (Tensor tq = Tensor.of(c, x, b, t, 3L * ch); Tensor out = Tensor.zeros(c, b, t, ch);
            Tensor lse = Tensor.zeros(c, b, nh, t); Tensor km = Tensor.ofInts(c, mask, b, t)) {
          AttentionOps.forward(c, out, lse, tq, causal ? null : km, nh, causal);
          return dot(out.toFloatArray(), r);
        }
      };
      float[] grad;
      try (Tensor tq = Tensor.of(c, qkv, b, t, 3L * ch); Tensor out = Tensor.zeros(c, b, t, ch);
          Tensor lse = Tensor.zeros(c, b, nh, t); Tensor km = Tensor.ofInts(c, mask, b, t);
          Tensor dout = Tensor.of(c, r, b, t, ch); Tensor dq = Tensor.zeros(c, b, t, 3L * ch)) {
        AttentionOps.forward(c, out, lse, tq, causal ? null : km, nh, causal);
        AttentionOps.backward(c, dq, dout, tq, out, lse, causal ? null : km, nh, causal);
        grad = dq.toFloatArray();
      }
      check("attention causal=" + causal + " " + backend, qkv, grad, loss, 60);
    }
  }

  // Attention-probability dropout: a fixed seed is a fixed mask, so L is smooth in qkv and the
  // same finite-difference bound holds.
  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void attentionWithDropout(String backend) {
    ComputeContext c = ctx(backend);
    int b = 2, t = 6, ch = 6, nh = 2;
    float p = 0.3f;
    long seed = 0x5eedL;
    int[] mask = {1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0};
    for (boolean causal : new boolean[] {true, false}) {
      float[] qkv = random(29, b * t * 3 * ch), r = random(30, b * t * ch);
      Function<float[], Double> loss = x -> {
        try (Tensor tq = Tensor.of(c, x, b, t, 3L * ch); Tensor out = Tensor.zeros(c, b, t, ch);
            Tensor lse = Tensor.zeros(c, b, nh, t); Tensor km = Tensor.ofInts(c, mask, b, t)) {
          AttentionOps.forward(c, out, lse, tq, causal ? null : km, nh, causal, p, seed);
          return dot(out.toFloatArray(), r);
        }
      };
      float[] grad;
      try (Tensor tq = Tensor.of(c, qkv, b, t, 3L * ch); Tensor out = Tensor.zeros(c, b, t, ch);
          Tensor lse = Tensor.zeros(c, b, nh, t); Tensor km = Tensor.ofInts(c, mask, b, t);
          Tensor dout = Tensor.of(c, r, b, t, ch); Tensor dq = Tensor.zeros(c, b, t, 3L * ch)) {
        AttentionOps.forward(c, out, lse, tq, causal ? null : km, nh, causal, p, seed);
        AttentionOps.backward(c, dq, dout, tq, out, lse, causal ? null : km, nh, causal, p, seed);
        grad = dq.toFloatArray();
      }
      check("attention dropout causal=" + causal + " " + backend, qkv, grad, loss, 60);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void geluAndSoftmax(String backend) {
    ComputeContext c = ctx(backend);
    int n = 4, v = 9;
    float[] x = random(11, n * v), r = random(12, n * v);
    for (int i = 0; i < x.length; i++) {
      x[i] *= 3;
    }
    float[] dgelu, dsoft;
    try (Tensor tx = Tensor.of(c, x, n, v); Tensor out = Tensor.zeros(c, n, v);
        Tensor dout = Tensor.of(c, r, n, v); Tensor dx = Tensor.zeros(c, n, v);
        Tensor dx2 = Tensor.zeros(c, n, v)) {
      PointwiseOps.geluForward(c, out, tx);
      PointwiseOps.geluBackward(c, dx, tx, dout);
      dgelu = dx.toFloatArray();
      SoftmaxOps.softmaxForward(c, out, tx);
      SoftmaxOps.softmaxBackward(c, dx2, out, dout);
      dsoft = dx2.toFloatArray();
    }
    check("gelu " + backend, x, dgelu, xx -> {
      try (Tensor tx = Tensor.of(c, xx, n, v); Tensor out = Tensor.zeros(c, n, v)) {
        PointwiseOps.geluForward(c, out, tx);
        return dot(out.toFloatArray(), r);
      }
    }, 36);
    float[] dgeluErf;
    try (Tensor tx = Tensor.of(c, x, n, v); Tensor dout = Tensor.of(c, r, n, v);
        Tensor dx = Tensor.zeros(c, n, v)) {
      PointwiseOps.geluErfBackward(c, dx, tx, dout);
      dgeluErf = dx.toFloatArray();
    }
    check("gelu_erf " + backend, x, dgeluErf, xx -> {
      try (Tensor tx = Tensor.of(c, xx, n, v); Tensor out = Tensor.zeros(c, n, v)) {
        PointwiseOps.geluErfForward(c, out, tx);
        return dot(out.toFloatArray(), r);
      }
    }, 36);
    check("softmax " + backend, x, dsoft, xx -> {
      try (Tensor tx = Tensor.of(c, xx, n, v); Tensor out = Tensor.zeros(c, n, v)) {
        SoftmaxOps.softmaxForward(c, out, tx);
        return dot(out.toFloatArray(), r);
      }
    }, 36);
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void crossEntropy(String backend) {
    ComputeContext c = ctx(backend);
    int n = 5, v = 8;
    float[] logits = random(13, n * v);
    int[] targets = {3, SoftmaxOps.IGNORE_INDEX, 0, 7, 2};
    Function<float[], Double> loss = x -> {
      try (Tensor tl = Tensor.of(c, x, n, v); Tensor tt = Tensor.ofInts(c, targets, n);
          Tensor lse = Tensor.zeros(c, n)) {
        return (double) SoftmaxOps.crossEntropyForward(c, null, lse, tl, tt).mean();
      }
    };
    float[] grad;
    try (Tensor tl = Tensor.of(c, logits, n, v); Tensor tt = Tensor.ofInts(c, targets, n);
        Tensor lse = Tensor.zeros(c, n); Tensor dl = Tensor.zeros(c, n, v)) {
      SoftmaxOps.Loss l = SoftmaxOps.crossEntropyForward(c, null, lse, tl, tt);
      SoftmaxOps.crossEntropyBackward(c, dl, tl, lse, tt, 1f, l.count());
      grad = dl.toFloatArray();
    }
    check("cross entropy " + backend, logits, grad, loss, 40);
  }

  @ParameterizedTest
  @ValueSource(strings = {"cpu", "reference"})
  void embedding(String backend) {
    ComputeContext c = ctx(backend);
    int b = 2, t = 3, ch = 4, v = 3;
    float[] wte = random(14, v * ch), wpe = random(15, t * ch), r = random(16, b * t * ch);
    int[] ids = randomInts(17, b * t, v);
    float[] dwte, dwpe;
    try (Tensor tids = Tensor.ofInts(c, ids, b, t); Tensor a = Tensor.of(c, wte, v, ch);
        Tensor p = Tensor.of(c, wpe, t, ch); Tensor dout = Tensor.of(c, r, b, t, ch);
        Tensor da = Tensor.zeros(c, v, ch); Tensor dp = Tensor.zeros(c, t, ch)) {
      EmbeddingOps.backward(c, da, dp, dout, tids, a, p);
      dwte = da.toFloatArray();
      dwpe = dp.toFloatArray();
    }
    Function<float[][], Double> loss = xs -> {
      try (Tensor tids = Tensor.ofInts(c, ids, b, t); Tensor a = Tensor.of(c, xs[0], v, ch);
          Tensor p = Tensor.of(c, xs[1], t, ch); Tensor out = Tensor.zeros(c, b, t, ch)) {
        EmbeddingOps.forward(c, out, tids, a, p);
        return dot(out.toFloatArray(), r);
      }
    };
    check("embedding dwte " + backend, wte, dwte, x -> loss.apply(new float[][] {x, wpe}), 12);
    check("embedding dwpe " + backend, wpe, dwpe, x -> loss.apply(new float[][] {wte, x}), 12);
  }
}
