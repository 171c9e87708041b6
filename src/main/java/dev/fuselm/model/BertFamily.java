package dev.fuselm.model;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * BERT in Hugging Face's layout: {@code config.json} of {@code BertForPreTraining} (with the
 * pre-training heads) or {@code BertModel}, tensors named {@code bert.encoder.layer.0...} with
 * {@code nn.Linear} (out, in) layouts, prefix optional in files. Reads old
 * {@code LayerNorm.gamma}/{@code beta} names; skips the {@code position_ids} buffer and the tied
 * {@code cls.predictions.decoder.*} copies. A file without {@code cls.*} builds a model without
 * the pre-training heads, one without {@code pooler.dense.*} also without the pooler.
 */
public final class BertFamily implements ModelFamily<BertConfig, BertModel> {
  BertFamily() {}

  @Override
  public String modelType() {
    return "bert";
  }

  @Override
  public BertConfig parseConfig(ConfigMap n) {
    String type = n.text("model_type", "bert");
    if (!type.equals("bert")) {
      throw new IllegalArgumentException("model_type is '" + type + "', fuselm's BERT loads bert");
    }
    String act = n.text("hidden_act", "gelu");
    if (!act.equals("gelu")) {
      throw new IllegalArgumentException("hidden_act '" + act
          + "' is not supported (fuselm's BERT implements gelu, the exact erf form)");
    }
    String pos = n.text("position_embedding_type", "absolute");
    if (!pos.equals("absolute")) {
      throw new IllegalArgumentException("position_embedding_type '" + pos + "' is not supported"
          + " (only absolute)");
    }
    if (n.bool("is_decoder", false) || n.bool("add_cross_attention", false)) {
      throw new IllegalArgumentException("decoder BERT configs are not supported");
    }
    BertConfig d = BertConfig.baseUncased();
    return new BertConfig(
        n.intField("vocab_size", d.vocabSize()),
        n.intField("hidden_size", d.hiddenSize()),
        n.intField("num_hidden_layers", d.numLayers()),
        n.intField("num_attention_heads", d.numHeads()),
        n.intField("intermediate_size", d.intermediateSize()),
        n.intField("max_position_embeddings", d.maxPositions()),
        n.intField("type_vocab_size", d.typeVocabSize()),
        n.floatField("layer_norm_eps", 1e-12),
        n.floatField("hidden_dropout_prob", 0.1),
        n.floatField("attention_probs_dropout_prob", 0.1));
  }

  /** config.json's fields; architecture BertForPreTraining with heads, BertModel without. */
  public Map<String, Object> configJson(BertConfig c, boolean heads) {
    Map<String, Object> n = new LinkedHashMap<>();
    n.put("architectures", List.of(heads ? "BertForPreTraining" : "BertModel"));
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
    return n;
  }

  @Override
  public Map<String, Object> configJson(BertModel model) {
    return configJson(model.config(), model.hasHeads());
  }

  @Override
  public BertConfig config(BertModel model) {
    return model.config();
  }

  @Override
  public BertModel create(ComputeContext ctx, BertConfig config, Set<String> fileTensors,
      boolean bf16Matrices) {
    if (bf16Matrices) {
      throw new IllegalArgumentException("bf16 block matrices are only for GPT decoding");
    }
    boolean heads = fileTensors.stream().anyMatch(k -> k.startsWith("cls."));
    boolean pooler = fileTensors.stream().anyMatch(k -> k.contains("pooler.dense."));
    return BertModel.create(ctx, config, pooler || heads, heads);
  }

  @Override
  public List<String> parameterNames(BertModel model) {
    return model.parameterNames();
  }

  @Override
  public Tensor parameter(BertModel model, String name) {
    return model.params().get(name);
  }

  @Override
  public String unsavable(BertModel model) {
    return null;
  }

  @Override
  public String prefix() {
    return BertModel.PREFIX;
  }

  /** Also the old LayerNorm {@code gamma}/{@code beta} names when the file uses them. */
  @Override
  public String fileName(String name, boolean prefixed, Set<String> fileTensors) {
    String n = ModelFamily.super.fileName(name, prefixed, fileTensors);
    if (!fileTensors.contains(n) && n.contains("LayerNorm.")) {
      String old = n.replace("LayerNorm.weight", "LayerNorm.gamma")
          .replace("LayerNorm.bias", "LayerNorm.beta");
      if (fileTensors.contains(old)) {
        return old;
      }
    }
    return n;
  }

  @Override
  public boolean skipped(String fileName, BertConfig config) {
    // a buffer of old exports; the decoder is tied to the word embeddings and bias
    return fileName.endsWith("embeddings.position_ids")
        || fileName.startsWith("cls.predictions.decoder.");
  }

  /**
   * Hugging Face task layouts fuselm's BERT cannot hold are named (its BertModel has both
   * pre-training heads and the pooler, or no heads), else the layer count.
   */
  @Override
  public String mismatchHint(Set<String> fileTensors, List<String> missing, BertModel model) {
    boolean mlmHead = fileTensors.contains("cls.predictions.bias");
    boolean nspHead = fileTensors.stream().anyMatch(k -> k.startsWith("cls.seq_relationship."));
    if (mlmHead && !nspHead) {
      return "this is a Hugging Face BertForMaskedLM: an MLM head without the NSP head and pooler,"
          + " which fuselm's BERT does not hold; it loads BertForPreTraining and BertModel layouts";
    }
    if (fileTensors.stream().anyMatch(k -> k.startsWith("classifier."))) {
      return "this is a Hugging Face task model with a classifier.* head, which fuselm's BERT does"
          + " not hold; it loads BertForPreTraining and BertModel layouts";
    }
    return "the config asks for " + model.config().numLayers() + " layers";
  }

  /** {@code classifier.weight} (K, C) and {@code classifier.bias} (K), as BertForSequenceClassification. */
  @Override
  public Map<String, long[]> classifierHead(int numLabels, BertConfig config) {
    Map<String, long[]> head = new LinkedHashMap<>();
    head.put("classifier.weight", new long[] {numLabels, config.hiddenSize()});
    head.put("classifier.bias", new long[] {numLabels});
    return head;
  }

  @Override
  public List<String> tokenizerFiles() {
    return List.of("vocab.txt", "tokenizer_config.json");
  }
}
