package dev.fuselm.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.FineTuningOrder;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.Backbone;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.SequenceClassificationHead;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.nn.Dropout;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tokenizer.BertEncoding;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Fine-tunes a {@link SequenceClassifier} of either family, the classification task of the {@link
 * TrainingEngine}: the head plus the trainable part of the backbone train.
 *
 * <ul>
 *   <li>GPT-2: by default the last transformer block and the final layer norm, everything with
 *       trainAll (the LM head never); with LoRA adapters attached to the model ({@link
 *       GptModel#addLora}) only the adapters, and every model weight stays frozen (no gradient
 *       slab; trainAll is ignored). Frozen blocks get no backward pass.
 *   <li>BERT: the encoder under {@code bert.} (embeddings, every layer and the pooler, as BERT
 *       fine-tuning does; with trainAll false only the last layer and the pooler), the head's
 *       dropout drawn per step. The pre-training heads ({@code cls.*}), if loaded, stay as
 *       they are.
 * </ul>
 *
 * <p>Logs one JSON object per epoch (training loss over the epoch's batches, then train and
 * validation loss/accuracy in evaluation mode). The trainable tensors are mirrored in a slab of
 * their own (head first) that the engine's AdamW updates; each step copies the trainable
 * gradients in and the updated weights back.
 */
public final class ClassifierTrainer extends FineTuningTask {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Training settings; padTo 0 pads each batch to its longest text, else to padTo tokens (token
   * sequences only). The rate warms up linearly over warmup steps, then stays constant or
   * (cosine) decays to lr / 10.
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

  /**
   * Labelled inputs: token sequences ({@link #ofTokens}, a GPT model's) or BERT encodings with
   * their token types ({@link #ofEncodings}), exactly one of the two, and a class id each.
   */
  public record Examples(List<int[]> tokens, List<BertEncoding> encodings, int[] labels) {
    public Examples {
      if ((tokens == null) == (encodings == null)) {
        throw new IllegalArgumentException("give token sequences or encodings, not both or none");
      }
      int n = tokens != null ? tokens.size() : encodings.size();
      if (n != labels.length) {
        throw new IllegalArgumentException(n + (tokens != null ? " sequences" : " inputs")
            + " but " + labels.length + " labels");
      }
    }

    public static Examples ofTokens(List<int[]> tokens, int[] labels) {
      return new Examples(tokens, null, labels);
    }

    public static Examples ofEncodings(List<BertEncoding> encodings, int[] labels) {
      return new Examples(null, encodings, labels);
    }

    public int size() {
      return labels.length;
    }

    /** Examples from..to-1 as one batch, right-padded with padId as the other batch pads. */
    public TokenBatch batch(int from, int to, int padId, int padTo) {
      int[] idx = new int[to - from];
      Arrays.setAll(idx, i -> from + i);
      return batch(idx, padId, padTo);
    }

    /**
     * The examples idx as one batch, right-padded with padId to padTo tokens (0: to the longest);
     * encodings keep their token types and are padded only to the longest.
     */
    public TokenBatch batch(int[] idx, int padId, int padTo) {
      if (tokens != null) {
        List<int[]> seqs = new ArrayList<>();
        for (int i : idx) {
          seqs.add(tokens.get(i));
        }
        return TokenBatch.rightPadded(seqs, padId, padTo);
      }
      if (padTo > 0) {
        throw new IllegalArgumentException("fixed padding is implemented for token sequences");
      }
      List<BertEncoding> seqs = new ArrayList<>();
      for (int i : idx) {
        seqs.add(encodings.get(i));
      }
      return TokenBatch.ofEncodings(seqs, padId);
    }

    /** The longest input, in tokens. */
    int longest() {
      int n = 0;
      for (int i = 0; i < size(); i++) {
        n = Math.max(n, tokens != null ? tokens.get(i).length : encodings.get(i).ids().length);
      }
      return n;
    }

    /** Whether some input is a sentence pair (has a token of type 1). */
    boolean hasSentencePairs() {
      return encodings != null && encodings.stream()
          .anyMatch(e -> Arrays.stream(e.typeIds()).anyMatch(t -> t != 0));
    }

    /** A fingerprint of the inputs and labels (a resume must see the same data). */
    long fingerprint() {
      if (tokens != null) {
        return ClassifierTrainer.fingerprint(tokens, labels);
      }
      List<int[]> flat = new ArrayList<>(); // ids then token types, the label after the ids
      for (BertEncoding e : encodings) {
        flat.add(e.ids());
        flat.add(e.typeIds());
      }
      int[] spaced = new int[flat.size()];
      for (int i = 0; i < labels.length; i++) {
        spaced[2 * i] = labels[i];
      }
      return ClassifierTrainer.fingerprint(flat, spaced);
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

  /** Names of the model parameters that train without LoRA (see the class comment). */
  public static List<String> trainableNames(Backbone model, boolean trainAll) {
    List<String> out = new ArrayList<>();
    if (model instanceof GptModel gpt) {
      String last = GptModel.PREFIX + "h." + (gpt.config().nLayer() - 1) + ".";
      for (String name : gpt.parameterNames()) {
        if (name.equals("lm_head.weight")) {
          continue;
        }
        if (trainAll || name.startsWith(last) || name.startsWith(GptModel.PREFIX + "ln_f.")) {
          out.add(name);
        }
      }
    } else if (model instanceof BertModel bert) {
      String last = BertModel.PREFIX + "encoder.layer." + (bert.config().numLayers() - 1) + ".";
      for (String name : bert.parameterNames()) {
        if (!name.startsWith(BertModel.PREFIX)) {
          continue; // cls.* pre-training heads
        }
        if (trainAll || name.startsWith(last) || name.startsWith(BertModel.PREFIX + "pooler.")) {
          out.add(name);
        }
      }
    } else {
      throw new IllegalArgumentException("no classification recipe for a "
          + model.getClass().getSimpleName());
    }
    return out;
  }

  /** Metrics of a set in evaluation mode, in batches of batch padded to their longest input. */
  public static Metrics evaluate(SequenceClassifier<?> clf, Examples set, int batch) {
    return evaluate(clf, set, batch, 0);
  }

  /** Metrics of a set in evaluation mode, in batches of batch padded to padTo (0: longest). */
  public static Metrics evaluate(SequenceClassifier<?> clf, Examples set, int batch, int padTo) {
    int k = clf.numLabels();
    int[][] confusion = new int[k][k];
    double lossSum = 0;
    for (int s = 0; s < set.size(); s += batch) {
      int e = Math.min(set.size(), s + batch);
      TokenBatch b = set.batch(s, e, clf.padId(), padTo);
      double[] p = clf.probabilities(b);
      for (int i = 0; i < b.b(); i++) {
        int y = set.labels()[s + i];
        lossSum -= Math.log(Math.max(p[i * k + y], 1e-300));
        confusion[y][SequenceClassificationHead.argmax(p, i, k)]++;
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
  public static void train(SequenceClassifier<?> clf, Examples train, Examples val, Config cfg,
      Consumer<ObjectNode> log) {
    try (ClassifierTrainer t = new ClassifierTrainer(clf, train, val, cfg, log)) {
      t.run();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // no checkpoints without an output directory
    }
  }

  private final SequenceClassifier<?> clf;
  private final Backbone model;
  private final GptModel gpt; // null for BERT
  private final Examples train;
  private final Examples val;
  private final Config cfg;
  private final LoraAdapters lora;
  private final Consumer<ObjectNode> log;
  private final int fromBlock;
  private final List<String> names;
  private final ParameterSlab source;
  private final ParameterSlab sourceGrads;
  private final String weightName;
  private final String biasName; // null when the head has no bias
  private final ParameterSlab p;
  private final ParameterSlab g;
  private final float[] dWeight;
  private final float[] dBias;
  private final FineTuningOrder order;
  private final RowMeanLoss loss = new RowMeanLoss();

  /**
   * A run over train (validation metrics on val, which may be null) that {@link #run} trains and
   * {@link #resume} continues; trainable LoRA adapters attached to a GPT model make it a LoRA run.
   */
  public ClassifierTrainer(SequenceClassifier<?> clf, Examples train, Examples val, Config cfg,
      Consumer<ObjectNode> log) {
    this.clf = clf;
    this.model = clf.backbone();
    this.gpt = model instanceof GptModel m ? m : null;
    this.train = train;
    this.val = val;
    this.cfg = cfg;
    this.lora = gpt == null ? null : gpt.lora();
    this.log = log;
    if (train.encodings() != null && cfg.padTo() > 0) {
      throw new IllegalArgumentException("fixed padding is implemented for token sequences");
    }
    if (lora != null) {
      if (!lora.trainable()) {
        throw new IllegalArgumentException("the LoRA adapters were made without gradients");
      }
      fromBlock = 0;
      names = lora.params().names();
      source = lora.params();
      sourceGrads = lora.grads();
    } else {
      model.enableGradients();
      // BERT's encoder backward runs through every layer anyway
      fromBlock = gpt != null && !cfg.trainAll() ? gpt.config().nLayer() - 1 : 0;
      names = trainableNames(model, cfg.trainAll());
      source = model.params();
      sourceGrads = model.grads();
    }
    int k = clf.numLabels(), c = model.hiddenSize();
    Map<String, float[]> head = clf.headTensors();
    List<String> headNames = new ArrayList<>(head.keySet());
    this.weightName = headNames.get(0);
    this.biasName = headNames.size() > 1 ? headNames.get(1) : null;
    ParameterSlab.Builder lb = ParameterSlab.builder();
    lb.add(weightName, true, k, c);
    if (biasName != null) {
      lb.add(biasName, false, k);
    }
    for (String name : names) {
      lb.add(name, source.decays(name), source.get(name).shape());
    }
    this.p = lb.build(model.context());
    this.g = p.sameLayout(model.context());
    p.get(weightName).copyFrom(head.get(weightName));
    if (biasName != null) {
      p.get(biasName).copyFrom(head.get(biasName));
    }
    for (String name : names) {
      p.get(name).copyFrom(source.get(name));
    }
    this.dWeight = new float[k * c];
    this.dBias = biasName == null ? null : new float[k];
    this.order = new FineTuningOrder(train.size(), cfg.batch(), cfg.seed());
    startEngine(model, cfg.trainConfig(order.batchesPerEpoch()));
  }

  @Override
  public ParameterSlab params() {
    return p;
  }

  @Override
  public ParameterSlab grads() {
    return g;
  }

  /**
   * The backbone's dropout seed of step s. Each family keeps the seeds its classifier runs have
   * always drawn, so that they reproduce bit for bit.
   */
  private long dropoutSeed(long s) {
    return share().dropoutSeed(gpt != null ? cfg.seed() * 1_000_003L + s
        : Dropout.mixSeed(cfg.seed(), s, 0));
  }

  @Override
  public void beginStep(long s) {
    if (order.startsEpoch()) {
      loss.startEpoch();
    }
    model.setTraining(true);
    model.setDropoutSeed(dropoutSeed(s));
    model.zeroGrad();
    if (lora != null) {
      lora.zeroGrad();
    }
    Arrays.fill(dWeight, 0f);
    if (dBias != null) {
      Arrays.fill(dBias, 0f);
    }
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    int[] idx = order.nextBatch();
    int total = idx.length; // the global batch's examples
    loss.batch(total);
    if (share().sharded()) { // this rank's examples of the global batch, weighed by their share
      int from = share().from(idx.length), rows = share().rows(idx.length);
      idx = Arrays.copyOfRange(idx, from, from + rows);
      if (rows == 0) { // the last batch of an epoch may hold fewer examples than the ranks
        loss.empty();
        g.flat().zero();
        return true;
      }
    }
    int[] y = new int[idx.length];
    for (int i = 0; i < idx.length; i++) {
      y[i] = train.labels()[idx[i]];
    }
    // the head's own dropout (BERT's; GPT-2's head has none) gets a seed of its own
    SequenceClassificationHead.Result r = clf.forwardBackward(
        train.batch(idx, clf.padId(), cfg.padTo()), y, dWeight, dBias, fromBlock,
        dropoutSeed(s) + 1);
    if (!loss.loss(r.loss())) {
      return false;
    }
    g.get(weightName).copyFrom(dWeight);
    if (dBias != null) {
      g.get(biasName).copyFrom(dBias);
    }
    for (String name : names) {
      g.get(name).copyFrom(sourceGrads.get(name));
    }
    if (share().sharded()) { // the gradient of the share's mean, scaled to its part of the total
      double f = BatchShare.fraction(idx.length, total);
      loss.share(f);
      PointwiseOps.scale(model.context(), g.flat(), (float) f);
    }
    return true;
  }

  @Override
  public float stepLoss(int gradAccum) {
    return loss.stepLoss();
  }

  @Override
  public double[] lossTerms(int gradAccum) {
    return loss.lossTerms(share().sharded());
  }

  @Override
  public float globalLoss(double[] terms) {
    return loss.globalLoss(terms);
  }

  @Override
  public void afterUpdate() {
    for (String name : names) {
      source.get(name).copyFrom(p.get(name));
    }
    copyBack(weightName, clf.head().weight());
    if (biasName != null) {
      copyBack(biasName, clf.head().bias());
    }
  }

  private void copyBack(String name, float[] to) {
    float[] v = p.get(name).toFloatArray();
    System.arraycopy(v, 0, to, 0, v.length);
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
        .put("train_batch_loss", loss.epochMean());
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
    if (gpt != null) {
      m.put("pad_to", Integer.toString(cfg.padTo()));
      m.put("lora", Boolean.toString(lora != null));
    }
    m.put("data_examples", Integer.toString(train.size()));
    m.put("data_fingerprint", Long.toHexString(train.fingerprint()));
    return m;
  }

  /**
   * The classifier directory (model weights, head, classifier.json) and, with LoRA, the adapters
   * (unmerged: the base stays as loaded).
   */
  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    // GPT-2 classifiers record the length they pad to, BERT ones the longest training input
    int maxLength = gpt == null ? train.longest()
        : cfg.padTo() > 0 ? cfg.padTo() : gpt.config().contextLength();
    Checkpoint.saveClassifier(clf, maxLength, train.hasSentencePairs(), dir, null);
    if (lora != null) {
      PeftAdapters.save(lora, dir, "");
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
    super.close();
    g.close();
    p.close();
  }
}
