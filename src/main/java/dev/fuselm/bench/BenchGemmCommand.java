package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench gemm}: times C = op(A) op(B) on the CPU backend and prints one JSON line with
 * the median GFLOP/s of repeated runs. {@code --precision bf16} times fl_gemm_bf16 instead (A and B
 * in bfloat16, C float32: the GEMMs of bf16 mixed-precision training).
 */
@Command(name = "gemm", mixinStandardHelpOptions = true, description = "Benchmark sgemm; prints one JSON line.")
public final class BenchGemmCommand implements Callable<Integer> {
  @Option(names = "--m", required = true, description = "rows of C") long m;
  @Option(names = "--n", required = true, description = "columns of C") long n;
  @Option(names = "--k", required = true, description = "inner dimension") long k;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--trans-a", description = "A is stored (K, M)") boolean transA;
  @Option(names = "--trans-b", description = "B is stored (N, K)") boolean transB;
  @Option(names = "--runs", description = "timed runs (default: ${DEFAULT-VALUE})") int runs = 15;
  @Option(names = "--backend", description = "cpu or reference (default: cpu)") String backend = "cpu";
  @Option(names = "--precision", description = "fp32 (fl_sgemm) or bf16 (fl_gemm_bf16: bf16 A and B, float32 C) (default: ${DEFAULT-VALUE})")
  String precision = "fp32";

  @Override
  public Integer call() {
    if (m <= 0 || n <= 0 || k <= 0) {
      throw new UserInputException("--m, --n and --k must be positive");
    }
    if (runs <= 0) {
      throw new UserInputException("--runs must be positive");
    }
    if (!precision.equals("fp32") && !precision.equals("bf16")) {
      throw new UserInputException("--precision must be fp32 or bf16, not '" + precision + "'");
    }
    final boolean bf16 = precision.equals("bf16");
    try (ComputeContext ctx = ComputeContext.create(dev.fuselm.tensor.Backend.parse(backend))) {
      ctx.threads(threads);
      SplittableRandom rng = new SplittableRandom(1);
      try (Tensor a = Tensor.of(ctx, random(rng, m * k), transA ? k : m, transA ? m : k);
          Tensor b = Tensor.of(ctx, random(rng, k * n), transB ? n : k, transB ? k : n);
          Tensor c = Tensor.zeros(ctx, m, n);
          Tensor a16 = bf16 ? Bf16Ops.toBf16(ctx, a) : null;
          Tensor b16 = bf16 ? Bf16Ops.toBf16(ctx, b) : null) {
        Runnable gemm =
            bf16
                ? () -> GemmOps.gemmBf16(ctx, transA, transB, 1f, a16, b16, 0f, null, c)
                : () -> GemmOps.sgemm(ctx, transA, transB, 1f, a, b, 0f, c);
        double flops = 2.0 * m * n * k;
        // Warm up until at least 0.3 s has passed (page faults, pool start, clocks).
        long warmEnd = System.nanoTime() + 300_000_000L;
        do {
          gemm.run();
        } while (System.nanoTime() < warmEnd);
        double[] gflops = new double[runs];
        for (int r = 0; r < runs; r++) {
          long t0 = System.nanoTime();
          gemm.run();
          gflops[r] = flops / (System.nanoTime() - t0);
        }
        Arrays.sort(gflops);
        new JsonLine().put("impl", "fuselm").put("m", m).put("n", n).put("k", k)
            .put("threads", ctx.threads()).put("trans_a", transA).put("trans_b", transB)
            .put("isa", ComputeContext.isaName(ctx.isa())).put("runs", runs)
            .put("gflops", gflops[runs / 2], 2).put("gflops_max", gflops[runs - 1], 2)
            .put("precision", String.valueOf(precision)).println(System.out);
      }
    }
    return 0;
  }

  private static float[] random(SplittableRandom rng, long count) {
    float[] x = new float[Math.toIntExact(count)];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) (rng.nextDouble() * 2 - 1);
    }
    return x;
  }
}
