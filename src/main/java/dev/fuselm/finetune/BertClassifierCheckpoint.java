package dev.fuselm.finetune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.io.BertCheckpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.BertModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * A BERT classifier directory, laid out like the GPT one ({@link ClassifierCheckpoint}): the
 * encoder as {@link BertCheckpoint} writes it ({@code config.json}, {@code model.safetensors}),
 * the head in {@code classifier.safetensors} ({@code classifier.weight} (K, C) and
 * {@code classifier.bias} (K), Hugging Face's names), {@code classifier.json} (labels in class-id
 * order, pad token id, maximum length, whether inputs are sentence pairs) and the tokenizer
 * ({@code vocab.txt}, {@code tokenizer_config.json}) copied from the source model.
 */
public final class BertClassifierCheckpoint {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] TOKENIZER_FILES = {"vocab.txt", "tokenizer_config.json"};

  private BertClassifierCheckpoint() {}

  public static void save(BertSequenceClassifier clf, int maxLength, boolean pairs, Path dir,
      Path tokenizerFrom) throws IOException {
    Files.createDirectories(dir);
    BertCheckpoint.save(clf.model(), dir, Map.of("fuselm_task", "sequence-classification"));
    int k = clf.numLabels(), c = clf.model().config().hiddenSize();
    new SafeTensors.Writer().metadata("format", "pt")
        .addFloats(BertSequenceClassifier.WEIGHT, new long[] {k, c}, clf.weight())
        .addFloats(BertSequenceClassifier.BIAS, new long[] {k}, clf.bias())
        .write(dir.resolve(ClassifierCheckpoint.HEAD_FILE));
    ObjectNode meta = JSON.createObjectNode();
    var arr = meta.putArray("labels");
    clf.labels().forEach(arr::add);
    meta.put("pad_token_id", clf.padId()).put("max_length", maxLength)
        .put("model_type", "bert").put("sentence_pairs", pairs);
    AtomicFiles.writeString(dir.resolve(ClassifierCheckpoint.META_FILE),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(meta) + "\n");
    if (tokenizerFrom != null && !tokenizerFrom.toAbsolutePath().equals(dir.toAbsolutePath())) {
      for (String f : TOKENIZER_FILES) {
        Path src = tokenizerFrom.resolve(f);
        if (Files.isRegularFile(src)) {
          byte[] bytes = Files.readAllBytes(src);
          AtomicFiles.write(dir.resolve(f), ch -> ch.write(java.nio.ByteBuffer.wrap(bytes)));
        }
      }
    }
  }

  /**
   * True when dir's config.json has {@code "model_type": "bert"} (false for GPT-2 or no
   * model_type; a missing or unreadable config.json is an IOException).
   */
  public static boolean isBertModel(Path dir) throws IOException {
    Path f = dir.resolve(BertCheckpoint.CONFIG);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + BertCheckpoint.CONFIG + " (not a model directory)");
    }
    com.fasterxml.jackson.databind.JsonNode n;
    try {
      n = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage());
    }
    return n != null && "bert".equals(n.path("model_type").asText(""));
  }

  /** Whether classifier.json says the inputs are sentence pairs. */
  public static boolean sentencePairs(Path dir) throws IOException {
    var n = JSON.readTree(dir.resolve(ClassifierCheckpoint.META_FILE).toFile());
    return n != null && n.path("sentence_pairs").asBoolean(false);
  }

  /** Loads a BERT classifier directory onto ctx. */
  public static BertSequenceClassifier load(ComputeContext ctx, Path dir) throws IOException {
    ClassifierCheckpoint.Meta meta = ClassifierCheckpoint.readMeta(dir);
    BertModel model = BertCheckpoint.load(ctx, dir);
    try {
      Path hf = dir.resolve(ClassifierCheckpoint.HEAD_FILE);
      if (!Files.isRegularFile(hf)) {
        throw new IOException(dir + ": no " + ClassifierCheckpoint.HEAD_FILE);
      }
      int k = meta.labels().size(), c = model.config().hiddenSize();
      float[] w, b;
      try (SafeTensors.Reader r = SafeTensors.open(hf)) {
        w = read(r, hf, BertSequenceClassifier.WEIGHT, new long[] {k, c});
        b = read(r, hf, BertSequenceClassifier.BIAS, new long[] {k});
      }
      return new BertSequenceClassifier(model, meta.labels(), meta.padId(), w, b);
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
  }

  private static float[] read(SafeTensors.Reader r, Path file, String name, long[] shape)
      throws IOException {
    if (!r.contains(name)) {
      throw new IOException(file + ": no tensor " + name);
    }
    long[] s = r.entry(name).shape();
    if (!Arrays.equals(s, shape)) {
      throw new IOException(file + ": " + name + " has shape " + Arrays.toString(s)
          + ", expected " + Arrays.toString(shape));
    }
    return r.readFloats(name);
  }
}
