package dev.fuselm.io;

import static dev.fuselm.io.ConfigJson.intField;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.GptConfig;
import java.io.IOException;
import java.nio.file.Path;

/** Hugging Face GPT-2 {@code config.json}: reads theirs and writes one they load. */
public final class GptConfigJson {
  private GptConfigJson() {}

  public static GptConfig read(Path file) throws IOException {
    return parse(file.toString(), ConfigJson.readText(file));
  }

  public static GptConfig parse(String where, String text) throws IOException {
    JsonNode n = ConfigJson.parseObject(where, text);
    String type = n.path("model_type").asText("gpt2");
    if (!type.equals("gpt2")) {
      throw new IOException(where + ": model_type is '" + type + "', fuselm's GPT loads gpt2");
    }
    String act = n.path("activation_function").asText("gelu_new");
    if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
      throw new IOException(where + ": activation_function '" + act
          + "' is not supported (fuselm implements gelu_new, the tanh approximation)");
    }
    JsonNode inner = n.get("n_inner");
    if (inner != null && !inner.isNull()
        && inner.asInt() != 4 * n.path("n_embd").asInt(768)) {
      throw new IOException(where + ": n_inner = " + inner + " is not supported (fuselm's MLP is"
          + " 4 * n_embd wide)");
    }
    for (String flag : new String[] {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
      if (n.path(flag).asBoolean(false)) {
        throw new IOException(where + ": " + flag + " = true is not supported");
      }
    }
    if (!n.path("scale_attn_weights").asBoolean(true)) {
      throw new IOException(where + ": scale_attn_weights = false is not supported");
    }
    try {
      return new GptConfig(
          intField(where, n, "vocab_size", 50257),
          intField(where, n, "n_positions", n.has("n_ctx") ? n.get("n_ctx").asInt() : 1024),
          intField(where, n, "n_embd", 768),
          intField(where, n, "n_layer", 12),
          intField(where, n, "n_head", 12),
          (float) n.path("embd_pdrop").asDouble(0.1),
          (float) n.path("resid_pdrop").asDouble(0.1),
          (float) n.path("attn_pdrop").asDouble(0.1),
          n.path("fuselm_qkv_bias").asBoolean(true),
          n.path("tie_word_embeddings").asBoolean(true),
          (float) n.path("layer_norm_epsilon").asDouble(1e-5));
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage());
    }
  }

  public static String toJson(GptConfig c) {
    ObjectNode n = ConfigJson.newObject();
    n.putArray("architectures").add("GPT2LMHeadModel");
    n.put("model_type", "gpt2");
    n.put("activation_function", "gelu_new");
    n.put("vocab_size", c.vocabSize());
    n.put("n_positions", c.contextLength());
    n.put("n_ctx", c.contextLength());
    n.put("n_embd", c.dModel());
    n.put("n_layer", c.nLayer());
    n.put("n_head", c.nHead());
    n.putNull("n_inner");
    n.put("embd_pdrop", c.embdDropout());
    n.put("resid_pdrop", c.residDropout());
    n.put("attn_pdrop", c.attnDropout());
    n.put("layer_norm_epsilon", c.layerNormEps());
    n.put("initializer_range", 0.02);
    n.put("tie_word_embeddings", c.tiedHead());
    // <|endoftext|> is 50256 in GPT-2's vocabulary; another vocabulary's is unknown here, and
    // Hugging Face warns about token ids outside the vocabulary
    if (c.vocabSize() > 50256) {
      n.put("bos_token_id", 50256);
      n.put("eos_token_id", 50256);
    } else {
      n.putNull("bos_token_id");
      n.putNull("eos_token_id");
    }
    n.put("dtype", "float32");
    if (!c.qkvBias()) {
      n.put("fuselm_qkv_bias", false);
    }
    return ConfigJson.toText(n);
  }

  public static void write(Path file, GptConfig c) throws IOException {
    AtomicFiles.writeString(file, toJson(c));
  }
}
