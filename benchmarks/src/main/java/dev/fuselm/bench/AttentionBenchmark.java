package dev.fuselm.bench;

import dev.fuselm.ops.AttentionOps;
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

/** Fused causal attention, B = 4, 12 heads x 64, forward and forward + backward. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AttentionBenchmark {
  private static final int B = 4, NH = 12, C = 768;

  @Param({"64", "256", "1024"})
  public int t;

  private ComputeContext ctx;
  private Tensor qkv, out, lse, dout, dqkv;

  @Setup(Level.Trial)
  public void setUp() {
    ctx = KernelState.context();
    qkv = KernelState.random(ctx, 1, B, t, 3L * C);
    dout = KernelState.random(ctx, 2, B, t, C);
    out = Tensor.zeros(ctx, B, t, C);
    lse = Tensor.zeros(ctx, B, NH, t);
    dqkv = Tensor.zeros(ctx, B, t, 3L * C);
  }

  @Benchmark
  public void forward() {
    AttentionOps.forward(ctx, out, lse, qkv, null, NH, true);
  }

  @Benchmark
  public void forwardBackward() {
    AttentionOps.forward(ctx, out, lse, qkv, null, NH, true);
    AttentionOps.backward(ctx, dqkv, dout, qkv, out, lse, null, NH, true);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor x : new Tensor[] {qkv, out, lse, dout, dqkv}) {
      x.close();
    }
    ctx.close();
  }
}
