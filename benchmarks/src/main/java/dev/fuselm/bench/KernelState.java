package dev.fuselm.bench;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.SplittableRandom;

/** Helpers shared by the kernel benchmarks. */
final class KernelState {
  private KernelState() {}

  /** A CPU context with the thread count from -Dfuselm.threads (default: all cores). */
  static ComputeContext context() {
    return ComputeContext.create(Backend.CPU).threads(Integer.getInteger("fuselm.threads", 0));
  }

  static Tensor random(ComputeContext ctx, long seed, long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    float[] x = new float[Math.toIntExact(n)];
    SplittableRandom rng = new SplittableRandom(seed);
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rng.nextDouble() * 2 - 1);
    }
    return Tensor.of(ctx, x, shape);
  }
}
