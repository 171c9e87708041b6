package dev.fuselm.train;

import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * What one kind of training supplies to the {@link TrainingEngine}: the parameters the optimizer
 * updates, its batches, loss + backward, evaluation, and the save of its model files. The engine
 * owns everything else (schedule, accumulation, clipping, the optimizer, checkpoints, resume,
 * divergence stop). Tasks: {@link Trainer} (causal LM), {@link MlmTrainer} (MLM/NSP), the
 * classification and instruction trainers in this package.
 */
public interface TrainingTask {
  /** The slab AdamW updates, and its gradients (same layout). */
  ParameterSlab params();

  ParameterSlab grads();

  /**
   * Data parallelism: from now on every micro-batch is this rank's share of the global one, rows
   * [share.from(B), share.from(B) + share.rows(B)) of the batch a one-process run would take (B
   * its rows: the last batch of an epoch may be short), with the data order unchanged. The task
   * weighs its share so that the ranks' gradients and {@link #lossTerms} <em>sum</em> to the
   * global batch's ({@link BatchShare#fraction}: its loss terms over the global batch's; a share
   * with no rows or no loss terms skips the forward and backward pass and adds zero). Dropout
   * seeds come from {@link BatchShare#dropoutSeed}. The default refuses.
   */
  default void shard(BatchShare share) {
    throw new UnsupportedOperationException("data-parallel training is not supported for "
        + getClass().getSimpleName() + " yet (train it in one process)");
  }

  /** Before the micro-batches of step s (counted from 1): training mode, zeroed gradients. */
  void beginStep(long s);

  /**
   * Forward and backward of micro-batch micro of step s, the gradient scaled by weight (1 /
   * micro-batches per step). Returns false, without a backward pass, when the loss is not finite.
   */
  boolean microStep(long s, int micro, float weight);

  /** The training loss of the step: the mean over its gradAccum micro-batches. */
  float stepLoss(int gradAccum);

  /**
   * The step's loss as terms that sum over the ranks to the global ones (one term per loss the
   * task adds up, e.g. MLM and NSP): in a data-parallel run this rank's share of each global mean
   * (its loss sums over the global counts, averaged over the micro-batches; see {@link #shard}),
   * in one process the step's loss itself. Default: {@code {stepLoss(gradAccum)}}.
   */
  default double[] lossTerms(int gradAccum) {
    return new double[] {stepLoss(gradAccum)};
  }

  /**
   * The global loss terms of the step (summed over the ranks; NaN when a rank's loss was not
   * finite), on every rank, for the task's own records (epoch means, per-term logs); returns the
   * loss the engine logs. Default: their sum.
   */
  default float globalLoss(double[] terms) {
    double sum = 0;
    for (double t : terms) {
      sum += t;
    }
    return (float) sum;
  }

  /** After the optimizer wrote params: copy them where the model reads them, mark copies stale. */
  default void afterUpdate() {}

  /**
   * A validation pass at step s (the task reports its own metrics); returns the loss to record in
   * the history, or NaN when the task has no validation data.
   */
  default double evaluate(long s) {
    return Double.NaN;
  }

  /** Whether the last step evaluates even when it is not a multiple of the evaluation interval. */
  default boolean evaluatesAtEnd() {
    return true;
  }

  /**
   * After step s is complete (update, log, evaluation), before a checkpoint of it is written: for
   * reports (epoch evaluations, logs), so in a data-parallel run only rank 0 calls it.
   */
  default void afterStep(long s) {}

  /** The next batch's position in the data, (epoch, batch in epoch): saved for resume. */
  long[] dataPosition();

  /** Moves the data to a saved position. */
  void seek(long epoch, long batch);

  /** Settings a resume must match (batch shape, data fingerprint, ...). */
  Map<String, String> runMetadata();

  /**
   * The weights file whose {@code fuselm.step} metadata must match the training state on resume,
   * or null when the task's files carry no step.
   */
  default String weightsFile() {
    return null;
  }

  /** Writes the task's model files into dir (metadata: the engine's, to put in the weights). */
  void saveModel(Path dir, Map<String, String> metadata) throws IOException;
}
