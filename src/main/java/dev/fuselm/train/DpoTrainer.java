package dev.fuselm.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.FineTuningOrder;
import dev.fuselm.data.InstructionCollator;
import dev.fuselm.data.PreferenceData;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Preference tuning with DPO, a task of the {@link TrainingEngine}: each step takes a batch of
 * pairs, runs the chosen and rejected sequences through the policy as one batch of 2B rows,
 * reduces each response's token log-probabilities ({@link DpoLoss.Reduction}) and backpropagates
 * {@link DpoLoss} against the frozen reference's log-probabilities, which are computed once
 * ({@link #referenceLogProbs}, evaluation mode) before training. Trains every weight, or only the
 * attached LoRA adapters. Logs loss, rewards, margin and reward accuracy per step, at every
 * evaluation (validation pairs) and per epoch. Data-parallel: each rank takes its pairs of every
 * global batch (padded to the global batch's length), weighed by its share of the batch's pairs
 * (the loss is their mean); the logged statistics are the global batch's.
 */
public final class DpoTrainer extends FineTuningTask {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Training settings (see {@link InstructionTrainer.Config}) plus beta and the reduction. */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip, int warmup,
      int fixedLength, int evalEvery, long seed, boolean cosine, double beta,
      DpoLoss.Reduction reduction) {
    public Config {
      if (epochs < 1 || batch < 1) {
        throw new IllegalArgumentException("epochs and batch must be positive, got " + epochs
            + " and " + batch);
      }
      if (!(lr > 0) || !(weightDecay >= 0) || !(clip >= 0) || warmup < 0 || evalEvery < 0
          || fixedLength < 0) {
        throw new IllegalArgumentException("need lr > 0, weight decay >= 0, clip >= 0, warmup >= 0,"
            + " eval-every >= 0 and max-length >= 0");
      }
      if (!(beta > 0) || Double.isInfinite(beta)) {
        throw new IllegalArgumentException("beta must be a positive number, got " + beta);
      }
    }

    /** The engine's settings for a run of stepsPerEpoch optimizer steps per epoch. */
    public TrainConfig trainConfig(int stepsPerEpoch) {
      return TrainConfig.fineTuning(epochs * stepsPerEpoch, batch, lr, weightDecay, clip, seed)
          .withLr(lr, lr / 10, warmup, cosine).withSchedule(evalEvery, 0, 0);
    }
  }

  /** The reference log-probabilities of each pair's chosen and rejected response. */
  public record Reference(double[] chosen, double[] rejected) {
    public Reference {
      if (chosen.length != rejected.length) {
        throw new IllegalArgumentException("reference log-probabilities: " + chosen.length
            + " chosen vs " + rejected.length + " rejected");
      }
    }

    Reference slice(int[] rows) {
      double[] c = new double[rows.length];
      double[] r = new double[rows.length];
      for (int i = 0; i < rows.length; i++) {
        c[i] = chosen[rows[i]];
        r[i] = rejected[rows[i]];
      }
      return new Reference(c, r);
    }
  }

  /** The model's response log-probabilities of pairs (evaluation mode, no gradient). */
  public static Reference referenceLogProbs(GptModel model, List<PreferenceData.Encoded> pairs,
      int batch, int eot, int fixedLength, DpoLoss.Reduction reduction) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      double[] c = new double[pairs.size()];
      double[] r = new double[pairs.size()];
      for (int s = 0; s < pairs.size(); s += batch) {
        List<PreferenceData.Encoded> items = pairs.subList(s, Math.min(pairs.size(), s + batch));
        double[] lp = logProbs(model, items, eot, fixedLength, reduction).logProbs;
        for (int i = 0; i < items.size(); i++) {
          c[s + i] = lp[i];
          r[s + i] = lp[items.size() + i];
        }
      }
      return new Reference(c, r);
    } finally {
      model.setTraining(was);
    }
  }

  /** The DPO statistics of the model on pairs against their reference log-probabilities. */
  public static DpoLoss.Stats evaluate(GptModel model, List<PreferenceData.Encoded> pairs,
      Reference ref, int batch, int eot, int fixedLength, double beta,
      DpoLoss.Reduction reduction) {
    Reference now = referenceLogProbs(model, pairs, batch, eot, fixedLength, reduction);
    if (pairs.isEmpty()) {
      return DpoLoss.Stats.EMPTY;
    }
    return DpoLoss.compute(now.chosen(), now.rejected(), ref.chosen(), ref.rejected(), beta)
        .stats();
  }

  private record Forward(InstructionCollator.Batch batch, double[] logProbs, int[] counts) {}

  /** One forward of the 2B rows; logProbs[i] for row i (chosen first, then rejected). */
  private static Forward logProbs(GptModel model, List<PreferenceData.Encoded> items, int eot,
      int fixedLength, DpoLoss.Reduction reduction) {
    InstructionCollator.Batch b = PreferenceData.collate(items, eot, fixedLength);
    float[] rowLosses = model.forwardRowLosses(b.inputs(), b.targets(), b.b(), b.t());
    int[] counts = new int[b.b()];
    double[] lp = DpoLoss.sequenceLogProbs(rowLosses, b.targets(), b.b(), b.t(), reduction,
        counts);
    return new Forward(b, lp, counts);
  }

  /**
   * The DPO loss of one batch of pairs (ref: their reference log-probabilities) and, when it is
   * finite, the gradient of weight * loss added into the model's gradient slab (or its adapters');
   * a non-finite loss does no backward pass and returns null gradients.
   */
  public static DpoLoss.Result lossAndBackward(GptModel model, List<PreferenceData.Encoded> items,
      Reference ref, int eot, int fixedLength, double beta, DpoLoss.Reduction reduction,
      float weight) {
    Forward f = logProbs(model, items, eot, fixedLength, reduction);
    int n = items.size();
    double[] pc = Arrays.copyOfRange(f.logProbs, 0, n);
    double[] pr = Arrays.copyOfRange(f.logProbs, n, 2 * n);
    DpoLoss.Result res = DpoLoss.compute(pc, pr, ref.chosen(), ref.rejected(), beta);
    if (!Double.isFinite(res.loss())) {
      return new DpoLoss.Result(res.stats(), null, null);
    }
    // d loss / d row loss: a response's log-probability is -(sum of its row losses) (/ count)
    int t = f.batch.t();
    float[] dRows = new float[f.batch.b() * t];
    for (int q = 0; q < 2 * n; q++) {
      double dLogProb = q < n ? res.dChosen()[q] : res.dRejected()[q - n];
      double d = -dLogProb * weight / (reduction == DpoLoss.Reduction.MEAN ? f.counts[q] : 1);
      Arrays.fill(dRows, q * t, (q + 1) * t, (float) d);
    }
    model.backwardRows(dRows);
    return res;
  }

  private final GptModel model;
  private final LoraAdapters lora;
  private final List<PreferenceData.Encoded> train;
  private final List<PreferenceData.Encoded> val;
  private final Reference trainRef;
  private final Reference valRef;
  private final int eot;
  private final Config cfg;
  private final ParameterSlab params;
  private final ParameterSlab grads;
  private final FineTuningOrder order;
  private final Consumer<ObjectNode> log;
  private DpoLoss.Stats epochStats = DpoLoss.Stats.EMPTY;
  private DpoLoss.Stats stepStats = DpoLoss.Stats.EMPTY;
  private float lastLoss;

  /**
   * A run over train (validation on val), with the reference log-probabilities of both sets
   * (from {@link #referenceLogProbs} on the reference model, before any training).
   */
  public DpoTrainer(GptModel model, List<PreferenceData.Encoded> train, Reference trainRef,
      List<PreferenceData.Encoded> val, Reference valRef, int eot, Config cfg,
      Consumer<ObjectNode> log) {
    if (trainRef.chosen().length != train.size() || valRef.chosen().length != val.size()) {
      throw new IllegalArgumentException("need one reference log-probability per pair");
    }
    this.model = model;
    this.lora = model.lora();
    this.train = train;
    this.val = val;
    this.trainRef = trainRef;
    this.valRef = valRef;
    this.eot = eot;
    this.cfg = cfg;
    this.log = log;
    if (lora != null) {
      if (!lora.trainable()) {
        throw new IllegalArgumentException("the LoRA adapters were made without gradients");
      }
      params = lora.params();
      grads = lora.grads();
    } else {
      model.enableGradients();
      params = model.params();
      grads = model.grads();
    }
    this.order = new FineTuningOrder(train.size(), cfg.batch(), cfg.seed());
    startEngine(model, cfg.trainConfig(order.batchesPerEpoch())).setListener(new TrainingEngine.Listener() {
      @Override
      public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
        ObjectNode st = JSON.createObjectNode();
        st.put("event", "step").put("epoch", order.epoch()).put("step", step).put("loss", loss)
            .put("reward_margin", stepStats.margin()).put("reward_accuracy", stepStats.accuracy())
            .put("lr", lr).put("grad_norm", gradNorm);
        log.accept(st);
      }
    });
  }

  @Override
  public ParameterSlab params() {
    return params;
  }

  @Override
  public ParameterSlab grads() {
    return grads;
  }

  @Override
  public void beginStep(long s) {
    if (order.startsEpoch()) {
      epochStats = DpoLoss.Stats.EMPTY;
    }
    stepStats = DpoLoss.Stats.EMPTY;
    model.setTraining(true);
    model.setDropoutSeed(share().dropoutSeed(cfg.seed() * 1_000_003L + s));
    grads.flat().zero();
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    int[] rows = order.nextBatch();
    int fixedLength = cfg.fixedLength();
    float w = weight;
    if (share().sharded()) { // this rank's pairs, padded as the global batch is
      if (fixedLength == 0) {
        fixedLength = longestInput(rows);
      }
      int from = share().from(rows.length), n = share().rows(rows.length);
      w = (float) (weight * BatchShare.fraction(n, rows.length));
      rows = Arrays.copyOfRange(rows, from, from + n);
      if (n == 0) { // a short last batch leaves this rank without pairs: it adds nothing
        lastLoss = 0;
        return true;
      }
    }
    List<PreferenceData.Encoded> items = new ArrayList<>(rows.length);
    for (int i : rows) {
      items.add(train.get(i));
    }
    DpoLoss.Result res = lossAndBackward(model, items, trainRef.slice(rows), eot,
        fixedLength, cfg.beta(), cfg.reduction(), w);
    lastLoss = (float) res.loss();
    if (res.dChosen() == null) {
      return false;
    }
    stepStats = stepStats.plus(res.stats());
    return true;
  }

  /** The longest input (tokens - 1) of the pairs rows, chosen or rejected. */
  private int longestInput(int[] rows) {
    int t = 0;
    for (int i : rows) {
      t = Math.max(t, Math.max(train.get(i).chosen().length, train.get(i).rejected().length) - 1);
    }
    return t;
  }

  @Override
  public float stepLoss(int gradAccum) {
    return lastLoss;
  }

  /**
   * The step's statistics as sums (loss, chosen and rejected rewards, correct pairs, pairs): over
   * the ranks they add up to the global batch's.
   */
  @Override
  public double[] lossTerms(int gradAccum) {
    return new double[] {stepStats.lossSum(), stepStats.chosenRewardSum(),
        stepStats.rejectedRewardSum(), stepStats.correct(), stepStats.pairs()};
  }

  /** The global batch's statistics: the step's (logged), the epoch's sums; returns its loss. */
  @Override
  public float globalLoss(double[] terms) {
    if (share().sharded()) {
      stepStats = new DpoLoss.Stats(terms[0], terms[1], terms[2], Math.round(terms[3]),
          Math.round(terms[4]));
      lastLoss = (float) stepStats.loss();
    }
    epochStats = epochStats.plus(stepStats);
    return lastLoss;
  }

  @Override
  public double evaluate(long s) {
    if (val.isEmpty()) {
      return Double.NaN;
    }
    DpoLoss.Stats v = evaluate(model, val, valRef, cfg.batch(), eot, cfg.fixedLength(),
        cfg.beta(), cfg.reduction());
    ObjectNode ev = JSON.createObjectNode();
    ev.put("event", "eval").put("step", s);
    put(ev, "val_", v);
    log.accept(ev);
    return v.loss();
  }

  /** loss, chosen/rejected rewards, margin and accuracy under prefix. */
  public static void put(ObjectNode n, String prefix, DpoLoss.Stats v) {
    n.put(prefix + "loss", v.loss()).put(prefix + "chosen_reward", v.chosenReward())
        .put(prefix + "rejected_reward", v.rejectedReward())
        .put(prefix + "reward_margin", v.margin()).put(prefix + "reward_accuracy", v.accuracy());
  }

  @Override
  public boolean evaluatesAtEnd() {
    return false; // every epoch ends with its validation figures (afterStep)
  }

  @Override
  public void afterStep(long s) {
    if (!order.epochDone()) {
      return;
    }
    ObjectNode ep = JSON.createObjectNode();
    ep.put("event", "epoch").put("epoch", order.epoch()).put("step", s);
    put(ep, "train_", epochStats);
    if (!val.isEmpty()) {
      put(ep, "val_", evaluate(model, val, valRef, cfg.batch(), eot, cfg.fixedLength(),
          cfg.beta(), cfg.reduction()));
    }
    log.accept(ep);
  }

  @Override
  public long[] dataPosition() {
    return order.position();
  }

  @Override
  public void seek(long epoch, long batch) {
    order.seek(epoch, batch);
  }

  @Override
  public Map<String, String> runMetadata() {
    List<int[]> seqs = new ArrayList<>();
    int[] promptLengths = new int[2 * train.size()];
    for (PreferenceData.Encoded e : train) {
      promptLengths[seqs.size()] = e.promptLength();
      seqs.add(e.chosen());
      promptLengths[seqs.size()] = e.promptLength();
      seqs.add(e.rejected());
    }
    Map<String, String> m = new LinkedHashMap<>();
    m.put("task", "dpo");
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("beta", Double.toString(cfg.beta()));
    m.put("logprob_reduction", cfg.reduction().name().toLowerCase(java.util.Locale.ROOT));
    m.put("max_length", Integer.toString(cfg.fixedLength()));
    m.put("lora", Boolean.toString(lora != null));
    m.put("data_pairs", Integer.toString(train.size()));
    m.put("data_fingerprint",
        Long.toHexString(ClassifierTrainer.fingerprint(seqs, promptLengths)));
    return m;
  }

  /** The model directory, or with LoRA the adapters (unmerged: the base stays as loaded). */
  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    if (lora == null) {
      Checkpoint.save(ModelFamily.GPT2, model, dir, Map.of("fuselm_task", "instruction-tuned"));
    } else {
      PeftAdapters.save(lora, dir, "");
    }
  }
}
