package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.Backbone;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A token-classifier directory in Hugging Face's layout: {@code model.safetensors} holds the
 * backbone (BERT without pooler and pre-training heads, as {@code BertForTokenClassification};
 * GPT-2 without an LM head, as {@code GPT2ForTokenClassification}) and {@code classifier.weight}
 * (K, C) / {@code classifier.bias} (K); {@code config.json} names the architecture and carries
 * {@code id2label} / {@code label2id}, plus {@code fuselm_task: token-classification} and {@code
 * fuselm_max_length} (the longest input in tokens the model was trained for).
 */
public final class TokenClassifierFiles {
  public static final String TASK = "token-classification";
  private static final ObjectMapper JSON = new ObjectMapper();

  private TokenClassifierFiles() {}

  /** What config.json says beyond the backbone's config. */
  public record Meta(List<String> labels, int padId, int maxLength) {}

  /** Writes clf into dir (created if needed), with the tokenizer files of tokenizerFrom (or none). */
  public static void save(TokenClassifier<?> clf, int maxLength, Path dir, Path tokenizerFrom)
      throws IOException {
    if (clf.backbone() instanceof BertModel bert) {
      save(ModelFamily.BERT, bert, clf, maxLength, dir, tokenizerFrom, "BertForTokenClassification");
    } else if (clf.backbone() instanceof GptModel gpt) {
      if (!gpt.config().tiedHead()) {
        throw new IllegalArgumentException("a GPT token classifier is saved for models whose LM"
            + " head is tied to the embeddings (GPT2ForTokenClassification has no LM head)");
      }
      save(ModelFamily.GPT2, gpt, clf, maxLength, dir, tokenizerFrom, "GPT2ForTokenClassification");
    } else {
      throw new IllegalArgumentException("no model directory layout for a "
          + clf.backbone().getClass().getSimpleName());
    }
  }

  private static <C, M extends AutoCloseable> void save(ModelFamily<C, M> family, M model,
      TokenClassifier<?> clf, int maxLength, Path dir, Path tokenizerFrom, String architecture)
      throws IOException {
    Files.createDirectories(dir);
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt")
        .metadata("fuselm_task", TASK);
    C config = family.config(model);
    for (String name : family.parameterNames(model)) {
      if (!backboneTensor(name)) {
        continue;
      }
      Tensor t = family.parameter(model, name);
      w.add(name, SafeTensors.DType.F32, t.shape(),
          ch -> SafeTensors.writeFloats(ch, t.toFloatArray()));
      for (ModelFamily.ZeroTensor z : family.zeroTensorsAfter(name, config)) {
        int n = Math.toIntExact(Arrays.stream(z.shape()).reduce(1, (a, b) -> a * b));
        w.add(z.name(), SafeTensors.DType.F32, z.shape(),
            ch -> SafeTensors.writeFloats(ch, new float[n]));
      }
    }
    int k = clf.numLabels(), c = clf.backbone().hiddenSize();
    w.addFloats(TokenClassifier.WEIGHT, new long[] {k, c}, clf.head().weight());
    w.addFloats(TokenClassifier.BIAS, new long[] {k}, clf.head().bias());
    w.write(dir.resolve(Checkpoint.WEIGHTS));
    Map<String, Object> cfg = new LinkedHashMap<>(family.configJson(model));
    cfg.put("architectures", List.of(architecture));
    Map<String, String> id2label = new LinkedHashMap<>();
    Map<String, Integer> label2id = new LinkedHashMap<>();
    for (int i = 0; i < k; i++) {
      id2label.put(Integer.toString(i), clf.labels().get(i));
      label2id.put(clf.labels().get(i), i);
    }
    cfg.put("id2label", id2label);
    cfg.put("label2id", label2id);
    cfg.put("pad_token_id", clf.padId());
    cfg.put("fuselm_task", TASK);
    cfg.put("fuselm_max_length", maxLength);
    Checkpoint.writeConfig(dir.resolve(Checkpoint.CONFIG), cfg);
    if (tokenizerFrom != null) {
      Checkpoint.copyTokenizerFiles(family, tokenizerFrom, dir);
    }
  }

  /** Whether a backbone parameter belongs in a token-classification model file. */
  private static boolean backboneTensor(String name) {
    return !name.startsWith("cls.") && !name.contains("pooler.") && !name.equals("lm_head.weight");
  }

  /** Reads the labels, pad id and maximum length of a token-classifier directory's config.json. */
  public static Meta readMeta(Path dir) throws IOException {
    Path f = dir.resolve(Checkpoint.CONFIG);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + Checkpoint.CONFIG);
    }
    JsonNode n;
    try {
      n = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage());
    }
    JsonNode id2label = n == null ? null : n.get("id2label");
    if (id2label == null || !id2label.isObject() || id2label.size() < 2) {
      throw new IOException(f + ": no 'id2label' with at least two labels (is this a token"
          + " classifier made by finetune-ner?)");
    }
    List<String> labels = new ArrayList<>();
    for (int i = 0; i < id2label.size(); i++) {
      JsonNode l = id2label.get(Integer.toString(i));
      if (l == null || !l.isTextual()) {
        throw new IOException(f + ": 'id2label' has no label for id " + i);
      }
      labels.add(l.asText());
    }
    int pad = n.path("pad_token_id").isInt() ? n.get("pad_token_id").asInt() : 0;
    int maxLength = n.path("fuselm_max_length").isInt() ? n.get("fuselm_max_length").asInt() : 0;
    return new Meta(labels, pad, maxLength);
  }

  /** Loads a token-classifier directory of either family; the classifier owns the model. */
  public static TokenClassifier<? extends Backbone> load(ComputeContext ctx, Path dir)
      throws IOException {
    ModelFamily<?, ?> family = Checkpoint.family(dir);
    if (family == ModelFamily.BERT) {
      return load(ctx, dir, ModelFamily.BERT);
    }
    return load(ctx, dir, ModelFamily.GPT2);
  }

  /** Loads a token-classifier directory of family; the classifier owns the model. */
  public static <C, M extends Backbone> TokenClassifier<M> load(ComputeContext ctx, Path dir,
      ModelFamily<C, M> family) throws IOException {
    dir = CheckpointDirectory.verified(dir); // the latest checkpoint, its files' digests checked
    Meta meta = readMeta(dir);
    M model = Checkpoint.loadBeside(ctx, dir, family,
        Set.of(TokenClassifier.WEIGHT, TokenClassifier.BIAS));
    try {
      Map<String, float[]> head = new LinkedHashMap<>();
      Path weights = ModelDirectory.weights(dir);
      int k = meta.labels().size(), c = model.hiddenSize();
      try (SafeTensors.Reader r = SafeTensors.open(weights)) {
        long[][] shapes = {{k, c}, {k}};
        String[] names = {TokenClassifier.WEIGHT, TokenClassifier.BIAS};
        for (int i = 0; i < 2; i++) {
          if (!r.contains(names[i])) {
            throw new IOException(weights + ": no tensor " + names[i]);
          }
          if (!Arrays.equals(r.entry(names[i]).shape(), shapes[i])) {
            throw new IOException(weights + ": " + names[i] + " has shape "
                + Arrays.toString(r.entry(names[i]).shape()) + ", expected "
                + Arrays.toString(shapes[i]) + " (" + k + " labels in config.json)");
          }
          head.put(names[i], r.readFiniteFloats(names[i]));
        }
      }
      return TokenClassifier.of(model, meta.labels(), meta.padId(), head);
    } catch (IOException | RuntimeException e) {
      try {
        model.close();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }
}
