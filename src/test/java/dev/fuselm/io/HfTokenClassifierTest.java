package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.Backbone;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token classifiers round-trip with the real {@code transformers}: directories fuselm saves (BERT
 * and GPT-2) load strictly as {@code BertForTokenClassification} / {@code
 * GPT2ForTokenClassification} with fuselm's id2label and give fuselm's label probabilities to
 * 1e-5; a {@code BertForTokenClassification} that transformers saves loads in fuselm with the same
 * outputs. Skipped without a python with transformers ({@code FUSELM_HF_PYTHON} or {@code
 * -Dfuselm.hfPython}, made by benchmarks/parity/hf_venv.sh).
 */
class HfTokenClassifierTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final List<String> LABELS = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC");
  @TempDir Path tmp;

  static String python() {
    String p = System.getProperty("fuselm.hfPython", System.getenv("FUSELM_HF_PYTHON"));
    assumeTrue(p != null && !p.isBlank(), "no FUSELM_HF_PYTHON (benchmarks/parity/hf_venv.sh)");
    return p;
  }

  static String runPython(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(python());
    cmd.add("benchmarks/ner/hf_token_classification.py");
    cmd.addAll(List.of(args));
    Process pr = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(pr.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!pr.waitFor(300, TimeUnit.SECONDS) || pr.exitValue() != 0) {
      throw new IOException("python " + cmd + " failed: " + out);
    }
    return out.strip();
  }

  static int[][] ids(int vocab) {
    SplittableRandom r = new SplittableRandom(4);
    int[][] ids = new int[2][7];
    for (int[] row : ids) {
      for (int i = 0; i < row.length; i++) {
        row[i] = 1 + r.nextInt(vocab - 1);
      }
    }
    return ids;
  }

  /** fuselm's probabilities of ids against the softmax of transformers' logits of dir. */
  static void compare(TokenClassifier<?> clf, Path dir, int[][] ids, String architecture)
      throws Exception {
    JsonNode hf = JSON.readTree(runPython("logits", dir.toString(), JSON.writeValueAsString(ids)));
    assertEquals(architecture, hf.get("architecture").asText());
    for (int i = 0; i < LABELS.size(); i++) {
      assertEquals(LABELS.get(i), hf.get("id2label").get(Integer.toString(i)).asText());
    }
    int b = ids.length, t = ids[0].length, k = LABELS.size();
    int[] flat = new int[b * t];
    for (int i = 0; i < b; i++) {
      System.arraycopy(ids[i], 0, flat, i * t, t);
    }
    boolean bert = clf.backbone() instanceof BertModel;
    double[] p = clf.probabilities(new TokenBatch(flat, bert ? new int[b * t] : null, null, b, t));
    JsonNode logits = hf.get("logits");
    for (int n = 0; n < b * t; n++) {
      double max = Double.NEGATIVE_INFINITY, sum = 0;
      for (int j = 0; j < k; j++) {
        max = Math.max(max, logits.get(n * k + j).asDouble());
      }
      for (int j = 0; j < k; j++) {
        sum += Math.exp(logits.get(n * k + j).asDouble() - max);
      }
      for (int j = 0; j < k; j++) {
        double want = Math.exp(logits.get(n * k + j).asDouble() - max) / sum;
        assertEquals(want, p[n * k + j], 1e-5, "position " + n + ", label " + j);
      }
    }
  }

  static <B extends Backbone> TokenClassifier<B> withHead(B model) {
    float[] w = new float[LABELS.size() * model.hiddenSize()];
    float[] bias = new float[LABELS.size()];
    SplittableRandom r = new SplittableRandom(8);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian();
    }
    for (int i = 0; i < bias.length; i++) {
      bias[i] = (float) r.nextGaussian() * 0.5f;
    }
    return TokenClassifier.of(model, LABELS, 0, w, bias);
  }

  @Test
  void bertSavedByFuselmLoadsInTransformers() throws Exception {
    python();
    try (ComputeContext ctx = ComputeContext.create();
        TokenClassifier<BertModel> clf = withHead(BertModel.random(ctx,
            new BertConfig(99, 32, 2, 4, 37, 64, 2, 1e-12f, 0.1f, 0.1f), 3))) {
      Path dir = tmp.resolve("bert");
      TokenClassifierFiles.save(clf, 64, dir, null);
      compare(clf, dir, ids(99), "BertForTokenClassification");
    }
  }

  @Test
  void gptSavedByFuselmLoadsInTransformers() throws Exception {
    python();
    try (ComputeContext ctx = ComputeContext.create();
        TokenClassifier<GptModel> clf = withHead(GptModel.random(ctx,
            GptConfig.of(99, 32, 32, 2, 4), 3))) {
      Path dir = tmp.resolve("gpt");
      TokenClassifierFiles.save(clf, 32, dir, null);
      compare(clf, dir, ids(99), "GPT2ForTokenClassification");
    }
  }

  @Test
  void bertSavedByTransformersLoadsInFuselm() throws Exception {
    python();
    Path dir = tmp.resolve("hf");
    runPython("make", dir.toString());
    try (ComputeContext ctx = ComputeContext.create();
        TokenClassifier<? extends Backbone> clf = TokenClassifierFiles.load(ctx, dir)) {
      assertEquals(LABELS, clf.labels());
      compare(clf, dir, ids(99), "BertForTokenClassification");
    }
  }
}
