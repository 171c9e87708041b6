package dev.fuselm.train;

import dev.fuselm.finetune.BertClassifierCheckpoint;
import dev.fuselm.finetune.BertSequenceClassifier;
import dev.fuselm.finetune.ClassificationHead;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.BertModel;
import dev.fuselm.nn.Dropout;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.train.EpochOrder;
import dev.fuselm.train.LossHistory;
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
 * Fine-tunes a {@link BertSequenceClassifier}, the BERT classification task of the {@link
 * TrainingEngine}, with the settings, metrics and JSON log of the GPT {@link ClassifierTrainer}:
 * AdamW (no decay on biases and norms) over the head plus the encoder
 * (everything under {@code bert.}: embeddings, all layers and the pooler, as BERT fine-tuning does;
 * with trainAll false only the last layer and the pooler). The pre-training heads ({@code cls.*}),
 * if loaded, are left as they are.
 *
 * <p>The trainable tensors are mirrored in a slab of their own (head first) that the engine's
 * AdamW updates; each step copies the trainable gradients in and the updated weights back.
 */
public final class BertClassifierTrainer implements TrainingTask, AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Encoded examples with class ids. */
  public record Examples(List<BertEncoding> inputs, int[] labels) {
    public Examples {
      if (inputs.size() != labels.length) {
        throw new IllegalArgumentException(inputs.size() + " inputs but " + labels.length
            + " labels");
      }
    }

    public int size() {
      return labels.length;
    }
  }

  /** Names of the model parameters that train. */
  public static List<String> trainableNames(BertModel model, boolean trainAll) {
    String last = BertModel.PREFIX + "encoder.layer." + (model.config().numLayers() - 1) + ".";
    List<String> out = new ArrayList<>();
    for (String name : model.parameterNames()) {
      if (!name.startsWith(BertModel.PREFIX)) {
        continue; // cls.* pre-training heads
      }
      if (trainAll || name.startsWith(last) || name.startsWith(BertModel.PREFIX + "pooler.")) {
        out.add(name);
      }
    }
    return out;
  }

  /** Loss, accuracy and confusion counts of a set in evaluation mode, in batches of batch. */
  public static ClassifierTrainer.Metrics evaluate(BertSequenceClassifier clf, Examples set,
      int batch) {
    int k = clf.numLabels();
    int[][] confusion = new int[k][k];
    double lossSum = 0;
    for (int s = 0; s < set.size(); s += batch) {
      int e = Math.min(set.size(), s + batch);
      BertSequenceClassifier.Batch b = BertSequenceClassifier.collate(
          set.inputs().subList(s, e), clf.padId());
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
    return new ClassifierTrainer.Metrics(n == 0 ? Double.NaN : lossSum / n,
        n == 0 ? Double.NaN : (double) correct / n, n, confusion);
  }

  /**
   * Trains for cfg.epochs over train, logging one JSON object per epoch (training loss over the
   * epoch's batches, then train and validation loss/accuracy in evaluation mode) to log.
   */
  public static void train(BertSequenceClassifier clf, Examples train, Examples val,
      ClassifierTrainer.Config cfg, Consumer<ObjectNode> log) {
    try (BertClassifierTrainer t = new BertClassifierTrainer(clf, train, val, cfg, log)) {
      t.run();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // no checkpoints without an output directory
    }
  }

  private final BertSequenceClassifier clf;
  private final BertModel model;
  private final Examples train;
  private final Examples val;
  private final ClassifierTrainer.Config cfg;
  private final Consumer<ObjectNode> log;
  private final List<String> names;
  private final ParameterSlab p;
  private final ParameterSlab g;
  private final float[] dW;
  private final float[] dB;
  private final EpochOrder order;
  private final TrainingEngine engine;
  private double lossSum;
  private int seen;
  private double lastLoss;

  /** A run over train (validation metrics on val, which may be null); see {@link #run}. */
  public BertClassifierTrainer(BertSequenceClassifier clf, Examples train, Examples val,
      ClassifierTrainer.Config cfg, Consumer<ObjectNode> log) {
    this.clf = clf;
    this.model = clf.model();
    this.train = train;
    this.val = val;
    this.cfg = cfg;
    this.log = log;
    model.enableGradients();
    this.names = trainableNames(model, cfg.trainAll());
    int k = clf.numLabels(), c = model.config().hiddenSize();
    ParameterSlab.Builder lb = ParameterSlab.builder();
    lb.add(BertSequenceClassifier.WEIGHT, true, k, c);
    lb.add(BertSequenceClassifier.BIAS, false, k);
    for (String name : names) {
      lb.add(name, model.params().decays(name), model.params().get(name).shape());
    }
    this.p = lb.build(model.context());
    this.g = p.sameLayout(model.context());
    p.get(BertSequenceClassifier.WEIGHT).copyFrom(clf.weight());
    p.get(BertSequenceClassifier.BIAS).copyFrom(clf.bias());
    for (String name : names) {
      p.get(name).copyFrom(model.params().get(name));
    }
    this.dW = new float[k * c];
    this.dB = new float[k];
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

  public long step() {
    return engine.step();
  }

  public LossHistory history() {
    return engine.history();
  }

  /** Writes the classifier directory and the training state into dir. */
  public void save(Path dir) throws IOException {
    engine.save(dir);
  }

  /** Writes only the training state into dir, beside model files the caller saves. */
  public void saveState(Path dir) throws IOException {
    engine.saveState(dir);
  }

  /** Continues from dir's training state; the classifier must hold the weights saved with it. */
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
    model.setDropoutSeed(Dropout.mixSeed(cfg.seed(), s, 0));
    model.zeroGrad();
    Arrays.fill(dW, 0f);
    Arrays.fill(dB, 0f);
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    int[] idx = order.nextBatch();
    List<BertEncoding> seqs = new ArrayList<>();
    int[] y = new int[idx.length];
    for (int i = 0; i < idx.length; i++) {
      seqs.add(train.inputs().get(idx[i]));
      y[i] = train.labels()[idx[i]];
    }
    ClassificationHead.Result r = clf.forwardBackward(
        BertSequenceClassifier.collate(seqs, clf.padId()), y, dW, dB,
        Dropout.mixSeed(cfg.seed(), s, 0) + 1);
    lastLoss = r.loss();
    if (!Double.isFinite(r.loss())) {
      return false;
    }
    lossSum += r.loss() * y.length;
    seen += y.length;
    g.get(BertSequenceClassifier.WEIGHT).copyFrom(dW);
    g.get(BertSequenceClassifier.BIAS).copyFrom(dB);
    for (String name : names) {
      g.get(name).copyFrom(model.grads().get(name));
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
      model.params().get(name).copyFrom(p.get(name));
    }
    float[] w = p.get(BertSequenceClassifier.WEIGHT).toFloatArray();
    System.arraycopy(w, 0, clf.weight(), 0, w.length);
    float[] bb = p.get(BertSequenceClassifier.BIAS).toFloatArray();
    System.arraycopy(bb, 0, clf.bias(), 0, bb.length);
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
    n.set("train", evaluate(clf, train, cfg.batch()).toJson(clf.labels(), false));
    if (val != null && val.size() > 0) {
      n.set("validation", evaluate(clf, val, cfg.batch()).toJson(clf.labels(), false));
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
    List<int[]> flat = new ArrayList<>();
    for (BertEncoding e : train.inputs()) {
      flat.add(e.ids());
      flat.add(e.typeIds());
    }
    int[] labels = new int[flat.size()];
    for (int i = 0; i < train.size(); i++) {
      labels[2 * i] = train.labels()[i];
    }
    Map<String, String> m = new LinkedHashMap<>();
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("train_all", Boolean.toString(cfg.trainAll()));
    m.put("data_examples", Integer.toString(train.size()));
    m.put("data_fingerprint", Long.toHexString(ClassifierTrainer.fingerprint(flat, labels)));
    return m;
  }

  /** The classifier directory (model weights, head, classifier.json). */
  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    int maxLength = 0;
    boolean pairs = false;
    for (BertEncoding e : train.inputs()) {
      maxLength = Math.max(maxLength, e.ids().length);
      pairs |= Arrays.stream(e.typeIds()).anyMatch(t -> t != 0);
    }
    BertClassifierCheckpoint.save(clf, maxLength, pairs, dir, null);
  }

  @Override
  public void close() {
    engine.close();
    g.close();
    p.close();
  }
}
