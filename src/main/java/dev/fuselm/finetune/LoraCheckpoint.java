package dev.fuselm.finetune;

import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptConfig;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;

/** LoRA adapters on disk in PEFT's layout: see {@link PeftAdapters}. */
@Deprecated(forRemoval = true) // merge shim: call io.PeftAdapters
public final class LoraCheckpoint {
  public static final String WEIGHTS = PeftAdapters.WEIGHTS;
  public static final String CONFIG = PeftAdapters.CONFIG;

  private LoraCheckpoint() {}

  /** What adapter_config.json says: the adapter config and the base model's path (may be null). */
  public record Meta(LoraAdapters.Config config, String baseModel) {}

  public static boolean present(Path dir) {
    return PeftAdapters.present(dir);
  }

  public static void save(LoraAdapters adapters, Path dir, String baseModel) throws IOException {
    PeftAdapters.save(adapters, dir, baseModel);
  }

  public static Meta readMeta(Path dir) throws IOException {
    PeftAdapters.Meta m = PeftAdapters.readMeta(dir);
    return new Meta(m.config(), m.baseModel());
  }

  public static LoraAdapters load(ComputeContext ctx, Path dir, GptConfig cfg, boolean trainable)
      throws IOException {
    return PeftAdapters.load(ctx, dir, cfg, trainable);
  }
}
