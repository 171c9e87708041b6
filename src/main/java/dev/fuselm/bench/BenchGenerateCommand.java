package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.cli.GenerateCommand;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm bench generate}: tokens per second of KV-cache decoding after a prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Time greedy generation with a KV cache; prints one JSON line with medians.")
public final class BenchGenerateCommand implements Callable<Integer> {
  @Option(names = "--config", description = "gpt2, ... or a config.json (default: ${DEFAULT-VALUE})")
  String config = "gpt2";
  @Option(names = {"--batch", "--batch-size"}, description = "sequences (default: ${DEFAULT-VALUE})") int batch = 1;
  @Option(names = {"--ctx", "--seq-len"}, description = "prompt length (default: ${DEFAULT-VALUE})") int ctx = 16;
  @Option(names = "--steps", description = "new tokens per run (default: ${DEFAULT-VALUE})") int steps = 32;
  @Option(names = "--runs", description = "timed runs (default: ${DEFAULT-VALUE})") int runs = 3;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--weights", description = "matrix weights: fp32, bf16 or int8 (default:"
      + " ${DEFAULT-VALUE})")
  String weights = "fp32";
  @Option(names = "--profile", description = "after the timed runs, one more run timing each part"
      + " of a decode step (block matrices, LM head, attention, the rest): adds"
      + " \"profile\": {part: ms per token} and the GB/s the matrices and head read, one JSON"
      + " line per part (\"bench\":\"generate_profile\") before the usual line and a table on"
      + " stderr")
  boolean profile;
  @Option(names = "--read-gbs", paramLabel = "GBS", description = "with --profile: the read"
      + " bandwidth measured beside the run (benchmarks/gpt/machine_peak.c's read_gbs); each part"
      + " then also reports the fraction of its bandwidth bound it reaches")
  double readGbs;

  @Override
  public Integer call() throws IOException {
    DType weightType = GenerateCommand.weightType(weights);
    GptConfig cfg = BenchTrainCommand.config(config);
    if (batch <= 0 || ctx <= 0 || steps <= 0 || runs <= 0 || ctx + steps > cfg.contextLength()) {
      throw new UserInputException("need positive --batch, --ctx, --steps, --runs and --ctx +"
          + " --steps <= " + cfg.contextLength());
    }
    if (!(readGbs >= 0) || Double.isInfinite(readGbs) || (readGbs > 0 && !profile)) {
      throw new UserInputException("--read-gbs needs --profile and a positive bandwidth in GB/s,"
          + " got " + readGbs);
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (GptModel m = GptModel.random(c, cfg, 1);
          Generator g = new Generator(m, batch, weightType)) {
        int[] prompt = new int[ctx];
        for (int i = 0; i < ctx; i++) {
          prompt[i] = (i * 31 + 7) % cfg.vocabSize();
        }
        java.util.List<int[]> prompts = java.util.Collections.nCopies(batch, prompt);
        double[] tps = new double[runs], cpuMs = new double[runs];
        long[] firstNs = new long[2];
        for (int r = 0; r <= runs; r++) {
          long t0 = System.nanoTime();
          firstNs[0] = 0;
          g.generate(prompts, GenerationConfig.greedy(steps), (row, id) -> {
            if (firstNs[0] == 0) {
              firstNs[0] = System.nanoTime();
              firstNs[1] = BenchTrainCommand.processCpuNs();
            }
            return true;
          });
          long end = System.nanoTime(), cpuEnd = BenchTrainCommand.processCpuNs();
          if (r > 0) {
            // decode rate: tokens after the first (the first one includes the prefill)
            tps[r - 1] = batch * (steps - 1) / ((end - firstNs[0]) / 1e9);
            cpuMs[r - 1] = (cpuEnd - firstNs[1]) / 1e6 / (batch * (steps - 1));
          }
          if (r == 0) {
            t0 = end;
          }
        }
        double[] prof = profile ? profile(g, prompts, cfg) : null;
        Arrays.sort(tps);
        Arrays.sort(cpuMs);
        double med = tps[runs / 2];
        JsonLine line = new JsonLine().put("bench", "generate").put("config", config)
            .put("batch", batch).put("prompt", ctx).put("new_tokens", steps)
            .put("threads", c.threads()).put("ms_per_token", 1e3 * batch / med, 2)
            .put("tokens_per_s", med, 2).put("weight_bytes", 4L * m.parameterCount())
            .put("cpu_ms_per_token", cpuMs[runs / 2], 2).put("weights", weights)
            .put("matmul_weight_bytes_per_token", g.matmulWeightBytesPerToken());
        if (prof != null) {
          line.putObject("profile", p -> {
            for (int i = 0; i < dev.fuselm.model.KvCache.PROFILE_PARTS.length; i++) {
              p.put(dev.fuselm.model.KvCache.PROFILE_PARTS[i], prof[i], 3);
            }
            int n = dev.fuselm.model.KvCache.PROFILE_PARTS.length;
            p.put("matrices_gbs", prof[n], 2).put("lm_head_gbs", prof[n + 1], 2);
          });
          DecodeProfile.of(prof, g.matmulWeightBytesPerToken(), headBytes(g, cfg),
              kvBytesPerToken(cfg), readGbs)
              .print(System.out, System.err, j -> j.put("bench", "generate_profile")
                  .put("config", config).put("threads", c.threads()).put("weights", weights));
        }
        line.println(System.out);
      }
    }
    return 0;
  }

  /**
   * One more run with the decode steps' parts timed (from the first new token on): ms per step of
   * each of KvCache.PROFILE_PARTS, then the matrices' and the LM head's GB/s.
   */
  private double[] profile(Generator g, java.util.List<int[]> prompts, GptConfig cfg) {
    boolean[] on = {false};
    g.generate(prompts, GenerationConfig.greedy(steps), (row, id) -> {
      if (!on[0]) {
        on[0] = true;
        g.profile(true);
      }
      return true;
    });
    long[] ns = g.profileNanos();
    g.profile(false);
    double perStep = steps - 1;
    long head = headBytes(g, cfg);
    long blocks = g.matmulWeightBytesPerToken() - head;
    double[] out = new double[ns.length + 2];
    for (int i = 0; i < ns.length; i++) {
      out[i] = ns[i] / 1e6 / perStep;
    }
    // bytes per step over seconds per step
    out[ns.length] = blocks / (ns[0] / 1e9 / perStep) / 1e9;
    out[ns.length + 1] = head / (ns[1] / 1e9 / perStep) / 1e9;
    return out;
  }

  /** Bytes of the LM head's weights read per step (its share of the matrices' bytes). */
  private static long headBytes(Generator g, GptConfig cfg) {
    long c = cfg.dModel();
    return g.matmulWeightBytesPerToken() * cfg.vocabSize() * c
        / (12 * c * c * cfg.nLayer() + (long) cfg.vocabSize() * c);
  }

  /**
   * Bytes of cached keys and values (float32) the profiled steps' attention reads per step, on
   * average: the step that makes new token i (i = 1 .. steps - 1) attends over ctx + i positions,
   * in every layer, per sequence.
   */
  private long kvBytesPerToken(GptConfig cfg) {
    double meanPositions = ctx + steps / 2.0;
    return Math.round(cfg.nLayer() * meanPositions * 2 * cfg.dModel() * 4 * batch);
  }
}
