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
   * [rank * B / size, (rank + 1) * B / size) of the batch a one-process run would take, with the
   * data order unchanged, and microStep's loss and gradient are those of the share (the engine
   * averages them over the ranks). Tasks whose loss is not the plain mean over equal shares
   * refuse (the default).
   */
  default void shard(int rank, int size) {
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

  /** After step s is complete (update, log, evaluation), before a checkpoint of it is written. */
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
