package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.Pooling;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sentence-transformers model directory's pipeline: {@code modules.json} lists the Transformer
 * (this directory), a Pooling module ({@code 1_Pooling/config.json}: mean, CLS or max) and
 * optionally Normalize. Read so that embeddings pool as the model was trained; modules fuselm
 * does not run (Dense, other pooling modes) are refused by name rather than skipped.
 */
public final class SentenceTransformers {
  public static final String MODULES = "modules.json";
  private static final String TYPE = "sentence_transformers.models.";

  private SentenceTransformers() {}

  /** How the directory's model pools and whether it normalises. */
  public record Pipeline(Pooling pooling, boolean normalize) {}

  /** The pipeline of dir, or null when it has no modules.json (a plain model directory). */
  public static Pipeline read(Path dir) throws IOException {
    Path modules = dir.resolve(MODULES);
    if (!Files.isRegularFile(modules)) {
      return null;
    }
    JsonNode list = json(modules);
    if (!list.isArray()) {
      throw new IOException(modules + ": not a JSON array of modules");
    }
    Pooling pooling = null;
    boolean normalize = false;
    for (JsonNode m : list) {
      String type = m.path("type").asText("");
      String path = m.path("path").asText("");
      switch (type.startsWith(TYPE) ? type.substring(TYPE.length()) : type) {
        case "Transformer" -> { }
        case "Pooling" -> pooling = pooling(dir.resolve(path).resolve("config.json"));
        case "Normalize" -> normalize = true;
        default -> throw new IOException(modules + ": module '" + path + "' (" + type
            + ") is not supported; fuselm runs Transformer, Pooling and Normalize");
      }
    }
    if (pooling == null) {
      throw new IOException(modules + ": no Pooling module");
    }
    return new Pipeline(pooling, normalize);
  }

  /** A Pooling config: exactly one of cls, mean, max (old boolean fields or "pooling_mode"). */
  static Pooling pooling(Path config) throws IOException {
    if (!Files.isRegularFile(config)) {
      throw new IOException(config + ": missing (the Pooling module's config)");
    }
    JsonNode n = json(config);
    if (n.path("pooling_mode").isTextual()) {
      String mode = n.path("pooling_mode").asText();
      return switch (mode) {
        case "cls" -> Pooling.CLS;
        case "mean" -> Pooling.MEAN;
        case "max" -> Pooling.MAX;
        default -> throw new IOException(config + ": pooling_mode '" + mode
            + "' is not supported (fuselm pools by mean, cls or max)");
      };
    }
    List<String> on = new ArrayList<>();
    for (var it = n.fields(); it.hasNext(); ) {
      var e = it.next();
      if (e.getKey().startsWith("pooling_mode_") && e.getValue().asBoolean(false)) {
        on.add(e.getKey());
      }
    }
    if (on.size() != 1) {
      throw new IOException(config + ": " + (on.isEmpty() ? "no pooling mode"
          : "pooling modes " + on + " together") + "; fuselm pools by exactly one of mean, cls,"
          + " max");
    }
    return switch (on.get(0)) {
      case "pooling_mode_cls_token" -> Pooling.CLS;
      case "pooling_mode_mean_tokens" -> Pooling.MEAN;
      case "pooling_mode_max_tokens" -> Pooling.MAX;
      default -> throw new IOException(config + ": " + on.get(0) + " is not supported (fuselm"
          + " pools by mean, cls or max)");
    };
  }

  /**
   * Writes modules.json, 1_Pooling/config.json and, when normalize, the 2_Normalize module, as
   * sentence-transformers saves them; dimension is the embedding width.
   */
  public static void write(Path dir, int dimension, Pooling pooling, boolean normalize)
      throws IOException {
    List<Map<String, Object>> modules = new ArrayList<>();
    modules.add(module(0, "", "Transformer"));
    modules.add(module(1, "1_Pooling", "Pooling"));
    if (normalize) {
      modules.add(module(2, "2_Normalize", "Normalize"));
      Files.createDirectories(dir.resolve("2_Normalize"));
    }
    AtomicFiles.writeString(dir.resolve(MODULES),
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(modules) + "\n");
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("word_embedding_dimension", dimension);
    p.put("pooling_mode_cls_token", pooling == Pooling.CLS);
    p.put("pooling_mode_mean_tokens", pooling == Pooling.MEAN);
    p.put("pooling_mode_max_tokens", pooling == Pooling.MAX);
    p.put("pooling_mode_mean_sqrt_len_tokens", false);
    Files.createDirectories(dir.resolve("1_Pooling"));
    AtomicFiles.writeString(dir.resolve("1_Pooling").resolve("config.json"),
        ConfigJson.toText(p));
  }

  private static Map<String, Object> module(int idx, String path, String type) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("idx", idx);
    m.put("name", Integer.toString(idx));
    m.put("path", path);
    m.put("type", TYPE + type);
    return m;
  }

  private static JsonNode json(Path f) throws IOException {
    try {
      return new ObjectMapper().readTree(Files.readString(f, StandardCharsets.UTF_8));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(f + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
  }
}
