package dev.fuselm.train;

import java.nio.file.Path;

/**
 * Everything a pretraining run needs besides the model and the data.
 *
 * @param steps optimizer steps counted from the start of training (a resumed run continues to it)
 * @param batch windows per micro-batch (B)
 * @param ctx tokens per window (T)
 * @param stride distance between window starts (defaults to ctx)
 * @param gradAccum micro-batches per optimizer step
 * @param valFraction the last fraction of the tokens held out for validation (0: none)
 * @param evalEvery validation every N steps (0: only at the end, if there is validation data)
 * @param saveEvery checkpoint every N steps (0: only at the end); requires out
 * @param evalBatches at most this many validation batches per evaluation (0: all)
 */
public record TrainConfig(
    int steps,
    int batch,
    int ctx,
    int stride,
    float lr,
    float minLr,
    int warmup,
    boolean cosine,
    float weightDecay,
    float clip,
    int gradAccum,
    boolean shuffle,
    long seed,
    int evalEvery,
    float valFraction,
    int saveEvery,
    int evalBatches,
    Path out) {

  public TrainConfig {
    if (steps <= 0) {
      throw new IllegalArgumentException("--steps must be positive, got " + steps);
    }
    if (batch <= 0 || ctx <= 0 || stride <= 0 || gradAccum <= 0) {
      throw new IllegalArgumentException("--batch, --ctx, --stride and --grad-accum must be"
          + " positive, got " + batch + ", " + ctx + ", " + stride + ", " + gradAccum);
    }
    if (!(valFraction >= 0 && valFraction < 1)) {
      throw new IllegalArgumentException("--val-fraction must be in [0, 1), got " + valFraction);
    }
    if (!(weightDecay >= 0) || !(clip >= 0)) {
      throw new IllegalArgumentException("--weight-decay and --clip must be >= 0");
    }
    if (evalEvery < 0 || saveEvery < 0 || evalBatches < 0 || warmup < 0) {
      throw new IllegalArgumentException(
          "--eval-every, --save-every and --warmup must be >= 0");
    }
  }

  /** Defaults in the style of nanoGPT for a small run. */
  public static TrainConfig defaults(int steps, int batch, int ctx, Path out) {
    return new TrainConfig(steps, batch, ctx, ctx, 6e-4f, 6e-5f, 0, true, 0.1f, 1.0f, 1, true, 1337,
        0, 0.1f, 0, 50, out);
  }

  public TrainConfig withLr(float lr, float minLr, int warmup, boolean cosine) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, out);
  }

  public TrainConfig withSteps(int s) {
    return new TrainConfig(s, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, out);
  }

  public TrainConfig withData(int stride, boolean shuffle, float valFraction, int gradAccum) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, out);
  }

  public TrainConfig withSchedule(int evalEvery, int saveEvery, int evalBatches) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, out);
  }

  public TrainConfig withOptimizer(float weightDecay, float clip, long seed) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, out);
  }

  public TrainConfig withOut(Path o) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery, evalBatches, o);
  }
}
