package dev.fuselm.train;

import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The one training loop, for every {@link TrainingTask}: learning-rate schedule (linear warmup,
 * then cosine or constant), gradient accumulation, AdamW with global-norm clipping, evaluation and
 * checkpoints every N steps, exact resume and the divergence stop.
 *
 * <p>Everything a step depends on is a function of the saved state (weights, moments, step, data
 * position, seed), so a run interrupted at a checkpoint and resumed produces bit for bit the
 * losses of the uninterrupted run. A NaN or infinite loss or gradient norm stops the loop before
 * the weights are touched, with a {@link TrainingDivergedException}; the last checkpoint stays.
 *
 * <p>This is the only place that constructs {@link AdamW}.
 */
public final class TrainingEngine implements AutoCloseable {
  /** Progress callbacks; every method is optional. */
  public interface Listener {
    default void onStep(long step, float loss, float lr, float gradNorm, double tokensPerSecond) {}

    default void onSave(long step, Path dir) {}
  }

  /** The training-state metadata key of a data-parallel run's process count. */
  static final String WORLD_SIZE = "world_size";

  private final TrainingTask task;
  private final TrainConfig cfg;
  private final AdamW opt;
  private final LrSchedule schedule;
  private final Map<String, String> extraMetadata = new LinkedHashMap<>();
  private Listener listener = new Listener() {};
  private LossHistory history = new LossHistory();
  private long step;
  private float lastLoss = Float.NaN;
  private long lastSaved = -1;
  private ProcessGroup group = ProcessGroup.single();
  private int keepCheckpoints = CheckpointDirectory.DEFAULT_KEEP;

  public TrainingEngine(TrainingTask task, TrainConfig cfg, ComputeContext ctx) {
    this.task = task;
    this.cfg = cfg;
    this.schedule = cfg.schedule();
    this.opt = new AdamW(ctx, task.params(), task.grads(), cfg.beta1(), cfg.beta2(), cfg.eps(),
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

  /**
   * Makes this a data-parallel run over the group's processes (every rank calls it, before
   * training and after the weights are loaded): rank 0's weights are broadcast to all, and the
   * task takes its rank's share of every global batch ({@link TrainingTask#shard}). Then every
   * step adds up the ranks' weighted gradients before clipping and AdamW, the logged loss is the
   * global mean (loss terms reduced as sums, so shards with different numbers of real tokens
   * weigh right), and only rank 0 calls the listener, evaluates, runs {@link
   * TrainingTask#afterStep} and writes checkpoints (all in {@link #run}).
   */
  public void distribute(ProcessGroup g) {
    if (step != 0 && g.size() != group.size()) {
      throw new IllegalStateException("distribute() after training has started");
    }
    this.group = g;
    if (g.size() > 1) {
      task.shard(new BatchShare(g.rank(), g.size()));
      g.broadcast(task.params(), 0);
      task.afterUpdate();
    }
  }

  /** How many checkpoint directories a save keeps in the output directory (at least 1). */
  public void keepCheckpoints(int k) {
    if (k < 1) {
      throw new IllegalArgumentException("the number of checkpoints to keep must be at least 1,"
          + " got " + k);
    }
    this.keepCheckpoints = k;
  }

  /** The processes of this run ({@link ProcessGroup#single()} unless {@link #distribute}d). */
  public ProcessGroup group() {
    return group;
  }

  public TrainConfig config() {
    return cfg;
  }

  /** Optimizer steps done (restored by {@link #resume}). */
  public long step() {
    return step;
  }

  public LossHistory history() {
    return history;
  }

  /** Sequence positions (examples, for fine-tuning) per optimizer step. */
  public long tokensPerStep() {
    return (long) cfg.batch() * cfg.ctx() * cfg.gradAccum();
  }

  /** Runs until step == cfg.steps(); returns the last training loss (NaN if no step ran). */
  public float run() throws IOException {
    return run(cfg.steps());
  }

  /**
   * Runs until step == until (at most cfg.steps(); the schedule still spans cfg.steps()), with
   * evaluation and checkpoints as configured; returns the last training loss (NaN if none ran).
   */
  public float run(long until) throws IOException {
    long end = Math.min(until, cfg.steps());
    float last = Float.NaN;
    if (group.isLeader() && cfg.out() != null) {
      CheckpointDirectory.cleanLeftovers(cfg.out()); // what a killed save left behind
      CheckpointDirectory.finishInterruptedSave(cfg.out(), keepCheckpoints);
    }
    while (step < end) {
      long t0 = System.nanoTime();
      float lr = schedule.at(step);
      float norm = trainStep(lr);
      last = lastLoss;
      double seconds = (System.nanoTime() - t0) / 1e9;
      boolean leader = group.isLeader(); // in a data-parallel run only rank 0 reports and writes
      if (leader) {
        listener.onStep(step, last, lr, norm, tokensPerStep() / seconds);
      }
      boolean evalDue = (cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0)
          || (step == cfg.steps() && task.evaluatesAtEnd());
      if (evalDue && leader) {
        double val = task.evaluate(step);
        if (!Double.isNaN(val)) {
          history.addVal(step * tokensPerStep(), (float) val);
        }
      }
      if (leader) {
        task.afterStep(step);
      }
      if (leader && cfg.out() != null
          && ((cfg.saveEvery() > 0 && step % cfg.saveEvery() == 0) || step == cfg.steps())) {
        save(cfg.out());
      }
    }
    return last;
  }

  /**
   * One optimizer step at the scheduled rate, without evaluation or checkpoint (what {@code
   * fuselm bench train} times); returns its loss.
   */
  public float trainOneStep() {
    trainStep(schedule.at(step));
    return lastLoss;
  }

  /** One optimizer step at rate lr; returns the gradient norm (before clipping). */
  private float trainStep(float lr) {
    long s = step + 1;
    task.beginStep(s);
    boolean finite = true;
    for (int micro = 0; micro < cfg.gradAccum() && finite; micro++) {
      finite = task.microStep(s, micro, 1f / cfg.gradAccum());
    }
    // the global mean: the ranks' weighted shares summed (a non-finite loss on one rank makes it
    // non-finite on all, and every rank stops at the same step)
    double[] terms = task.lossTerms(cfg.gradAccum());
    if (!finite && group.size() > 1) {
      Arrays.fill(terms, Double.NaN);
    }
    group.allReduceSum(terms);
    float loss = task.globalLoss(terms);
    boolean lossFinite = finite && Float.isFinite(loss);
    if (lossFinite) {
      allReduceGradients(task.grads());
    }
    float norm = lossFinite ? opt.gradNorm() : Float.NaN;
    if (!lossFinite || !Float.isFinite(norm)) {
      throw diverged(s, lossFinite, loss, norm, lr);
    }
    opt.step(s, lr, norm);
    task.afterUpdate();
    step = s;
    lastLoss = loss;
    history.addTrain(step * tokensPerStep(), loss);
    return norm;
  }

  /**
   * The data-parallel step: called once per optimizer step on the whole gradient slab, after the
   * local micro-batches are complete and before the gradient norm (clipping, the divergence
   * check) and the AdamW update. A distributed run sums the slab over the ranks here in one
   * all-reduce (each rank's gradient is already weighted by its share of the global batch: {@link
   * BatchShare}; MPI for CPU gradients; NCCL for GPU ones is not built yet), so that every rank
   * clips and updates identically; a single process has nothing to do. The ranks agree on a
   * non-finite loss before it (the loss is all-reduced first), so none waits here alone.
   */
  void allReduceGradients(ParameterSlab grads) {
    group.allReduceSum(grads);
  }

  /** The stop of step s, whose loss (lossFinite false) or gradient norm is not finite. */
  private TrainingDivergedException diverged(long s, boolean lossFinite, float loss, float norm,
      float lr) {
    return new TrainingDivergedException(String.format(Locale.ROOT,
        "training stopped at step %d: the %s is %s (lr %.3g); the weights were not updated. %s",
        s, lossFinite ? "gradient norm" : "loss", lossFinite ? norm : loss, lr,
        lastSaved >= 0 && cfg.out() != null
            ? "The last good checkpoint is " + cfg.out() + " (step " + lastSaved + ")."
            : "No checkpoint was saved before it.")
        + " Try a lower --lr or a --clip value.");
  }

  /**
   * Writes a checkpoint into dir as a whole ({@link CheckpointDirectory}): the task's model files
   * (their weights carrying the step) and the training state (moments, step, data position, run
   * metadata, loss history) with loss.png go to a new {@code checkpoint-<step>/}, which then
   * becomes dir's latest; the newest {@link #keepCheckpoints} are kept.
   * In a data-parallel run only rank 0 writes: this is the one place that decides it (the other
   * ranks return at once; they hold the same weights and moments).
   */
  public void save(Path dir) throws IOException {
    if (!group.isLeader()) {
      return; // the one place: in a data-parallel run only rank 0 writes files
    }
    Map<String, String> meta = new LinkedHashMap<>(extraMetadata);
    meta.put("fuselm.step", Long.toString(step));
    CheckpointDirectory.Staged staged = CheckpointDirectory.begin(dir, step);
    try {
      task.saveModel(staged.path(), meta);
      saveState(staged.path());
      staged.commit(keepCheckpoints);
    } catch (IOException | RuntimeException e) {
      staged.abandon();
      throw e;
    }
    listener.onSave(step, dir);
  }

  /**
   * Writes only the training state and loss.png into dir (the caller saves the model files);
   * nothing on the other ranks of a data-parallel run.
   */
  public void saveState(Path dir) throws IOException {
    if (!group.isLeader()) {
      return; // only rank 0 writes (see save)
    }
    Files.createDirectories(dir);
    Map<String, String> state = new LinkedHashMap<>(extraMetadata);
    state.putAll(task.runMetadata());
    if (group.size() > 1) { // absent: one process (so single-process states stay as they were)
      state.put(WORLD_SIZE, Integer.toString(group.size()));
    }
    TrainingState.save(dir, step, task.dataPosition(), opt, state, history);
    LossPlot.write(dir.resolve("loss.png"), history);
    lastSaved = step;
  }

  /**
   * Continues from a checkpoint directory whose weights are already in the task's model: checks
   * that it is resumable by this run (weights and state from the same step, the same run
   * metadata, not past the configured steps), then restores the optimizer moments, data position,
   * step and loss history.
   */
  public void resume(Path dir) throws IOException {
    dir = CheckpointDirectory.verified(dir); // the newest complete checkpoint, its files checked
    // the settings first: a run with other settings may also have another parameter count
    Map<String, String> recorded = TrainingState.metadata(dir);
    for (Map.Entry<String, String> e : task.runMetadata().entrySet()) {
      String was = recorded.get(e.getKey());
      if (was != null && !was.equals(e.getValue())) {
        String what = e.getKey().startsWith("data") ? "different data (" + e.getKey() + " was "
            + was + ", now " + e.getValue() + ")"
            : "--" + e.getKey().replace('_', '-') + " " + was + " (this run has " + e.getValue()
                + ")";
        throw new IllegalArgumentException("cannot resume exactly from " + dir
            + ": it was trained with " + what);
      }
    }
    String wasSize = recorded.getOrDefault(WORLD_SIZE, "1");
    if (!wasSize.equals(Integer.toString(group.size()))) {
      // the data position is of the global batch, but the gradient sums of another number of
      // shares round differently: the continuation would not be the one of the original run
      throw new IllegalArgumentException("cannot resume exactly from " + dir + ": it was trained"
          + " by " + wasSize + " process" + (wasSize.equals("1") ? "" : "es") + " and this run has "
          + group.size() + "; resume it with " + wasSize);
    }
    TrainingState.Loaded s = TrainingState.load(dir, task.params().size());
    String weightsFile = task.weightsFile();
    if (weightsFile != null) {
      try (SafeTensors.Reader r = SafeTensors.open(dir.resolve(weightsFile))) {
        String modelStep = r.metadata().get("fuselm.step");
        if (modelStep != null && !modelStep.equals(Long.toString(s.step()))) {
          throw new IOException(dir + ": " + weightsFile + " is from step " + modelStep
              + " but " + TrainingState.FILE + " from step " + s.step()
              + " (a save was interrupted); cannot resume exactly");
        }
      }
    }
    if (s.step() > cfg.steps()) {
      throw new IllegalArgumentException(dir + " is at step " + s.step() + ", past the "
          + cfg.steps() + " steps of this run");
    }
    opt.firstMoment().flat().copyFrom(s.m());
    opt.secondMoment().flat().copyFrom(s.v());
    task.seek(s.epoch(), s.batchInEpoch());
    step = s.step();
    history = s.history();
    lastSaved = step;
  }

  @Override
  public void close() {
    opt.close();
  }
}
