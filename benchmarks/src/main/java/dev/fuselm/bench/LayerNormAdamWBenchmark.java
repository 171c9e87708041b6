package dev.fuselm.bench;

import dev.fuselm.ops.LayerNormOps;
import dev.fuselm.ops.OptimizerOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** Layer norm at (N = 4096, C = 768) and one AdamW step over GPT-2 124M's 124,439,808 parameters. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class LayerNormAdamWBenchmark {
  private static final int N = 4096, C = 768;
  private static final long GPT2_PARAMS = 124_439_808L;

  private ComputeContext ctx;
  private Tensor x, out, w, b, mean, rstd, dout, dx, dw, db;
  private ParameterSlab params, grads, m, v;
  private long step;

  @Setup(Level.Trial)
  public void setUp() {
    ctx = KernelState.context();
    x = KernelState.random(ctx, 1, N, C);
    dout = KernelState.random(ctx, 2, N, C);
    w = KernelState.random(ctx, 3, C);
    b = KernelState.random(ctx, 4, C);
    out = Tensor.zeros(ctx, N, C);
    dx = Tensor.zeros(ctx, N, C);
    mean = Tensor.zeros(ctx, N);
    rstd = Tensor.zeros(ctx, N);
    dw = Tensor.zeros(ctx, C);
    db = Tensor.zeros(ctx, C);
    params = ParameterSlab.builder().add("all", true, GPT2_PARAMS).build(ctx);
    grads = params.sameLayout(ctx);
    m = params.sameLayout(ctx);
    v = params.sameLayout(ctx);
  }

  @Benchmark
  public void layerNormForwardBackward() {
    LayerNormOps.forward(ctx, out, mean, rstd, x, w, b, 1e-5f);
    LayerNormOps.backward(ctx, dx, dw, db, dout, x, w, mean, rstd);
  }

  @Benchmark
  public void adamwStepGpt2Small() {
    OptimizerOps.adamwStep(ctx, params, grads, m, v, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++step, 1f);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {x, out, w, b, mean, rstd, dout, dx, dw, db}) {
      t.close();
    }
    for (ParameterSlab s : new ParameterSlab[] {grads, m, v, params}) {
      s.close();
    }
    ctx.close();
  }
}
