package dev.fuselm.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Shared helpers for op tests: random data, tolerant comparison, every CPU configuration. */
final class OpsTestSupport {
  private OpsTestSupport() {}

  static float[] random(long seed, int n) {
    SplittableRandom rng = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (rng.nextDouble() * 2 - 1);
    }
    return x;
  }

  static int[] randomInts(long seed, int n, int bound) {
    SplittableRandom rng = new SplittableRandom(seed);
    int[] x = new int[n];
    for (int i = 0; i < n; i++) {
      x[i] = rng.nextInt(bound);
    }
    return x;
  }

  /** |got - want| <= atol + rtol * |want| everywhere; the message names the first bad element. */
  static void assertClose(String what, float[] want, float[] got, double rtol, double atol) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      double diff = Math.abs((double) got[i] - want[i]);
      if (!(diff <= atol + rtol * Math.abs(want[i]))) {
        fail(what + ": element " + i + " is " + got[i] + ", expected " + want[i] + " (rtol " + rtol
            + ", atol " + atol + ")");
      }
    }
  }

  /** A CPU context per ISA level this machine supports, with 1 and 2 threads. Close them all. */
  static List<ComputeContext> cpuConfigs() {
    List<ComputeContext> out = new ArrayList<>();
    for (int isa = 0; isa <= ComputeContext.bestIsa(); isa++) {
      for (int threads : new int[] {1, 2}) {
        out.add(ComputeContext.create(Backend.CPU).isa(isa).threads(threads));
      }
    }
    return out;
  }

  static void closeAll(List<ComputeContext> contexts) {
    for (ComputeContext c : contexts) {
      c.close();
    }
  }
}
