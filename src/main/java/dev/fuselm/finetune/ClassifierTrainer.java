package dev.fuselm.finetune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.train.AdamW;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Fine-tunes a {@link SequenceClassifier}: AdamW over the head plus the trainable part of the model
 * (by default the last transformer block and the final layer norm; everything with trainAll).
 * Frozen parameters are never written and get no backward pass below the first trainable block.
 *
 * <p>The trainable tensors are mirrored in a slab of their own (head first) that the native AdamW
 * updates; each step copies the trainable gradients in and the updated weights back.
 */
public final class ClassifierTrainer {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Training settings; padTo 0 pads each batch to its longest text, else to padTo tokens. */
  public record Config(int epochs, int batch, float lr, float weightDecay, float clip,
      boolean trainAll, long seed, int padTo) {
    public Config(int epochs, int batch, float lr, float weightDecay, float clip, boolean trainAll,
        long seed) {
      this(epochs, batch, lr, weightDecay, clip, trainAll, seed, 0);
    }

    public Config {
      if (padTo < 0) {
        throw new IllegalArgumentException("the padding length must be >= 0, got " + padTo);
      }
      if (epochs < 1 || batch < 1) {
        throw new IllegalArgumentException("epochs and batch must be positive, got " + epochs
            + " and " + batch);
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

  private ClassifierTrainer() {}

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
    GptModel model = clf.model();
    int nLayer = model.config().nLayer();
    int fromBlock;
    List<String> names;
    ParameterSlab source;
    ParameterSlab sourceGrads;
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
    try (ParameterSlab p = lb.build(model.context());
        ParameterSlab g = p.sameLayout(model.context());
        AdamW opt = new AdamW(model.context(), p, g, 0.9f, 0.999f, 1e-8f, cfg.weightDecay(),
            cfg.clip())) {
      p.get(SequenceClassifier.HEAD).copyFrom(clf.headWeight());
      for (String name : names) {
        p.get(name).copyFrom(source.get(name));
      }
      float[] dHead = new float[k * c];
      Random rng = new Random(cfg.seed());
      List<Integer> order = new ArrayList<>();
      for (int i = 0; i < train.size(); i++) {
        order.add(i);
      }
      long step = 0;
      for (int epoch = 1; epoch <= cfg.epochs(); epoch++) {
        Collections.shuffle(order, rng);
        double lossSum = 0;
        int seen = 0;
        model.setTraining(true);
        for (int s = 0; s < order.size(); s += cfg.batch()) {
          int e = Math.min(order.size(), s + cfg.batch());
          List<int[]> seqs = new ArrayList<>();
          int[] y = new int[e - s];
          for (int i = s; i < e; i++) {
            seqs.add(train.tokens().get(order.get(i)));
            y[i - s] = train.labels()[order.get(i)];
          }
          step++;
          model.setDropoutSeed(cfg.seed() * 1_000_003L + step);
          model.zeroGrad();
          if (lora != null) {
            lora.zeroGrad();
          }
          java.util.Arrays.fill(dHead, 0f);
          ClassificationHead.Result r = clf.forwardBackward(
              SequenceClassifier.collate(seqs, clf.padId(), cfg.padTo()), y, dHead, fromBlock);
          if (!Double.isFinite(r.loss())) {
            throw new IllegalStateException("the training loss is " + r.loss() + " at step "
                + step + "; try a lower --lr");
          }
          lossSum += r.loss() * y.length;
          seen += y.length;
          g.get(SequenceClassifier.HEAD).copyFrom(dHead);
          for (String name : names) {
            g.get(name).copyFrom(sourceGrads.get(name));
          }
          opt.step(step, cfg.lr(), opt.gradNorm());
          for (String name : names) {
            source.get(name).copyFrom(p.get(name));
          }
          float[] w = p.get(SequenceClassifier.HEAD).toFloatArray();
          System.arraycopy(w, 0, clf.headWeight(), 0, w.length);
        }
        model.setTraining(false);
        ObjectNode n = JSON.createObjectNode();
        n.put("event", "epoch").put("epoch", epoch).put("step", step)
            .put("train_batch_loss", lossSum / seen);
        n.set("train", evaluate(clf, train, cfg.batch(), cfg.padTo()).toJson(clf.labels(), false));
        if (val != null && val.size() > 0) {
          n.set("validation",
              evaluate(clf, val, cfg.batch(), cfg.padTo()).toJson(clf.labels(), false));
        }
        log.accept(n);
      }
    }
  }
}
