package dev.fuselm.ops;

import static dev.fuselm.ops.OpsTestSupport.assertClose;
import static dev.fuselm.ops.OpsTestSupport.random;
import static dev.fuselm.ops.OpsTestSupport.randomInts;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every op through the Java layer on the CUDA backend (device tensors, host copies through
 * fl_memcpy) against the REFERENCE backend, on the awkward sizes of {@link CpuConformanceTest}.
 * Without a usable CUDA device every test is reported as skipped, with the reason.
 *
 * <p>Tolerances are those of the CPU conformance test (both are fp32 kernels checked against double
 * loops), except GEMM, whose fp32 accumulation error bound is written next to it. The native
 * counterpart, with more shapes and the TF32 path, is native/tests/test_cuda.cpp.
 */
class CudaConformanceTest {
  private static ComputeContext ref;
  private static ComputeContext gpu;

  private static final boolean AVAILABLE = Backend.CUDA.isAvailable();

  @BeforeAll
  static void setUp() {
    if (AVAILABLE) {
      ref = ComputeContext.create(Backend.REFERENCE);
      gpu = ComputeContext.create(Backend.CUDA);
    }
  }

  // Per test, so that each one is reported as skipped with the reason (a class-level assumption is
  // reported by Surefire as zero tests run).
  @org.junit.jupiter.api.BeforeEach
  void requireDevice() {
    Assumptions.assumeTrue(
        AVAILABLE, "no CUDA device: the CUDA backend is not compiled in or no driver/GPU is present");
  }

  @AfterAll
  static void tearDown() {
    if (gpu != null) {
      gpu.close();
    }
    if (ref != null) {
      ref.close();
    }
  }

  private static void compare(
      String what, double rtol, double atol, Function<ComputeContext, float[]> op) {
    float[] want = op.apply(ref);
    float[] got = op.apply(gpu);
    gpu.synchronize();
    assertClose(what + " on CUDA", want, got, rtol, atol);
  }

  // Tolerance: a K-term fp32 dot product of values in [-1, 1] has partial sums up to ~sqrt(K) and
  // accumulates ~K roundings (u = 6e-8) of that size: atol = max(1e-4, 2 u K sqrt(K)).
  @ParameterizedTest
  @CsvSource({
    "1,1,1,false,false", "7,63,65,false,true", "65,7,129,true,false", "63,129,7,true,true",
    "129,65,63,false,true", "256,96,200,true,false", "1100,2048,40,false,true"
  })
  void sgemmMatchesReference(int m, int n, int k, boolean ta, boolean tb) {
    float[] a = random(1, m * k), b = random(2, k * n), c0 = random(3, m * n), bias = random(4, n);
    double atol = Math.max(1e-4, 2 * 6e-8 * k * Math.sqrt(k));
    compare("sgemm " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb, 1e-4, atol, ctx -> {
      try (Tensor ta_ = Tensor.of(ctx, a, ta ? k : m, ta ? m : k);
          Tensor tb_ = Tensor.of(ctx, b, tb ? n : k, tb ? k : n);
          Tensor tc = Tensor.of(ctx, c0, m, n);
          Tensor tbias = Tensor.of(ctx, bias, n);
          Tensor tcb = Tensor.zeros(ctx, m, n);
          Tensor db = Tensor.of(ctx, bias, n);
          Tensor dout = Tensor.of(ctx, c0, m, n)) {
        GemmOps.sgemm(ctx, ta, tb, 0.5f, ta_, tb_, 0.25f, tc);
        GemmOps.sgemmBias(ctx, ta, tb, ta_, tb_, tbias, tcb);
        GemmOps.biasBackward(ctx, db, dout);
        return CpuConformanceTest.concat(tc.toFloatArray(), tcb.toFloatArray(), db.toFloatArray());
      }
    });
  }

  // Tolerance: layer norm statistics over C <= 768 values in fp32; 1e-4 covers summation order.
  @ParameterizedTest
  @CsvSource({"1,1", "7,63", "65,129", "3,768", "300,65"})
  void layerNormMatchesReference(int n, int c) {
    float[] x = random(5, n * c), w = random(6, c), b = random(7, c), dy = random(8, n * c);
    compare("layernorm " + n + "x" + c, 1e-4, 1e-4, ctx -> {
      try (Tensor inp = Tensor.of(ctx, x, n, c); Tensor out = Tensor.zeros(ctx, n, c);
          Tensor tw = Tensor.of(ctx, w, c); Tensor tb = Tensor.of(ctx, b, c);
          Tensor mean = Tensor.zeros(ctx, n); Tensor rstd = Tensor.zeros(ctx, n);
          Tensor dx = Tensor.of(ctx, dy, n, c); Tensor dw = Tensor.of(ctx, w, c);
          Tensor dbias = Tensor.of(ctx, b, c); Tensor dout = Tensor.of(ctx, dy, n, c);
          Tensor res = Tensor.zeros(ctx, n, c); Tensor out2 = Tensor.zeros(ctx, n, c)) {
        LayerNormOps.forward(ctx, out, mean, rstd, inp, tw, tb, 1e-5f);
        LayerNormOps.backward(ctx, dx, dw, dbias, dout, inp, tw, mean, rstd);
        LayerNormOps.residualForward(ctx, res, out2, null, null, inp, dout, tw, tb, 1e-5f);
        return CpuConformanceTest.concat(out.toFloatArray(), mean.toFloatArray(), rstd.toFloatArray(),
            dx.toFloatArray(), dw.toFloatArray(), dbias.toFloatArray(), res.toFloatArray(),
            out2.toFloatArray());
      }
    });
  }

  // Tolerance: streaming softmax rescales partial sums in another order than the reference (2e-4);
  // the backward sums over up to 129 keys of those (5e-4).
  @ParameterizedTest
  @CsvSource({
    "1,1,3,1,true,false", "2,7,21,3,true,false", "1,65,12,4,false,true", "2,63,64,2,true,true",
    "1,129,24,3,false,false", "2,97,768,12,true,false", "2,70,200,2,false,true"
  })
  void attentionMatchesReference(int b, int t, int c, int nh, boolean causal, boolean masked) {
    float[] qkv = random(9, b * t * 3 * c), dy = random(10, b * t * c);
    int[] mask = new int[b * t];
    for (int i = 0; i < mask.length; i++) {
      mask[i] = (i % t) < t - (i / t) * 2 - 1 ? 1 : 0; // later positions padded, more in batch 1
    }
    String what = "attention B=" + b + " T=" + t + " C=" + c + " NH=" + nh;
    float[][] saved = new float[2][];
    try (Tensor tq = Tensor.of(ref, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ref, b, t, c);
        Tensor lse = Tensor.zeros(ref, b, nh, t);
        Tensor km = masked ? Tensor.ofInts(ref, mask, b, t) : null) {
      AttentionOps.forward(ref, out, lse, tq, km, nh, causal);
      saved[0] = out.toFloatArray();
      saved[1] = lse.toFloatArray();
      if (km != null) {
        km.close();
      }
    }
    compare(what + " forward", 2e-4, 2e-4, ctx -> {
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor lse = Tensor.zeros(ctx, b, nh, t)) {
        Tensor km = masked ? Tensor.ofInts(ctx, mask, b, t) : null;
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal);
        if (km != null) {
          km.close();
        }
        float[] l = lse.toFloatArray();
        for (int i = 0; i < l.length; i++) {
          l[i] = Float.isInfinite(l[i]) ? -12345f : l[i]; // rows with no key: -inf on both sides
        }
        return CpuConformanceTest.concat(out.toFloatArray(), l);
      }
    });
    // the backward takes the reference's out and lse on both sides
    compare(what + " backward", 5e-4, 5e-4, ctx -> {
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.of(ctx, saved[0], b, t, c);
          Tensor lse = Tensor.of(ctx, saved[1], b, nh, t); Tensor dq = Tensor.of(ctx, qkv, b, t, 3L * c);
          Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
        Tensor km = masked ? Tensor.ofInts(ctx, mask, b, t) : null;
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal);
        if (km != null) {
          km.close();
        }
        return dq.toFloatArray();
      }
    });
  }

  // Tolerance: at most 100 keys per query in fp32 against the double reference: 2e-4.
  @ParameterizedTest
  @CsvSource({"2,40,48,2,12,3", "3,100,128,1,768,12", "1,1,4,1,3,1"})
  void cachedAttentionMatchesReference(int b, int t, int tmax, int tq, int c, int nh) {
    float[] cache = random(30, b * tmax * 3 * c);
    compare("cached attention", 2e-4, 2e-4, ctx -> {
      try (Tensor tc = Tensor.of(ctx, cache, b, tmax, 3L * c); Tensor out = Tensor.zeros(ctx, b, tq, c)) {
        AttentionOps.forwardCached(ctx, out, tc, t, nh);
        return out.toFloatArray();
      }
    });
  }

  // Tolerance: expf-based GELU is accurate to a few ulp: 1e-5 relative, 1e-6 absolute.
  @ParameterizedTest
  @CsvSource({"1", "7", "65", "1029"})
  void pointwiseMatchesReference(int n) {
    float[] x = random(11, n), y = random(12, n), dy = random(13, n);
    for (int i = 0; i < n; i++) {
      x[i] *= 6;
    }
    compare("gelu/add/scale n=" + n, 1e-5, 1e-6, ctx -> {
      try (Tensor tx = Tensor.of(ctx, x, n); Tensor ty = Tensor.of(ctx, y, n);
          Tensor out = Tensor.zeros(ctx, n); Tensor dx = Tensor.of(ctx, y, n);
          Tensor dout = Tensor.of(ctx, dy, n); Tensor sum = Tensor.zeros(ctx, n)) {
        PointwiseOps.geluForward(ctx, out, tx);
        PointwiseOps.geluBackward(ctx, dx, tx, dout);
        PointwiseOps.add(ctx, sum, tx, ty);
        PointwiseOps.scale(ctx, sum, 0.5f);
        float[] tanhForm = CpuConformanceTest.concat(out.toFloatArray(), dx.toFloatArray(), sum.toFloatArray());
        dx.copyFrom(y);
        PointwiseOps.geluErfForward(ctx, out, tx);
        PointwiseOps.geluErfBackward(ctx, dx, tx, dout);
        return CpuConformanceTest.concat(tanhForm, out.toFloatArray(), dx.toFloatArray());
      }
    });
  }

  // Tolerance: log-sum-exp over V <= 50257 fp32 values summed in double: 2e-5 relative + 1e-6.
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
    compare("softmax " + n + "x" + v, 2e-5, 1e-6, ctx -> {
      try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor out = Tensor.zeros(ctx, n, v);
          Tensor dout = Tensor.of(ctx, dy, n, v); Tensor dx = Tensor.zeros(ctx, n, v)) {
        SoftmaxOps.softmaxForward(ctx, out, x);
        SoftmaxOps.softmaxBackward(ctx, dx, out, dout);
        return CpuConformanceTest.concat(out.toFloatArray(), dx.toFloatArray());
      }
    });
    compare("cross entropy " + n + "x" + v, 2e-5, 1e-6, ctx -> {
      try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor tt = Tensor.ofInts(ctx, targets, n);
          Tensor lse = Tensor.zeros(ctx, n); Tensor losses = Tensor.zeros(ctx, n)) {
        SoftmaxOps.Loss loss = SoftmaxOps.crossEntropyForward(ctx, losses, lse, x, tt);
        SoftmaxOps.crossEntropyBackward(ctx, x, x, lse, tt, 1f, loss.count()); // in place
        return CpuConformanceTest.concat(
            new float[] {loss.mean(), loss.count()}, losses.toFloatArray(), x.toFloatArray());
      }
    });
  }

  // Tolerance: the same rows summed in row order, grouped differently: 1e-5 relative + 1e-6.
  @ParameterizedTest
  @CsvSource({"1,1,1,1", "2,7,13,5", "3,65,129,7"})
  void embeddingMatchesReference(int b, int t, int c, int v) {
    float[] wte = random(17, v * c), wpe = random(18, t * c), dy = random(19, b * t * c);
    int[] ids = randomInts(20, b * t, v);
    compare("embedding", 1e-5, 1e-6, ctx -> {
      try (Tensor tids = Tensor.ofInts(ctx, ids, b, t); Tensor twte = Tensor.of(ctx, wte, v, c);
          Tensor twpe = Tensor.of(ctx, wpe, t, c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor dout = Tensor.of(ctx, dy, b, t, c); Tensor dwte = Tensor.of(ctx, wte, v, c);
          Tensor dwpe = Tensor.of(ctx, wpe, t, c)) {
        EmbeddingOps.forward(ctx, out, tids, twte, twpe);
        EmbeddingOps.backward(ctx, dwte, dwpe, dout, tids, twte, twpe);
        return CpuConformanceTest.concat(out.toFloatArray(), dwte.toFloatArray(), dwpe.toFloatArray());
      }
    });
  }

  // Tolerance: AdamW is elementwise with sqrt and division (FMA contraction moves an ulp): 1e-6.
  @Test
  void adamwAndGradNormMatchReference() {
    float[] p = random(21, 7 + 130 + 1), g = random(22, 138);
    compare("adamw", 1e-6, 1e-7, ctx -> {
      var builder = ParameterSlab.builder().add("w", true, 7).add("m", true, 13, 10).add("b", false, 1);
      try (var params = builder.build(ctx); var grads = params.sameLayout(ctx);
          var m = params.sameLayout(ctx); var v = params.sameLayout(ctx)) {
        params.flat().copyFrom(p);
        grads.flat().copyFrom(g);
        float norm = OptimizerOps.gradNorm(ctx, grads.flat());
        for (int t = 1; t <= 3; t++) {
          OptimizerOps.adamwStep(ctx, params, grads, m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, t, 0.5f);
        }
        return CpuConformanceTest.concat(new float[] {norm}, params.flat().toFloatArray(),
            m.flat().toFloatArray(), v.flat().toFloatArray());
      }
    });
  }

  @Test
  void zeroSizedInputsAreNoOps() {
    try (Tensor a = Tensor.zeros(gpu, 0, 5); Tensor b = Tensor.zeros(gpu, 5, 3);
        Tensor c = Tensor.zeros(gpu, 0, 3)) {
      GemmOps.sgemm(gpu, false, false, 1f, a, b, 0f, c);
      gpu.synchronize();
      assertEquals(0, c.numel());
    }
  }
}
