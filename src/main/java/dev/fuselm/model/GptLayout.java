package dev.fuselm.model;

import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** GPT-2's parameter names, shapes and initialisation (Hugging Face names and layouts). */
final class GptLayout {
  private GptLayout() {}

  /** True for the weight of a block's qkv, attention projection or MLP layer. */
  static boolean isBlockMatrix(String name) {
    return name.startsWith(GptModel.PREFIX + "h.") && (name.endsWith(".attn.c_attn.weight")
        || name.endsWith(".attn.c_proj.weight") || name.endsWith(".mlp.c_fc.weight")
        || name.endsWith(".mlp.c_proj.weight"));
  }

  /**
   * The layout, with the block matrices left out of the slab unless blockMatrices; every name and
   * shape (matrices included) also goes into allShapes when it is not null.
   */
  static ParameterSlab.Builder layout(GptConfig c, boolean blockMatrices,
      Map<String, long[]> allShapes) {
    long C = c.dModel();
    ParameterSlab.Builder slab = ParameterSlab.builder();
    // b.add(name, decay, shape) as below, filtered and recorded
    record Adder(ParameterSlab.Builder slab, boolean blockMatrices, Map<String, long[]> all) {
      Adder add(String name, boolean decay, long... shape) {
        if (all != null) {
          all.put(name, shape);
        }
        if (blockMatrices || !isBlockMatrix(name)) {
          slab.add(name, decay, shape);
        }
        return this;
      }
    }
    String prefix = GptModel.PREFIX;
    Adder b = new Adder(slab, blockMatrices, allShapes);
    b.add(prefix + "wte.weight", true, c.vocabSize(), C);
    b.add(prefix + "wpe.weight", true, c.contextLength(), C);
    for (int l = 0; l < c.nLayer(); l++) {
      String p = prefix + "h." + l + ".";
      b.add(p + "ln_1.weight", false, C);
      b.add(p + "ln_1.bias", false, C);
      b.add(p + "attn.c_attn.weight", true, C, 3 * C);
      if (c.qkvBias()) {
        b.add(p + "attn.c_attn.bias", false, 3 * C);
      }
      b.add(p + "attn.c_proj.weight", true, C, C);
      b.add(p + "attn.c_proj.bias", false, C);
      b.add(p + "ln_2.weight", false, C);
      b.add(p + "ln_2.bias", false, C);
      b.add(p + "mlp.c_fc.weight", true, C, 4 * C);
      b.add(p + "mlp.c_fc.bias", false, 4 * C);
      b.add(p + "mlp.c_proj.weight", true, 4 * C, C);
      b.add(p + "mlp.c_proj.bias", false, C);
    }
    b.add(prefix + "ln_f.weight", false, C);
    b.add(prefix + "ln_f.bias", false, C);
    if (!c.tiedHead()) {
      b.add("lm_head.weight", true, c.vocabSize(), C);
    }
    return slab;
  }

  /**
   * GPT-2's initialisation (as Hugging Face's {@code _init_weights}) of the slab's parameters:
   * matrices and embeddings N(0, 0.02), the residual projections ({@code c_proj}) N(0, 0.02 /
   * sqrt(2 n_layer)), layer norms weight 1 and bias 0, other biases 0. Deterministic in seed.
   */
  static void initialize(ParameterSlab params, GptConfig config, long seed) {
    List<String> names = params.names();
    double projStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      Tensor t = params.get(name);
      float[] v = new float[Math.toIntExact(t.numel())];
      if (name.endsWith(".bias")) {
        // zeros
      } else if (name.contains(".ln_")) {
        Arrays.fill(v, 1f);
      } else {
        double std = name.endsWith("c_proj.weight") ? projStd : 0.02;
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + i);
        for (int j = 0; j < v.length; j++) {
          v[j] = (float) (r.nextGaussian() * std);
        }
      }
      t.copyFrom(v);
    }
  }
}
