package dev.fuselm.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.FineTuningOrder;
import dev.fuselm.data.InstructionCollator;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ParameterSlab;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Instruction fine-tuning, the instruction task of the {@link TrainingEngine}: next-token loss on
 * collated prompt/response batches ({@link InstructionCollator}), training either every model
 * weight or, with trainable LoRA adapters attached to the model ({@link GptModel#addLora}), the
 * adapters alone (the base is frozen: no gradient slab, no moments, never written). Validation
 * loss is logged every evalEvery steps and after each epoch.
 */
public final class InstructionTrainer extends FineTuningTask {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Training settings; fixedLength 0 pads each batch to its longest sequence. The rate warms up
   * linearly over warmup steps, then stays constant or (cosine) decays to lr / 10.
   */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip, int warmup,
      boolean maskPrompt, int fixedLength, int evalEvery, long seed, boolean cosine) {
    public Config(int epochs, int batch, float lr, float weightDecay, float clip, int warmup,
        boolean maskPrompt, int fixedLength, int evalEvery, long seed) {
      this(epochs, batch, lr, weightDecay, clip, warmup, maskPrompt, fixedLength, evalEvery, seed,
          false);
    }

    /** The engine's settings for a run of stepsPerEpoch optimizer steps per epoch. */
    public TrainConfig trainConfig(int stepsPerEpoch) {
      return TrainConfig.fineTuning(epochs * stepsPerEpoch, batch, lr, weightDecay, clip, seed)
          .withLr(lr, lr / 10, warmup, cosine).withSchedule(evalEvery, 0, 0);
    }

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
    }
  }

  /** Mean loss per target token over a set (evaluation mode), or NaN for an empty set. */
  public static double loss(GptModel model, List<InstructionCollator.Encoded> set, int batch,
      int eot, boolean maskPrompt, int fixedLength) {
    boolean was = model.isTraining();
    model.setTraining(false);
    try {
      double sum = 0;
      long count = 0;
      for (int s = 0; s < set.size(); s += batch) {
        InstructionCollator.Batch b = InstructionCollator.collate(
            set.subList(s, Math.min(set.size(), s + batch)), eot, maskPrompt, fixedLength);
        float l = model.forward(b.inputs(), b.targets(), b.b(), b.t());
        long n = model.lastTargetCount();
        if (n > 0) {
          sum += (double) l * n;
          count += n;
        }
      }
      return count == 0 ? Double.NaN : sum / count;
    } finally {
      model.setTraining(was);
    }
  }

  /**
   * Trains model (every weight, or only its attached LoRA adapters) on train, logging JSON objects
   * to log: one per step ({@code event: step}), per evaluation and per epoch.
   */
  public static void train(GptModel model, List<InstructionCollator.Encoded> train,
      List<InstructionCollator.Encoded> val, int eot, Config cfg, Consumer<ObjectNode> log) {
    try (InstructionTrainer t = new InstructionTrainer(model, train, val, eot, cfg, log)) {
      t.run();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // no checkpoints without an output directory
    }
  }

  private final GptModel model;
  private final LoraAdapters lora;
  private final List<InstructionCollator.Encoded> train;
  private final List<InstructionCollator.Encoded> val;
  private final int eot;
  private final Config cfg;
  private final Consumer<ObjectNode> log;
  private final ParameterSlab params;
  private final ParameterSlab grads;
  private final FineTuningOrder order;
  private double lossSum;
  private long tokens;
  private float lastLoss;
  private long lastTargets; // the global batch's
  private double lastShare; // this rank's share of the step's global loss

  /** A run over train (validation loss on val); {@link #run} trains, {@link #resume} continues. */
  public InstructionTrainer(GptModel model, List<InstructionCollator.Encoded> train,
      List<InstructionCollator.Encoded> val, int eot, Config cfg, Consumer<ObjectNode> log) {
    this.model = model;
    this.lora = model.lora();
    this.train = train;
    this.val = val;
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
            .put("lr", lr).put("grad_norm", gradNorm).put("targets", lastTargets);
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
      lossSum = 0;
      tokens = 0;
    }
    model.setTraining(true);
    model.setDropoutSeed(share().dropoutSeed(cfg.seed() * 1_000_003L + s));
    grads.flat().zero();
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    List<InstructionCollator.Encoded> items = new ArrayList<>();
    for (int i : order.nextBatch()) {
      items.add(train.get(i));
    }
    InstructionCollator.Batch b = InstructionCollator.collate(items, eot, cfg.maskPrompt(),
        cfg.fixedLength());
    if (share().sharded()) {
      return shareStep(b, weight);
    }
    lastLoss = model.forward(b.inputs(), b.targets(), b.b(), b.t());
    if (!Float.isFinite(lastLoss)) {
      return false;
    }
    model.backward(weight);
    lastTargets = model.lastTargetCount();
    return true;
  }

  /**
   * This rank's rows of the collated global batch (padded as the one-process run pads it),
   * weighed by their share of the batch's targets; a share without targets adds nothing.
   */
  private boolean shareStep(InstructionCollator.Batch b, float weight) {
    lastTargets = b.targetCount();
    int[] targets = share().slice(b.targets(), b.b(), b.t());
    int n = 0;
    for (int y : targets) {
      n += y == SoftmaxOps.IGNORE_INDEX ? 0 : 1;
    }
    lastShare = 0;
    if (n == 0) {
      return true;
    }
    float loss = model.forward(share().slice(b.inputs(), b.b(), b.t()), targets,
        share().rows(b.b()), b.t());
    if (!Float.isFinite(loss)) {
      lastShare = loss;
      return false;
    }
    double f = BatchShare.fraction(n, lastTargets);
    lastShare = loss * f;
    model.backward((float) (weight * f));
    return true;
  }

  @Override
  public float stepLoss(int gradAccum) {
    return lastLoss;
  }

  @Override
  public double[] lossTerms(int gradAccum) {
    return new double[] {share().sharded() ? lastShare : lastLoss};
  }

  /** The global batch's mean loss per target: the step's, and the epoch's running sums. */
  @Override
  public float globalLoss(double[] terms) {
    lastLoss = (float) terms[0];
    lossSum += (double) lastLoss * lastTargets;
    tokens += lastTargets;
    return lastLoss;
  }

  @Override
  public double evaluate(long s) {
    if (val.isEmpty()) {
      return Double.NaN;
    }
    double v = loss(model, val, cfg.batch(), eot, cfg.maskPrompt(), cfg.fixedLength());
    ObjectNode ev = JSON.createObjectNode();
    ev.put("event", "eval").put("step", s).put("val_loss", v);
    log.accept(ev);
    return v;
  }

  @Override
  public boolean evaluatesAtEnd() {
    return false; // every epoch ends with its validation loss (afterStep)
  }

  @Override
  public void afterStep(long s) {
    if (!order.epochDone()) {
      return;
    }
    ObjectNode ep = JSON.createObjectNode();
    ep.put("event", "epoch").put("epoch", order.epoch()).put("step", s)
        .put("train_loss", lossSum / Math.max(1, tokens));
    if (!val.isEmpty()) {
      ep.put("val_loss", loss(model, val, cfg.batch(), eot, cfg.maskPrompt(), cfg.fixedLength()));
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
    int[] promptLengths = new int[train.size()];
    for (InstructionCollator.Encoded e : train) {
      promptLengths[seqs.size()] = e.promptLength();
      seqs.add(e.tokens());
    }
    Map<String, String> m = new LinkedHashMap<>();
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("mask_prompt", Boolean.toString(cfg.maskPrompt()));
    m.put("max_length", Integer.toString(cfg.fixedLength()));
    m.put("lora", Boolean.toString(lora != null));
    m.put("data_examples", Integer.toString(train.size()));
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
