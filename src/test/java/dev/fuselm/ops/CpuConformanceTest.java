package dev.fuselm.ops;

import static dev.fuselm.ops.OpsTestSupport.assertClose;
import static dev.fuselm.ops.OpsTestSupport.random;
import static dev.fuselm.ops.OpsTestSupport.randomInts;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every op through the Java layer: the CPU backend at every ISA level and thread count against the
 * REFERENCE backend (plain loops), on awkward sizes. This also checks that the Java wrappers pass
 * the right dimensions and leading dimensions to C.
 */
class CpuConformanceTest {
  private static ComputeContext ref;
  private static List<ComputeContext> cpus;

  @BeforeAll
  static void setUp() {
    ref = ComputeContext.create(Backend.REFERENCE);
    cpus = OpsTestSupport.cpuConfigs();
  }

  @AfterAll
  static void tearDown() {
    OpsTestSupport.closeAll(cpus);
    ref.close();
  }

  /** Runs op on the reference and on every CPU config; returns nothing, asserts closeness. */
  private static void compare(
      String what, double rtol, double atol, BiFunction<ComputeContext, Long, float[]> op) {
    float[] want = op.apply(ref, 0L);
    for (ComputeContext cpu : cpus) {
      assertClose(what + " on " + cpu, want, op.apply(cpu, 0L), rtol, atol);
    }
  }

  // Tolerance: fp32 sums of K products in different orders differ by about K * 2^-24 relative to the
  // sum of |products|; with inputs in [-1, 1] that is below 1e-4 absolute for K <= 1024.
  @ParameterizedTest
  @CsvSource({
    "1,1,1,false,false", "7,63,65,false,true", "65,7,129,true,false", "63,129,7,true,true",
    "129,65,63,false,true", "256,96,200,true,false"
  })
  void sgemmMatchesReference(int m, int n, int k, boolean ta, boolean tb) {
    float[] a = random(1, m * k), b = random(2, k * n), c0 = random(3, m * n);
    compare("sgemm " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb, 1e-4, 1e-4, (ctx, x) -> {
      try (Tensor ta_ = Tensor.of(ctx, a, ta ? k : m, ta ? m : k);
          Tensor tb_ = Tensor.of(ctx, b, tb ? n : k, tb ? k : n);
          Tensor tc = Tensor.of(ctx, c0, m, n)) {
        GemmOps.sgemm(ctx, ta, tb, 0.5f, ta_, tb_, 0.25f, tc);
        return tc.toFloatArray();
      }
    });
    float[] bias = random(4, n);
    compare("sgemm_bias", 1e-4, 1e-4, (ctx, x) -> {
      try (Tensor ta_ = Tensor.of(ctx, a, ta ? k : m, ta ? m : k);
          Tensor tb_ = Tensor.of(ctx, b, tb ? n : k, tb ? k : n);
          Tensor tbias = Tensor.of(ctx, bias, n);
          Tensor tc = Tensor.zeros(ctx, m, n)) {
        GemmOps.sgemmBias(ctx, ta, tb, ta_, tb_, tbias, tc);
        return tc.toFloatArray();
      }
    });
    compare("bias_backward", 1e-5, 1e-4, (ctx, x) -> {
      try (Tensor dout = Tensor.of(ctx, c0, m, n); Tensor db = Tensor.of(ctx, bias, n)) {
        GemmOps.biasBackward(ctx, db, dout);
        return db.toFloatArray();
      }
    });
  }

  // Tolerance: layer norm statistics over C <= 768 values in fp32; 1e-4 covers summation order.
  @ParameterizedTest
  @CsvSource({"1,1", "7,63", "65,129", "3,768"})
  void layerNormMatchesReference(int n, int c) {
    float[] x = random(5, n * c), w = random(6, c), b = random(7, c), dy = random(8, n * c);
    compare("layernorm forward " + n + "x" + c, 1e-4, 1e-4, (ctx, z) -> {
      try (Tensor inp = Tensor.of(ctx, x, n, c); Tensor out = Tensor.zeros(ctx, n, c);
          Tensor tw = Tensor.of(ctx, w, c); Tensor tb = Tensor.of(ctx, b, c);
          Tensor mean = Tensor.zeros(ctx, n); Tensor rstd = Tensor.zeros(ctx, n);
          Tensor dx = Tensor.zeros(ctx, n, c); Tensor dw = Tensor.zeros(ctx, c);
          Tensor dbias = Tensor.zeros(ctx, c); Tensor dout = Tensor.of(ctx, dy, n, c)) {
        LayerNormOps.forward(ctx, out, mean, rstd, inp, tw, tb, 1e-5f);
        LayerNormOps.backward(ctx, dx, dw, dbias, dout, inp, tw, mean, rstd);
        return concat(out.toFloatArray(), dx.toFloatArray(), dw.toFloatArray(), dbias.toFloatArray());
      }
    });
    compare("residual layernorm " + n + "x" + c, 1e-4, 1e-4, (ctx, z) -> {
      try (Tensor a = Tensor.of(ctx, x, n, c); Tensor bb = Tensor.of(ctx, dy, n, c);
          Tensor res = Tensor.zeros(ctx, n, c); Tensor out = Tensor.zeros(ctx, n, c);
          Tensor tw = Tensor.of(ctx, w, c); Tensor tb = Tensor.of(ctx, b, c)) {
        LayerNormOps.residualForward(ctx, res, out, null, null, a, bb, tw, tb, 1e-5f);
        return concat(res.toFloatArray(), out.toFloatArray());
      }
    });
  }

  // Tolerance: streaming softmax rescales partial sums in another order than the reference; 2e-4.
  @ParameterizedTest
  @CsvSource({
    "1,1,3,1,true,false", "2,7,21,3,true,false", "1,65,12,4,false,true", "2,63,64,2,true,true",
    "1,129,24,3,false,false"
  })
  void attentionMatchesReference(int b, int t, int c, int nh, boolean causal, boolean masked) {
    float[] qkv = random(9, b * t * 3 * c), dy = random(10, b * t * c);
    int[] mask = new int[b * t];
    for (int i = 0; i < mask.length; i++) {
      mask[i] = (i % t) < t - (i / t) * 2 - 1 ? 1 : 0; // later positions padded, more in batch 1
    }
    compare("attention B=" + b + " T=" + t + " C=" + c + " NH=" + nh, 2e-4, 2e-4, (ctx, z) -> {
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor lse = Tensor.zeros(ctx, b, nh, t);
          Tensor km = masked ? Tensor.ofInts(ctx, mask, b, t) : null;
          Tensor dq = Tensor.zeros(ctx, b, t, 3L * c); Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal);
        float[] r = concat(out.toFloatArray(), dq.toFloatArray());
        if (km != null) {
          km.close();
        }
        return r;
      }
    });
  }

  // Attention-probability dropout: the mask is a hash of (seed, b, h, i, j), the same on every
  // backend, so the CPU must match the reference at the plain tolerance; p = 0 must be bit-identical
  // to the plain overload.
  @ParameterizedTest
  @CsvSource({"2,7,21,3,true,false", "1,65,12,4,false,true", "2,63,64,2,true,true"})
  void attentionDropoutMatchesReference(int b, int t, int c, int nh, boolean causal,
      boolean masked) {
    float[] qkv = random(19, b * t * 3 * c), dy = random(20, b * t * c);
    int[] mask = new int[b * t];
    for (int i = 0; i < mask.length; i++) {
      mask[i] = (i % t) < t - (i / t) * 2 - 1 ? 1 : 0;
    }
    BiFunction<ComputeContext, Float, float[]> run = (ctx, p) -> {
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor lse = Tensor.zeros(ctx, b, nh, t);
          Tensor km = masked ? Tensor.ofInts(ctx, mask, b, t) : null;
          Tensor dq = Tensor.zeros(ctx, b, t, 3L * c); Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal, p, 99L);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal, p, 99L);
        float[] r = concat(out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray());
        if (km != null) {
          km.close();
        }
        return r;
      }
    };
    compare("attention dropout B=" + b + " T=" + t + " C=" + c + " NH=" + nh, 2e-4, 2e-4,
        (ctx, z) -> run.apply(ctx, 0.25f));
    for (ComputeContext ctx : cpus) {
      float[] plain;
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor lse = Tensor.zeros(ctx, b, nh, t);
          Tensor km = masked ? Tensor.ofInts(ctx, mask, b, t) : null;
          Tensor dq = Tensor.zeros(ctx, b, t, 3L * c); Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal);
        plain = concat(out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray());
        if (km != null) {
          km.close();
        }
      }
      org.junit.jupiter.api.Assertions.assertArrayEquals(plain, run.apply(ctx, 0f),
          "p = 0 on " + ctx);
    }
  }

  // Tolerance: the cached kernel sums over at most 40 keys in another order: 1e-5.
  @Test
  void cachedAttentionEqualsLastRowsOfFullAttention() {
    int b = 2, t = 40, tmax = 48, c = 12, nh = 3, tq = 2;
    float[] cache = random(30, b * tmax * 3 * c);
    float[] packed = new float[b * t * 3 * c];
    for (int bb = 0; bb < b; bb++) {
      System.arraycopy(cache, bb * tmax * 3 * c, packed, bb * t * 3 * c, t * 3 * c);
    }
    float[] want = new float[b * tq * c];
    try (Tensor qkv = Tensor.of(ref, packed, b, t, 3L * c); Tensor out = Tensor.zeros(ref, b, t, c);
        Tensor lse = Tensor.zeros(ref, b, nh, t)) {
      AttentionOps.forward(ref, out, lse, qkv, null, nh, true);
      float[] full = out.toFloatArray();
      for (int bb = 0; bb < b; bb++) {
        System.arraycopy(full, (bb * t + t - tq) * c, want, bb * tq * c, tq * c);
      }
    }
    for (ComputeContext ctx : cpus) {
      try (Tensor tc = Tensor.of(ctx, cache, b, tmax, 3L * c); Tensor out = Tensor.zeros(ctx, b, tq, c)) {
        AttentionOps.forwardCached(ctx, out, tc, t, nh);
        assertClose("cached attention on " + ctx, want, out.toFloatArray(), 1e-5, 1e-5);
      }
    }
  }

  // Tolerance: the vectorised tanh/exp approximations are accurate to about 1e-6 relative.
  @ParameterizedTest
  @CsvSource({"1", "7", "65", "1029"})
  void pointwiseMatchesReference(int n) {
    float[] x = random(11, n), y = random(12, n), dy = random(13, n);
    for (int i = 0; i < n; i++) {
      x[i] *= 6; // cover the tails of GELU
    }
    compare("gelu/add/scale n=" + n, 1e-5, 1e-6, (ctx, z) -> {
      try (Tensor tx = Tensor.of(ctx, x, n); Tensor ty = Tensor.of(ctx, y, n);
          Tensor out = Tensor.zeros(ctx, n); Tensor dx = Tensor.of(ctx, y, n);
          Tensor dout = Tensor.of(ctx, dy, n); Tensor sum = Tensor.zeros(ctx, n)) {
        PointwiseOps.geluForward(ctx, out, tx);
        PointwiseOps.geluBackward(ctx, dx, tx, dout);
        PointwiseOps.add(ctx, sum, tx, ty);
        PointwiseOps.scale(ctx, sum, 0.5f);
        float[] tanhForm = concat(out.toFloatArray(), dx.toFloatArray(), sum.toFloatArray());
        dx.copyFrom(y);
        PointwiseOps.geluErfForward(ctx, out, tx);
        PointwiseOps.geluErfBackward(ctx, dx, tx, dout);
        return concat(tanhForm, out.toFloatArray(), dx.toFloatArray());
      }
    });
  }

  // Tolerance: log-sum-exp over V <= 50257 fp32 values; 2e-5 relative + 1e-6 absolute.
  @ParameterizedTest
  @CsvSource({"1,1", "7,63", "65,129", "4,50257"})
  void softmaxAndCrossEntropyMatchReference(int n, int v) {
    float[] logits = random(14, n * v), dy = random(15, n * v);
    for (int i = 0; i < logits.length; i++) {
      logits[i] *= 8;
    }
    int[] targets = randomInts(16, n, v);
    if (n > 2) {
      targets[1] = SoftmaxOps.IGNORE_INDEX;
    }
    compare("softmax " + n + "x" + v, 2e-5, 1e-6, (ctx, z) -> {
      try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor out = Tensor.zeros(ctx, n, v);
          Tensor dout = Tensor.of(ctx, dy, n, v); Tensor dx = Tensor.zeros(ctx, n, v)) {
        SoftmaxOps.softmaxForward(ctx, out, x);
        SoftmaxOps.softmaxBackward(ctx, dx, out, dout);
        return concat(out.toFloatArray(), dx.toFloatArray());
      }
    });
    compare("cross entropy " + n + "x" + v, 2e-5, 1e-6, (ctx, z) -> {
      try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor tt = Tensor.ofInts(ctx, targets, n);
          Tensor lse = Tensor.zeros(ctx, n); Tensor losses = Tensor.zeros(ctx, n)) {
        SoftmaxOps.Loss loss = SoftmaxOps.crossEntropyForward(ctx, losses, lse, x, tt);
        SoftmaxOps.crossEntropyBackward(ctx, x, x, lse, tt, 1f, loss.count()); // in place
        return concat(new float[] {loss.mean(), loss.count()}, losses.toFloatArray(), x.toFloatArray());
      }
    });
  }

  // Tolerance: embedding backward sums at most B repeated rows; exact up to 1e-6.
  @ParameterizedTest
  @CsvSource({"1,1,1,1", "2,7,13,5", "3,65,129,7"})
  void embeddingMatchesReference(int b, int t, int c, int v) {
    float[] wte = random(17, v * c), wpe = random(18, t * c), dy = random(19, b * t * c);
    int[] ids = randomInts(20, b * t, v); // few distinct ids: many repeats in the scatter-add
    compare("embedding", 1e-6, 1e-6, (ctx, z) -> {
      try (Tensor tids = Tensor.ofInts(ctx, ids, b, t); Tensor twte = Tensor.of(ctx, wte, v, c);
          Tensor twpe = Tensor.of(ctx, wpe, t, c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor dout = Tensor.of(ctx, dy, b, t, c); Tensor dwte = Tensor.zeros(ctx, v, c);
          Tensor dwpe = Tensor.zeros(ctx, t, c)) {
        EmbeddingOps.forward(ctx, out, tids, twte, twpe);
        EmbeddingOps.backward(ctx, dwte, dwpe, dout, tids, twte, twpe);
        return concat(out.toFloatArray(), dwte.toFloatArray(), dwpe.toFloatArray());
      }
    });
  }

  // Tolerance: AdamW is elementwise with sqrt and division: 1e-6 relative.
  @Test
  void adamwAndGradNormMatchReference() {
    float[] p = random(21, 7 + 130 + 1), g = random(22, 138);
    compare("adamw", 1e-6, 1e-7, (ctx, z) -> {
      var builder = dev.fuselm.tensor.ParameterSlab.builder()
          .add("w", true, 7).add("m", true, 13, 10).add("b", false, 1);
      try (var params = builder.build(ctx); var grads = params.sameLayout(ctx);
          var m = params.sameLayout(ctx); var v = params.sameLayout(ctx)) {
        params.flat().copyFrom(p);
        grads.flat().copyFrom(g);
        float norm = OptimizerOps.gradNorm(ctx, grads.flat());
        for (int t = 1; t <= 3; t++) {
          OptimizerOps.adamwStep(ctx, params, grads, m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 0.5f);
        }
        return concat(new float[] {norm}, params.flat().toFloatArray(), m.flat().toFloatArray(),
            v.flat().toFloatArray());
      }
    });
  }

  @Test
  void zeroSizedInputsAreNoOps() {
    for (ComputeContext ctx : cpus) {
      try (Tensor a = Tensor.zeros(ctx, 0, 5); Tensor b = Tensor.zeros(ctx, 5, 3);
          Tensor c = Tensor.zeros(ctx, 0, 3); Tensor e = Tensor.zeros(ctx, DType.FLOAT32, 0)) {
        GemmOps.sgemm(ctx, false, false, 1f, a, b, 0f, c);
        PointwiseOps.geluForward(ctx, e, e);
        assertEquals(0, c.numel());
      }
    }
  }

  static float[] concat(float[]... parts) {
    int n = 0;
    for (float[] p : parts) {
      n += p.length;
    }
    float[] out = new float[n];
    int o = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }
}
