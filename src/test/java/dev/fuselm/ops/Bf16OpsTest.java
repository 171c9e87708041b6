package dev.fuselm.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** bf16 conversions and the bf16-weight GEMM through the Java ops layer. */
class Bf16OpsTest {
  private static float[] random(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (r.nextGaussian());
    }
    return v;
  }

  private static float[] roundTrip(ComputeContext ctx, float[] x) {
    try (Tensor f = Tensor.of(ctx, x, x.length); Tensor h = Bf16Ops.toBf16(ctx, f);
        Tensor back = Tensor.zeros(ctx, x.length)) {
      assertEquals(DType.BFLOAT16, h.dtype());
      assertEquals(2L * x.length, h.bytes());
      Bf16Ops.widen(ctx, back, h);
      return back.toFloatArray();
    }
  }

  @Test
  void narrowingRoundsToNearestEven() {
    float ulp = (float) Math.pow(2, -7); // bf16 spacing at 1
    float[] x = {1f, 1f + ulp / 2, 1f + 3 * ulp / 2, 1f + ulp / 2 + 1e-6f, -2.5f, Float.MAX_VALUE,
        Float.NEGATIVE_INFINITY, Float.NaN, -0f, Float.MIN_NORMAL};
    float[] want = {1f, 1f, 1f + 2 * ulp, 1f + ulp, -2.5f, Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY, Float.NaN, -0f, Float.MIN_NORMAL};
    for (Backend b : new Backend[] {Backend.CPU, Backend.REFERENCE}) {
      try (ComputeContext ctx = ComputeContext.create(b)) {
        assertArrayEquals(want, roundTrip(ctx, x), b.toString());
      }
    }
  }

  /** c = a op(w) with w in bf16 equals sgemm with the widened w (CPU: the same bits for M <= 8). */
  @Test
  void bf16GemmEqualsSgemmOnWidenedWeights() {
    int k = 67;
    int n = 45;
    for (Backend backend : new Backend[] {Backend.CPU, Backend.REFERENCE}) {
      try (ComputeContext ctx = ComputeContext.create(backend)) {
        for (int m : new int[] {1, 3, 8, 21}) {
          for (boolean transB : new boolean[] {false, true}) {
            long[] wShape = transB ? new long[] {n, k} : new long[] {k, n};
            try (Tensor a = Tensor.of(ctx, random(m * k, m), m, k);
                Tensor w = Tensor.of(ctx, random(n * k, 7), wShape);
                Tensor w16 = Bf16Ops.toBf16(ctx, w);
                Tensor bias = Tensor.of(ctx, random(n, 9), n);
                Tensor got = Tensor.zeros(ctx, m, n); Tensor want = Tensor.zeros(ctx, m, n)) {
              Bf16Ops.widen(ctx, w, w16);
              GemmOps.sgemmBf16w(ctx, false, transB, 1f, a, w16, 0f, bias, got);
              GemmOps.sgemmBias(ctx, false, transB, a, w, bias, want);
              float[] g = got.toFloatArray();
              float[] e = want.toFloatArray();
              String what = backend + " m=" + m + " transB=" + transB;
              if (backend == Backend.CPU && m <= 8) {
                assertArrayEquals(e, g, what);
              } else {
                // the same products summed in another order: within K float roundings of the sum
                for (int i = 0; i < g.length; i++) {
                  assertEquals(e[i], g[i], 1e-5 * (1 + Math.abs(e[i])), what + " element " + i);
                }
              }
              // alpha and beta: c = 0.5 a op(w) + 2 c
              got.copyFrom(e);
              GemmOps.sgemmBf16w(ctx, false, transB, 0.5f, a, w16, 2f, null, got);
              float[] g2 = got.toFloatArray();
              float[] noBias = new float[e.length];
              GemmOps.sgemm(ctx, false, transB, 1f, a, w, 0f, want);
              float[] ab = want.toFloatArray();
              for (int i = 0; i < g2.length; i++) {
                noBias[i] = 0.5f * ab[i] + 2f * e[i];
                assertEquals(noBias[i], g2[i], 1e-5 * (1 + Math.abs(noBias[i])), what + " alpha/beta");
              }
            }
          }
        }
      }
    }
  }

  private static void rejects(Executable call, String... fragments) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
    }
  }

  @Test
  void wrongTypesAndShapesAreRejected() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        Tensor a = Tensor.zeros(ctx, 2, 5); Tensor w = Tensor.zeros(ctx, 5, 3);
        Tensor w16 = Bf16Ops.toBf16(ctx, w); Tensor bad16 = Tensor.zeros(ctx, DType.BFLOAT16, 6, 3);
        Tensor c = Tensor.zeros(ctx, 2, 3); Tensor bias = Tensor.zeros(ctx, 4)) {
      rejects(() -> GemmOps.sgemmBf16w(ctx, false, false, 1f, a, w, 0f, null, c), "sgemm_bf16w",
          "b is float32", "BFLOAT16");
      rejects(() -> GemmOps.sgemmBf16w(ctx, false, false, 1f, a, bad16, 0f, null, c), "K = 5",
          "K = 6");
      rejects(() -> GemmOps.sgemmBf16w(ctx, false, false, 1f, a, w16, 0f, bias, c), "bias");
      rejects(() -> GemmOps.sgemm(ctx, false, false, 1f, a, w16, 0f, c), "sgemm", "bfloat16");
      rejects(() -> Bf16Ops.narrow(ctx, w16, a), "f32_to_bf16", "dst");
      rejects(() -> Bf16Ops.widen(ctx, c, w), "bf16_to_f32", "src");
    }
  }
}
