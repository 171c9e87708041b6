package dev.fuselm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One Linear's bf16 mixed-precision forward and backward against a Java double implementation of
 * the same computation: inputs, weight and output gradient rounded to bf16 (nearest even), products
 * and sums in double. Products of two bf16 values are exact in float32, so the only difference left
 * is float32 accumulation: |error| <= (K + 2) 2^-24 sum|a_k b_k| per output (K terms). That bound
 * is far below bf16's rounding (2^-8 relative), so the test also asserts that the same computation
 * WITHOUT rounding is outside it: it fails if any operand (in particular dout in backward) is not
 * rounded, or if the wrong copy of an operand is used.
 */
class LinearBf16Test {
  static ComputeContext ctx;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  /** float32 to bf16 and back: round to nearest, ties to even (finite values). */
  static float bf16(float f) {
    int b = Float.floatToRawIntBits(f);
    b += 0x7FFF + ((b >>> 16) & 1);
    return Float.intBitsToFloat(b & 0xFFFF0000);
  }

  static float[] random(Random r, int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian() * scale * (1 + r.nextInt(4)));
    }
    return v;
  }

  static float[] rounded(float[] v, boolean round) {
    float[] o = v.clone();
    if (round) {
      for (int i = 0; i < o.length; i++) {
        o[i] = bf16(o[i]);
      }
    }
    return o;
  }

  /** c[i][j] = sum_k a(i, k) b(k, j) in double, and the bound sum_k |a b| (K terms). */
  record Product(double[] c, double[] abs) {}

  interface At {
    double at(int i, int k);
  }

  static Product product(int m, int n, int k, At a, At b) {
    double[] c = new double[m * n], abs = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0, sa = 0;
        for (int q = 0; q < k; q++) {
          double p = a.at(i, q) * b.at(q, j);
          s += p;
          sa += Math.abs(p);
        }
        c[i * n + j] = s;
        abs[i * n + j] = sa;
      }
    }
    return new Product(c, abs);
  }

  /**
   * Checks got against ref within the float32-accumulation bound, and that the unrounded
   * computation is outside that bound somewhere (so rounding is what the test sees).
   */
  static void check(String what, float[] got, double[] base, Product ref, Product unrounded, int k) {
    double eps = Math.ulp(1f) / 2; // 2^-24
    double worstUnrounded = 0;
    for (int i = 0; i < got.length; i++) {
      double tol = (k + 2) * eps * ref.abs[i] + (Math.ulp((float) (base[i] + ref.c[i])) + 1e-30);
      double want = base[i] + ref.c[i];
      assertEquals(want, got[i], tol, what + "[" + i + "]");
      worstUnrounded = Math.max(worstUnrounded,
          Math.abs(base[i] + unrounded.c[i] - want) / tol);
    }
    assertTrue(worstUnrounded > 10, what + ": the unrounded result is within " + worstUnrounded
        + " tolerances of the bf16 one, so the test cannot tell them apart");
  }

  @Test
  void forwardAndBackwardAreTheBf16RoundedProductsAccumulatedInFloat32() {
    int m = 7, in = 37, out = 19;
    Random r = new Random(5);
    float[] x = random(r, m * in, 1.0), w = random(r, in * out, 0.1), bias = random(r, out, 0.5);
    float[] dout = random(r, m * out, 0.01), dw0 = random(r, in * out, 0.001);
    try (Tensor wt = Tensor.of(ctx, w, in, out); Tensor bt = Tensor.of(ctx, bias, out);
        Tensor dwt = Tensor.of(ctx, dw0, in, out); Tensor dbt = Tensor.zeros(ctx, out);
        Tensor xt = Tensor.of(ctx, x, m, in); Tensor yt = Tensor.zeros(ctx, m, out);
        Tensor dyt = Tensor.of(ctx, dout, m, out); Tensor dxt = Tensor.zeros(ctx, m, in);
        Tensor x16 = Tensor.zeros(ctx, DType.BFLOAT16, m, in);
        Tensor scratch = Tensor.zeros(ctx, DType.BFLOAT16, m * out + 11);
        Tensor w16 = Bf16Ops.toBf16(ctx, wt)) {
      Linear lin = new Linear(wt, bt, dwt, dbt); // makes its own bf16 copy on first use
      lin.forward(ctx, yt, xt, x16);
      assertEquals(in * out * 2L, lin.bf16CopyBytes());
      assertArrayEquals(widened(w16), widened(lin.bf16Weight(ctx)), "the copy is bf16(weight)");
      lin.backward(ctx, dxt, dyt, xt, x16, scratch);

      double[] biasRows = new double[m * out];
      for (int i = 0; i < m * out; i++) {
        biasRows[i] = bias[i % out];
      }
      float[] xr = rounded(x, true), wr = rounded(w, true), dr = rounded(dout, true);
      // out = bf16(x) bf16(w) + bias
      check("out", yt.toFloatArray(), biasRows,
          product(m, out, in, (i, k) -> xr[i * in + k], (k, j) -> wr[k * out + j]),
          product(m, out, in, (i, k) -> x[i * in + k], (k, j) -> w[k * out + j]), in);
      // dinp = bf16(dout) bf16(w)^T (overwritten)
      check("dinp", dxt.toFloatArray(), new double[m * in],
          product(m, in, out, (i, k) -> dr[i * out + k], (k, j) -> wr[j * out + k]),
          product(m, in, out, (i, k) -> dout[i * out + k], (k, j) -> w[j * out + k]), out);
      // dweight += bf16(x)^T bf16(dout)
      double[] dwBase = new double[in * out];
      for (int i = 0; i < dwBase.length; i++) {
        dwBase[i] = dw0[i];
      }
      check("dweight", dwt.toFloatArray(), dwBase,
          product(in, out, m, (i, k) -> xr[k * in + i], (k, j) -> dr[k * out + j]),
          product(in, out, m, (i, k) -> x[k * in + i], (k, j) -> dout[k * out + j]), m);
      // dbias += column sums of the float32 dout (not rounded)
      float[] db = dbt.toFloatArray();
      for (int j = 0; j < out; j++) {
        double s = 0;
        for (int i = 0; i < m; i++) {
          s += dout[i * out + j];
        }
        assertEquals(s, db[j], 1e-6 * Math.abs(s) + 1e-9, "dbias[" + j + "]");
      }
      if (dev.fuselm.ops.GemmOps.hasGemmMixed(ctx)) {
        return; // the GEMMs rounded x themselves: no saved copy
      }
      // the saved input copy is exactly bf16(x)
      float[] back = new float[m * in];
      try (Tensor wide = Tensor.zeros(ctx, m, in)) {
        Bf16Ops.widen(ctx, wide, x16);
        back = wide.toFloatArray();
      }
      for (int i = 0; i < back.length; i++) {
        assertEquals(xr[i], back[i], 0f, "inpBf16[" + i + "]");
      }
    }
  }

  /**
   * Where the backend has GemmOps.gemmMixed (the GEMMs round float32 operands as they read them),
   * forward and backward give the bits of the sequence they replace: narrow into the bf16 scratch,
   * then GemmOps.gemmBf16 (large enough for the packed path: M > 8).
   */
  @Test
  void theRoundingGemmsGiveTheBitsOfNarrowThenGemmBf16() {
    int m = 37, in = 70, out = 45;
    Random r = new Random(8);
    float[] x = random(r, m * in, 1.0), w = random(r, in * out, 0.1), bias = random(r, out, 0.5);
    float[] dout = random(r, m * out, 0.01), dw0 = random(r, in * out, 0.001);
    try (Tensor wt = Tensor.of(ctx, w, in, out); Tensor bt = Tensor.of(ctx, bias, out);
        Tensor dwt = Tensor.of(ctx, dw0, in, out); Tensor dbt = Tensor.zeros(ctx, out);
        Tensor xt = Tensor.of(ctx, x, m, in); Tensor yt = Tensor.zeros(ctx, m, out);
        Tensor dyt = Tensor.of(ctx, dout, m, out); Tensor dxt = Tensor.zeros(ctx, m, in);
        Tensor x16 = Tensor.zeros(ctx, DType.BFLOAT16, m, in);
        Tensor d16 = Tensor.zeros(ctx, DType.BFLOAT16, m, out);
        Tensor w16 = Bf16Ops.toBf16(ctx, wt); Tensor y2 = Tensor.zeros(ctx, m, out);
        Tensor dx2 = Tensor.zeros(ctx, m, in); Tensor dw2 = Tensor.of(ctx, dw0, in, out)) {
      Linear lin = new Linear(wt, bt, dwt, dbt);
      lin.forward(ctx, yt, xt, x16);
      lin.backward(ctx, dxt, dyt, xt, x16, d16);
      Bf16Ops.narrow(ctx, x16, xt);
      Bf16Ops.narrow(ctx, d16, dyt);
      dev.fuselm.ops.GemmOps.gemmBf16(ctx, false, false, 1f, x16, w16, 0f, bt, y2);
      dev.fuselm.ops.GemmOps.gemmBf16(ctx, true, false, 1f, x16, d16, 1f, null, dw2);
      dev.fuselm.ops.GemmOps.gemmBf16(ctx, false, true, 1f, d16, w16, 0f, null, dx2);
      assertArrayEquals(y2.toFloatArray(), yt.toFloatArray(), 0f, "out");
      assertArrayEquals(dw2.toFloatArray(), dwt.toFloatArray(), 0f, "dweight");
      assertArrayEquals(dx2.toFloatArray(), dxt.toFloatArray(), 0f, "dinp");
      // and the op itself, every operand-type combination
      for (int t = 0; t < 4; t++) {
        Tensor a = (t & 1) != 0 ? d16 : dyt, b = (t & 2) != 0 ? w16 : wt;
        dev.fuselm.ops.GemmOps.gemmMixed(ctx, false, true, 0.5f, a, b, 0f, null, dxt);
        assertArrayEquals(dx2.toFloatArray(), scaled(dxt.toFloatArray(), 2f), 0f, "gemmMixed " + t);
      }
    }
  }

  static float[] scaled(float[] v, float s) {
    for (int i = 0; i < v.length; i++) {
      v[i] *= s;
    }
    return v;
  }

  static float[] widened(Tensor bf16) {
    try (Tensor wide = Tensor.zeros(ctx, bf16.shape())) {
      Bf16Ops.widen(ctx, wide, bf16);
      return wide.toFloatArray();
    }
  }

  @Test
  void theBf16CopyFollowsTheMasterOnlyAfterWeightChangedAndBf16OnlyLayersHaveNoCopy() {
    try (Tensor w = Tensor.zeros(ctx, 4, 3); Tensor x = Tensor.of(ctx, new float[] {1, 2, 3, 4,
        5, 6, 7, 8}, 2, 4); Tensor y = Tensor.zeros(ctx, 2, 3);
        Tensor x16 = Tensor.zeros(ctx, DType.BFLOAT16, 2, 4);
        Tensor w16 = Tensor.zeros(ctx, DType.BFLOAT16, 4, 3)) {
      Linear lin = new Linear(w, null, null, null);
      assertEquals(0, lin.bf16CopyBytes(), "no copy before the first bf16 use");
      lin.forward(ctx, y, x, x16);
      assertEquals(4 * 3 * 2, lin.bf16CopyBytes());
      w.copyFrom(new float[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
      lin.forwardBf16Weight(ctx, y, x);
      assertArrayEquals(new float[6], y.toFloatArray(), "stale copy until weightChanged()");
      lin.weightChanged();
      lin.forwardBf16Weight(ctx, y, x);
      assertArrayEquals(new float[] {10, 10, 10, 26, 26, 26}, y.toFloatArray());
      assertThrows(IllegalArgumentException.class,
          () -> lin.backward(ctx, null, y, x, x16, null), "a bf16 backward needs dout scratch");
      lin.releaseBf16Copy();
      assertEquals(0, lin.bf16CopyBytes());

      Linear bf16Only = new Linear(w16, null, null, null);
      bf16Only.forwardBf16Weight(ctx, y, x);
      assertArrayEquals(new float[6], y.toFloatArray());
      assertEquals(0, bf16Only.bf16CopyBytes(), "a bf16-only layer's weight is not a copy");
      bf16Only.weightChanged();
      bf16Only.releaseBf16Copy();
      assertSame(w16, bf16Only.bf16Weight(ctx), "read as it is");
    }
  }
}
