package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.cli.ClassifyCliTest.Run;
import dev.fuselm.cli.ClassifyCliTest;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassificationHead;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT sequence and sentence-pair classification: gradients against finite differences, learning
 * a small task, checkpoint round trip, and the CLI from train-mlm to classify.
 */
class BertClassifierTest {
  static final WordPieceTokenizer TOK = WordPieceTokenizer.bertBaseUncased();
  static final BertConfig TINY = new BertConfig(30522, 32, 2, 2, 64, 64, 2, 1e-12f, 0.1f, 0.1f);
  static final ObjectMapper JSON = new ObjectMapper();
  static ComputeContext ctx;
  @TempDir Path tmp;

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void close() {
    ctx.close();
  }

  static TokenBatch batch(String[][] pairs) {
    List<BertEncoding> e = new ArrayList<>();
    for (String[] p : pairs) {
      e.add(TOK.encodeForModel(p[0], p.length > 1 ? p[1] : null, 32, 0));
    }
    return TokenBatch.ofEncodings(e, 0);
  }

  /** Loss in evaluation mode (no dropout), in double from the float model. */
  static double loss(SequenceClassifier<BertModel> clf, TokenBatch b, int[] y) {
    double[] p = clf.probabilities(b);
    double l = 0;
    for (int i = 0; i < y.length; i++) {
      l -= Math.log(p[i * clf.numLabels() + y[i]]);
    }
    return l / y.length;
  }

  @Test
  void gradientsMatchFiniteDifferences() {
    TokenBatch b = batch(new String[][] {{"a good film", "yes"},
        {"the worst day of my life", "no it was not"}, {"fine", "ok"}});
    int[] y = {0, 2, 1};
    try (SequenceClassifier<BertModel> clf = SequenceClassifier.bert(
        BertModel.random(ctx, TINY, 11), List.of("a", "b", "c"), 0, 5)) {
      BertModel m = clf.backbone();
      m.enableGradients();
      m.setTraining(false);
      m.zeroGrad();
      int k = 3, c = 32;
      float[] weight = clf.head().weight(), bias = clf.head().bias();
      // Non-zero bias so its gradient is not symmetric.
      for (int j = 0; j < k; j++) {
        bias[j] = 0.1f * (j - 1);
      }
      float[] dW = new float[k * c], dB = new float[k];
      SequenceClassificationHead.Result r = clf.forwardBackward(b, y, dW, dB, 0, 1);
      assertEquals(loss(clf, b, y), r.loss(), 1e-6);
      // Head: the loss is double arithmetic on float inputs; central differences with h = 1e-2
      // agree to ~1e-5 (second-order term); tolerance 1e-4 absolute.
      float h = 1e-2f;
      for (int idx : new int[] {0, 5, 31, 32, 70, 95}) {
        float w0 = weight[idx];
        weight[idx] = w0 + h;
        double lp = loss(clf, b, y);
        weight[idx] = w0 - h;
        double lm = loss(clf, b, y);
        weight[idx] = w0;
        assertEquals((lp - lm) / (2 * h), dW[idx], 1e-4, "classifier.weight[" + idx + "]");
      }
      for (int j = 0; j < k; j++) {
        float b0 = bias[j];
        bias[j] = b0 + h;
        double lp = loss(clf, b, y);
        bias[j] = b0 - h;
        double lm = loss(clf, b, y);
        bias[j] = b0;
        assertEquals((lp - lm) / (2 * h), dB[j], 1e-4, "classifier.bias[" + j + "]");
      }
      // Encoder, through the pooled output: float32 forward passes, so the difference quotient
      // carries ~1e-7 / h of rounding; h = 1e-2 and a tolerance of 2e-3 + 2% of the value.
      for (String name : List.of("bert.pooler.dense.weight", "bert.pooler.dense.bias",
          "bert.encoder.layer.1.output.dense.weight", "bert.embeddings.token_type_embeddings.weight")) {
        Tensor p = m.params().get(name);
        float[] g = m.grads().get(name).toFloatArray();
        float[] v = p.toFloatArray();
        for (int idx : new int[] {0, 7, (int) (v.length / 2) + 3}) {
          float v0 = v[idx];
          v[idx] = v0 + h;
          p.copyFrom(v);
          double lp = loss(clf, b, y);
          v[idx] = v0 - h;
          p.copyFrom(v);
          double lm = loss(clf, b, y);
          v[idx] = v0;
          p.copyFrom(v);
          double fd = (lp - lm) / (2 * h);
          assertEquals(fd, g[idx], 2e-3 + 0.02 * Math.abs(fd), name + "[" + idx + "]");
        }
      }
    }
  }

  /** Pairs whose label is the second text's sentiment word; the first text holds a distractor. */
  static ClassifierTrainer.Examples pairTask(int n, long seed) {
    String[] pos = {"good", "great", "nice"}, neg = {"bad", "awful", "poor"};
    Random r = new Random(seed);
    List<BertEncoding> in = new ArrayList<>();
    int[] y = new int[n];
    for (int i = 0; i < n; i++) {
      boolean p = r.nextBoolean();
      String first = "it was " + (r.nextBoolean() ? pos : neg)[r.nextInt(3)];
      String second = "really " + (p ? pos : neg)[r.nextInt(3)];
      in.add(TOK.encodeForModel(first, second, 16, 0));
      y[i] = p ? 1 : 0;
    }
    return ClassifierTrainer.Examples.ofEncodings(in, y);
  }

  @Test
  void learnsASentencePairTaskAndRoundTrips() throws IOException {
    ClassifierTrainer.Examples train = pairTask(160, 1), test = pairTask(60, 2);
    List<JsonNode> log = new ArrayList<>();
    Path dir = tmp.resolve("clf");
    double[] before;
    TokenBatch probe = TokenBatch.ofEncodings(test.encodings().subList(0, 5), 0);
    try (SequenceClassifier<BertModel> clf = SequenceClassifier.bert(
        BertModel.random(ctx, TINY, 2), List.of("neg", "pos"), 0, 3)) {
      ClassifierTrainer.Metrics start = ClassifierTrainer.evaluate(clf, test, 16);
      ClassifierTrainer.train(clf, train, null,
          new ClassifierTrainer.Config(6, 8, 2e-3f, 0.01f, 1f, true, 4), log::add);
      ClassifierTrainer.Metrics end = ClassifierTrainer.evaluate(clf, test, 16);
      assertEquals(6, log.size());
      assertTrue(end.accuracy() >= 0.9 && end.loss() < start.loss(),
          "test accuracy " + start.accuracy() + " -> " + end.accuracy() + ", loss "
              + start.loss() + " -> " + end.loss());
      before = clf.probabilities(probe);
      Checkpoint.saveClassifier(clf, 16, true, dir, null);
    }
    assertEquals(ModelFamily.BERT, Checkpoint.family(dir));
    assertTrue(ClassifierHead.readMeta(dir).sentencePairs());
    try (SequenceClassifier<BertModel> clf = Checkpoint.loadSequenceClassifier(ctx, dir,
        ModelFamily.BERT)) {
      assertEquals(List.of("neg", "pos"), clf.labels());
      assertArrayEquals(before, clf.probabilities(probe), 0.0, "same probabilities after reload");
    }
  }

  @Test
  void cliPretrainsFinetunesAndClassifies() throws IOException {
    Path cfg = tmp.resolve("tiny.json");
    Files.writeString(cfg, "{\"model_type\":\"bert\",\"vocab_size\":30522,\"hidden_size\":32,"
        + "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":64,"
        + "\"max_position_embeddings\":64,\"type_vocab_size\":2,\"layer_norm_eps\":1e-12,"
        + "\"hidden_dropout_prob\":0.1,\"attention_probs_dropout_prob\":0.1}");
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 200; i++) {
      text.append("line ").append(i % 17).append(" of a small story about a cat .\n");
    }
    Path corpus = tmp.resolve("corpus.txt");
    Files.writeString(corpus, text);
    Path mlm = tmp.resolve("mlm");
    Run pre = ClassifyCliTest.run("train-mlm", "--data", corpus.toString(), "--config",
        cfg.toString(), "--out", mlm.toString(), "--steps", "2", "--batch", "4", "--seq-len", "32",
        "--nsp", "--whole-word", "--quiet");
    assertEquals(0, pre.code(), pre.err());
    assertTrue(pre.out().contains("\"val_nsp_accuracy\""), pre.out());
    assertTrue(Files.isRegularFile(mlm.resolve("vocab.txt")));
    // Resuming to a later step continues; a second fresh run into the same directory is refused.
    Run more = ClassifyCliTest.run("train-mlm", "--data", corpus.toString(), "--resume",
        mlm.toString(), "--out", mlm.toString(), "--steps", "3", "--batch", "4", "--seq-len", "32",
        "--nsp", "--whole-word");
    assertEquals(0, more.code(), more.err());
    assertTrue(more.out().startsWith("{\"step\":3,"), more.out());
    Run again = ClassifyCliTest.run("train-mlm", "--data", corpus.toString(), "--config",
        cfg.toString(), "--out", mlm.toString(), "--steps", "2", "--batch", "4", "--seq-len", "32");
    assertEquals(2, again.code());
    assertTrue(again.err().contains("--resume"), again.err());

    StringBuilder rows = new StringBuilder();
    Random r = new Random(3);
    for (int i = 0; i < 60; i++) {
      boolean p = r.nextBoolean();
      rows.append(p ? "what a great day" : "what an awful day").append('\t')
          .append(r.nextBoolean() ? "yes" : "no").append('\t').append(p ? 1 : 0).append('\n');
    }
    Path tsv = tmp.resolve("pairs.tsv");
    Files.writeString(tsv, rows);
    Path clf = tmp.resolve("clf");
    Run ft = ClassifyCliTest.run("finetune-classify", "--init", mlm.toString(), "--data",
        tsv.toString(), "--text-column", "0", "--text-pair-column", "1", "--label-column", "2",
        "--out", clf.toString(), "--epochs", "1", "--batch", "8", "--max-length", "16",
        "--lr", "1e-3", "--baseline");
    assertEquals(0, ft.code(), ft.err());
    JsonNode start = JSON.readTree(ft.out().lines().findFirst().orElseThrow());
    assertEquals("bert", start.get("model_type").asText());
    assertTrue(start.get("sentence_pairs").asBoolean());
    assertTrue(ft.out().contains("\"event\":\"final\"") && ft.out().contains("\"baseline\""));
    Run one = ClassifyCliTest.run("classify", "--model", clf.toString(), "--text",
        "what a great day", "--text-pair", "yes");
    assertEquals(0, one.code(), one.err());
    JsonNode pred = JSON.readTree(one.out().trim());
    assertTrue(pred.get("probabilities").has("0") && pred.get("probabilities").has("1"));
    Run noPair = ClassifyCliTest.run("classify", "--model", clf.toString(), "--text", "hello");
    assertEquals(2, noPair.code());
    assertTrue(noPair.err().contains("--text-pair"), noPair.err());
    Run badCol = ClassifyCliTest.run("finetune-classify", "--init", mlm.toString(), "--data",
        tsv.toString(), "--text-column", "0", "--text-pair-column", "7", "--label-column", "2",
        "--out", tmp.resolve("clf2").toString());
    assertEquals(2, badCol.code());
    assertTrue(badCol.err().contains("column"), badCol.err());
  }
}
