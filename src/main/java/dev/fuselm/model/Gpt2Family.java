package dev.fuselm.model;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GPT-2 in Hugging Face's layout: {@code config.json} of {@code GPT2LMHeadModel}, tensors named
 * {@code transformer.h.0.attn.c_attn.weight} with Conv1D (in, out) layouts, prefix optional in
 * files. A model without qkv bias is written with zero {@code c_attn.bias} tensors (Hugging Face's
 * GPT-2 always has that bias) and {@code fuselm_qkv_bias: false}.
 */
public final class Gpt2Family implements ModelFamily<GptConfig, GptModel> {
  Gpt2Family() {}

  @Override
  public String modelType() {
    return "gpt2";
  }

  @Override
  public GptConfig parseConfig(ConfigMap n) {
    String type = n.text("model_type", "gpt2");
    if (!type.equals("gpt2")) {
      throw new IllegalArgumentException("model_type is '" + type + "', fuselm's GPT loads gpt2");
    }
    String act = n.text("activation_function", "gelu_new");
    if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
      throw new IllegalArgumentException("activation_function '" + act
          + "' is not supported (fuselm implements gelu_new, the tanh approximation)");
    }
    Object inner = n.get("n_inner");
    if (inner != null && (!(inner instanceof Number i)
        || i.intValue() != 4 * n.intField("n_embd", 768))) {
      throw new IllegalArgumentException("n_inner = " + inner + " is not supported (fuselm's MLP"
          + " is 4 * n_embd wide)");
    }
    for (String flag : new String[] {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
      if (n.bool(flag, false)) {
        throw new IllegalArgumentException(flag + " = true is not supported");
      }
    }
    if (!n.bool("scale_attn_weights", true)) {
      throw new IllegalArgumentException("scale_attn_weights = false is not supported");
    }
    return new GptConfig(
        n.intField("vocab_size", 50257),
        n.intField("n_positions", n.get("n_ctx") == null ? 1024 : n.intField("n_ctx", 1024)),
        n.intField("n_embd", 768),
        n.intField("n_layer", 12),
        n.intField("n_head", 12),
        n.floatField("embd_pdrop", 0.1),
        n.floatField("resid_pdrop", 0.1),
        n.floatField("attn_pdrop", 0.1),
        n.bool("fuselm_qkv_bias", true),
        n.bool("tie_word_embeddings", true),
        n.floatField("layer_norm_epsilon", 1e-5));
  }

  /** config.json's fields for a config, as Hugging Face's GPT2LMHeadModel writes them. */
  public Map<String, Object> configJson(GptConfig c) {
    Map<String, Object> n = new LinkedHashMap<>();
    n.put("architectures", List.of("GPT2LMHeadModel"));
    n.put("model_type", "gpt2");
    n.put("activation_function", "gelu_new");
    n.put("vocab_size", c.vocabSize());
    n.put("n_positions", c.contextLength());
    n.put("n_ctx", c.contextLength());
    n.put("n_embd", c.dModel());
    n.put("n_layer", c.nLayer());
    n.put("n_head", c.nHead());
    n.put("n_inner", null);
    n.put("embd_pdrop", c.embdDropout());
    n.put("resid_pdrop", c.residDropout());
    n.put("attn_pdrop", c.attnDropout());
    n.put("layer_norm_epsilon", c.layerNormEps());
    n.put("initializer_range", 0.02);
    n.put("tie_word_embeddings", c.tiedHead());
    // <|endoftext|> is 50256 in GPT-2's vocabulary; another vocabulary's is unknown here, and
    // Hugging Face warns about token ids outside the vocabulary
    Integer eos = c.vocabSize() > 50256 ? 50256 : null;
    n.put("bos_token_id", eos);
    n.put("eos_token_id", eos);
    n.put("dtype", "float32");
    if (!c.qkvBias()) {
      n.put("fuselm_qkv_bias", false);
    }
    return n;
  }

  @Override
  public Map<String, Object> configJson(GptModel model) {
    return configJson(model.config());
  }

  @Override
  public GptConfig config(GptModel model) {
    return model.config();
  }

  @Override
  public GptModel create(ComputeContext ctx, GptConfig config, Set<String> fileTensors,
      boolean bf16Matrices) {
    return bf16Matrices ? GptModel.createWithBf16Matrices(ctx, config)
        : GptModel.create(ctx, config);
  }

  @Override
  public List<String> parameterNames(GptModel model) {
    return model.parameterNames();
  }

  @Override
  public Tensor parameter(GptModel model, String name) {
    return model.parameter(name);
  }

  @Override
  public String unsavable(GptModel model) {
    if (model.hasInt8Matrices()) {
      return "this model holds its block matrices in int8 (loaded for decoding only): saving it"
          + " would lose their float32 values";
    }
    return model.hasBf16Matrices() ? "this model holds its block matrices in bf16 (loaded for"
        + " decoding only): saving it would lose their float32 values" : null;
  }

  @Override
  public String prefix() {
    return GptModel.PREFIX;
  }

  @Override
  public boolean skipped(String fileName, GptConfig config) {
    String bare = fileName.startsWith(prefix()) ? fileName.substring(prefix().length()) : fileName;
    if (bare.startsWith("h.")
        && (fileName.endsWith(".attn.bias") || fileName.endsWith(".attn.masked_bias"))) {
      return true; // causal-mask buffers of old Hugging Face exports
    }
    return fileName.equals("lm_head.weight") && config.tiedHead(); // a tied head saved anyway
  }

  @Override
  public List<ZeroTensor> zeroTensorsAfter(String name, GptConfig c) {
    if (c.qkvBias() || !name.endsWith(".attn.c_attn.weight")) {
      return List.of();
    }
    // Hugging Face's GPT-2 always has a qkv bias: a zero one computes the same function
    String bias = name.substring(0, name.length() - "weight".length()) + "bias";
    return List.of(new ZeroTensor(bias, new long[] {3L * c.dModel()}, "config.json says"
        + " fuselm_qkv_bias is false but '%s' holds nonzero values (remove fuselm_qkv_bias to load"
        + " the bias)"));
  }

  @Override
  public String mismatchHint(Set<String> fileTensors, List<String> missing, GptModel model) {
    return missing.contains("lm_head.weight")
        ? "config.json says tie_word_embeddings is false but there is no lm_head.weight"
        : "the config asks for " + model.config().nLayer() + " layers";
  }

  /** {@code score.weight} (K, C), as GPT2ForSequenceClassification (no bias). */
  @Override
  public Map<String, long[]> classifierHead(int numLabels, GptConfig config) {
    return Map.of("score.weight", new long[] {numLabels, config.dModel()});
  }

  @Override
  public List<String> tokenizerFiles() {
    return List.of("encoder.json", "vocab.bpe", "vocab.json", "merges.txt", "tokenizer.json");
  }
}
