package dev.fuselm.ops;

import static dev.fuselm.ops.OpsTestSupport.assertClose;
import static dev.fuselm.ops.OpsTestSupport.random;
import static dev.fuselm.ops.OpsTestSupport.randomInts;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The reference backend is the oracle for every other backend, so it is itself checked here against
 * independent textbook implementations written in Java (double precision) from the formulas.
 */
class ReferenceOracleTest {
  private static ComputeContext ref;

  @BeforeAll
  static void setUp() {
    ref = ComputeContext.create(Backend.REFERENCE);
  }

  @AfterAll
  static void tearDown() {
    ref.close();
  }

  @Test
  void sgemmIsTheMatrixProduct() {
    int m = 5, n = 7, k = 3;
    float[] a = random(1, k * m), b = random(2, n * k), c = random(3, m * n);
    float[] want = new float[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          s += (double) a[p * m + i] * b[j * k + p]; // A stored (K, M), B stored (N, K)
        }
        want[i * n + j] = (float) (2 * s + 0.5 * c[i * n + j]);
      }
    }
    try (Tensor ta = Tensor.of(ref, a, k, m); Tensor tb = Tensor.of(ref, b, n, k);
        Tensor tc = Tensor.of(ref, c, m, n)) {
      GemmOps.sgemm(ref, true, true, 2f, ta, tb, 0.5f, tc);
      assertClose("sgemm", want, tc.toFloatArray(), 1e-6, 1e-6);
    }
  }

  @Test
  void layerNormNormalisesRows() {
    int n = 3, c = 10;
    float[] x = random(4, n * c), w = random(5, c), b = random(6, c);
    float[] want = new float[n * c];
    for (int r = 0; r < n; r++) {
      double mean = 0, var = 0;
      for (int j = 0; j < c; j++) {
        mean += x[r * c + j] / (double) c;
      }
      for (int j = 0; j < c; j++) {
        var += Math.pow(x[r * c + j] - mean, 2) / c; // biased variance, as PyTorch
      }
      for (int j = 0; j < c; j++) {
        want[r * c + j] = (float) ((x[r * c + j] - mean) / Math.sqrt(var + 1e-5) * w[j] + b[j]);
      }
    }
    try (Tensor tx = Tensor.of(ref, x, n, c); Tensor out = Tensor.zeros(ref, n, c);
        Tensor tw = Tensor.of(ref, w, c); Tensor tb = Tensor.of(ref, b, c)) {
      LayerNormOps.forward(ref, out, null, null, tx, tw, tb, 1e-5f);
      assertClose("layernorm", want, out.toFloatArray(), 1e-5, 1e-5);
    }
  }

  @Test
  void attentionIsMaskedSoftmaxOfScaledScores() {
    int b = 2, t = 5, c = 6, nh = 2, hs = c / nh;
    float[] qkv = random(7, b * t * 3 * c);
    int[] mask = {1, 1, 1, 0, 1, 1, 0, 1, 1, 0};
    for (boolean causal : new boolean[] {true, false}) {
      float[] want = new float[b * t * c];
      for (int bb = 0; bb < b; bb++) {
        for (int h = 0; h < nh; h++) {
          for (int i = 0; i < t; i++) {
            double[] s = new double[t];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < t; j++) {
              boolean visible = mask[bb * t + j] != 0 && (!causal || j <= i);
              if (!visible) {
                s[j] = Double.NEGATIVE_INFINITY;
                continue;
              }
              double dot = 0;
              for (int d = 0; d < hs; d++) {
                dot += qkv[(bb * t + i) * 3 * c + h * hs + d] * qkv[(bb * t + j) * 3 * c + c + h * hs + d];
              }
              s[j] = dot / Math.sqrt(hs);
              max = Math.max(max, s[j]);
            }
            double z = 0;
            for (int j = 0; j < t; j++) {
              z += s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
            }
            for (int d = 0; d < hs; d++) {
              double o = 0;
              for (int j = 0; j < t; j++) {
                if (s[j] != Double.NEGATIVE_INFINITY) {
                  o += Math.exp(s[j] - max) / z * qkv[(bb * t + j) * 3 * c + 2 * c + h * hs + d];
                }
              }
              want[(bb * t + i) * c + h * hs + d] = z == 0 ? 0f : (float) o;
            }
          }
        }
      }
      try (Tensor tq = Tensor.of(ref, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ref, b, t, c);
          Tensor lse = Tensor.zeros(ref, b, nh, t); Tensor km = Tensor.ofInts(ref, mask, b, t)) {
        AttentionOps.forward(ref, out, lse, tq, km, nh, causal);
        assertClose("attention causal=" + causal, want, out.toFloatArray(), 1e-5, 1e-6);
      }
    }
  }

  @Test
  void geluIsTheTanhApproximation() {
    float[] x = {-6f, -1.5f, -0.1f, 0f, 0.3f, 1f, 4f};
    float[] want = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      double v = x[i];
      want[i] = (float) (0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
    }
    try (Tensor tx = Tensor.of(ref, x, x.length); Tensor out = Tensor.zeros(ref, x.length)) {
      PointwiseOps.geluForward(ref, out, tx);
      assertClose("gelu", want, out.toFloatArray(), 1e-6, 1e-7);
    }
  }

  // x Phi(x) = 0.5 x erfc(-x / sqrt 2), values from Python's math.erfc in double
  @Test
  void geluErfIsTheExactForm() {
    float[] x = {-6f, -1.5f, -0.1f, 0f, 0.3f, 1f, 4f};
    float[] want = {-5.919525870226207e-09f, -0.10021080190328713f, -0.0460172162722971f, 0f,
        0.18537342665668577f, 0.8413447460685429f, 3.9998733150326675f};
    try (Tensor tx = Tensor.of(ref, x, x.length); Tensor out = Tensor.zeros(ref, x.length)) {
      PointwiseOps.geluErfForward(ref, out, tx);
      assertClose("gelu_erf", want, out.toFloatArray(), 1e-6, 1e-12);
    }
  }

  @Test
  void crossEntropyIsMeanNegativeLogLikelihoodOverKeptRows() {
    int n = 4, v = 6;
    float[] logits = random(8, n * v);
    int[] targets = {2, SoftmaxOps.IGNORE_INDEX, 5, 0};
    double sum = 0;
    for (int r = 0; r < n; r++) {
      if (targets[r] == SoftmaxOps.IGNORE_INDEX) {
        continue;
      }
      double z = 0;
      for (int j = 0; j < v; j++) {
        z += Math.exp(logits[r * v + j]);
      }
      sum += Math.log(z) - logits[r * v + targets[r]];
    }
    try (Tensor tl = Tensor.of(ref, logits, n, v); Tensor tt = Tensor.ofInts(ref, targets, n);
        Tensor lse = Tensor.zeros(ref, n)) {
      SoftmaxOps.Loss loss = SoftmaxOps.crossEntropyForward(ref, null, lse, tl, tt);
      assertEquals(3, loss.count());
      assertEquals(sum / 3, loss.mean(), 1e-6);
    }
  }

  @Test
  void embeddingAddsTokenAndPositionRows() {
    int v = 4, c = 3, t = 2;
    float[] wte = random(9, v * c), wpe = random(10, t * c);
    int[] ids = randomInts(11, t, v);
    float[] want = new float[t * c];
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < c; j++) {
        want[i * c + j] = wte[ids[i] * c + j] + wpe[i * c + j];
      }
    }
    try (Tensor tids = Tensor.ofInts(ref, ids, 1, t); Tensor a = Tensor.of(ref, wte, v, c);
        Tensor p = Tensor.of(ref, wpe, t, c); Tensor out = Tensor.zeros(ref, 1, t, c)) {
      EmbeddingOps.forward(ref, out, tids, a, p);
      assertClose("embedding", want, out.toFloatArray(), 0, 0);
    }
  }

  @Test
  void adamwFollowsPyTorchFormula() {
    float[] p0 = {0.5f, -1f, 2f}, g = {0.1f, -0.2f, 0.3f};
    float lr = 0.01f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
    double[] p = {p0[0], p0[1], p0[2]}, m = new double[3], v = new double[3];
    boolean[] decay = {true, true, false};
    for (int t = 1; t <= 2; t++) {
      for (int i = 0; i < 3; i++) {
        double gi = g[i] * scale;
        if (decay[i]) {
          p[i] -= lr * wd * p[i];
        }
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        double mh = m[i] / (1 - Math.pow(b1, t)), vh = v[i] / (1 - Math.pow(b2, t));
        p[i] -= lr * mh / (Math.sqrt(vh) + eps);
      }
    }
    try (ParameterSlab params = ParameterSlab.builder().add("w", true, 2).add("b", false, 1).build(ref);
        ParameterSlab grads = params.sameLayout(ref); ParameterSlab mm = params.sameLayout(ref);
        ParameterSlab vv = params.sameLayout(ref)) {
      params.flat().copyFrom(p0);
      grads.flat().copyFrom(g);
      OptimizerOps.adamwStep(ref, params, grads, mm, vv, lr, b1, b2, eps, wd, 1, scale);
      OptimizerOps.adamwStep(ref, params, grads, mm, vv, lr, b1, b2, eps, wd, 2, scale);
      assertClose("adamw", new float[] {(float) p[0], (float) p[1], (float) p[2]},
          params.flat().toFloatArray(), 1e-6, 1e-7);
      assertEquals(Math.sqrt(0.01 + 0.04 + 0.09), OptimizerOps.gradNorm(ref, grads.flat()), 1e-6);
    }
  }
}
