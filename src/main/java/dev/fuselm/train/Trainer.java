package dev.fuselm.train;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.Dropout;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * GPT pretraining, the causal-LM task of the {@link TrainingEngine}: sliding-window batches of
 * next-token prediction over a token array, validation on its held-out tail, and a Hugging Face
 * GPT-2 directory as checkpoint. The engine does the rest (schedule, accumulation, AdamW with
 * clipping, periodic validation and checkpoints, exact resume, divergence stop).
 *
 * <p>The run uses the model's {@link dev.fuselm.model.Precision} (set it before constructing the
 * trainer); it is recorded in the training state, and a resume with another precision is refused.
 * In bf16 precision validation runs the same bf16 forward.
 */
public final class Trainer implements TrainingTask, AutoCloseable {
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
  private final TrainingEngine engine;
  private final WindowLoader loader;
  private final int trainEnd;
  private final long fingerprint;
  private final int[] x;
  private final int[] y;
  private double lossSum;
  // data parallelism (shard): this rank's rows [shardFrom, shardFrom + shardRows) of each batch
  private BatchShare share = BatchShare.single();
  private int shardFrom;
  private int shardRows;
  private int[] xShard;
  private int[] yShard;

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
    int val = (int) Math.round((double) tokens.length * cfg.valFraction());
    this.trainEnd = tokens.length - val;
    if (cfg.valFraction() > 0 && val < 2) {
      throw new IllegalArgumentException("--val-fraction " + cfg.valFraction() + " of "
          + tokens.length + " tokens leaves no validation data: raise it or use 0");
    }
    this.loader = new WindowLoader(tokens, 0, trainEnd, cfg.batch(), cfg.ctx(), cfg.stride(),
        cfg.shuffle(), cfg.seed());
    this.fingerprint = TokenData.fingerprint(tokens);
    this.x = new int[cfg.batch() * cfg.ctx()];
    this.y = new int[cfg.batch() * cfg.ctx()];
    this.shardRows = cfg.batch();
    model.enableGradients();
    this.engine = new TrainingEngine(this, cfg, model.context());
    setListener(listener);
  }

  /** Replaces the listener (null: none). */
  public void setListener(Listener l) {
    Listener to = l == null ? new Listener() {} : l;
    this.listener = to;
    engine.setListener(new TrainingEngine.Listener() {
      @Override
      public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
        to.onStep(step, loss, lr, gradNorm, tps);
      }

      @Override
      public void onSave(long step, Path dir) {
        to.onSave(step, dir);
      }
    });
  }

  /**
   * Trains data-parallel over the group's processes (every rank calls it, after loading the
   * weights and before resume/run): see {@link TrainingEngine#distribute}.
   */
  public void distribute(ProcessGroup group) {
    engine.distribute(group);
  }

  /** How many checkpoint directories a save keeps in the output directory (default 2). */
  public void keepCheckpoints(int k) {
    engine.keepCheckpoints(k);
  }

  /** Extra entries for the checkpoint metadata (for example the tokenizer used). */
  public void putMetadata(String key, String value) {
    engine.putMetadata(key, value);
  }

  public long step() {
    return engine.step();
  }

  public LossHistory history() {
    return engine.history();
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

  @Override
  public Map<String, String> runMetadata() {
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
    engine.resume(dir);
  }

  /** Writes the model directory and the training state into dir. */
  public void save(Path dir) throws IOException {
    engine.save(dir);
  }

  /** Tokens consumed per optimizer step. */
  public long tokensPerStep() {
    return engine.tokensPerStep();
  }

  /** Runs until step == cfg.steps(); returns the last training loss (NaN if no step ran). */
  public float run() throws IOException {
    try {
      return engine.run();
    } finally {
      model.setTraining(false);
    }
  }

  /** Validation loss over the held-out tokens (at most cfg.evalBatches() batches). */
  public Evaluator.Result evaluate() {
    return Evaluator.evaluate(model, tokens, trainEnd, tokens.length, cfg.batch(), cfg.ctx(),
        cfg.evalBatches());
  }

  // ---- the causal-LM task ----

  @Override
  public ParameterSlab params() {
    return model.params();
  }

  @Override
  public ParameterSlab grads() {
    return model.grads();
  }

  @Override
  public void shard(BatchShare share) {
    this.share = share;
    shardRows = share.rows(cfg.batch());
    shardFrom = share.from(cfg.batch());
    xShard = new int[shardRows * cfg.ctx()];
    yShard = new int[shardRows * cfg.ctx()];
  }

  @Override
  public void beginStep(long s) {
    model.setTraining(true);
    model.zeroGrad();
    lossSum = 0;
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    loader.next(x, y);
    // a shard's own dropout stream (masks are a function of the element index within the batch
    // a process sees, so the ranks would otherwise repeat one another's); micro when alone
    model.setDropoutSeed(Dropout.mixSeed(cfg.seed(), s, micro * share.size() + share.rank()));
    float loss;
    if (xShard == null) {
      loss = model.forward(x, y, cfg.batch(), cfg.ctx());
      lossSum += loss;
    } else { // every rank reads the global batch (the same data order) and trains on its rows
      if (shardRows == 0) {
        return true; // a world larger than the batch: this rank adds nothing
      }
      int t = cfg.ctx();
      System.arraycopy(x, shardFrom * t, xShard, 0, shardRows * t);
      System.arraycopy(y, shardFrom * t, yShard, 0, shardRows * t);
      loss = model.forward(xShard, yShard, shardRows, t);
      // every window has ctx targets: the share of the batch's targets is the share of its rows
      double f = BatchShare.fraction(shardRows, cfg.batch());
      lossSum += loss * f;
      weight *= (float) f;
    }
    if (!Float.isFinite(loss)) {
      return false;
    }
    model.backward(weight);
    return true;
  }

  @Override
  public float stepLoss(int gradAccum) {
    return (float) (lossSum / gradAccum);
  }

  @Override
  public double[] lossTerms(int gradAccum) {
    return share.sharded() ? new double[] {lossSum / gradAccum}
        : new double[] {stepLoss(gradAccum)};
  }

  @Override
  public void afterUpdate() {
    model.weightsChanged(); // bf16 precision: the next forward rounds the new weights once
  }

  @Override
  public double evaluate(long s) {
    if (valTokens() < 2) {
      return Double.NaN;
    }
    Evaluator.Result r = evaluate();
    listener.onEval(s, r);
    model.setTraining(true);
    return r.loss();
  }

  @Override
  public long[] dataPosition() {
    return loader.position();
  }

  @Override
  public void seek(long epoch, long batch) {
    loader.seek(epoch, batch);
  }

  @Override
  public String weightsFile() {
    return Checkpoint.WEIGHTS;
  }

  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    Checkpoint.save(ModelFamily.GPT2, model, dir, metadata);
  }

  @Override
  public void close() {
    engine.close();
  }
}
