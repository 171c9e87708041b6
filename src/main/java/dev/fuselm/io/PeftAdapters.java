package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * LoRA adapters on disk, in PEFT's layout: {@code adapter_model.safetensors} (tensors named
 * {@code base_model.model.transformer.h.0.attn.c_attn.lora_A.weight} (r, in) and {@code
 * ...lora_B.weight} (out, r)) and {@code adapter_config.json} ({@code peft_type: LORA}, {@code r},
 * {@code lora_alpha}, {@code target_modules}, {@code fan_in_fan_out: true} for GPT-2's Conv1D,
 * {@code base_model_name_or_path}).
 */
public final class PeftAdapters {
  public static final String WEIGHTS = "adapter_model.safetensors";
  public static final String CONFIG = "adapter_config.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private PeftAdapters() {}

  /** What adapter_config.json says: the adapter config and the base model's path (may be null). */
  public record Meta(LoraAdapters.Config config, String baseModel) {}

  /** True when dir holds an adapter_config.json. */
  public static boolean present(Path dir) {
    return Files.isRegularFile(dir.resolve(CONFIG));
  }

  /** Writes both files into dir (created if needed), each atomically. */
  public static void save(LoraAdapters adapters, Path dir, String baseModel) throws IOException {
    Files.createDirectories(dir);
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
    for (String name : adapters.params().names()) {
      Tensor t = adapters.params().get(name);
      w.add(name, SafeTensors.DType.F32, t.shape(),
          ch -> SafeTensors.writeFloats(ch, t.toFloatArray()));
    }
    w.write(dir.resolve(WEIGHTS));
    LoraAdapters.Config c = adapters.config();
    ObjectNode n = JSON.createObjectNode();
    n.put("peft_type", "LORA").put("task_type", "CAUSAL_LM");
    if (baseModel == null) {
      n.putNull("base_model_name_or_path");
    } else {
      n.put("base_model_name_or_path", baseModel);
    }
    n.put("r", c.rank()).put("lora_alpha", c.alpha()).put("lora_dropout", 0.0)
        .put("fan_in_fan_out", true).put("bias", "none").put("inference_mode", true);
    var targets = n.putArray("target_modules");
    c.targets().forEach(targets::add);
    AtomicFiles.writeString(dir.resolve(CONFIG),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
  }

  /** Writes the adapters attached to model (see {@link #save(LoraAdapters, Path, String)}). */
  public static void save(GptModel model, Path dir, String baseModel) throws IOException {
    if (model.lora() == null) {
      throw new IllegalStateException("the model has no LoRA adapters attached");
    }
    save(model.lora(), dir, baseModel);
  }

  /** Reads adapter_config.json. */
  public static Meta readMeta(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    Path f = dir.resolve(CONFIG);
    if (!Files.isRegularFile(f)) {
      throw new IOException(dir + ": no " + CONFIG + " (is this a LoRA adapter directory?)");
    }
    JsonNode n;
    try {
      n = JSON.readTree(f.toFile());
    } catch (IOException e) {
      throw new IOException(f + ": not valid JSON: " + e.getMessage());
    }
    if (n == null || !"LORA".equals(n.path("peft_type").asText()) || !n.path("r").isInt()
        || !n.path("lora_alpha").isNumber() || !n.path("target_modules").isArray()) {
      throw new IOException(f + ": needs peft_type LORA, an integer r, a number lora_alpha and a"
          + " target_modules array");
    }
    List<String> targets = new ArrayList<>();
    n.get("target_modules").forEach(x -> targets.add(x.asText()));
    try {
      LoraAdapters.Config c = new LoraAdapters.Config(n.get("r").asInt(),
          (float) n.get("lora_alpha").asDouble(), targets);
      JsonNode base = n.path("base_model_name_or_path");
      return new Meta(c, base.isTextual() ? base.asText() : null);
    } catch (IllegalArgumentException e) {
      throw new IOException(f + ": " + e.getMessage());
    }
  }

  /** Loads the adapters of dir and attaches them to model, which owns them from then on. */
  public static void attach(GptModel model, Path dir, boolean trainable) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    LoraAdapters l = load(model.context(), dir, model.config(), trainable);
    try {
      model.adoptLora(l);
    } catch (RuntimeException e) {
      l.close();
      throw e;
    }
  }

  /** Loads the adapters of dir for a model of config cfg, checking every name and shape first. */
  public static LoraAdapters load(ComputeContext ctx, Path dir, GptConfig cfg, boolean trainable)
      throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    Meta meta = readMeta(dir);
    Path wf = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(wf)) {
      throw new IOException(dir + ": no " + WEIGHTS);
    }
    LoraAdapters l;
    try {
      l = LoraAdapters.empty(ctx, meta.config(), cfg.nLayer(), cfg.dModel(), trainable);
    } catch (IllegalArgumentException e) {
      throw new IOException(dir.resolve(CONFIG) + ": " + e.getMessage());
    }
    try (SafeTensors.Reader r = SafeTensors.open(wf)) {
      for (String name : l.params().names()) {
        if (!r.contains(name)) {
          throw new IOException(wf + ": no tensor " + name + " (adapters for another model?)");
        }
        long[] want = l.params().get(name).shape();
        if (!Arrays.equals(r.entry(name).shape(), want)) {
          throw new IOException(wf + ": tensor " + name + " has shape "
              + Arrays.toString(r.entry(name).shape()) + ", the model needs "
              + Arrays.toString(want));
        }
      }
      if (r.entries().size() != l.params().names().size()) {
        throw new IOException(wf + ": has " + r.entries().size() + " tensors, adapter_config.json"
            + " and the model need " + l.params().names().size());
      }
      for (String name : l.params().names()) {
        l.params().get(name).copyFrom(r.readFiniteFloats(name));
      }
      return l;
    } catch (IOException | RuntimeException e) {
      l.close();
      throw e;
    }
  }
}
