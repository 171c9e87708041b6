package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.ModelFamily;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The sequence-classification head beside a model directory: {@code classifier.safetensors} (the
 * family's head tensors, {@link ModelFamily#classifierHead}) and {@code classifier.json} (labels in
 * class-id order, pad token id, maximum length; for families other than GPT-2 also its
 * model_type and whether inputs are sentence pairs).
 */
public final class ClassifierHead {
  public static final String HEAD_FILE = "classifier.safetensors";
  public static final String META_FILE = "classifier.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private ClassifierHead() {}

  /** What classifier.json holds. */
  public record Meta(List<String> labels, int padId, int maxLength, boolean sentencePairs) {}

  /** Writes both files into dir, each atomically; head holds the values of every head tensor. */
  static <C> void save(ModelFamily<C, ?> family, C config, Path dir, Meta meta,
      Map<String, float[]> head) throws IOException {
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
    for (var e : family.classifierHead(meta.labels().size(), config).entrySet()) {
      float[] values = head.get(e.getKey());
      if (values == null) {
        throw new IllegalArgumentException("the classifier head has no " + e.getKey());
      }
      w.addFloats(e.getKey(), e.getValue(), values);
    }
    w.write(dir.resolve(HEAD_FILE));
    ObjectNode n = JSON.createObjectNode();
    var arr = n.putArray("labels");
    meta.labels().forEach(arr::add);
    n.put("pad_token_id", meta.padId()).put("max_length", meta.maxLength());
    if (family != ModelFamily.GPT2) { // GPT-2 classifier.json files predate these two fields
      n.put("model_type", family.modelType()).put("sentence_pairs", meta.sentencePairs());
    }
    AtomicFiles.writeString(dir.resolve(META_FILE),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
  }

  /** Reads classifier.json of a classifier directory. */
  public static Meta readMeta(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
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
    return new Meta(labels, n.get("pad_token_id").asInt(), n.get("max_length").asInt(),
        n.path("sentence_pairs").asBoolean(false));
  }

  /** Reads the head tensors of dir for a model of config, checking names and shapes. */
  static <C> Map<String, float[]> read(ModelFamily<C, ?> family, C config, Path dir, Meta meta)
      throws IOException {
    Path hf = dir.resolve(HEAD_FILE);
    if (!Files.isRegularFile(hf)) {
      throw new IOException(dir + ": no " + HEAD_FILE);
    }
    Map<String, float[]> head = new LinkedHashMap<>();
    try (SafeTensors.Reader r = SafeTensors.open(hf)) {
      for (var e : family.classifierHead(meta.labels().size(), config).entrySet()) {
        String name = e.getKey();
        if (!r.contains(name)) {
          throw new IOException(hf + ": no tensor " + name);
        }
        long[] s = r.entry(name).shape();
        if (!Arrays.equals(s, e.getValue())) {
          throw new IOException(hf + ": " + name + " has shape " + Arrays.toString(s)
              + ", expected " + Arrays.toString(e.getValue()));
        }
        head.put(name, r.readFiniteFloats(name));
      }
    }
    return head;
  }
}
