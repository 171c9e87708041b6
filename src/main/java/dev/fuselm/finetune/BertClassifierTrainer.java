package dev.fuselm.finetune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.BertModel;
import dev.fuselm.nn.Dropout;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.train.AdamW;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Fine-tunes a {@link BertSequenceClassifier} with the settings, metrics and JSON log of the GPT
 * {@link ClassifierTrainer}: AdamW (no decay on biases and norms) over the head plus the encoder
 * (everything under {@code bert.}: embeddings, all layers and the pooler, as BERT fine-tuning does;
 * with trainAll false only the last layer and the pooler). The pre-training heads ({@code cls.*}),
 * if loaded, are left as they are.
 *
 * <p>The trainable tensors are mirrored in a slab of their own (head first) that the native AdamW
 * updates; each step copies the trainable gradients in and the updated weights back.
 */
public final class BertClassifierTrainer {
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

  private BertClassifierTrainer() {}

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
    BertModel model = clf.model();
    model.enableGradients();
    List<String> names = trainableNames(model, cfg.trainAll());
    int k = clf.numLabels(), c = model.config().hiddenSize();
    ParameterSlab.Builder lb = ParameterSlab.builder();
    lb.add(BertSequenceClassifier.WEIGHT, true, k, c);
    lb.add(BertSequenceClassifier.BIAS, false, k);
    for (String name : names) {
      lb.add(name, model.params().decays(name), model.params().get(name).shape());
    }
    try (ParameterSlab p = lb.build(model.context());
        ParameterSlab g = p.sameLayout(model.context());
        AdamW opt = new AdamW(model.context(), p, g, 0.9f, 0.999f, 1e-8f, cfg.weightDecay(),
            cfg.clip())) {
      p.get(BertSequenceClassifier.WEIGHT).copyFrom(clf.weight());
      p.get(BertSequenceClassifier.BIAS).copyFrom(clf.bias());
      for (String name : names) {
        p.get(name).copyFrom(model.params().get(name));
      }
      float[] dW = new float[k * c];
      float[] dB = new float[k];
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
          List<BertEncoding> seqs = new ArrayList<>();
          int[] y = new int[e - s];
          for (int i = s; i < e; i++) {
            seqs.add(train.inputs().get(order.get(i)));
            y[i - s] = train.labels()[order.get(i)];
          }
          step++;
          long seed = Dropout.mixSeed(cfg.seed(), step, 0);
          model.setDropoutSeed(seed);
          model.zeroGrad();
          Arrays.fill(dW, 0f);
          Arrays.fill(dB, 0f);
          ClassificationHead.Result r = clf.forwardBackward(
              BertSequenceClassifier.collate(seqs, clf.padId()), y, dW, dB, seed + 1);
          if (!Double.isFinite(r.loss())) {
            throw new IllegalStateException("the training loss is " + r.loss() + " at step "
                + step + "; try a lower --lr");
          }
          lossSum += r.loss() * y.length;
          seen += y.length;
          g.get(BertSequenceClassifier.WEIGHT).copyFrom(dW);
          g.get(BertSequenceClassifier.BIAS).copyFrom(dB);
          for (String name : names) {
            g.get(name).copyFrom(model.grads().get(name));
          }
          opt.step(step, cfg.lr(), opt.gradNorm());
          for (String name : names) {
            model.params().get(name).copyFrom(p.get(name));
          }
          float[] w = p.get(BertSequenceClassifier.WEIGHT).toFloatArray();
          System.arraycopy(w, 0, clf.weight(), 0, w.length);
          float[] bb = p.get(BertSequenceClassifier.BIAS).toFloatArray();
          System.arraycopy(bb, 0, clf.bias(), 0, bb.length);
        }
        model.setTraining(false);
        ObjectNode n = JSON.createObjectNode();
        n.put("event", "epoch").put("epoch", epoch).put("step", step)
            .put("train_batch_loss", lossSum / seen);
        n.set("train", evaluate(clf, train, cfg.batch()).toJson(clf.labels(), false));
        if (val != null && val.size() > 0) {
          n.set("validation", evaluate(clf, val, cfg.batch()).toJson(clf.labels(), false));
        }
        log.accept(n);
      }
    }
  }
}
