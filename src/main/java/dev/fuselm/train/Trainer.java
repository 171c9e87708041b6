package dev.fuselm.train;

import dev.fuselm.io.GptCheckpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.Dropout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The pretraining loop: sliding-window batches, gradient accumulation, AdamW with clipping, a
 * warmup + cosine (or constant) schedule, periodic validation and checkpoints, exact resume.
 *
 * <p>Everything a step depends on is a function of the saved state (weights, moments, step, data
 * position, seed), so a run interrupted at a checkpoint and resumed produces bit-for-bit the losses
 * of the uninterrupted run. A NaN or infinite loss or gradient norm stops the loop before the
 * weights are touched, with a {@link TrainingDivergedException}; the last checkpoint stays as it was.
 */
public final class Trainer implements AutoCloseable {
  /** Callbacks for progress, logging and samples; every method is optional. */
  public interface Listener {
    default void onStep(long step, float loss, float lr, float gradNorm, double tokensPerSecond) {}

    default void onEval(long step, Evaluator.Result result) {}

    default void onSave(long step, Path dir) {}
  }

  private final GptModel model;
  private final int[] tokens;
  private final TrainConfig cfg;
  private Listener listener;
  private final AdamW opt;
  private final WindowLoader loader;
  private final LrSchedule schedule;
  private final int trainEnd;
  private final long fingerprint;
  private final Map<String, String> extraMetadata = new LinkedHashMap<>();
  private LossHistory history = new LossHistory();
  private long step;
  private long lastSaved = -1;

  public Trainer(GptModel model, int[] tokens, TrainConfig cfg, Listener listener) {
    if (cfg.ctx() > model.config().contextLength()) {
      throw new IllegalArgumentException("--ctx " + cfg.ctx() + " is larger than the model's"
          + " context window of " + model.config().contextLength() + " tokens");
    }
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i] < 0 || tokens[i] >= model.config().vocabSize()) {
        throw new IllegalArgumentException("token " + i + " of the data has id " + tokens[i]
            + ", outside the model's vocabulary of " + model.config().vocabSize());
      }
    }
    this.model = model;
    this.tokens = tokens;
    this.cfg = cfg;
    this.listener = listener == null ? new Listener() {} : listener;
    int val = (int) Math.round((double) tokens.length * cfg.valFraction());
    this.trainEnd = tokens.length - val;
    if (cfg.valFraction() > 0 && val < 2) {
      throw new IllegalArgumentException("--val-fraction " + cfg.valFraction() + " of "
          + tokens.length + " tokens leaves no validation data: raise it or use 0");
    }
    this.loader = new WindowLoader(tokens, 0, trainEnd, cfg.batch(), cfg.ctx(), cfg.stride(),
        cfg.shuffle(), cfg.seed());
    this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmup(), cfg.steps(), cfg.cosine());
    this.fingerprint = TokenData.fingerprint(tokens);
    model.enableGradients();
    this.opt = new AdamW(model.context(), model.params(), model.grads(), 0.9f, 0.95f, 1e-8f,
        cfg.weightDecay(), cfg.clip());
  }

  /** Replaces the listener (null: none). */
  public void setListener(Listener l) {
    this.listener = l == null ? new Listener() {} : l;
  }

  /** Extra entries for the checkpoint metadata (for example the tokenizer used). */
  public void putMetadata(String key, String value) {
    extraMetadata.put(key, value);
  }

  public long step() {
    return step;
  }

  public LossHistory history() {
    return history;
  }

  public int trainTokens() {
    return trainEnd;
  }

  public int valTokens() {
    return tokens.length - trainEnd;
  }

  public WindowLoader loader() {
    return loader;
  }

  private Map<String, String> runMetadata() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("ctx", Integer.toString(cfg.ctx()));
    m.put("stride", Integer.toString(cfg.stride()));
    m.put("grad_accum", Integer.toString(cfg.gradAccum()));
    m.put("shuffle", Boolean.toString(cfg.shuffle()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("val_fraction", Float.toString(cfg.valFraction()));
    m.put("data_tokens", Integer.toString(tokens.length));
    m.put("data_fingerprint", Long.toHexString(fingerprint));
    return m;
  }

  /**
   * Continues from a checkpoint directory whose weights are already in the model: restores the
   * optimizer moments, step and data position, after checking that the run matches.
   */
  public void resume(Path dir) throws IOException {
    TrainingState.Loaded s = TrainingState.load(dir, model.parameterCount());
    try (SafeTensors.Reader r = SafeTensors.open(dir.resolve(GptCheckpoint.WEIGHTS))) {
      String modelStep = r.metadata().get("fuselm.step");
      if (modelStep != null && !modelStep.equals(Long.toString(s.step()))) {
        throw new IOException(dir + ": " + GptCheckpoint.WEIGHTS + " is from step " + modelStep
            + " but " + TrainingState.FILE + " from step " + s.step()
            + " (a save was interrupted); cannot resume exactly");
      }
    }
    Map<String, String> now = runMetadata();
    for (Map.Entry<String, String> e : now.entrySet()) {
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
    loader.seek(s.epoch(), s.batchInEpoch());
    step = s.step();
    history = s.history();
    lastSaved = step;
  }

  /** Writes the model directory and the training state into dir. */
  public void save(Path dir) throws IOException {
    Map<String, String> meta = new LinkedHashMap<>(extraMetadata);
    meta.put("fuselm.step", Long.toString(step));
    GptCheckpoint.save(model, dir, meta);
    Map<String, String> state = new LinkedHashMap<>(extraMetadata);
    state.putAll(runMetadata());
    TrainingState.save(dir, step, loader.position(), opt, state, history);
    LossPlot.write(dir.resolve("loss.png"), history);
    lastSaved = step;
    listener.onSave(step, dir);
  }

  /** Tokens consumed per optimizer step. */
  public long tokensPerStep() {
    return (long) cfg.batch() * cfg.ctx() * cfg.gradAccum();
  }

  /** Runs until step == cfg.steps(); returns the last training loss (NaN if no step ran). */
  public float run() throws IOException {
    int b = cfg.batch(), t = cfg.ctx();
    int[] x = new int[b * t];
    int[] y = new int[b * t];
    float last = Float.NaN;
    model.setTraining(true);
    while (step < cfg.steps()) {
      long t0 = System.nanoTime();
      long s = step + 1;
      float lr = schedule.at(step);
      model.zeroGrad();
      double lossSum = 0;
      for (int micro = 0; micro < cfg.gradAccum(); micro++) {
        loader.next(x, y);
        model.setDropoutSeed(Dropout.mixSeed(cfg.seed(), s, micro));
        float loss = model.forward(x, y, b, t);
        lossSum += loss;
        if (!Float.isFinite(loss)) {
          break;
        }
        model.backward(1f / cfg.gradAccum());
      }
      float loss = (float) (lossSum / cfg.gradAccum());
      float norm = Float.isFinite(loss) ? opt.gradNorm() : Float.NaN;
      if (!Float.isFinite(loss) || !Float.isFinite(norm)) {
        model.setTraining(false);
        throw new TrainingDivergedException(String.format(Locale.ROOT,
            "training stopped at step %d: the %s is %s (lr %.3g); the weights were not updated. %s",
            s, Float.isFinite(loss) ? "gradient norm" : "loss",
            Float.isFinite(loss) ? norm : loss, lr,
            lastSaved >= 0 && cfg.out() != null
                ? "The last good checkpoint is " + cfg.out() + " (step " + lastSaved + ")."
                : "No checkpoint was saved before it.")
            + " Try a lower --lr or a --clip value.");
      }
      opt.step(s, lr, norm);
      step = s;
      last = loss;
      double seconds = (System.nanoTime() - t0) / 1e9;
      history.addTrain(step * tokensPerStep(), loss);
      listener.onStep(step, loss, lr, norm, tokensPerStep() / seconds);
      boolean end = step == cfg.steps();
      if (valTokens() >= 2 && ((cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || end)) {
        Evaluator.Result r = evaluate();
        history.addVal(step * tokensPerStep(), (float) r.loss());
        listener.onEval(step, r);
        model.setTraining(true);
      }
      if (cfg.out() != null && ((cfg.saveEvery() > 0 && step % cfg.saveEvery() == 0) || end)) {
        save(cfg.out());
      }
    }
    model.setTraining(false);
    return last;
  }

  /** Validation loss over the held-out tokens (at most cfg.evalBatches() batches). */
  public Evaluator.Result evaluate() {
    return Evaluator.evaluate(model, tokens, trainEnd, tokens.length, cfg.batch(), cfg.ctx(),
        cfg.evalBatches());
  }

  @Override
  public void close() {
    opt.close();
  }
}
