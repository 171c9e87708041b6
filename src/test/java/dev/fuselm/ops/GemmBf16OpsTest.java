package dev.fuselm.ops;

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

/** {@link GemmOps#gemmBf16} (a and b bf16, float32 accumulation) through the Java ops layer. */
class GemmBf16OpsTest {
  private static float[] random(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  /**
   * c = alpha op(a) op(b) + beta c + bias against a Java double loop over the widened bf16 values,
   * every trans combination, the small-M (m = 3) and packed (m = 21) CPU paths and the reference
   * backend. Products of bf16 values are exact in float32, so only the float32 summation differs:
   * within (k + 6) 2^-24 (|alpha| sum |a b| + |beta c| + |bias|) (the native tests derive it).
   */
  @Test
  void matchesDoubleLoopOnWidenedValues() {
    int k = 67;
    int n = 45;
    float alpha = 0.5f;
    float beta = 2f;
    for (Backend backend : new Backend[] {Backend.CPU, Backend.REFERENCE}) {
      try (ComputeContext ctx = ComputeContext.create(backend)) {
        for (int m : new int[] {3, 21}) {
          for (boolean transA : new boolean[] {false, true}) {
            for (boolean transB : new boolean[] {false, true}) {
              long[] aShape = transA ? new long[] {k, m} : new long[] {m, k};
              long[] bShape = transB ? new long[] {n, k} : new long[] {k, n};
              try (Tensor a32 = Tensor.of(ctx, random(m * k, m), aShape);
                  Tensor b32 = Tensor.of(ctx, random(n * k, 7), bShape);
                  Tensor a = Bf16Ops.toBf16(ctx, a32);
                  Tensor b = Bf16Ops.toBf16(ctx, b32);
                  Tensor bias = Tensor.of(ctx, random(n, 9), n);
                  Tensor c = Tensor.of(ctx, random(m * n, 11), m, n)) {
                Bf16Ops.widen(ctx, a32, a); // a32, b32 now hold exactly the bf16 values
                Bf16Ops.widen(ctx, b32, b);
                float[] av = a32.toFloatArray();
                float[] bv = b32.toFloatArray();
                float[] c0 = c.toFloatArray();
                float[] biasv = bias.toFloatArray();
                GemmOps.gemmBf16(ctx, transA, transB, alpha, a, b, beta, bias, c);
                float[] got = c.toFloatArray();
                String what = backend + " m=" + m + " transA=" + transA + " transB=" + transB;
                for (int i = 0; i < m; i++) {
                  for (int j = 0; j < n; j++) {
                    double s = 0;
                    double mag = 0;
                    for (int p = 0; p < k; p++) {
                      double x = transA ? av[p * m + i] : av[i * k + p];
                      double y = transB ? bv[j * k + p] : bv[p * n + j];
                      s += x * y;
                      mag += Math.abs(x * y);
                    }
                    double want = alpha * s + beta * c0[i * n + j] + biasv[j];
                    mag = Math.abs(alpha) * mag + Math.abs(beta * c0[i * n + j]) + Math.abs(biasv[j]);
                    double tol = (k + 6) * Math.pow(2, -24) * mag;
                    assertEquals(want, got[i * n + j], tol, what + " c[" + i + "][" + j + "]");
                  }
                }
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
        Tensor a32 = Tensor.zeros(ctx, 2, 5);
        Tensor a = Bf16Ops.toBf16(ctx, a32);
        Tensor b = Tensor.zeros(ctx, DType.BFLOAT16, 5, 3);
        Tensor b32 = Tensor.zeros(ctx, 5, 3);
        Tensor bad = Tensor.zeros(ctx, DType.BFLOAT16, 6, 3);
        Tensor b3d = Tensor.zeros(ctx, DType.BFLOAT16, 5, 3, 1);
        Tensor c = Tensor.zeros(ctx, 2, 3);
        Tensor c16 = Tensor.zeros(ctx, DType.BFLOAT16, 2, 3);
        Tensor cWrong = Tensor.zeros(ctx, 3, 2);
        Tensor bias = Tensor.zeros(ctx, 4)) {
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a32, b, 0f, null, c), "gemm_bf16",
          "a is", "BFLOAT16");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b32, 0f, null, c), "gemm_bf16",
          "b is", "BFLOAT16");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, bad, 0f, null, c),
          "inner dimensions differ", "K = 5", "K = 6");
      rejects(() -> GemmOps.gemmBf16(ctx, true, false, 1f, a, b, 0f, null, c), "K = 2", "K = 5");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b3d, 0f, null, c), "2-D");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b, 0f, null, cWrong), "c has shape",
          "[2, 3]");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b, 0f, null, c16), "c is",
          "FLOAT32");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b, 0f, bias, c), "bias has shape",
          "[3]");
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, null, b, 0f, null, c), "a is null");
    }
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        ComputeContext other = ComputeContext.create(Backend.REFERENCE);
        Tensor a = Tensor.zeros(other, DType.BFLOAT16, 2, 5);
        Tensor b = Tensor.zeros(ctx, DType.BFLOAT16, 5, 3);
        Tensor c = Tensor.zeros(ctx, 2, 3)) {
      rejects(() -> GemmOps.gemmBf16(ctx, false, false, 1f, a, b, 0f, null, c), "a lives on");
    }
  }
}
