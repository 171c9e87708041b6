package dev.fuselm.ops;

import static dev.fuselm.ops.OpsTestSupport.assertClose;
import static dev.fuselm.ops.OpsTestSupport.random;
import static dev.fuselm.ops.OpsTestSupport.randomInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Java conformance case table: every op through the Java wrappers (which is what this adds over
 * native/tests/test_cases.cpp: the dimensions and leading dimensions the wrappers pass to C), on
 * every backend this machine has (the CPU backend at each ISA level and thread count of {@link
 * OpsTestSupport#cpuConfigs()}, CUDA where a device is usable, reported as skipped with the reason
 * otherwise) against the REFERENCE backend (plain loops, double accumulation), on awkward sizes.
 * One row per (op, sizes): its tolerance, CUDA's where looser, and the native ops it calls; a
 * backend without one of them ({@link Backend#supports}) skips the row.
 *
 * <p>Tolerances, |got - want| <= atol + rtol |want| (u = 2^-24): GEMM: a K-term fp32 dot product of
 * values in [-1, 1] has partial sums up to ~sqrt(K) and accumulates ~K roundings of that size, atol
 * = max(1e-4, 2 u K sqrt(K)), rtol 1e-4. Layer norm: fp32 row statistics over C <= 768, 1e-4.
 * Attention: the streaming softmax rescales partial sums in another order, 2e-4 (forward, and the
 * CPU backward); CUDA's backward sums up to 129 keys of those, 5e-4. Pointwise: the vectorised and
 * expf-based tanh/exp/erf are accurate to a few ulp, 1e-5 relative + 1e-6. Softmax and cross-entropy:
 * log-sum-exp over V <= 50257, 2e-5 + 1e-6. Embedding: the same rows summed in another grouping,
 * 1e-6 (CUDA 1e-5 relative). AdamW: elementwise with sqrt and division, 1e-6 + 1e-7.
 */
class OpConformanceTest {
  /** A backend configuration: a CPU context of {@link OpsTestSupport#cpuConfigs()} or CUDA. */
  record Config(String name, int cpuIndex) {
    boolean cuda() {
      return cpuIndex < 0;
    }

    Backend backend() {
      return cuda() ? Backend.CUDA : Backend.CPU;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** One row: (op, sizes) with its tolerance, CUDA's (where looser) and the ops it calls. */
  record Case(String name, double rtol, double atol, double gpuRtol, double gpuAtol, List<String> ops,
      Function<ComputeContext, float[]> run) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static ComputeContext ref;
  private static ComputeContext gpu;
  private static List<ComputeContext> cpus;
  private static final Map<String, float[]> WANT = new HashMap<>();

  private static synchronized List<ComputeContext> cpus() {
    if (cpus == null) {
      cpus = OpsTestSupport.cpuConfigs();
    }
    return cpus;
  }

  private static synchronized ComputeContext ref() {
    if (ref == null) {
      ref = ComputeContext.create(Backend.REFERENCE);
    }
    return ref;
  }

  @AfterAll
  static void tearDown() {
    if (cpus != null) {
      OpsTestSupport.closeAll(cpus);
      cpus = null;
    }
    if (gpu != null) {
      gpu.close();
      gpu = null;
    }
    if (ref != null) {
      ref.close();
      ref = null;
    }
    WANT.clear();
  }

  static List<Config> configs() {
    List<Config> out = new ArrayList<>();
    List<ComputeContext> c = cpus();
    for (int i = 0; i < c.size(); i++) {
      out.add(new Config("cpu isa=" + c.get(i).isa() + " threads=" + c.get(i).threads(), i));
    }
    out.add(new Config("cuda", -1));
    return out;
  }

  /** The context of a configuration; skips the calling test where CUDA cannot run. */
  private static synchronized ComputeContext open(Config config) {
    if (!config.cuda()) {
      return cpus().get(config.cpuIndex());
    }
    Assumptions.assumeTrue(Backend.CUDA.isAvailable(),
        "no CUDA device: the CUDA backend is not compiled in or no driver/GPU is present");
    if (gpu == null) {
      gpu = ComputeContext.create(Backend.CUDA);
    }
    return gpu;
  }

  static Stream<Arguments> table() {
    List<Arguments> out = new ArrayList<>();
    for (Config config : configs()) {
      for (Case c : cases()) {
        out.add(Arguments.of(config, c));
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{1} on {0}")
  @MethodSource("table")
  void matchesReference(Config config, Case c) {
    ComputeContext ctx = open(config);
    for (String op : c.ops()) {
      Assumptions.assumeTrue(config.backend().supports(op), config + " has no " + op);
    }
    float[] want;
    synchronized (WANT) {
      want = WANT.computeIfAbsent(c.name(), k -> c.run().apply(ref()));
    }
    float[] got = c.run().apply(ctx);
    ctx.synchronize();
    boolean loose = config.cuda() && c.gpuAtol() > 0;
    assertClose(c.name() + " on " + config, want, got, loose ? c.gpuRtol() : c.rtol(),
        loose ? c.gpuAtol() : c.atol());
  }

  // ---- the rows --------------------------------------------------------------------------------

  static List<Case> cases() {
    List<Case> t = new ArrayList<>();
    int[][] gemm = {{1, 1, 1, 0, 0}, {7, 63, 65, 0, 1}, {65, 7, 129, 1, 0}, {63, 129, 7, 1, 1},
        {129, 65, 63, 0, 1}, {256, 96, 200, 1, 0}, {1100, 2048, 40, 0, 1}};
    for (int[] s : gemm) {
      gemm(t, s[0], s[1], s[2], s[3] == 1, s[4] == 1);
    }
    for (int[] s : new int[][] {{1, 1}, {7, 63}, {65, 129}, {3, 768}, {300, 65}}) {
      layerNorm(t, s[0], s[1]);
    }
    // B, T, C, NH, causal, masked (plain attention) and, for dropout, the same with p = 0.25
    int[][] attn = {{1, 1, 3, 1, 1, 0}, {2, 7, 21, 3, 1, 0}, {1, 65, 12, 4, 0, 1}, {2, 63, 64, 2, 1, 1},
        {1, 129, 24, 3, 0, 0}, {2, 97, 768, 12, 1, 0}, {2, 70, 200, 2, 0, 1}};
    for (int[] s : attn) {
      attention(t, s[0], s[1], s[2], s[3], s[4] == 1, s[5] == 1, 0f);
    }
    for (int[] s : DROPOUT_SHAPES) {
      attention(t, s[0], s[1], s[2], s[3], s[4] == 1, s[5] == 1, 0.25f);
    }
    for (int[] s : new int[][] {{2, 40, 48, 2, 12, 3}, {3, 100, 128, 1, 768, 12}, {1, 1, 4, 1, 3, 1}}) {
      cachedAttention(t, s[0], s[1], s[2], s[3], s[4], s[5]);
    }
    for (int n : new int[] {1, 7, 65, 1029}) {
      pointwise(t, n);
    }
    for (int[] s : new int[][] {{1, 1}, {7, 63}, {65, 129}, {4, 50257}}) {
      softmaxAndCrossEntropy(t, s[0], s[1]);
    }
    for (int[] s : new int[][] {{1, 1, 1, 1}, {2, 7, 13, 5}, {3, 65, 129, 7}}) {
      embedding(t, s[0], s[1], s[2], s[3]);
    }
    adamw(t);
    return t;
  }

  static final int[][] DROPOUT_SHAPES = {{2, 7, 21, 3, 1, 0}, {1, 65, 12, 4, 0, 1}, {2, 63, 64, 2, 1, 1}};

  static String dims(String op, int... d) {
    StringBuilder s = new StringBuilder(op).append(' ');
    for (int i = 0; i < d.length; i++) {
      s.append(i == 0 ? "" : "x").append(d[i]);
    }
    return s.toString();
  }

  // sgemm (alpha, beta), sgemm_bias and bias_backward (pre-filled dbias: it adds)
  static void gemm(List<Case> t, int m, int n, int k, boolean ta, boolean tb) {
    float[] a = random(1, m * k), b = random(2, k * n), c0 = random(3, m * n), bias = random(4, n);
    double atol = Math.max(1e-4, 2 * 6e-8 * k * Math.sqrt(k));
    t.add(new Case(dims("sgemm", m, n, k) + " ta=" + ta + " tb=" + tb, 1e-4, atol, 0, 0,
        List.of("sgemm", "sgemm_bias", "bias_backward"), ctx -> {
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
            return concat(tc.toFloatArray(), tcb.toFloatArray(), db.toFloatArray());
          }
        }));
  }

  // forward with saved statistics, backward into pre-filled gradients, the fused residual form
  static void layerNorm(List<Case> t, int n, int c) {
    float[] x = random(5, n * c), w = random(6, c), b = random(7, c), dy = random(8, n * c);
    t.add(new Case(dims("layernorm", n, c), 1e-4, 1e-4, 0, 0,
        List.of("layernorm_forward", "layernorm_backward", "residual_layernorm_forward"), ctx -> {
          try (Tensor inp = Tensor.of(ctx, x, n, c); Tensor out = Tensor.zeros(ctx, n, c);
              Tensor tw = Tensor.of(ctx, w, c); Tensor tb = Tensor.of(ctx, b, c);
              Tensor mean = Tensor.zeros(ctx, n); Tensor rstd = Tensor.zeros(ctx, n);
              Tensor dx = Tensor.of(ctx, dy, n, c); Tensor dw = Tensor.of(ctx, w, c);
              Tensor dbias = Tensor.of(ctx, b, c); Tensor dout = Tensor.of(ctx, dy, n, c);
              Tensor res = Tensor.zeros(ctx, n, c); Tensor out2 = Tensor.zeros(ctx, n, c)) {
            LayerNormOps.forward(ctx, out, mean, rstd, inp, tw, tb, 1e-5f);
            LayerNormOps.backward(ctx, dx, dw, dbias, dout, inp, tw, mean, rstd);
            LayerNormOps.residualForward(ctx, res, out2, null, null, inp, dout, tw, tb, 1e-5f);
            return concat(out.toFloatArray(), mean.toFloatArray(), rstd.toFloatArray(),
                dx.toFloatArray(), dw.toFloatArray(), dbias.toFloatArray(), res.toFloatArray(),
                out2.toFloatArray());
          }
        }));
  }

  /** Later positions padded, more of them in later batches (batch 1 of T <= 2: every key). */
  static int[] mask(int b, int t) {
    int[] mask = new int[b * t];
    for (int i = 0; i < mask.length; i++) {
      mask[i] = (i % t) < t - (i / t) * 2 - 1 ? 1 : 0;
    }
    return mask;
  }

  /** out, lse and dqkv of one backend's forward then backward; p > 0: the dropout overloads. */
  static float[] attentionChain(ComputeContext ctx, float[] qkv, float[] dy, int[] mask, int b, int t,
      int c, int nh, boolean causal, float p) {
    try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
        Tensor lse = Tensor.zeros(ctx, b, nh, t);
        Tensor km = mask != null ? Tensor.ofInts(ctx, mask, b, t) : null;
        Tensor dq = Tensor.zeros(ctx, b, t, 3L * c); Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
      if (p > 0f) {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal, p, 99L);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal, p, 99L);
      } else {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, causal);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal);
      }
      float[] l = lse.toFloatArray();
      for (int i = 0; i < l.length; i++) {
        l[i] = Float.isInfinite(l[i]) ? -12345f : l[i]; // rows with no key: -inf on both sides
      }
      float[] r = concat(out.toFloatArray(), l, dq.toFloatArray());
      if (km != null) {
        km.close();
      }
      return r;
    }
  }

  // The chain forward -> backward on each backend's own out and lse; and (plain attention) out and
  // lse alone at the forward's tolerance, and the backward alone from the reference forward's out
  // and lse, with dqkv pre-filled (it adds).
  static void attention(List<Case> t, int b, int tt, int c, int nh, boolean causal, boolean masked,
      float p) {
    float[] qkv = random(p > 0 ? 19 : 9, b * tt * 3 * c), dy = random(p > 0 ? 20 : 10, b * tt * c);
    int[] mask = masked ? mask(b, tt) : null;
    String name = dims(p > 0 ? "attention dropout" : "attention", b, tt, c, nh)
        + (causal ? " causal" : "") + (masked ? " masked" : "");
    List<String> ops = p > 0 ? List.of("attention_forward_dropout", "attention_backward_dropout")
        : List.of("attention_forward", "attention_backward");
    t.add(new Case(name, 2e-4, 2e-4, 5e-4, 5e-4, ops,
        ctx -> attentionChain(ctx, qkv, dy, mask, b, tt, c, nh, causal, p)));
    if (p > 0) {
      return;
    }
    int outAndLse = b * tt * c + b * nh * tt;
    t.add(new Case(name + " forward", 2e-4, 2e-4, 0, 0, ops, ctx -> java.util.Arrays.copyOf(
        attentionChain(ctx, qkv, dy, mask, b, tt, c, nh, causal, p), outAndLse)));
    t.add(new Case(name + " backward", 2e-4, 2e-4, 5e-4, 5e-4, ops, ctx -> {
      float[] out0;
      float[] lse0;
      try (Tensor tq = Tensor.of(ref(), qkv, b, tt, 3L * c); Tensor out = Tensor.zeros(ref(), b, tt, c);
          Tensor lse = Tensor.zeros(ref(), b, nh, tt)) {
        Tensor km = masked ? Tensor.ofInts(ref(), mask, b, tt) : null;
        AttentionOps.forward(ref(), out, lse, tq, km, nh, causal);
        if (km != null) {
          km.close();
        }
        out0 = out.toFloatArray();
        lse0 = lse.toFloatArray();
      }
      try (Tensor tq = Tensor.of(ctx, qkv, b, tt, 3L * c); Tensor out = Tensor.of(ctx, out0, b, tt, c);
          Tensor lse = Tensor.of(ctx, lse0, b, nh, tt); Tensor dq = Tensor.of(ctx, qkv, b, tt, 3L * c);
          Tensor dout = Tensor.of(ctx, dy, b, tt, c)) {
        Tensor km = masked ? Tensor.ofInts(ctx, mask, b, tt) : null;
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, causal);
        if (km != null) {
          km.close();
        }
        return dq.toFloatArray();
      }
    }));
  }

  // at most 129 keys per query in fp32: 1e-5 on the CPU, CUDA's attention tolerance 2e-4
  static void cachedAttention(List<Case> t, int b, int tt, int tmax, int tq, int c, int nh) {
    float[] cache = random(30, b * tmax * 3 * c);
    t.add(new Case(dims("attention cached", b, tt, tmax, tq, c, nh), 1e-5, 1e-5, 2e-4, 2e-4,
        List.of("attention_forward_cached"), ctx -> {
          try (Tensor tc = Tensor.of(ctx, cache, b, tmax, 3L * c); Tensor out = Tensor.zeros(ctx, b, tq, c)) {
            AttentionOps.forwardCached(ctx, out, tc, tt, nh);
            return out.toFloatArray();
          }
        }));
  }

  static void pointwise(List<Case> t, int n) {
    float[] x = random(11, n), y = random(12, n), dy = random(13, n);
    for (int i = 0; i < n; i++) {
      x[i] *= 6; // the tails of GELU
    }
    t.add(new Case("gelu/add/scale n=" + n, 1e-5, 1e-6, 0, 0, List.of("gelu_forward", "gelu_backward",
        "gelu_erf_forward", "gelu_erf_backward", "add", "scale"), ctx -> {
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
        }));
  }

  static void softmaxAndCrossEntropy(List<Case> t, int n, int v) {
    float[] logits = random(14, n * v), dy = random(15, n * v);
    for (int i = 0; i < logits.length; i++) {
      logits[i] *= 8;
    }
    int[] targets = randomInts(16, n, v);
    if (n > 2) {
      targets[1] = SoftmaxOps.IGNORE_INDEX;
    }
    t.add(new Case(dims("softmax", n, v), 2e-5, 1e-6, 0, 0, List.of("softmax_forward", "softmax_backward"),
        ctx -> {
          try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor out = Tensor.zeros(ctx, n, v);
              Tensor dout = Tensor.of(ctx, dy, n, v); Tensor dx = Tensor.zeros(ctx, n, v)) {
            SoftmaxOps.softmaxForward(ctx, out, x);
            SoftmaxOps.softmaxBackward(ctx, dx, out, dout);
            return concat(out.toFloatArray(), dx.toFloatArray());
          }
        }));
    t.add(new Case(dims("cross entropy", n, v), 2e-5, 1e-6, 0, 0,
        List.of("cross_entropy_forward", "cross_entropy_backward"), ctx -> {
          try (Tensor x = Tensor.of(ctx, logits, n, v); Tensor tt = Tensor.ofInts(ctx, targets, n);
              Tensor lse = Tensor.zeros(ctx, n); Tensor losses = Tensor.zeros(ctx, n)) {
            SoftmaxOps.Loss loss = SoftmaxOps.crossEntropyForward(ctx, losses, lse, x, tt);
            SoftmaxOps.crossEntropyBackward(ctx, x, x, lse, tt, 1f, loss.count()); // in place
            return concat(new float[] {loss.mean(), loss.count()}, losses.toFloatArray(),
                x.toFloatArray());
          }
        }));
  }

  // gradients pre-filled (they add); few distinct ids: many repeats in the scatter-add
  static void embedding(List<Case> t, int b, int tt, int c, int v) {
    float[] wte = random(17, v * c), wpe = random(18, tt * c), dy = random(19, b * tt * c);
    int[] ids = randomInts(20, b * tt, v);
    t.add(new Case(dims("embedding", b, tt, c, v), 1e-6, 1e-6, 1e-5, 1e-6,
        List.of("embedding_forward", "embedding_backward"), ctx -> {
          try (Tensor tids = Tensor.ofInts(ctx, ids, b, tt); Tensor twte = Tensor.of(ctx, wte, v, c);
              Tensor twpe = Tensor.of(ctx, wpe, tt, c); Tensor out = Tensor.zeros(ctx, b, tt, c);
              Tensor dout = Tensor.of(ctx, dy, b, tt, c); Tensor dwte = Tensor.of(ctx, wte, v, c);
              Tensor dwpe = Tensor.of(ctx, wpe, tt, c)) {
            EmbeddingOps.forward(ctx, out, tids, twte, twpe);
            EmbeddingOps.backward(ctx, dwte, dwpe, dout, tids, twte, twpe);
            return concat(out.toFloatArray(), dwte.toFloatArray(), dwpe.toFloatArray());
          }
        }));
  }

  // gradient norm, then three AdamW steps over a slab with decayed and undecayed segments
  static void adamw(List<Case> t) {
    float[] p = random(21, 7 + 130 + 1), g = random(22, 138);
    t.add(new Case("adamw + grad norm", 1e-6, 1e-7, 0, 0, List.of("grad_norm", "adamw_step"), ctx -> {
      var builder = ParameterSlab.builder().add("w", true, 7).add("m", true, 13, 10).add("b", false, 1);
      try (var params = builder.build(ctx); var grads = params.sameLayout(ctx);
          var m = params.sameLayout(ctx); var v = params.sameLayout(ctx)) {
        params.flat().copyFrom(p);
        grads.flat().copyFrom(g);
        float norm = OptimizerOps.gradNorm(ctx, grads.flat());
        for (int s = 1; s <= 3; s++) {
          OptimizerOps.adamwStep(ctx, params, grads, m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, s, 0.5f);
        }
        return concat(new float[] {norm}, params.flat().toFloatArray(), m.flat().toFloatArray(),
            v.flat().toFloatArray());
      }
    }));
  }

  // ---- checks of something other than closeness to the reference, on every backend -----------

  static Stream<Arguments> backends() {
    return configs().stream().map(Arguments::of);
  }

  // Dropout with p = 0 is bit for bit the plain overloads (out, lse, dqkv).
  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void dropoutZeroIsPlainAttentionBitwise(Config config) {
    ComputeContext ctx = open(config);
    for (int[] s : DROPOUT_SHAPES) {
      int b = s[0], t = s[1], c = s[2], nh = s[3];
      float[] qkv = random(19, b * t * 3 * c), dy = random(20, b * t * c);
      int[] mask = s[5] == 1 ? mask(b, t) : null;
      float[] plain = attentionChain(ctx, qkv, dy, mask, b, t, c, nh, s[4] == 1, 0f);
      float[] zero;
      try (Tensor tq = Tensor.of(ctx, qkv, b, t, 3L * c); Tensor out = Tensor.zeros(ctx, b, t, c);
          Tensor lse = Tensor.zeros(ctx, b, nh, t);
          Tensor km = mask != null ? Tensor.ofInts(ctx, mask, b, t) : null;
          Tensor dq = Tensor.zeros(ctx, b, t, 3L * c); Tensor dout = Tensor.of(ctx, dy, b, t, c)) {
        AttentionOps.forward(ctx, out, lse, tq, km, nh, s[4] == 1, 0f, 99L);
        AttentionOps.backward(ctx, dq, dout, tq, out, lse, km, nh, s[4] == 1, 0f, 99L);
        float[] l = lse.toFloatArray();
        for (int i = 0; i < l.length; i++) {
          l[i] = Float.isInfinite(l[i]) ? -12345f : l[i];
        }
        zero = concat(out.toFloatArray(), l, dq.toFloatArray());
        if (km != null) {
          km.close();
        }
      }
      assertArrayEquals(plain, zero, "p = 0 on " + config + " " + dims("", s));
    }
  }

  // Decode attention over a KV cache equals the last rows of full causal attention (the reference's).
  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void cachedAttentionEqualsLastRowsOfFullAttention(Config config) {
    ComputeContext ctx = open(config);
    int b = 2, t = 40, tmax = 48, c = 12, nh = 3, tq = 2;
    float[] cache = random(30, b * tmax * 3 * c);
    float[] packed = new float[b * t * 3 * c];
    for (int bb = 0; bb < b; bb++) {
      System.arraycopy(cache, bb * tmax * 3 * c, packed, bb * t * 3 * c, t * 3 * c);
    }
    float[] want = new float[b * tq * c];
    try (Tensor qkv = Tensor.of(ref(), packed, b, t, 3L * c); Tensor out = Tensor.zeros(ref(), b, t, c);
        Tensor lse = Tensor.zeros(ref(), b, nh, t)) {
      AttentionOps.forward(ref(), out, lse, qkv, null, nh, true);
      float[] full = out.toFloatArray();
      for (int bb = 0; bb < b; bb++) {
        System.arraycopy(full, (bb * t + t - tq) * c, want, bb * tq * c, tq * c);
      }
    }
    try (Tensor tc = Tensor.of(ctx, cache, b, tmax, 3L * c); Tensor out = Tensor.zeros(ctx, b, tq, c)) {
      AttentionOps.forwardCached(ctx, out, tc, t, nh);
      // fp32 sums over at most 40 keys: 1e-5 (CUDA: its attention tolerance, 2e-4)
      double tol = config.cuda() ? 2e-4 : 1e-5;
      assertClose("cached attention on " + config, want, out.toFloatArray(), tol, tol);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backends")
  void zeroSizedInputsAreNoOps(Config config) {
    ComputeContext ctx = open(config);
    try (Tensor a = Tensor.zeros(ctx, 0, 5); Tensor b = Tensor.zeros(ctx, 5, 3);
        Tensor c = Tensor.zeros(ctx, 0, 3); Tensor e = Tensor.zeros(ctx, DType.FLOAT32, 0)) {
      GemmOps.sgemm(ctx, false, false, 1f, a, b, 0f, c);
      PointwiseOps.geluForward(ctx, e, e);
      ctx.synchronize();
      assertEquals(0, c.numel());
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
