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
 * @param beta1 AdamW's first-moment decay; beta2 and eps as in PyTorch's AdamW
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
    float beta1,
    float beta2,
    float eps,
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
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0)) {
      throw new IllegalArgumentException("AdamW needs betas in [0, 1) and eps > 0, got " + beta1
          + ", " + beta2 + ", " + eps);
    }
    if (!(weightDecay >= 0) || !(clip >= 0)) {
      throw new IllegalArgumentException("--weight-decay and --clip must be >= 0");
    }
    if (evalEvery < 0 || saveEvery < 0 || evalBatches < 0 || warmup < 0) {
      throw new IllegalArgumentException(
          "--eval-every, --save-every and --warmup must be >= 0");
    }
  }

  /**
   * GPT pretraining defaults in the style of nanoGPT for a small run: warmup + cosine schedule,
   * AdamW betas 0.9 / 0.95, eps 1e-8, weight decay 0.1, clip 1.
   */
  public static TrainConfig defaults(int steps, int batch, int ctx, Path out) {
    return new TrainConfig(steps, batch, ctx, ctx, 6e-4f, 6e-5f, 0, true, 0.1f, 1.0f, 0.9f, 0.95f,
        1e-8f, 1, true, 1337, 0, 0.1f, 0, 50, out);
  }

  /** BERT pretraining: as {@link #defaults} with BERT's AdamW (betas 0.9 / 0.999, eps 1e-6). */
  public static TrainConfig bertPretraining(int steps, int batch, int seqLen, Path out) {
    return defaults(steps, batch, seqLen, out).withBetas(0.9f, 0.999f, 1e-6f);
  }

  /**
   * Fine-tuning (classification, instruction): batch examples per step, a constant rate without
   * warmup, AdamW betas 0.9 / 0.999, eps 1e-8; no validation split, evaluation or checkpoints of
   * the engine's own (the tasks evaluate per epoch). ctx is 1: the loss history counts examples.
   */
  public static TrainConfig fineTuning(int steps, int batch, float lr, float weightDecay,
      float clip, long seed) {
    return new TrainConfig(steps, batch, 1, 1, lr, lr, 0, false, weightDecay, clip, 0.9f, 0.999f,
        1e-8f, 1, true, seed, 0, 0f, 0, 0, null);
  }

  public TrainConfig withLr(float lr, float minLr, int warmup, boolean cosine) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withSteps(int s) {
    return new TrainConfig(s, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withData(int stride, boolean shuffle, float valFraction, int gradAccum) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withSchedule(int evalEvery, int saveEvery, int evalBatches) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withOptimizer(float weightDecay, float clip, long seed) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withBetas(float beta1, float beta2, float eps) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, out);
  }

  public TrainConfig withOut(Path o) {
    return new TrainConfig(steps, batch, ctx, stride, lr, minLr, warmup, cosine, weightDecay, clip,
        beta1, beta2, eps, gradAccum, shuffle, seed, evalEvery, valFraction, saveEvery,
        evalBatches, o);
  }

  /** The learning-rate schedule of this run. */
  public LrSchedule schedule() {
    return new LrSchedule(lr, minLr, warmup, steps, cosine);
  }
}
