package dev.fuselm.nn;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The LoRA adapters of a GPT model: for every targeted projection a pair A (r, in), B (out, r) in a
 * {@link ParameterSlab} of their own (and, when trainable, a gradient slab of the same layout), so
 * the optimizer and its moments cover only the adapters while the base weights stay frozen.
 *
 * <p>Tensor names are PEFT's for GPT-2 ({@code base_model.model.transformer.h.0.attn.c_attn.lora_A
 * .weight}); modules are the GPT-2 projections {@code transformer.h.L.attn.c_attn}, {@code
 * attn.c_proj}, {@code mlp.c_fc} and {@code mlp.c_proj}, chosen by target names matched as PEFT
 * does (equal to the module name or a suffix after a dot: {@code c_proj} picks both projections).
 */
public final class LoraAdapters implements AutoCloseable {
  /** Prefix PEFT puts before the base model's own parameter names. */
  public static final String PEFT_PREFIX = "base_model.model.";
  /** The default targets: every attention and MLP projection. */
  public static final List<String> DEFAULT_TARGETS =
      List.of("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj");

  /** Rank, alpha (the update is scaled by alpha / rank) and target module names. */
  public record Config(int rank, float alpha, List<String> targets) {
    public Config {
      if (rank < 1) {
        throw new IllegalArgumentException("the LoRA rank must be >= 1, got " + rank);
      }
      if (!(alpha > 0) || Float.isInfinite(alpha)) {
        throw new IllegalArgumentException("the LoRA alpha must be > 0, got " + alpha);
      }
      if (targets.isEmpty()) {
        throw new IllegalArgumentException("no LoRA target modules");
      }
      targets = List.copyOf(targets);
    }

    public float scale() {
      return alpha / rank;
    }
  }

  /** A targeted projection: module name (GptModel naming) and its (in, out). */
  public record Module(String name, long in, long out) {}

  private final Config config;
  private final List<Module> modules;
  private final ParameterSlab params;
  private final ParameterSlab grads;
  private final Scratch scratch;
  private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();

  private LoraAdapters(ComputeContext ctx, Config config, List<Module> modules, boolean trainable) {
    this.config = config;
    this.modules = List.copyOf(modules);
    ParameterSlab.Builder b = ParameterSlab.builder();
    for (Module m : modules) {
      b.add(nameA(m.name()), true, config.rank(), m.in());
      b.add(nameB(m.name()), true, m.out(), config.rank());
    }
    this.params = b.build(ctx);
    this.grads = trainable ? params.sameLayout(ctx) : null;
    this.scratch = new Scratch(ctx);
    for (Module m : modules) {
      adapters.put(m.name(), new LoraAdapter(params.get(nameA(m.name())),
          params.get(nameB(m.name())), grads == null ? null : grads.get(nameA(m.name())),
          grads == null ? null : grads.get(nameB(m.name())), config.scale(), scratch));
    }
  }

  /**
   * The projections of an nLayer x dModel GPT-2 that config's targets select, in layer order.
   * Throws when a target matches nothing.
   */
  public static List<Module> modules(Config config, int nLayer, long dModel) {
    List<Module> out = new ArrayList<>();
    boolean[] used = new boolean[config.targets().size()];
    for (int l = 0; l < nLayer; l++) {
      String p = "transformer.h." + l + ".";
      Module[] all = {new Module(p + "attn.c_attn", dModel, 3 * dModel),
          new Module(p + "attn.c_proj", dModel, dModel),
          new Module(p + "mlp.c_fc", dModel, 4 * dModel),
          new Module(p + "mlp.c_proj", 4 * dModel, dModel)};
      for (Module m : all) {
        boolean hit = false;
        for (int i = 0; i < used.length; i++) {
          String t = config.targets().get(i);
          if (m.name().equals(t) || m.name().endsWith("." + t)) {
            used[i] = true;
            hit = true;
          }
        }
        if (hit) {
          out.add(m);
        }
      }
    }
    for (int i = 0; i < used.length; i++) {
      if (!used[i] && nLayer > 0) {
        throw new IllegalArgumentException("LoRA target '" + config.targets().get(i)
            + "' matches no module (known: c_attn, attn.c_proj, c_fc, mlp.c_proj, c_proj)");
      }
    }
    return out;
  }

  /**
   * New adapters: A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's default Kaiming-uniform, a = sqrt(5)) from
   * seed, B = 0, so the adapted model starts out equal to the base. trainable: allocate gradients.
   */
  public static LoraAdapters create(ComputeContext ctx, Config config, int nLayer, long dModel,
      long seed, boolean trainable) {
    LoraAdapters l = new LoraAdapters(ctx, config, modules(config, nLayer, dModel), trainable);
    SplittableRandom r = new SplittableRandom(seed);
    for (Module m : l.modules) {
      Tensor a = l.params.get(nameA(m.name()));
      float[] v = new float[Math.toIntExact(a.numel())];
      double bound = 1.0 / Math.sqrt(m.in());
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
      }
      a.copyFrom(v);
    }
    return l;
  }

  /** Zero-filled adapters of this layout (weights to be loaded into {@link #params()}). */
  public static LoraAdapters empty(ComputeContext ctx, Config config, int nLayer, long dModel,
      boolean trainable) {
    return new LoraAdapters(ctx, config, modules(config, nLayer, dModel), trainable);
  }

  /** PEFT's name of a module's A matrix (r, in). */
  public static String nameA(String module) {
    return PEFT_PREFIX + module + ".lora_A.weight";
  }

  /** PEFT's name of a module's B matrix (out, r). */
  public static String nameB(String module) {
    return PEFT_PREFIX + module + ".lora_B.weight";
  }

  public Config config() {
    return config;
  }

  public List<Module> modules() {
    return modules;
  }

  /** The adapter weights, PEFT-named. */
  public ParameterSlab params() {
    return params;
  }

  /** The adapter gradients, or null when not trainable. */
  public ParameterSlab grads() {
    return grads;
  }

  public boolean trainable() {
    return grads != null;
  }

  /** The adapter of a module (GptModel naming, e.g. transformer.h.0.attn.c_attn), or null. */
  public LoraAdapter adapter(String module) {
    return adapters.get(module);
  }

  public void zeroGrad() {
    if (grads != null) {
      grads.flat().zero();
    }
  }

  /**
   * Folds every adapter into the base weights: {@code W += scale * A^T B^T} for each module's
   * {@code <module>.weight} in base (a GPT model's parameter slab).
   */
  public void mergeInto(ComputeContext ctx, ParameterSlab base) {
    for (Module m : modules) {
      adapters.get(m.name()).mergeInto(ctx, base.get(m.name() + ".weight"));
    }
  }

  /** Native bytes of the adapter weights, gradients and scratch. */
  public long bytes() {
    return 4 * params.size() * (grads == null ? 1 : 2) + scratch.bytes();
  }

  @Override
  public void close() {
    scratch.close();
    if (grads != null) {
      grads.close();
    }
    params.close();
  }

  /**
   * The (rows, r) intermediates of one adapter call, shared by all adapters of a model (they run
   * one at a time); grows to the largest row count seen, so steady-state steps allocate nothing.
   */
  static final class Scratch implements AutoCloseable {
    private final ComputeContext ctx;
    private Tensor buf;

    Scratch(ComputeContext ctx) {
      this.ctx = ctx;
    }

    private Tensor ensure(long floats) {
      if (buf == null || buf.numel() < floats) {
        if (buf != null) {
          buf.close();
        }
        buf = Tensor.zeros(ctx, floats);
      }
      return buf;
    }

    /** x A^T, (m, r). */
    Tensor u(long m, long r) {
      return ensure(2 * m * r).view(0, m, r);
    }

    /** dout B, (m, r). */
    Tensor g(long m, long r) {
      return ensure(2 * m * r).view(m * r, m, r);
    }

    long bytes() {
      return buf == null ? 0 : buf.bytes();
    }

    @Override
    public void close() {
      if (buf != null) {
        buf.close();
        buf = null;
      }
    }
  }
}
