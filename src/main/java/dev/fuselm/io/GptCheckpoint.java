package dev.fuselm.io;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * A GPT model directory in Hugging Face layout: {@code config.json} + {@code model.safetensors}
 * with GPT-2 tensor names and Conv1D layouts. Reads Hugging Face's own directories (names with or
 * without the {@code transformer.} prefix; the causal-mask buffers {@code .attn.bias} and
 * {@code .attn.masked_bias} of old exports are skipped; F16/BF16 weights are widened) and writes
 * directories Hugging Face loads unchanged (a model without qkv bias gets zero {@code c_attn.bias}
 * tensors, which Hugging Face's GPT-2 requires). Writes are atomic per file.
 */
public final class GptCheckpoint {
  public static final String CONFIG = ModelDirectory.CONFIG;
  public static final String WEIGHTS = ModelDirectory.WEIGHTS;

  private GptCheckpoint() {}

  /** Reads only the config of a model directory. */
  public static GptConfig readConfig(Path dir) throws IOException {
    return GptConfigJson.read(ModelDirectory.config(dir));
  }

  /** Loads a model directory onto ctx. */
  public static GptModel load(ComputeContext ctx, Path dir) throws IOException {
    return load(dir, config -> GptModel.create(ctx, config));
  }

  /**
   * Loads a model directory onto ctx for decoding with bf16 weights only ({@link
   * GptModel#createWithBf16Matrices}): each block matrix is read and rounded to bf16 one at a time,
   * so its float32 values are never all resident; embeddings, norms and biases load as float32.
   */
  public static GptModel loadBf16Matrices(ComputeContext ctx, Path dir) throws IOException {
    return load(dir, config -> GptModel.createWithBf16Matrices(ctx, config));
  }

  private static GptModel load(Path dir, java.util.function.Function<GptConfig, GptModel> create)
      throws IOException {
    GptConfig config = readConfig(dir);
    Path weights = ModelDirectory.weights(dir);
    GptModel model = create.apply(config);
    try (SafeTensors.Reader r = SafeTensors.open(weights)) {
      loadInto(model, r);
      return model;
    } catch (IOException | RuntimeException e) {
      model.close();
      throw e;
    }
  }

  /**
   * Copies every parameter of the model from an open file, checking names and shapes first (a
   * bf16 parameter of a bf16-matrix model gets the file's values rounded to bf16).
   */
  public static void loadInto(GptModel model, SafeTensors.Reader r) throws IOException {
    Map<String, SafeTensors.Entry> entries = r.entries();
    boolean prefixed = entries.keySet().stream().anyMatch(k -> k.startsWith(GptModel.PREFIX));
    // validate everything before copying anything
    String[] fileNames = new String[model.parameterNames().size()];
    java.util.List<String> missing = new java.util.ArrayList<>();
    java.util.List<String> unexpected = new java.util.ArrayList<>();
    int i = 0;
    for (String name : model.parameterNames()) {
      String fileName = fileName(name, prefixed);
      SafeTensors.Entry e = entries.get(fileName);
      fileNames[i++] = fileName;
      if (e == null) {
        missing.add(fileName);
        continue;
      }
      long[] want = model.parameter(name).shape();
      if (!Arrays.equals(e.shape(), want)) {
        throw new IOException(r.path() + ": config/weights mismatch: tensor '" + fileName
            + "' has shape " + Arrays.toString(e.shape()) + ", the config needs "
            + Arrays.toString(want));
      }
    }
    java.util.Set<String> known = new java.util.HashSet<>(model.parameterNames());
    for (String k : entries.keySet()) {
      String bare = k.startsWith(GptModel.PREFIX) ? k.substring(GptModel.PREFIX.length()) : k;
      if (bare.startsWith("h.") && (k.endsWith(".attn.bias") || k.endsWith(".attn.masked_bias"))) {
        continue; // causal-mask buffers of old Hugging Face exports
      }
      if (k.equals("lm_head.weight") && model.config().tiedHead()) {
        continue; // a tied head saved anyway
      }
      if (!model.config().qkvBias() && bare.startsWith("h.") && k.endsWith(".attn.c_attn.bias")) {
        requireZero(r, k); // the zero qkv bias that save() writes for Hugging Face
        continue;
      }
      if (!known.contains(prefixed || k.equals("lm_head.weight") ? k
          : GptModel.PREFIX + k)) {
        unexpected.add(k);
      }
    }
    if (!missing.isEmpty() || !unexpected.isEmpty()) {
      String hint = missing.contains("lm_head.weight")
          ? " (config.json says tie_word_embeddings is false but there is no lm_head.weight)"
          : " (the config asks for " + model.config().nLayer() + " layers)";
      throw new IOException(r.path() + ": config/weights mismatch" + hint
          + (missing.isEmpty() ? "" : "; missing " + missing.size() + ": " + list(missing))
          + (unexpected.isEmpty() ? "" : "; unexpected " + unexpected.size() + ": "
              + list(unexpected)));
    }
    i = 0;
    for (String name : model.parameterNames()) {
      Tensor t = model.parameter(name);
      float[] values = r.readFloats(fileNames[i++]);
      if (t.dtype() == DType.BFLOAT16) {
        try (Tensor f32 = Tensor.of(model.context(), values, t.shape())) {
          Bf16Ops.narrow(model.context(), t, f32);
        }
      } else {
        t.copyFrom(values);
      }
    }
  }

  /**
   * A model without qkv bias (config {@code fuselm_qkv_bias: false}) is saved with zero
   * {@code c_attn.bias} tensors, because Hugging Face's GPT-2 always has that bias; reading one
   * back, anything but zeros would be silently dropped weights, so it is an error.
   */
  private static void requireZero(SafeTensors.Reader r, String name) throws IOException {
    for (float v : r.readFloats(name)) {
      if (v != 0f) {
        throw new IOException(r.path() + ": config.json says fuselm_qkv_bias is false but '" + name
            + "' holds nonzero values (remove fuselm_qkv_bias to load the bias)");
      }
    }
  }

  private static String list(java.util.List<String> names) {
    int n = Math.min(names.size(), 6);
    return String.join(", ", names.subList(0, n)) + (names.size() > n ? ", ..." : "");
  }

  private static String fileName(String name, boolean prefixed) {
    if (prefixed || !name.startsWith(GptModel.PREFIX)) {
      return name;
    }
    return name.substring(GptModel.PREFIX.length());
  }

  /**
   * Writes {@code config.json} and {@code model.safetensors} into dir (created if needed), each
   * atomically. metadata goes into the safetensors header ({@code format: pt} is always set, as
   * Hugging Face expects).
   */
  public static void save(GptModel model, Path dir, Map<String, String> metadata)
      throws IOException {
    if (model.hasBf16Matrices()) {
      throw new IllegalArgumentException("this model holds its block matrices in bf16 (loaded for"
          + " decoding only): saving it would lose their float32 values");
    }
    Files.createDirectories(dir);
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
    metadata.forEach(w::metadata);
    GptConfig c = model.config();
    for (String name : model.parameterNames()) {
      Tensor t = model.params().get(name);
      w.add(name, SafeTensors.DType.F32, t.shape(),
          ch -> SafeTensors.writeFloats(ch, t.toFloatArray()));
      if (!c.qkvBias() && name.endsWith(".attn.c_attn.weight")) {
        // Hugging Face's GPT-2 always has a qkv bias: a zero one computes the same function
        String bias = name.substring(0, name.length() - "weight".length()) + "bias";
        w.add(bias, SafeTensors.DType.F32, new long[] {3L * c.dModel()},
            ch -> SafeTensors.writeFloats(ch, new float[3 * c.dModel()]));
      }
    }
    w.write(dir.resolve(WEIGHTS));
    GptConfigJson.write(dir.resolve(CONFIG), c);
  }

  public static void save(GptModel model, Path dir) throws IOException {
    save(model, dir, Map.of());
  }
}
