package dev.fuselm.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.LayerNormOps;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class TensorMemoryTest {
  @Test
  void tensorsCopyInAndOutAndViewsShareMemory() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        Tensor t = Tensor.of(ctx, new float[] {1, 2, 3, 4, 5, 6}, 2, 3)) {
      assertArrayEquals(new long[] {2, 3}, t.shape());
      Tensor row = t.view(3, 3);
      row.copyFrom(new float[] {7, 8, 9});
      assertArrayEquals(new float[] {1, 2, 3, 7, 8, 9}, t.toFloatArray());
      assertEquals(8f, t.getFloat(4));
      row.close(); // a view: closing it frees nothing
      assertEquals(1f, t.getFloat(0));
      assertThrows(IllegalArgumentException.class, () -> t.view(4, 3));
      assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
      assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[5]));
    }
  }

  @Test
  void parameterSlabLaysOutNamedSegments() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        ParameterSlab slab = ParameterSlab.builder().add("w", true, 2, 3).add("b", false, 3).build(ctx);
        ParameterSlab grads = slab.sameLayout(ctx)) {
      assertEquals(9, slab.size());
      slab.get("b").copyFrom(new float[] {1, 2, 3});
      assertArrayEquals(new float[] {0, 0, 0, 0, 0, 0, 1, 2, 3}, slab.flat().toFloatArray());
      assertTrue(slab.decays("w"));
      assertEquals(false, slab.decays("b"));
      assertArrayEquals(new long[] {3}, grads.get("b").shape());
      assertThrows(IllegalArgumentException.class, () -> slab.get("nope"));
      assertThrows(IllegalArgumentException.class, () -> ParameterSlab.builder().add("x", true, 1).add("x", true, 1));
    }
  }

  @Test
  void arenaReusesOneBlockAfterTheFirstStep() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU); Arena arena = new Arena(ctx, 1024)) {
      for (int step = 0; step < 3; step++) {
        Tensor a = arena.zeros(100);
        Tensor b = arena.floats(300); // overflows the first 1 KiB block on step 0
        b.copyFrom(new float[300]);
        assertEquals(0f, a.getFloat(99));
        arena.reset();
      }
      assertTrue(arena.capacity() >= 1600, "merged block holds the high-water mark");
      assertTrue(arena.highWater() >= 1600);
    }
  }

  /**
   * 10,000 forward/backward calls (linear, layer norm, attention) with per-step arena tensors keep
   * the process's resident memory flat: nothing native leaks per call.
   */
  @Test
  void tenThousandStepsDoNotGrowResidentMemory() throws Exception {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU).threads(2);
        Arena arena = new Arena(ctx, 1 << 16);
        Tensor w = Tensor.of(ctx, new float[48 * 16], 48, 16);
        Tensor gamma = Tensor.of(ctx, new float[16], 16);
        Tensor beta = Tensor.zeros(ctx, 16)) {
      long baseline = 0;
      for (int step = 0; step < 10_000; step++) {
        Tensor x = arena.floats(1, 8, 16);
        Tensor ln = arena.floats(1, 8, 16);
        Tensor mean = arena.floats(8);
        Tensor rstd = arena.floats(8);
        Tensor qkv = arena.floats(8, 48);
        Tensor out = arena.floats(1, 8, 16);
        Tensor lse = arena.floats(1, 2, 8);
        Tensor dqkv = arena.zeros(1, 8, 48);
        Tensor dx = arena.zeros(1, 8, 16);
        x.zero();
        LayerNormOps.forward(ctx, ln, mean, rstd, x, gamma, beta, 1e-5f);
        GemmOps.sgemm(ctx, false, true, 1f, ln.reshape(8, 16), w, 0f, qkv);
        AttentionOps.forward(ctx, out, lse, qkv.reshape(1, 8, 48), null, 2, true);
        AttentionOps.backward(ctx, dqkv, out, qkv.reshape(1, 8, 48), out, lse, null, 2, true);
        GemmOps.sgemm(ctx, false, false, 1f, dqkv.reshape(8, 48), w, 1f, dx.reshape(8, 16));
        LayerNormOps.backward(ctx, dx, null, null, ln, x, gamma, mean, rstd);
        arena.reset();
        if (step == 1000) {
          baseline = residentKib();
        }
      }
      long growth = residentKib() - baseline;
      // Allowance for JIT/GC noise over 9,000 steps; a leak of even 64 bytes per call would be ~3.4 MiB.
      assertTrue(growth < 2048, "resident memory grew by " + growth + " KiB over 9,000 steps");
    }
  }

  private static long residentKib() throws Exception {
    System.gc();
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }
}
