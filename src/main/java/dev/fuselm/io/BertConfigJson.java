package dev.fuselm.io;

import static dev.fuselm.io.ConfigJson.intField;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.BertConfig;
import java.io.IOException;
import java.nio.file.Path;

/** Hugging Face BERT {@code config.json}: reads theirs and writes one they load. */
public final class BertConfigJson {
  private BertConfigJson() {}

  public static BertConfig read(Path file) throws IOException {
    return parse(file.toString(), ConfigJson.readText(file));
  }

  public static BertConfig parse(String where, String text) throws IOException {
    JsonNode n = ConfigJson.parseObject(where, text);
    String type = n.path("model_type").asText("bert");
    if (!type.equals("bert")) {
      throw new IOException(where + ": model_type is '" + type + "', fuselm's BERT loads bert");
    }
    String act = n.path("hidden_act").asText("gelu");
    if (!act.equals("gelu")) {
      throw new IOException(where + ": hidden_act '" + act
          + "' is not supported (fuselm's BERT implements gelu, the exact erf form)");
    }
    String pos = n.path("position_embedding_type").asText("absolute");
    if (!pos.equals("absolute")) {
      throw new IOException(where + ": position_embedding_type '" + pos + "' is not supported"
          + " (only absolute)");
    }
    if (n.path("is_decoder").asBoolean(false) || n.path("add_cross_attention").asBoolean(false)) {
      throw new IOException(where + ": decoder BERT configs are not supported");
    }
    try {
      BertConfig d = BertConfig.baseUncased();
      return new BertConfig(
          intField(where, n, "vocab_size", d.vocabSize()),
          intField(where, n, "hidden_size", d.hiddenSize()),
          intField(where, n, "num_hidden_layers", d.numLayers()),
          intField(where, n, "num_attention_heads", d.numHeads()),
          intField(where, n, "intermediate_size", d.intermediateSize()),
          intField(where, n, "max_position_embeddings", d.maxPositions()),
          intField(where, n, "type_vocab_size", d.typeVocabSize()),
          (float) n.path("layer_norm_eps").asDouble(1e-12),
          (float) n.path("hidden_dropout_prob").asDouble(0.1),
          (float) n.path("attention_probs_dropout_prob").asDouble(0.1));
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage());
    }
  }

  /** config.json text; architecture BertForPreTraining with heads, BertModel without. */
  public static String toJson(BertConfig c, boolean heads) {
    ObjectNode n = ConfigJson.newObject();
    n.putArray("architectures").add(heads ? "BertForPreTraining" : "BertModel");
    n.put("model_type", "bert");
    n.put("hidden_act", "gelu");
    n.put("vocab_size", c.vocabSize());
    n.put("hidden_size", c.hiddenSize());
    n.put("num_hidden_layers", c.numLayers());
    n.put("num_attention_heads", c.numHeads());
    n.put("intermediate_size", c.intermediateSize());
    n.put("max_position_embeddings", c.maxPositions());
    n.put("type_vocab_size", c.typeVocabSize());
    n.put("layer_norm_eps", c.layerNormEps());
    n.put("hidden_dropout_prob", c.hiddenDropout());
    n.put("attention_probs_dropout_prob", c.attentionDropout());
    n.put("initializer_range", 0.02);
    n.put("pad_token_id", 0);
    n.put("position_embedding_type", "absolute");
    return ConfigJson.toText(n);
  }

  public static void write(Path file, BertConfig c, boolean heads) throws IOException {
    AtomicFiles.writeString(file, toJson(c, heads));
  }
}
