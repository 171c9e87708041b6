package dev.fuselm.model;

import dev.fuselm.nn.LoraAdapters;
import java.util.List;

/**
 * LoRA settings of a {@link GptModel}: rank R, alpha (updates are scaled by alpha / R) and the
 * target modules, matched as PEFT matches them ({@code c_proj} picks both projections). The model
 * builds its adapters from these ({@link GptModel#addLora}); nothing above {@code model} needs
 * the adapters' own classes.
 */
public record LoraOptions(int rank, float alpha, List<String> targets) {
  /** Every attention and MLP projection. */
  public static final List<String> DEFAULT_TARGETS = LoraAdapters.DEFAULT_TARGETS;

  /** Throws IllegalArgumentException for a rank below 1, a non-positive alpha or no targets. */
  public LoraOptions {
    targets = new LoraAdapters.Config(rank, alpha, targets).targets();
  }

  /** The options with PEFT's usual defaults: alpha null is 2 R, targets null every projection. */
  public static LoraOptions of(int rank, Float alpha, List<String> targets) {
    return new LoraOptions(rank, alpha == null ? 2f * rank : alpha,
        targets == null ? DEFAULT_TARGETS : targets);
  }

  /** Throws IllegalArgumentException naming a target that matches no module of config. */
  public void checkTargets(GptConfig config) {
    LoraAdapters.modules(adapterConfig(), config.nLayer(), config.dModel());
  }

  LoraAdapters.Config adapterConfig() {
    return new LoraAdapters.Config(rank, alpha, targets);
  }
}
