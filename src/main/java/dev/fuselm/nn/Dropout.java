package dev.fuselm.nn;

import dev.fuselm.tensor.Tensor;

/**
 * Inverted dropout whose mask is a pure function of (seed, site, element index): forward and
 * backward regenerate the same mask instead of storing it, and a resumed run draws the same masks.
 *
 * <p>There is no native dropout kernel yet, so this runs on the host (a copy each way); it is meant
 * for small models. With p = 0 it is never called.
 */
public final class Dropout {
  private Dropout() {}

  /** x = x * mask / (1 - p), in place. */
  public static void apply(Tensor x, float p, long seed, long site) {
    float[] a = x.toFloatArray();
    mask(a, p, seed, site);
    x.copyFrom(a);
  }

  /** dst = src * mask / (1 - p) (the backward of {@link #apply} with the same seed and site). */
  public static void apply(Tensor dst, Tensor src, float p, long seed, long site) {
    float[] a = src.toFloatArray();
    mask(a, p, seed, site);
    dst.copyFrom(a);
  }

  static void mask(float[] a, float p, long seed, long site) {
    float scale = 1f / (1f - p);
    long base = mix(seed * 0x9E3779B97F4A7C15L + site);
    for (int i = 0; i < a.length; i++) {
      double u = (mix(base + i) >>> 11) * 0x1.0p-53;
      a[i] = u < p ? 0f : a[i] * scale;
    }
  }

  /** A per-step dropout seed from a run seed, a step and a micro-batch. */
  public static long mixSeed(long seed, long step, int micro) {
    return mix(mix(seed) + step * 0x632BE59BD9B4E019L + micro);
  }

  /** SplitMix64's finaliser: a good 64-bit hash. */
  static long mix(long z) {
    z += 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
