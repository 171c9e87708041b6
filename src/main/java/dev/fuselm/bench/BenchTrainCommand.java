package dev.fuselm.bench;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.cli.TrainingOptions;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.Precision;
import dev.fuselm.ops.OpProfile;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.TrainingEngine;
import dev.fuselm.train.TrainingTask;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench train}: median time of a full GPT training step (forward, backward, AdamW),
 * or with {@code --forward} of an inference forward pass (logits for every position, no gradients).
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Time GPT training steps (or, with --forward, inference forward passes) on random"
        + " data; prints one JSON line with medians.")
public final class BenchTrainCommand implements Callable<Integer> {
  @Option(names = "--config", description = "gpt2, gpt2-medium, ... or a config.json"
      + " (default: ${DEFAULT-VALUE})") String config = "gpt2";
  @Option(names = {"--batch", "--batch-size"}, required = true) int batch;
  @Option(names = {"--ctx", "--seq-len"}, required = true) int ctx;
  @Option(names = "--steps", description = "timed steps (default: ${DEFAULT-VALUE})") int steps = 5;
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--forward", description = "time the inference forward pass (logits of all B*T"
      + " positions, no targets, no gradients) instead of a training step") boolean forwardOnly;
  @Option(names = "--precision", description = "fp32 or bf16 mixed precision (default:"
      + " ${DEFAULT-VALUE})") String precision = "fp32";
  @Option(names = "--profile", description = "also time every native op of the timed steps and"
      + " print ms per op family per step: JSON lines (\"bench\":\"train_profile\") on stdout"
      + " before the usual line, a table on stderr") boolean profile;

  static GptConfig config(String spec) throws IOException {
    Path p = Path.of(spec);
    return Files.isRegularFile(p) ? Checkpoint.readConfigFile(p,
        ModelFamily.GPT2) : GptConfig.preset(spec);
  }

  @Override
  public Integer call() throws IOException {
    GptConfig cfg = config(config);
    Precision prec = TrainingOptions.precision(precision);
    if (batch <= 0 || ctx <= 0 || ctx > cfg.contextLength() || steps <= 0) {
      throw new UserInputException("need --batch > 0, 0 < --ctx <= " + cfg.contextLength()
          + " and --steps > 0");
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads.threads);
      if (forwardOnly) {
        return forward(c, cfg, prec);
      }
      try (GptModel m = GptModel.random(c, cfg, 1).enableGradients().setPrecision(prec)) {
        SplittableRandom r = new SplittableRandom(2);
        int[] x = new int[batch * ctx], y = new int[batch * ctx];
        for (int i = 0; i < x.length; i++) {
          x[i] = r.nextInt(cfg.vocabSize());
          y[i] = r.nextInt(cfg.vocabSize());
        }
        // GPT pretraining's AdamW at a constant 1e-4; one untimed warm-up step, then steps timed
        TrainConfig tc = TrainConfig.defaults(steps + 1, batch, ctx, null)
            .withLr(1e-4f, 1e-4f, 0, false);
        Timing timing;
        FixedBatch task = new FixedBatch(m, x, y, batch, ctx);
        try (TrainingEngine engine = new TrainingEngine(task, tc, c)) {
          timing = time(engine::trainOneStep);
        }
        printProfile("train", cfg, c.threads(), prec);
        printResult("train", m, c.threads(), timing, flopsPerStep(cfg, batch, ctx), prec);
      }
    }
    return 0;
  }

  private int forward(ComputeContext c, GptConfig cfg, Precision prec) {
    try (GptModel m = GptModel.random(c, cfg, 1).setPrecision(prec)) {
      m.setTraining(false);
      SplittableRandom r = new SplittableRandom(2);
      int[] x = new int[batch * ctx];
      for (int i = 0; i < x.length; i++) {
        x[i] = r.nextInt(cfg.vocabSize());
      }
      Timing timing = time(() -> m.forward(x, null, batch, ctx));
      printProfile("forward", cfg, c.threads(), prec);
      printResult("forward", m, c.threads(), timing, flopsPerStep(cfg, batch, ctx) / 3, prec);
    }
    return 0;
  }

  /** The result line: the JSON fields and digits this command has always printed. */
  private void printResult(String bench, GptModel m, int nThreads, Timing timing, double flops,
      Precision prec) {
    double med = timing.ms();
    new JsonLine().put("bench", bench).put("config", config).put("parameters", m.parameterCount())
        .put("batch", batch).put("ctx", ctx).put("threads", nThreads).put("steps", steps)
        .put("ms_per_step", med, 1).put("tokens_per_s", batch * ctx / (med / 1e3), 1)
        .put("gflops", flops / (med / 1e3) / 1e9, 1).put("cpu_ms_per_step", timing.cpuMs(), 1)
        .put("precision", prec.toString()).println(System.out);
  }

  /**
   * The same batch every step (forward, backward; the engine adds AdamW), so a step costs what a
   * pretraining step costs without the data loader.
   */
  private static final class FixedBatch implements TrainingTask {
    private final GptModel m;
    private final int[] x;
    private final int[] y;
    private final int b;
    private final int t;
    private float loss;

    FixedBatch(GptModel m, int[] x, int[] y, int b, int t) {
      this.m = m;
      this.x = x;
      this.y = y;
      this.b = b;
      this.t = t;
    }

    @Override
    public ParameterSlab params() {
      return m.params();
    }

    @Override
    public ParameterSlab grads() {
      return m.grads();
    }

    @Override
    public void beginStep(long s) {
      m.zeroGrad();
    }

    @Override
    public void afterUpdate() {
      m.weightsChanged(); // bf16: the next forward rounds the new weights (timed with it)
    }

    @Override
    public boolean microStep(long s, int micro, float weight) {
      loss = m.forward(x, y, b, t);
      m.backward(weight);
      return true;
    }

    @Override
    public float stepLoss(int gradAccum) {
      return loss;
    }

    @Override
    public long[] dataPosition() {
      return new long[] {0, 0};
    }

    @Override
    public void seek(long epoch, long batch) {}

    @Override
    public Map<String, String> runMetadata() {
      return Map.of();
    }

    @Override
    public void saveModel(java.nio.file.Path dir, Map<String, String> metadata) {
      throw new UnsupportedOperationException("a benchmark saves no model");
    }
  }

  /** Median wall and process-CPU milliseconds of {@code steps} runs, after one untimed warm-up run. */
  private record Timing(double ms, double cpuMs) {}

  /** With --profile: the timed steps' wall time in all (ns), and the ops' totals over them. */
  private long profiledWallNs;
  private Map<String, long[]> profiled;

  private Timing time(Runnable step) {
    double[] ms = new double[steps], cpu = new double[steps];
    long wall = 0;
    for (int s = 0; s <= steps; s++) {
      if (s == 1 && profile) {
        OpProfile.enable(true); // the warm-up step is not profiled
      }
      long t0 = System.nanoTime(), c0 = processCpuNs();
      step.run();
      if (s > 0) {
        long ns = System.nanoTime() - t0;
        wall += ns;
        ms[s - 1] = ns / 1e6;
        cpu[s - 1] = (processCpuNs() - c0) / 1e6;
      }
    }
    if (profile) {
      profiled = OpProfile.snapshot();
      profiledWallNs = wall;
      OpProfile.enable(false);
    }
    Arrays.sort(ms);
    Arrays.sort(cpu);
    return new Timing(ms[steps / 2], cpu[steps / 2]);
  }

  /** With --profile: the ms per op family per step (means over the timed steps). */
  private void printProfile(String bench, GptConfig cfg, int nThreads, Precision prec) {
    if (!profile) {
      return;
    }
    TrainProfile p = new TrainProfile(cfg.dModel(), cfg.vocabSize());
    profiled.forEach((k, v) -> p.add(k, v[0], v[1]));
    java.util.function.Consumer<JsonLine> head = j -> j.put("bench", bench + "_profile")
        .put("config", config).put("batch", batch).put("ctx", ctx).put("threads", nThreads)
        .put("steps", steps).put("precision", prec.toString());
    System.err.printf(Locale.ROOT, "%s B=%d T=%d, %d threads, %s: mean over %d steps%n", bench,
        batch, ctx, nThreads, prec, steps);
    p.print(System.out, System.err, head, profiledWallNs, steps);
  }

  /**
   * CPU time of the whole process (all threads) in ns, or 0 where the JVM cannot tell. On a shared
   * machine, wall time depends on the other processes' load; CPU time much less.
   */
  static long processCpuNs() {
    return ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : 0;
  }

  /** 6 N per token for the matrices plus attention's 12 L T C per token (forward + backward). */
  static double flopsPerStep(GptConfig c, int b, int t) {
    double n = c.parameterCount() - (double) c.contextLength() * c.dModel();
    return b * (double) t * (6 * n + 6.0 * c.nLayer() * t * c.dModel());
  }
}
