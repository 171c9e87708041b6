package dev.fuselm.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.io.GptCheckpoint;
import dev.fuselm.io.SafeTensors;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A classifier directory: the GPT model as {@link GptCheckpoint} writes it ({@code config.json},
 * {@code model.safetensors}), the head in {@code classifier.safetensors} ({@code score.weight},
 * (K, C)), and {@code classifier.json} with the labels in class-id order, the pad token id and the
 * maximum sequence length. Tokenizer files of the source model are copied beside them.
 */
public final class ClassifierCheckpoint {
  public static final String HEAD_FILE = "classifier.safetensors";
  public static final String META_FILE = "classifier.json";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] TOKENIZER_FILES = {"encoder.json", "vocab.bpe", "vocab.json",
      "merges.txt", "tokenizer.json"};

  private ClassifierCheckpoint() {}

  /** What classifier.json holds. */
  public record Meta(List<String> labels, int padId, int maxLength) {}

  public static void save(SequenceClassifier clf, int maxLength, Path dir, Path tokenizerFrom)
      throws IOException {
    Files.createDirectories(dir);
    GptCheckpoint.save(clf.model(), dir, Map.of("fuselm_task", "sequence-classification"));
    int c = clf.model().config().dModel();
    new SafeTensors.Writer().metadata("format", "pt")
        .addFloats(SequenceClassifier.HEAD, new long[] {clf.numLabels(), c}, clf.headWeight())
        .write(dir.resolve(HEAD_FILE));
    ObjectNode meta = JSON.createObjectNode();
    var arr = meta.putArray("labels");
    clf.labels().forEach(arr::add);
    meta.put("pad_token_id", clf.padId()).put("max_length", maxLength);
    AtomicFiles.writeString(dir.resolve(META_FILE),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(meta) + "\n");
    if (tokenizerFrom != null) {
      copyTokenizerFiles(tokenizerFrom, dir);
    }
  }

  /** Copies the tokenizer files of a model directory (those present) into dir, atomically. */
  public static void copyTokenizerFiles(Path from, Path dir) throws IOException {
    if (from.toAbsolutePath().equals(dir.toAbsolutePath())) {
      return;
    }
    for (String f : TOKENIZER_FILES) {
      Path src = from.resolve(f);
      if (Files.isRegularFile(src)) {
        byte[] bytes = Files.readAllBytes(src);
        AtomicFiles.write(dir.resolve(f), ch -> ch.write(java.nio.ByteBuffer.wrap(bytes)));
      }
    }
  }

  public static Meta readMeta(Path dir) throws IOException {
    Path f = dir.resolve(META_FILE);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + META_FILE + " (is this a classifier made by"
          + " finetune-classify?)");
    }
    JsonNode n;
    try {
      n = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage());
    }
    if (n == null || !n.path("labels").isArray() || !n.path("pad_token_id").isInt()
        || !n.path("max_length").isInt()) {
      throw new IOException(f + ": needs 'labels' (array), 'pad_token_id' and 'max_length'");
    }
    List<String> labels = new ArrayList<>();
    n.get("labels").forEach(x -> labels.add(x.asText()));
    return new Meta(labels, n.get("pad_token_id").asInt(), n.get("max_length").asInt());
  }

  /** Loads a classifier directory onto ctx. */
  public static SequenceClassifier load(ComputeContext ctx, Path dir) throws IOException {
    Meta meta = readMeta(dir);
    GptModel model = GptCheckpoint.load(ctx, dir);
    try {
      Path hf = dir.resolve(HEAD_FILE);
      if (!Files.isRegularFile(hf)) {
        throw new IOException(dir + ": no " + HEAD_FILE);
      }
      float[] w;
      try (SafeTensors.Reader r = SafeTensors.open(hf)) {
        if (!r.contains(SequenceClassifier.HEAD)) {
          throw new IOException(hf + ": no tensor " + SequenceClassifier.HEAD);
        }
        long[] shape = r.entry(SequenceClassifier.HEAD).shape();
        if (shape.length != 2 || shape[0] != meta.labels().size()
            || shape[1] != model.config().dModel()) {
          throw new IOException(hf + ": " + SequenceClassifier.HEAD + " has shape "
              + java.util.Arrays.toString(shape) + ", expected [" + meta.labels().size() + ", "
              + model.config().dModel() + "]");
        }
        w = r.readFloats(SequenceClassifier.HEAD);
      }
      return new SequenceClassifier(model, meta.labels(), meta.padId(), w);
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
  }
}
