package dev.fuselm.train;

/** Learning rate per optimizer step: linear warmup, then cosine decay to a floor, or constant. */
public record LrSchedule(float maxLr, float minLr, int warmup, int totalSteps, boolean cosine) {
  public LrSchedule {
    if (!(maxLr >= 0) || !(minLr >= 0) || warmup < 0) {
      throw new IllegalArgumentException("need lr >= 0, min-lr >= 0 and warmup >= 0, got lr="
          + maxLr + " min-lr=" + minLr + " warmup=" + warmup);
    }
  }

  /** The rate of step s, counted from 0. */
  public float at(long s) {
    if (s < warmup) {
      return maxLr * (s + 1) / warmup;
    }
    if (!cosine) {
      return maxLr;
    }
    long span = Math.max(1, totalSteps - warmup);
    double progress = Math.min(1.0, (double) (s - warmup) / span);
    return (float) (minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (maxLr - minLr));
  }
}
