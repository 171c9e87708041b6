package dev.fuselm.train;

import dev.fuselm.io.SafeTensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The bookkeeping {@link Trainer} and {@link MlmTrainer} share around their model-specific step:
 * optimizer and schedule, step counter and loss history, the checks before an exact resume, the
 * checkpoint save (model directory + training state + loss plot) and the divergence stop. Each
 * trainer keeps only its model, its batches and its loss.
 */
final class TrainingRun implements AutoCloseable {
  /** Writes the model directory (weights carrying the given metadata, config, ...) into dir. */
  interface ModelWriter {
    void save(Path dir, Map<String, String> metadata) throws IOException;
  }

  /** Moves a batch source to a saved data position. */
  interface Seek {
    void seek(long epoch, long batch);
  }

  private final TrainConfig cfg;
  private final AdamW opt;
  private final LrSchedule schedule;
  private final Map<String, String> extraMetadata = new LinkedHashMap<>();
  private LossHistory history = new LossHistory();
  private long step;
  private long lastSaved = -1;

  /** Takes ownership of opt (closed with this run). */
  TrainingRun(TrainConfig cfg, AdamW opt) {
    this.cfg = cfg;
    this.opt = opt;
    this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmup(), cfg.steps(),
        cfg.cosine());
  }

  void putMetadata(String key, String value) {
    extraMetadata.put(key, value);
  }

  long step() {
    return step;
  }

  LossHistory history() {
    return history;
  }

  /** Sequence positions per optimizer step. */
  long tokensPerStep() {
    return (long) cfg.batch() * cfg.ctx() * cfg.gradAccum();
  }

  /** The learning rate of the next step. */
  float lr() {
    return schedule.at(step);
  }

  float gradNorm() {
    return opt.gradNorm();
  }

  /**
   * Loads the training state of dir (whose weights are already in the model), checks that it is
   * resumable by this run (weights and state from the same step, the same run metadata, not past
   * --steps), then restores the optimizer moments, data position (through seek), step and history.
   */
  void resume(Path dir, long parameterCount, String weightsFile, Map<String, String> runMetadata,
      Seek seek) throws IOException {
    TrainingState.Loaded s = TrainingState.load(dir, parameterCount);
    try (SafeTensors.Reader r = SafeTensors.open(dir.resolve(weightsFile))) {
      String modelStep = r.metadata().get("fuselm.step");
      if (modelStep != null && !modelStep.equals(Long.toString(s.step()))) {
        throw new IOException(dir + ": " + weightsFile + " is from step " + modelStep
            + " but " + TrainingState.FILE + " from step " + s.step()
            + " (a save was interrupted); cannot resume exactly");
      }
    }
    for (Map.Entry<String, String> e : runMetadata.entrySet()) {
      String was = s.metadata().get(e.getKey());
      if (was != null && !was.equals(e.getValue())) {
        String what = e.getKey().startsWith("data") ? "different data (" + e.getKey() + " was "
            + was + ", now " + e.getValue() + ")"
            : "--" + e.getKey().replace('_', '-') + " " + was + " (this run has " + e.getValue()
                + ")";
        throw new IllegalArgumentException("cannot resume exactly from " + dir
            + ": it was trained with " + what);
      }
    }
    if (s.step() > cfg.steps()) {
      throw new IllegalArgumentException(dir + " is at step " + s.step() + ", past --steps "
          + cfg.steps());
    }
    opt.firstMoment().flat().copyFrom(s.m());
    opt.secondMoment().flat().copyFrom(s.v());
    seek.seek(s.epoch(), s.batchInEpoch());
    step = s.step();
    history = s.history();
    lastSaved = step;
  }

  /** Writes the model directory (through model), the training state and loss.png into dir. */
  void save(Path dir, ModelWriter model, Map<String, String> runMetadata, long[] dataPosition)
      throws IOException {
    Map<String, String> meta = new LinkedHashMap<>(extraMetadata);
    meta.put("fuselm.step", Long.toString(step));
    model.save(dir, meta);
    Map<String, String> state = new LinkedHashMap<>(extraMetadata);
    state.putAll(runMetadata);
    TrainingState.save(dir, step, dataPosition, opt, state, history);
    LossPlot.write(dir.resolve("loss.png"), history);
    lastSaved = step;
  }

  /** Whether a step with this loss and gradient norm may update the weights. */
  static boolean finite(boolean lossFinite, float loss, float norm) {
    return lossFinite && Float.isFinite(loss) && Float.isFinite(norm);
  }

  /** The stop of step s, whose loss (lossFinite false) or gradient norm is not finite. */
  TrainingDivergedException diverged(long s, boolean lossFinite, float loss, float norm, float lr) {
    return new TrainingDivergedException(String.format(Locale.ROOT,
        "training stopped at step %d: the %s is %s (lr %.3g); the weights were not updated. %s",
        s, lossFinite ? "gradient norm" : "loss", lossFinite ? norm : loss, lr,
        lastSaved >= 0 && cfg.out() != null
            ? "The last good checkpoint is " + cfg.out() + " (step " + lastSaved + ")."
            : "No checkpoint was saved before it.")
        + " Try a lower --lr or a --clip value.");
  }

  /** Applies the optimizer update of step s and records its training loss. */
  void finishStep(long s, float lr, float norm, float loss) {
    opt.step(s, lr, norm);
    step = s;
    history.addTrain(step * tokensPerStep(), loss);
  }

  /** Records a validation loss at the current step. */
  void addVal(float loss) {
    history.addVal(step * tokensPerStep(), loss);
  }

  /** Whether the current step is an evaluation step (every --eval-every, and the last). */
  boolean evalDue() {
    return (cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || step == cfg.steps();
  }

  /** Whether the current step saves a checkpoint (with --out: every --save-every, and the last). */
  boolean saveDue() {
    return cfg.out() != null
        && ((cfg.saveEvery() > 0 && step % cfg.saveEvery() == 0) || step == cfg.steps());
  }

  @Override
  public void close() {
    opt.close();
  }
}
