package dev.fuselm.train;

import dev.fuselm.io.GptCheckpoint;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.Dropout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The pretraining loop: sliding-window batches, gradient accumulation, AdamW with clipping, a
 * warmup + cosine (or constant) schedule, periodic validation and checkpoints, exact resume.
 *
 * <p>Everything a step depends on is a function of the saved state (weights, moments, step, data
 * position, seed), so a run interrupted at a checkpoint and resumed produces bit-for-bit the losses
 * of the uninterrupted run. A NaN or infinite loss or gradient norm stops the loop before the
 * weights are touched, with a {@link TrainingDivergedException}; the last checkpoint stays as it was.
 *
 * <p>The run uses the model's {@link dev.fuselm.model.Precision} (set it before constructing the
 * trainer); it is recorded in the training state, and a resume with another precision is refused.
 * In bf16 precision validation runs the same bf16 forward.
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
  private final TrainingRun training;
  private final WindowLoader loader;
  private final int trainEnd;
  private final long fingerprint;

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
    this.fingerprint = TokenData.fingerprint(tokens);
    model.enableGradients();
    this.training = new TrainingRun(cfg, new AdamW(model.context(), model.params(),
        model.grads(), 0.9f, 0.95f, 1e-8f, cfg.weightDecay(), cfg.clip()));
  }

  /** Replaces the listener (null: none). */
  public void setListener(Listener l) {
    this.listener = l == null ? new Listener() {} : l;
  }

  /** Extra entries for the checkpoint metadata (for example the tokenizer used). */
  public void putMetadata(String key, String value) {
    training.putMetadata(key, value);
  }

  public long step() {
    return training.step();
  }

  public LossHistory history() {
    return training.history();
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
    m.put("precision", model.precision().label());
    return m;
  }

  /**
   * Continues from a checkpoint directory whose weights are already in the model: restores the
   * optimizer moments, step and data position, after checking that the run matches.
   */
  public void resume(Path dir) throws IOException {
    training.resume(dir, model.parameterCount(), GptCheckpoint.WEIGHTS, runMetadata(),
        loader::seek);
  }

  /** Writes the model directory and the training state into dir. */
  public void save(Path dir) throws IOException {
    training.save(dir, (d, meta) -> GptCheckpoint.save(model, d, meta), runMetadata(),
        loader.position());
    listener.onSave(training.step(), dir);
  }

  /** Tokens consumed per optimizer step. */
  public long tokensPerStep() {
    return training.tokensPerStep();
  }

  /** Runs until step == cfg.steps(); returns the last training loss (NaN if no step ran). */
  public float run() throws IOException {
    int b = cfg.batch(), t = cfg.ctx();
    int[] x = new int[b * t];
    int[] y = new int[b * t];
    float last = Float.NaN;
    model.setTraining(true);
    while (training.step() < cfg.steps()) {
      long t0 = System.nanoTime();
      long s = training.step() + 1;
      float lr = training.lr();
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
      boolean lossFinite = Float.isFinite(loss);
      float norm = lossFinite ? training.gradNorm() : Float.NaN;
      if (!TrainingRun.finite(lossFinite, loss, norm)) {
        model.setTraining(false);
        throw training.diverged(s, lossFinite, loss, norm, lr);
      }
      training.finishStep(s, lr, norm, loss);
      model.weightsChanged(); // bf16 precision: the next forward rounds the new weights once
      last = loss;
      double seconds = (System.nanoTime() - t0) / 1e9;
      listener.onStep(s, loss, lr, norm, tokensPerStep() / seconds);
      if (valTokens() >= 2 && training.evalDue()) {
        Evaluator.Result r = evaluate();
        training.addVal((float) r.loss());
        listener.onEval(s, r);
        model.setTraining(true);
      }
      if (training.saveDue()) {
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
    training.close();
  }
}
