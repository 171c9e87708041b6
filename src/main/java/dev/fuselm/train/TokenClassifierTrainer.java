package dev.fuselm.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.FineTuningOrder;
import dev.fuselm.data.NerEncoding;
import dev.fuselm.data.NerTags;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.io.TokenClassifierFiles;
import dev.fuselm.model.Backbone;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.TokenClassificationHead;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.nn.Dropout;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.ops.PointwiseOps;
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
 * Fine-tunes a {@link TokenClassifier} (named-entity recognition), a task of the {@link
 * TrainingEngine}: the head plus the trainable part of the backbone train, with the parts chosen
 * as for sequence classification ({@link ClassifierTrainer#trainableNames}, less BERT's pooler,
 * which a token classifier does not use); LoRA adapters attached to a GPT model make it a LoRA run.
 * Logs one JSON object per epoch with the validation loss and entity-level F1 (seqeval's
 * definition, {@link NerTags}). Data-parallel: each rank takes its sentences of every global batch,
 * weighed by its share of the batch's labelled tokens (the loss is their mean).
 */
public final class TokenClassifierTrainer extends FineTuningTask {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Training settings (the rate warms up over warmup steps, then is constant or cosine to lr/10). */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip,
      boolean trainAll, long seed, int warmup, boolean cosine) {
    public Config {
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

    TrainConfig trainConfig(int stepsPerEpoch) {
      return TrainConfig.fineTuning(epochs * stepsPerEpoch, batch, lr, weightDecay, clip, seed)
          .withLr(lr, lr / 10, warmup, cosine);
    }
  }

  /**
   * Aligned sentences ({@link NerEncoding#align}) with their word-level label ids; tokenTypes: the
   * backbone takes token types (BERT: all 0).
   */
  public record Examples(List<NerEncoding.Encoded> sentences, List<int[]> wordLabels,
      boolean tokenTypes) {
    public Examples {
      if (sentences.size() != wordLabels.size()) {
        throw new IllegalArgumentException(sentences.size() + " sentences but "
            + wordLabels.size() + " label sequences");
      }
    }

    public int size() {
      return sentences.size();
    }

    /** The sentences idx as one right-padded batch. */
    public TokenBatch batch(int[] idx, int padId) {
      int t = 0;
      for (int i : idx) {
        t = Math.max(t, sentences.get(i).length());
      }
      int b = idx.length;
      int[] ids = new int[b * t];
      int[] mask = new int[b * t];
      Arrays.fill(ids, padId);
      for (int r = 0; r < b; r++) {
        int[] s = sentences.get(idx[r]).ids();
        System.arraycopy(s, 0, ids, r * t, s.length);
        Arrays.fill(mask, r * t, r * t + s.length, 1);
      }
      return new TokenBatch(ids, tokenTypes ? new int[b * t] : null, mask, b, t);
    }

    /** The positions batch(idx) is padded to: its longest sentence. */
    int paddedLength(int[] idx) {
      int t = 0;
      for (int i : idx) {
        t = Math.max(t, sentences.get(i).length());
      }
      return t;
    }

    /** The token labels (B*T) of batch(idx): IGNORE on padding. */
    public int[] labels(int[] idx, int t) {
      int[] y = new int[idx.length * t];
      Arrays.fill(y, TokenClassificationHead.IGNORE);
      for (int r = 0; r < idx.length; r++) {
        int[] s = sentences.get(idx[r]).labels();
        System.arraycopy(s, 0, y, r * t, s.length);
      }
      return y;
    }

    /** The labelled tokens (not IGNORE) of the sentences idx. */
    long labelled(int[] idx) {
      long n = 0;
      for (int i : idx) {
        for (int y : sentences.get(i).labels()) {
          n += y == TokenClassificationHead.IGNORE ? 0 : 1;
        }
      }
      return n;
    }

    int longest() {
      return sentences.stream().mapToInt(NerEncoding.Encoded::length).max().orElse(0);
    }

    long fingerprint() {
      List<int[]> flat = new ArrayList<>();
      for (NerEncoding.Encoded e : sentences) {
        flat.add(e.ids());
        flat.add(e.labels());
      }
      return ClassifierTrainer.fingerprint(flat, new int[flat.size()]);
    }
  }

  /** Loss over labelled tokens, token accuracy (first sub-tokens) and entity scores of a set. */
  public record Metrics(double loss, double tokenAccuracy, NerTags.Scores entities) {
    public ObjectNode toJson() {
      ObjectNode n = JSON.createObjectNode();
      n.put("loss", loss).put("token_accuracy", tokenAccuracy)
          .put("precision", entities.precision()).put("recall", entities.recall())
          .put("f1", entities.f1()).put("entities", entities.micro().gold());
      ObjectNode per = n.putObject("per_type");
      entities.perType().forEach((type, c) -> per.putObject(type).put("precision", c.precision())
          .put("recall", c.recall()).put("f1", c.f1()).put("support", c.gold()));
      return n;
    }
  }

  /** Predicted word tags (label ids) of every sentence of set, in batches, evaluation mode. */
  public static List<int[]> predictWords(TokenClassifier<?> clf, Examples set, int batch) {
    return evaluateInto(clf, set, batch, null);
  }

  /** Loss, token accuracy and entity-level scores of a labelled set in evaluation mode. */
  public static Metrics evaluate(TokenClassifier<?> clf, Examples set, int batch) {
    double[] lossAcc = new double[3];
    List<int[]> pred = evaluateInto(clf, set, batch, lossAcc);
    NerTags.Scorer scorer = new NerTags.Scorer();
    for (int i = 0; i < set.size(); i++) {
      scorer.add(names(clf.labels(), set.wordLabels().get(i)), names(clf.labels(), pred.get(i)));
    }
    return new Metrics(lossAcc[2] == 0 ? Double.NaN : lossAcc[0] / lossAcc[2],
        lossAcc[2] == 0 ? Double.NaN : lossAcc[1] / lossAcc[2], scorer.scores());
  }

  private static List<int[]> evaluateInto(TokenClassifier<?> clf, Examples set, int batch,
      double[] lossAcc) {
    int k = clf.numLabels();
    List<int[]> out = new ArrayList<>();
    for (int s = 0; s < set.size(); s += batch) {
      int[] idx = new int[Math.min(set.size(), s + batch) - s];
      for (int i = 0; i < idx.length; i++) {
        idx[i] = s + i;
      }
      TokenBatch b = set.batch(idx, clf.padId());
      double[] p = clf.probabilities(b);
      int[] y = set.labels(idx, b.t());
      for (int r = 0; r < idx.length; r++) {
        NerEncoding.Encoded e = set.sentences().get(idx[r]);
        int[] words = new int[e.firstToken().length];
        for (int w = 0; w < words.length; w++) {
          int at = e.firstToken()[w];
          words[w] = at < 0 ? 0 : TokenClassificationHead.argmax(p, r * b.t() + at, k);
        }
        out.add(words);
      }
      if (lossAcc != null) {
        for (int i = 0; i < y.length; i++) {
          if (y[i] != TokenClassificationHead.IGNORE) {
            lossAcc[0] -= Math.log(Math.max(p[i * k + y[i]], 1e-300));
            lossAcc[1] += TokenClassificationHead.argmax(p, i, k) == y[i] ? 1 : 0;
            lossAcc[2]++;
          }
        }
      }
    }
    return out;
  }

  /** Label names of label ids. */
  public static List<String> names(List<String> labels, int[] ids) {
    List<String> out = new ArrayList<>(ids.length);
    for (int id : ids) {
      out.add(labels.get(id));
    }
    return out;
  }

  /** The backbone parameters that train (see the class comment). */
  public static List<String> trainableNames(Backbone model, boolean trainAll) {
    List<String> out = new ArrayList<>();
    for (String n : ClassifierTrainer.trainableNames(model, trainAll)) {
      if (!n.startsWith(BertModel.PREFIX + "pooler.")) {
        out.add(n);
      }
    }
    return out;
  }

  private final TokenClassifier<?> clf;
  private final Backbone model;
  private final GptModel gpt;
  private final Examples train;
  private final Examples val;
  private final Config cfg;
  private final int maxLength;
  private final LoraAdapters lora;
  private final Consumer<ObjectNode> log;
  private final int fromBlock;
  private final List<String> names;
  private final ParameterSlab source;
  private final ParameterSlab sourceGrads;
  private final ParameterSlab p;
  private final ParameterSlab g;
  private final float[] dWeight;
  private final float[] dBias;
  private final FineTuningOrder order;
  private final RowMeanLoss loss = new RowMeanLoss();

  /**
   * A run over train (validation on val, may be null); maxLength is recorded in the saved
   * directory as the length inputs are cut to.
   */
  public TokenClassifierTrainer(TokenClassifier<?> clf, Examples train, Examples val, Config cfg,
      int maxLength, Consumer<ObjectNode> log) {
    if (train.size() == 0) {
      throw new IllegalArgumentException("no training sentences");
    }
    this.clf = clf;
    this.model = clf.backbone();
    this.gpt = model instanceof GptModel m ? m : null;
    this.train = train;
    this.val = val;
    this.cfg = cfg;
    this.maxLength = maxLength;
    this.lora = gpt == null ? null : gpt.lora();
    this.log = log;
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
      fromBlock = gpt != null && !cfg.trainAll() ? gpt.config().nLayer() - 1 : 0;
      names = trainableNames(model, cfg.trainAll());
      source = model.params();
      sourceGrads = model.grads();
    }
    int k = clf.numLabels(), c = model.hiddenSize();
    ParameterSlab.Builder lb = ParameterSlab.builder();
    lb.add(TokenClassifier.WEIGHT, true, k, c);
    lb.add(TokenClassifier.BIAS, false, k);
    for (String name : names) {
      lb.add(name, source.decays(name), source.get(name).shape());
    }
    this.p = lb.build(model.context());
    this.g = p.sameLayout(model.context());
    p.get(TokenClassifier.WEIGHT).copyFrom(clf.head().weight());
    p.get(TokenClassifier.BIAS).copyFrom(clf.head().bias());
    for (String name : names) {
      p.get(name).copyFrom(source.get(name));
    }
    this.dWeight = new float[k * c];
    this.dBias = new float[k];
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

  private long dropoutSeed(long s) {
    return share().dropoutSeed(Dropout.mixSeed(cfg.seed(), s, 0));
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
    Arrays.fill(dBias, 0f);
  }

  @Override
  public boolean microStep(long s, int micro, float weight) {
    int[] idx = order.nextBatch();
    loss.batch(idx.length);
    long local = 0, total = 0;
    int from = 0, globalT = 0;
    if (share().sharded()) { // this rank's sentences of the global batch
      total = train.labelled(idx); // every rank reads the whole batch: no communication
      globalT = train.paddedLength(idx);
      from = share().from(idx.length);
      idx = Arrays.copyOfRange(idx, from, from + share().rows(idx.length));
      local = train.labelled(idx);
      if (local == 0) { // no rows (a short last batch) or no labelled token: adds nothing
        loss.empty();
        g.flat().zero();
        return true;
      }
    }
    TokenBatch b = train.batch(idx, clf.padId());
    // the head's dropout (GPT's fixed 0.1) draws the global batch's mask: the ranks together drop
    // what one process drops (the backbone's own dropout is still drawn per rank: BatchShare)
    long headSeed = Dropout.mixSeed(cfg.seed(), s, 0) + 1;
    TokenClassificationHead.Result r = share().sharded()
        ? clf.forwardBackward(b, train.labels(idx, b.t()), dWeight, dBias, fromBlock, headSeed,
            from, globalT)
        : clf.forwardBackward(b, train.labels(idx, b.t()), dWeight, dBias, fromBlock,
            dropoutSeed(s) + 1);
    if (!loss.loss(r.loss())) {
      return false;
    }
    g.get(TokenClassifier.WEIGHT).copyFrom(dWeight);
    g.get(TokenClassifier.BIAS).copyFrom(dBias);
    for (String name : names) {
      g.get(name).copyFrom(sourceGrads.get(name));
    }
    if (share().sharded()) { // the gradient of the share's mean, scaled to its part of the total
      double f = BatchShare.fraction(local, total);
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
    copyBack(TokenClassifier.WEIGHT, clf.head().weight());
    copyBack(TokenClassifier.BIAS, clf.head().bias());
  }

  private void copyBack(String name, float[] to) {
    float[] v = p.get(name).toFloatArray();
    System.arraycopy(v, 0, to, 0, v.length);
  }

  @Override
  public boolean evaluatesAtEnd() {
    return false;
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
    if (val != null && val.size() > 0) {
      n.set("validation", evaluate(clf, val, cfg.batch()).toJson());
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
    m.put("task", TokenClassifierFiles.TASK);
    m.put("batch", Integer.toString(cfg.batch()));
    m.put("seed", Long.toString(cfg.seed()));
    m.put("train_all", Boolean.toString(cfg.trainAll()));
    m.put("lora", Boolean.toString(lora != null));
    m.put("data_examples", Integer.toString(train.size()));
    m.put("data_fingerprint", Long.toHexString(train.fingerprint()));
    return m;
  }

  /** The token-classifier directory (with LoRA: the adapters too, unmerged). */
  @Override
  public void saveModel(Path dir, Map<String, String> metadata) throws IOException {
    TokenClassifierFiles.save(clf, maxLength > 0 ? maxLength : train.longest(), dir, null);
    if (lora != null) {
      PeftAdapters.save(lora, dir, "");
    }
  }

  @Override
  public void close() {
    super.close();
    g.close();
    p.close();
  }
}
