package dev.fuselm.bench;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** sgemm on GPT-2 training shapes "MxNxK" (C = A * B^T as in a linear layer's forward). */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GemmBenchmark {
  @Param({"256x2304x768", "256x3072x768", "256x768x3072", "256x50257x768", "1024x1024x1024"})
  public String shape;

  private ComputeContext ctx;
  private Tensor a, b, c;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = shape.split("x");
    long m = Long.parseLong(p[0]), n = Long.parseLong(p[1]), k = Long.parseLong(p[2]);
    ctx = KernelState.context();
    a = KernelState.random(ctx, 1, m, k);
    b = KernelState.random(ctx, 2, n, k);
    c = Tensor.zeros(ctx, m, n);
  }

  @Benchmark
  public void sgemmTransB() {
    GemmOps.sgemm(ctx, false, true, 1f, a, b, 0f, c);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    a.close();
    b.close();
    c.close();
    ctx.close();
  }
}
