package dev.fuselm.model;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What io needs to know about one model family to read and write its Hugging Face model
 * directory: the {@code config.json} fields, the tensor names and shapes (with the aliases and
 * buffers of Hugging Face's exports), and how to build the model. {@code io.Checkpoint} is the
 * one reader and writer, driven by this; adding a family is one more implementation.
 *
 * @param <C> the config record
 * @param <M> the model
 */
public interface ModelFamily<C, M extends AutoCloseable> {
  /** GPT-2 ({@code model_type: gpt2}, also a config without model_type). */
  Gpt2Family GPT2 = new Gpt2Family();
  /** BERT ({@code model_type: bert}). */
  BertFamily BERT = new BertFamily();

  /** Every known family, the default (a config without model_type) first. */
  static List<ModelFamily<?, ?>> all() {
    return List.of(GPT2, BERT);
  }

  /**
   * The family of a config.json's model_type; null or an unknown type gives the default, GPT-2,
   * whose {@link #parseConfig} then names the unsupported type.
   */
  static ModelFamily<?, ?> forModelType(String modelType) {
    for (ModelFamily<?, ?> f : all()) {
      if (f.modelType().equals(modelType)) {
        return f;
      }
    }
    return GPT2;
  }

  /** The {@code model_type} of its config.json. */
  String modelType();

  /** The config a config.json describes; unsupported settings are IllegalArgumentException. */
  C parseConfig(ConfigMap json);

  /** config.json's fields for a model, in the order they are written. */
  Map<String, Object> configJson(M model);

  /** The config of a model. */
  C config(M model);

  /**
   * A zero-filled model for config, holding the optional parts (pooler, heads) the weights file
   * has: fileTensors are its tensor names. bf16Matrices asks for bf16 block matrices (decoding
   * only); a family without them refuses.
   */
  M create(ComputeContext ctx, C config, Set<String> fileTensors, boolean bf16Matrices);

  /** Parameter names in file order (Hugging Face names with {@link #prefix()}). */
  List<String> parameterNames(M model);

  /** A parameter by name (a bf16 tensor for a bf16 block matrix). */
  Tensor parameter(M model, String name);

  /** An error message when the model cannot be saved without losing weights, else null. */
  String unsavable(M model);

  /** The prefix of the base model's names ({@code transformer.}, {@code bert.}), which exports may drop. */
  String prefix();

  /**
   * The file's name for a parameter: without {@link #prefix()} when the file has no prefixed
   * name, or an old alias the file uses instead.
   */
  default String fileName(String name, boolean prefixed, Set<String> fileTensors) {
    return !prefixed && name.startsWith(prefix()) ? name.substring(prefix().length()) : name;
  }

  /** True for a file tensor that is no parameter and is skipped (a buffer, a tied copy). */
  boolean skipped(String fileName, C config);

  /**
   * A tensor written after a parameter that the model does not hold but Hugging Face needs; all
   * zeros, and reading back anything else is the error nonZeroError.
   */
  record ZeroTensor(String name, long[] shape, String nonZeroError) {}

  /** The zero tensors written after parameter name (usually none). */
  default List<ZeroTensor> zeroTensorsAfter(String name, C config) {
    return List.of();
  }

  /** Why the file's names did not match the model's, for the error message. */
  String mismatchHint(Set<String> fileTensors, List<String> missing, M model);

  /**
   * The tensors of a sequence-classification head over numLabels classes, under Hugging Face's
   * names, with their shapes (in file order).
   */
  Map<String, long[]> classifierHead(int numLabels, C config);

  /** Tokenizer files of this family that travel with a model directory (copied when present). */
  List<String> tokenizerFiles();
}
