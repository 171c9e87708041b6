package dev.fuselm.train;

import dev.fuselm.finetune.ClassificationHead;
import dev.fuselm.finetune.ClassifierCheckpoint;
import dev.fuselm.finetune.LoraCheckpoint;
import dev.fuselm.finetune.SequenceClassifier;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.train.EpochOrder;
import dev.fuselm.train.LossHistory;
import dev.fuselm.train.TokenData;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.TrainingEngine;
import dev.fuselm.train.TrainingTask;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Fine-tunes a {@link SequenceClassifier}, the GPT classification task of the {@link
 * TrainingEngine}: the head plus the trainable part of the model (by default the last transformer
 * block and the final layer norm; everything with trainAll; with LoRA the adapters) train. Frozen
 * parameters are never written and get no backward pass below the first trainable block. Logs
 * one JSON object per epoch (training loss over the epoch's batches, then train and validation
 * loss/accuracy in evaluation mode).
 *
 * <p>The trainable tensors are mirrored in a slab of their own (head first) that the engine's
 * AdamW updates; each step copies the trainable gradients in and the updated weights back.
 */
public final class ClassifierTrainer implements TrainingTask, AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Training settings; padTo 0 pads each batch to its longest text, else to padTo tokens. The
   * rate warms up linearly over warmup steps, then stays constant or (cosine) decays to lr / 10.
   */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip,
      boolean trainAll, long seed, int padTo, int warmup, boolean cosine) {
    public Config(int epochs, int batch, float lr, float weightDecay, float clip, boolean trainAll,
        long seed) {
      this(epochs, batch, lr, weightDecay, clip, trainAll, seed, 0);
    }

    public Config(int epochs, int batch, float lr, float weightDecay, float clip, boolean trainAll,
        long seed, int padTo) {
      this(epochs, batch, lr, weightDecay, clip, trainAll, seed, padTo, 0, false);
    }

    /** The engine's settings for a run of stepsPerEpoch optimizer steps per epoch. */
    public TrainConfig trainConfig(int stepsPerEpoch) {
      return TrainConfig.fineTuning(epochs * stepsPerEpoch, batch, lr, weightDecay, clip, seed)
          .withLr(lr, lr / 10, warmup, cosine);
    }

    public Config {
      if (padTo < 0) {
        throw new IllegalArgumentException("the padding length must be >= 0, got " + padTo);
      }
      if (epochs < 1 || batch < 1) {
        throw new IllegalArgumentException("epochs and batch must be positive, got " + epochs
            + " and " + batch);
      }
      if (warmup < 0) {
        throw new IllegalArgumentException("warmup must be >= 0 steps, got " + warmup);
      }
      if (!(lr > 0) || !(weightDecay >= 0)) {
        throw new IllegalArgumentException("need lr > 0 and weight decay >= 0, got " + lr + " and "
            + weightDecay);
      }
    }

    public static Config defaults() {
      return new Config(5, 8, 5e-5f, 0.1f, 1f, false, 123);
    }
  }

  /** Tokenized examples with class ids. */
  public record Examples(List<int[]> tokens, int[] labels) {
    public Examples {
      if (tokens.size() != labels.length) {
        throw new IllegalArgumentException(tokens.size() + " sequences but " + labels.length
            + " labels");
      }
    }

    public int size() {
      return labels.length;
    }
  }

  /** Loss, accuracy and confusion counts [true][predicted] over a set. */
  public record Metrics(double loss, double accuracy, int count, int[][] confusion) {
    public ObjectNode toJson(List<String> labels, boolean perClass) {
      ObjectNode n = JSON.createObjectNode();
      n.put("loss", loss).put("accuracy", accuracy).put("count", count);
      if (perClass) {
        ObjectNode pc = n.putObject("per_class");
        for (int i = 0; i < labels.size(); i++) {
          int tp = confusion[i][i], fp = 0, fn = 0;
          for (int j = 0; j < labels.size(); j++) {
            if (j != i) {
              fp += confusion[j][i];
              fn += confusion[i][j];
            }
          }
          double p = tp + fp == 0 ? 0 : (double) tp / (tp + fp);
          double r = tp + fn == 0 ? 0 : (double) tp / (tp + fn);
          double f1 = p + r == 0 ? 0 : 2 * p * r / (p + r);
          pc.putObject(labels.get(i)).put("precision", p).put("recall", r).put("f1", f1)
              .put("support", tp + fn);
        }
        var cm = n.putArray("confusion");
        for (int[] row : confusion) {
          var a = cm.addArray();
          for (int v : row) {
            a.add(v);
          }
        }
      }
      return n;
    }
  }

  /** Names of the model parameters that train (the LM head never does). */
  public static List<String> trainableNames(GptModel model, boolean trainAll) {
    List<String> out = new ArrayList<>();
    String last = GptModel.PREFIX + "h." + (model.config().nLayer() - 1) + ".";
    for (String name : model.parameterNames()) {
      if (name.equals("lm_head.weight")) {
        continue;
      }
      if (trainAll || name.startsWith(last) || name.startsWith(GptModel.PREFIX + "ln_f.")) {
        out.add(name);
      }
    }
    return out;
  }

  /** Metrics of a set in evaluation mode, in batches of batch padded to their longest text. */
  public static Metrics evaluate(SequenceClassifier clf, Examples set, int batch) {
    return evaluate(clf, set, batch, 0);
  }

  /** Metrics of a set in evaluation mode, in batches of batch padded to padTo (0: longest). */
  public static Metrics evaluate(SequenceClassifier clf, Examples set, int batch, int padTo) {
    int k = clf.numLabels();
    int[][] confusion = new int[k][k];
    double lossSum = 0;
    for (int s = 0; s < set.size(); s += batch) {
      int e = Math.min(set.size(), s + batch);
      SequenceClassifier.Batch b = SequenceClassifier.collate(set.tokens().subList(s, e),
          clf.padId(), padTo);
      double[] p = clf.probabilities(b);
      for (int i = 0; i < b.b(); i++) {
        int y = set.labels()[s + i];
        lossSum -= Math.log(Math.max(p[i * k + y], 1e-300));
        confusion[y][ClassificationHead.argmax(p, i, k)]++;
      }
    }
    int correct = 0;
    for (int i = 0; i < k; i++) {
      correct += confusion[i][i];
    }
    int n = set.size();
    return new Metrics(n == 0 ? Double.NaN : lossSum / n, n == 0 ? Double.NaN : (double) correct / n,
        n, confusion);
  }

  /**
   * Trains for cfg.epochs over train, logging one JSON object per epoch (training loss over the
   * epoch's batches, then train and validation loss/accuracy in evaluation mode) to log.
   */
  public static void train(SequenceClassifier clf, Examples train, Examples val, Config cfg,
      Consumer<ObjectNode> log) {
    train(clf, train, val, cfg, null, log);
  }

  /**
   * As {@link #train(SequenceClassifier, Examples, Examples, Config, Consumer)}; with lora (trainable
   * adapters, attached here) the head and the adapters train and every model weight stays frozen
   * (the model gets no gradient slab; cfg.trainAll is ignored).
   */
  public static void train(SequenceClassifier clf, Examples train, Examples val, Config cfg,
      LoraAdapters lora, Consumer<ObjectNode> log) {
    try (ClassifierTrainer t = new ClassifierTrainer(clf, train, val, cfg, lora, log)) {
      t.run();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // no checkpoints without an output directory
    }
  }

  private final SequenceClassifier clf;
  private final GptModel model;
  private final Examples train;
  private final Examples val;
  private final Config cfg;
  private final LoraAdapters lora;
  private final Consumer<ObjectNode> log;
  private final int fromBlock;
  private final List<String> names;
  private final ParameterSlab source;
  private final ParameterSlab sourceGrads;
  private final ParameterSlab p;
  private final ParameterSlab g;
  private final float[] dHead;
  private final EpochOrder order;
  private final TrainingEngine engine;
  private double lossSum;
  private int seen;
  private double lastLoss;

  /**
   * A run over train (validation metrics on val, which may be null) that {@link #run} trains and
   * {@link #resume} continues; with lora (trainable adapters, attached here) only the head and the
   * adapters train.
   */
  public ClassifierTrainer(SequenceClassifier clf, Examples train, Examples val, Config cfg,
      LoraAdapters lora, Consumer<ObjectNode> log) {
    this.clf = clf;
    this.model = clf.model();
    this.train = train;
    this.val = val;
    this.cfg = cfg;
    this.lora = lora;
    this.log = log;
    int nLayer = model.config().nLayer();
    if (lora != null) {
      if (!lora.trainable()) {
        throw new IllegalArgumentException("the LoRA adapters were made without gradients");
      }
      model.setLora(lora);
      fromBlock = 0;
      names = lora.params().names();
      source = lora.params();
      sourceGrads = lora.grads();
    } else {
      model.enableGradients();
      fromBlock = cfg.trainAll() ? 0 : nLayer - 1;
      names = trainableNames(model, cfg.trainAll());
      source = model.params();
      sourceGrads = model.grads();
    }
    int k = clf.numLabels(), c = model.config().dModel();
    ParameterSlab.Builder lb = ParameterSlab.builder();
    lb.add(SequenceClassifier.HEAD, true, k, c);
    for (String name : names) {
      lb.add(name, source.decays(name), source.get(name).shape());
    }
    this.p = lb.build(model.context());
    this.g = p.sameLayout(model.context());
    p.get(SequenceClassifier.HEAD).copyFrom(clf.headWeight());
    for (String name : names) {
      p.get(name).copyFrom(source.get(name));
    }
    this.dHead = new float[k * c];
    this.order = new EpochOrder(train.size(), cfg.batch(), cfg.seed());
    this.engine = new TrainingEngine(this, cfg.trainConfig(order.batchesPerEpoch()),
        model.context());
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

  /** Writes the classifier directory (model, head, adapters) and the training state into dir. */
  public void save(Path dir) throws IOException {
    engine.save(dir);
  }

  /** Writes only the training state into dir, beside model files the caller saves. */
  public void saveState(Path dir) throws IOException {
    engine.saveState(dir);
  }

  /**
   * Continues from dir's training state; the classifier (and adapters) must already hold the
   * weights saved with it.
   */
  public void resume(Path dir) throws IOException {
    engine.resume(dir);
  }

  @Override
  public ParameterSlab params() {
    return p;
  }

  @Override
  public ParameterSlab grads() {
    return g;
  }

  @Override
  public void beginStep(long s) {
    if (order.startsEpoch()) {
      lossSum = 0;
      seen = 0;
    }
    model.setTraining(true);
    model.setDropoutSeed(cfg.seed() * 1_000_003L + s);
    model.zeroGrad();
    if (lora != null) {
      lora.zeroGrad();
    }
    Arrays.fill(dHead, 0f);
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    int[] idx = order.nextBatch();
    List<int[]> seqs = new ArrayList<>();
    int[] y = new int[idx.length];
    for (int i = 0; i < idx.length; i++) {
      seqs.add(train.tokens().get(idx[i]));
      y[i] = train.labels()[idx[i]];
    }
    ClassificationHead.Result r = clf.forwardBackward(
        SequenceClassifier.collate(seqs, clf.padId(), cfg.padTo()), y, dHead, fromBlock);
    lastLoss = r.loss();
    if (!Double.isFinite(r.loss())) {
      return false;
    }
    lossSum += r.loss() * y.length;
    seen += y.length;
    g.get(SequenceClassifier.HEAD).copyFrom(dHead);
    for (String name : names) {
      g.get(name).copyFrom(sourceGrads.get(name));
    }
    return true;
  }

  @Override
  public float stepLoss(int gradAccum) {
    return (float) lastLoss;
  }

  @Override
  public void afterUpdate() {
    for (String name : names) {
      source.get(name).copyFrom(p.get(name));
    }
    float[] w = p.get(SequenceClassifier.HEAD).toFloatArray();
    System.arraycopy(w, 0, clf.headWeight(), 0, w.length);
  }

  @Override
  public boolean evaluatesAtEnd() {
    return false; // every epoch ends with its evaluation (afterStep)
  }

  @Override
  public void afterStep(long s) {
    if (!order.epochDone()) {
      return;
    }
    model.setTraining(false);
    ObjectNode n = JSON.createObjectNode();
    n.put("event", "epoch").put("epoch", order.epoch()).put("step", s)
        .put("train_batch_loss", lossSum / seen);
    n.set("train", evaluate(clf, train, cfg.batch(), cfg.padTo()).toJson(clf.labels(), false));
    if (val != null && val.size() > 0) {
      n.set("validation",
          evaluate(clf, val, cfg.batch(), cfg.padTo()).toJson(clf.labels(), false));
    }
    log.accept(n);
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
    Map<String, String> m = new LinkedHashMap<>();
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("train_all", Boolean.toString(cfg.trainAll()));
    m.put("pad_to", Integer.toString(cfg.padTo()));
    m.put("lora", Boolean.toString(lora != null));
    m.put("data_examples", Integer.toString(train.size()));
    m.put("data_fingerprint", Long.toHexString(fingerprint(train.tokens(), train.labels())));
    return m;
  }

  /**
   * The classifier directory (model weights, head, classifier.json) and, with LoRA, the adapters
   * (unmerged: the base stays as loaded).
   */
  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    int maxLength = cfg.padTo() > 0 ? cfg.padTo() : model.config().contextLength();
    ClassifierCheckpoint.save(clf, maxLength, dir, null);
    if (lora != null) {
      LoraCheckpoint.save(lora, dir, "");
    }
  }

  /** A fingerprint of tokenized examples and their labels (a resume must see the same data). */
  static long fingerprint(List<int[]> tokens, int[] labels) {
    int n = 0;
    for (int[] t : tokens) {
      n += t.length + 2;
    }
    int[] flat = new int[n];
    int at = 0;
    for (int i = 0; i < tokens.size(); i++) {
      System.arraycopy(tokens.get(i), 0, flat, at, tokens.get(i).length);
      at += tokens.get(i).length;
      flat[at++] = -1;
      flat[at++] = labels[i];
    }
    return TokenData.fingerprint(flat);
  }

  @Override
  public void close() {
    engine.close();
    g.close();
    p.close();
  }
}
