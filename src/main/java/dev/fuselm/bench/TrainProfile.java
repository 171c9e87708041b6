package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The per-op breakdown of {@code fuselm bench train --profile}: groups the native calls that
 * {@link dev.fuselm.ops.OpProfile} timed into op families (GEMMs by layer kind and direction,
 * recognised from their shapes and transposes), per step, and prints them as JSON lines and a
 * table. "rest" is the step's wall time that no native op accounts for: Java between the ops
 * (shape checks, loops over layers, the engine), and native calls made outside the ops package.
 */
final class TrainProfile {
  /** A family's totals over all profiled steps. */
  private static final class Family {
    long ns;
    long calls;
    double flops;
  }

  private final long c;
  private final long v;
  private final Map<String, Family> families = new LinkedHashMap<>();

  /** c: the model width, v: the vocabulary (the LM head's rows). */
  TrainProfile(long c, long v) {
    this.c = c;
    this.v = v;
  }

  /** Adds one op's totals, keyed as {@link dev.fuselm.ops.OpProfile#snapshot()} keys them. */
  void add(String key, long ns, long calls) {
    String[] f = key.split(" ");
    double flops = 0;
    String family;
    if (f.length == 5) {
      long m = Long.parseLong(f[2]), n = Long.parseLong(f[3]), k = Long.parseLong(f[4]);
      family = matmulFamily(f[1], m, n, k);
      flops = 2.0 * m * n * k * calls;
    } else {
      family = family(key);
    }
    Family fam = families.computeIfAbsent(family, x -> new Family());
    fam.ns += ns;
    fam.calls += calls;
    fam.flops += flops;
  }

  /** The layer a GEMM belongs to and whether it is the forward or a backward product. */
  String matmulFamily(String trans, long m, long n, long k) {
    return switch (trans) {
      case "NN" -> k == v && n == c ? "matmul_bwd_lm_head" : "matmul_fwd_" + layer(k, n);
      case "NT" -> n == v && k == c ? "matmul_fwd_lm_head" : "matmul_bwd_" + layer(n, k);
      case "TN" -> m == v && n == c ? "matmul_bwd_lm_head" : "matmul_bwd_" + layer(m, n);
      default -> "matmul_other";
    };
  }

  private String layer(long in, long out) {
    if (in == c && out == 3 * c) {
      return "qkv";
    } else if (in == c && out == c) {
      return "attn_proj";
    } else if (in == c && out == 4 * c) {
      return "fc";
    } else if (in == 4 * c && out == c) {
      return "mlp_proj";
    }
    return "other";
  }

  static String family(String op) {
    return switch (op) {
      case "fl_bias_backward" -> "matmul_bwd_bias";
      case "fl_attention_forward", "fl_attention_forward_dropout" -> "attention_fwd";
      case "fl_attention_backward", "fl_attention_backward_dropout" -> "attention_bwd";
      case "fl_layernorm_forward", "fl_residual_layernorm_forward" -> "layernorm_fwd";
      case "fl_layernorm_backward" -> "layernorm_bwd";
      case "fl_gelu_forward", "fl_gelu_erf_forward" -> "gelu_fwd";
      case "fl_gelu_backward", "fl_gelu_erf_backward" -> "gelu_bwd";
      case "fl_cross_entropy_forward", "fl_softmax_forward" -> "softmax_xent_fwd";
      case "fl_cross_entropy_backward", "fl_softmax_backward", "fl_scale" -> "softmax_xent_bwd";
      case "fl_embedding_forward" -> "embedding_fwd";
      case "fl_embedding_backward" -> "embedding_bwd";
      case "fl_adamw_step" -> "adamw";
      case "fl_grad_norm" -> "grad_norm";
      case "fl_f32_to_bf16", "fl_bf16_to_f32" -> "bf16_convert";
      case "fl_add" -> "residual_add";
      default -> "other_ops";
    };
  }

  /**
   * Prints one JSON line per family (and one for "rest") on out and a readable table on table.
   * wallNs: the profiled steps' wall time in all; steps: how many.
   */
  void print(PrintStream out, PrintStream table, Consumer<JsonLine> head, long wallNs, int steps) {
    double wallMs = wallNs / 1e6 / steps;
    double opsMs = 0;
    Map<String, Family> sorted = new LinkedHashMap<>();
    families.entrySet().stream()
        .sorted((a, b) -> Long.compare(b.getValue().ns, a.getValue().ns))
        .forEach(e -> sorted.put(e.getKey(), e.getValue()));
    table.printf(Locale.ROOT, "%-22s %9s %6s %7s %8s%n", "op family", "ms/step", "%", "calls",
        "GFLOP/s");
    for (Map.Entry<String, Family> e : sorted.entrySet()) {
      Family f = e.getValue();
      double ms = f.ns / 1e6 / steps;
      opsMs += ms;
      double gflops = f.flops > 0 ? f.flops / (f.ns / 1e9) / 1e9 : 0;
      line(out, table, head, e.getKey(), ms, 100 * ms / wallMs, (double) f.calls / steps, gflops);
    }
    double rest = wallMs - opsMs;
    line(out, table, head, "rest", rest, 100 * rest / wallMs, 0, 0);
    table.printf(Locale.ROOT, "%-22s %9.1f %6.1f%n", "step (mean wall)", wallMs, 100.0);
  }

  private static void line(PrintStream out, PrintStream table, Consumer<JsonLine> head,
      String family, double ms, double pct, double calls, double gflops) {
    JsonLine j = new JsonLine();
    head.accept(j);
    j.put("op", family).put("ms_per_step", ms, 2).put("percent", pct, 1)
        .put("calls_per_step", calls, 0).put("gflops", gflops, 1).println(out);
    table.printf(Locale.ROOT, "%-22s %9.2f %6.1f %7.0f %8s%n", family, ms, pct, calls,
        gflops > 0 ? String.format(Locale.ROOT, "%.1f", gflops) : "");
  }
}
