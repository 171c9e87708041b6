package dev.fuselm.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.cli.GenerateCommand;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.serve.InferenceSession;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench prefix-cache}: time to the first token of requests whose prompts share a
 * long prefix (a system prompt, a document), with the session's prefix cache off and on. Rounds
 * alternate the two sessions on the same model so both see the same machine load; each round's
 * requests are sent one after another (prefill time, not queueing, is measured), and their greedy
 * outputs must be identical with and without the cache.
 */
@Command(name = "prefix-cache", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Time to first token for prompts sharing a long prefix, prefix cache off vs on;"
        + " one JSON line.")
public final class BenchPrefixCacheCommand implements Callable<Integer> {
  @Option(names = "--model", description = "a model directory (default: random weights of"
      + " --config)") Path model;
  @Option(names = "--config", description = "gpt2, demo, ... or a config.json, with random"
      + " weights (default: ${DEFAULT-VALUE})") String config = "gpt2";
  @Option(names = "--prefix-tokens", description = "tokens every prompt shares"
      + " (default: ${DEFAULT-VALUE})") int prefixTokens = 512;
  @Option(names = "--suffix-tokens", description = "tokens of each prompt after the prefix"
      + " (default: ${DEFAULT-VALUE})") int suffixTokens = 16;
  @Option(names = {"--new-tokens", "--max-new-tokens"}, description = "tokens per request (default: ${DEFAULT-VALUE})")
  int newTokens = 4;
  @Option(names = "--requests", description = "timed requests per round and session"
      + " (default: ${DEFAULT-VALUE})") int requests = 3;
  @Option(names = "--rounds", description = "rounds, each running both sessions"
      + " (default: ${DEFAULT-VALUE})") int rounds = 2;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--weights", description = "fp32 or bf16 (default: ${DEFAULT-VALUE})")
  String weights = "fp32";

  @Override
  public Integer call() throws Exception {
    if (prefixTokens <= 0 || suffixTokens <= 0 || newTokens <= 0 || requests <= 0
        || rounds <= 0) {
      throw new UserInputException("--prefix-tokens, --suffix-tokens, --new-tokens, --requests"
          + " and --rounds must be positive");
    }
    DType weightType = GenerateCommand.weightType(weights);
    try (ComputeContext ctx = ComputeContext.create()) {
      ctx.threads(threads);
      try (GptModel m = model == null
          ? GptModel.random(ctx, BenchServeCommand.config(config), 1)
          : weightType == DType.BFLOAT16 ? Checkpoint.loadBf16Matrices(ctx, model)
          : Checkpoint.load(ctx, model, ModelFamily.GPT2)) {
        GptConfig cfg = m.config();
        if (prefixTokens + suffixTokens + newTokens > cfg.contextLength()) {
          throw new UserInputException("--prefix-tokens + --suffix-tokens + --new-tokens must"
              + " fit the context of " + cfg.contextLength());
        }
        Random r = new Random(7);
        int[] prefix = randomIds(r, prefixTokens, cfg.vocabSize());
        double[] off = new double[rounds * requests];
        double[] on = new double[rounds * requests];
        double[] ratios = new double[rounds];
        boolean identical = true;
        long reused = 0;
        for (int round = 0; round < rounds; round++) {
          int[][] prompts = new int[requests + 1][];
          for (int i = 0; i <= requests; i++) {
            prompts[i] = Arrays.copyOf(prefix, prefixTokens + suffixTokens);
            System.arraycopy(randomIds(r, suffixTokens, cfg.vocabSize()), 0, prompts[i],
                prefixTokens, suffixTokens);
          }
          int[][] outOff = new int[requests][];
          int[][] outOn = new int[requests][];
          double sumOff = 0;
          double sumOn = 0;
          for (boolean cached : new boolean[] {false, true}) {
            InferenceSession.Options o = InferenceSession.Options.defaults().withSlots(1)
                .withWeights(weightType)
                .withPrefixCache(cached ? 2 : 0);
            try (InferenceSession s = InferenceSession.of(m, null, o)) {
              // prompt 0 warms up (and, with the cache, leaves the prefix in it)
              ttft(s, prompts[0]);
              for (int i = 0; i < requests; i++) {
                double[] t = new double[1];
                int[] ids = ttft(s, prompts[i + 1], t);
                (cached ? on : off)[round * requests + i] = t[0];
                (cached ? outOn : outOff)[i] = ids;
                if (cached) {
                  sumOn += t[0];
                } else {
                  sumOff += t[0];
                }
              }
              if (cached) {
                reused += s.prefillStats().prefixTokensReused();
              }
            }
          }
          ratios[round] = sumOff / sumOn;
          for (int i = 0; i < requests; i++) {
            identical &= Arrays.equals(outOff[i], outOn[i]);
          }
        }
        ObjectNode line = new ObjectMapper().createObjectNode();
        line.put("bench", "prefix-cache");
        line.put("model", model != null ? model.toString() : config);
        line.put("weights", weights);
        line.put("threads", ctx.threads());
        line.put("prefix_tokens", prefixTokens);
        line.put("suffix_tokens", suffixTokens);
        line.put("requests", rounds * requests);
        line.put("ttft_ms_no_cache_p50", round1(BenchServeCommand.median(off)));
        line.put("ttft_ms_cache_p50", round1(BenchServeCommand.median(on)));
        line.put("speedup_median_of_rounds", Math.round(BenchServeCommand.median(ratios) * 100)
            / 100.0);
        line.put("tokens_reused", reused);
        line.put("outputs_identical", identical);
        System.out.println(line);
        return identical ? 0 : 1;
      }
    }
  }

  private static double round1(double v) {
    return Math.round(v * 10) / 10.0;
  }

  private static int[] randomIds(Random r, int n, int vocab) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = r.nextInt(vocab);
    }
    return p;
  }

  private int[] ttft(InferenceSession s, int[] prompt) throws Exception {
    return ttft(s, prompt, new double[1]);
  }

  /** Runs one request; ttftMs[0] gets the milliseconds from submission to its first token. */
  private int[] ttft(InferenceSession s, int[] prompt, double[] ttftMs) throws Exception {
    long[] firstAt = {0};
    long start = System.nanoTime();
    CompletableFuture<Result> f = s.submit(prompt, GenerationConfig.greedy(newTokens), id -> {
      if (firstAt[0] == 0) {
        firstAt[0] = System.nanoTime();
      }
      return true;
    });
    int[] ids = f.get().ids();
    ttftMs[0] = (firstAt[0] - start) / 1e6;
    return ids;
  }
}
