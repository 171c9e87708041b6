package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.cli.DemoCommand;
import dev.fuselm.cli.GenerateCommand;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench serve}: a load test of {@link InferenceSession} in-process. For each client
 * count, that many threads each send requests one after another (a closed loop); prints one JSON
 * line per count with generated tokens per second over the wall time and request latencies, next
 * to the same kind of requests run one after another on a batch-1 {@link Generator} in the same
 * process (the peer).
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Load-test an InferenceSession: throughput and p50/p99 latency at several"
        + " client counts; one JSON line per count.")
public final class BenchServeCommand implements Callable<Integer> {
  @Option(names = "--model", description = "a model directory (default: random weights of"
      + " --config)") Path model;
  @Option(names = "--config", description = "demo (the `fuselm demo` model's shape), gpt2, ... or"
      + " a config.json, with random weights (default: ${DEFAULT-VALUE})") String config = "demo";
  @Option(names = "--clients", split = ",", description = "concurrent clients, comma-separated"
      + " (default: 1,4,16)") int[] clients = {1, 4, 16};
  @Option(names = "--requests", description = "requests per client (default: ${DEFAULT-VALUE})")
  int requests = 4;
  @Option(names = "--prompt-tokens", description = "prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens = 16;
  @Option(names = {"--new-tokens", "--max-new-tokens"}, description = "tokens per request (default: ${DEFAULT-VALUE})")
  int newTokens = 32;
  @Option(names = "--slots", description = "session slots (default: ${DEFAULT-VALUE})") int slots = 16;
  @Option(names = "--rounds", description = "alternating peer/session rounds per client count"
      + " (default: ${DEFAULT-VALUE})") int rounds = 3;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--weights", description = "matrix weights of the session and its peer: fp32,"
      + " bf16 or int8 (default: ${DEFAULT-VALUE})") String weights = "fp32";

  @Override
  public Integer call() throws Exception {
    if (requests <= 0 || rounds <= 0 || promptTokens <= 0 || newTokens <= 0 || slots <= 0
        || Arrays.stream(clients).anyMatch(c -> c <= 0)) {
      throw new UserInputException("--clients, --requests, --rounds, --prompt-tokens,"
          + " --new-tokens and --slots must be positive");
    }
    DType weightType = GenerateCommand.weightType(weights);
    try (ComputeContext ctx = ComputeContext.create()) {
      ctx.threads(threads);
      String name = model != null ? model.toString() : config;
      // a directory to decode with bf16 weights loads its block matrices straight to bf16
      try (GptModel m = model == null ? GptModel.random(ctx, config(config), 1)
          : weightType == DType.BFLOAT16 ? Checkpoint.loadBf16Matrices(ctx, model)
          : Checkpoint.load(ctx, model, ModelFamily.GPT2)) {
        GptConfig cfg = m.config();
        if (promptTokens + newTokens > cfg.contextLength()) {
          throw new UserInputException("--prompt-tokens + --new-tokens must fit the context of "
              + cfg.contextLength());
        }
        for (int c : clients) {
          // rounds alternate the peer (the same kind of requests one after another on a batch-1
          // Generator) and the session, so both see the same machine load
          double[] ratios = new double[rounds];
          double[] sessionTps = new double[rounds];
          double[] sessionRps = new double[rounds];
          double[] generatorTps = new double[rounds];
          List<double[]> latencies = new ArrayList<>();
          List<double[]> firsts = new ArrayList<>();
          for (int round = 0; round < rounds; round++) {
            generatorTps[round] = generatorBaseline(m, cfg, Math.max(2, requests), round,
                weightType);
            try (InferenceSession s = InferenceSession.of(m, null,
                InferenceSession.Options.defaults().withSlots(slots).withWeights(weightType))) {
              run(s, cfg, 1, 1, new Random(0)); // warm-up
              Stats st = run(s, cfg, c, requests, new Random(c * 100 + round));
              sessionTps[round] = st.tokensPerS;
              sessionRps[round] = st.requestsPerS;
              latencies.add(st.latencies);
              firsts.add(st.firsts);
            }
            ratios[round] = sessionTps[round] / generatorTps[round];
          }
          double[] lat = latencies.stream().flatMapToDouble(Arrays::stream).sorted().toArray();
          double[] fst = firsts.stream().flatMapToDouble(Arrays::stream).sorted().toArray();
          double[] sortedRatios = ratios.clone();
          Arrays.sort(sortedRatios);
          new JsonLine().put("bench", "serve").put("model", name).put("clients", c)
              .put("requests_per_round", c * requests).put("rounds", rounds)
              .put("prompt_tokens", promptTokens).put("new_tokens", newTokens).put("slots", slots)
              .put("threads", ctx.threads()).put("tokens_per_s", median(sessionTps), 1)
              .put("p50_ms", percentile(lat, 0.50), 1).put("p99_ms", percentile(lat, 0.99), 1)
              .put("first_token_p50_ms", percentile(fst, 0.50), 1)
              .put("generator_tokens_per_s", median(generatorTps), 1)
              .put("vs_generator", median(ratios), 2)
              .putArray("vs_generator_range", 2, sortedRatios[0], sortedRatios[rounds - 1])
              .put("weights", weights).put("requests_per_s", median(sessionRps), 2)
              .println(System.out);
        }
      }
    }
    return 0;
  }

  static GptConfig config(String spec) throws IOException {
    if (spec.equals("demo")) {
      return GptConfig.of(DemoCommand.VOCAB, DemoCommand.CTX, DemoCommand.D_MODEL,
          DemoCommand.LAYERS, DemoCommand.HEADS);
    }
    return BenchTrainCommand.config(spec);
  }

  /** One round: tokens per second over the wall time, latencies and times to the first token. */
  private record Stats(double tokensPerS, double requestsPerS, double[] latencies,
      double[] firsts) {}

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /** {@code clients} threads, each sending {@code perClient} requests in a closed loop. */
  private Stats run(InferenceSession s, GptConfig cfg, int clients, int perClient, Random r)
      throws Exception {
    int[][] prompts = new int[clients * perClient][promptTokens];
    for (int[] p : prompts) {
      for (int i = 0; i < p.length; i++) {
        p[i] = r.nextInt(cfg.vocabSize());
      }
    }
    GenerationConfig gc = GenerationConfig.greedy(newTokens);
    double[] latency = new double[prompts.length];
    double[] first = new double[prompts.length];
    long[] tokens = new long[prompts.length];
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    List<Future<?>> done = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      int client = c;
      done.add(pool.submit(() -> {
        for (int k = 0; k < perClient; k++) {
          int i = client * perClient + k;
          long start = System.nanoTime();
          long[] firstAt = {0};
          CompletableFuture<Result> f = s.submit(prompts[i], gc, id -> {
            if (firstAt[0] == 0) {
              firstAt[0] = System.nanoTime();
            }
            return true;
          });
          Result res = f.get();
          long end = System.nanoTime();
          latency[i] = (end - start) / 1e6;
          first[i] = (firstAt[0] - start) / 1e6;
          tokens[i] = res.ids().length;
        }
        return null;
      }));
    }
    for (Future<?> f : done) {
      f.get();
    }
    double wall = (System.nanoTime() - t0) / 1e9;
    pool.shutdown();
    return new Stats(Arrays.stream(tokens).sum() / wall, prompts.length / wall, latency, first);
  }

  /** Tokens per second of {@code n} requests run one after another on a batch-1 Generator. */
  private double generatorBaseline(GptModel m, GptConfig cfg, int n, int round, DType type) {
    Random r = new Random(99 + round);
    try (Generator g = new Generator(m, 1, type)) {
      long tokens = 0;
      long t0 = 0;
      for (int k = 0; k <= n; k++) { // request 0 is a warm-up
        if (k == 1) {
          t0 = System.nanoTime();
        }
        int[] p = new int[promptTokens];
        for (int i = 0; i < p.length; i++) {
          p[i] = r.nextInt(cfg.vocabSize());
        }
        int got = g.generate(p, GenerationConfig.greedy(newTokens), null).ids().length;
        tokens += k > 0 ? got : 0;
      }
      return tokens / ((System.nanoTime() - t0) / 1e9);
    }
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double q) {
    int rank = (int) Math.ceil(q * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }
}
