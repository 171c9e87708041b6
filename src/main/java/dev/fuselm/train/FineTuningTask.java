package dev.fuselm.train;

import dev.fuselm.model.Backbone;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What the fine-tuning tasks (sequence classification, token classification, instruction tuning,
 * DPO) share: each owns one {@link TrainingEngine} and hands it the run, the saves, the resume and
 * the data-parallel group; and each takes its rank's share of every global batch ({@link
 * #shard}, read through {@link #share()}). A subclass builds its parameter slabs, then calls
 * {@link #startEngine} last in its constructor (the engine reads {@link #params} and {@link
 * #grads}).
 */
public abstract class FineTuningTask implements TrainingTask, AutoCloseable {
  private Backbone model;
  private TrainingEngine engine;
  private BatchShare share = BatchShare.single();

  /** Creates the run's engine over the model's context; call once, last in the constructor. */
  protected final TrainingEngine startEngine(Backbone model, TrainConfig cfg) {
    if (engine != null) {
      throw new IllegalStateException("the engine of this task is already started");
    }
    this.model = model;
    this.engine = new TrainingEngine(this, cfg, model.context());
    return engine;
  }

  /** This rank's share of every global batch ({@link BatchShare#single()} in one process). */
  protected final BatchShare share() {
    return share;
  }

  @Override
  public void shard(BatchShare share) {
    this.share = share;
  }

  /** Trains to the end of the last epoch. */
  public void run() throws IOException {
    run(Long.MAX_VALUE);
  }

  /** Trains until step == until (at most the last step of the last epoch). */
  public void run(long until) throws IOException {
    try {
      engine.run(until);
    } finally {
      model.setTraining(false);
    }
  }

  /** Optimizer steps done. */
  public long step() {
    return engine.step();
  }

  public LossHistory history() {
    return engine.history();
  }

  /** Writes the task's model files and the training state into dir, as one checkpoint. */
  public void save(Path dir) throws IOException {
    engine.save(dir);
  }

  /**
   * Trains data-parallel over the group's processes (every rank calls it, after loading the
   * weights and before resume/run): see {@link TrainingEngine#distribute}.
   */
  public void distribute(ProcessGroup group) {
    engine.distribute(group);
  }

  /** Writes only the training state into dir, beside model files the caller saves. */
  public void saveState(Path dir) throws IOException {
    engine.saveState(dir);
  }

  /**
   * Continues from dir's training state; the model (head, adapters) must already hold the weights
   * saved with it.
   */
  public void resume(Path dir) throws IOException {
    engine.resume(dir);
  }

  /** Frees the engine (its optimizer moments); a subclass frees its own slabs after this. */
  @Override
  public void close() {
    engine.close();
  }
}
