package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.baseline.NgramModel;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.BpeTrainer;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import dev.fuselm.train.Evaluator;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.Trainer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code fuselm demo}: the whole pipeline in a few minutes on a laptop: trains a byte-level BPE
 * tokenizer and a small GPT on TinyShakespeare (bundled, 1.1 MB, public domain), prints progress
 * and the validation loss, saves the model with its loss plot, and generates text. Beside the GPT's
 * validation perplexity it prints an n-gram baseline's (interpolated Kneser-Ney, counted on the same
 * training tokens and scored on the same validation tokens), so the user sees what the network bought.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Train a BPE tokenizer and a small GPT on the bundled TinyShakespeare text,"
        + " then generate text. Deterministic for a given --seed.")
public final class DemoCommand implements Callable<Integer> {
  static final String BUNDLED = "/dev/fuselm/demo/tinyshakespeare.txt";
  static final int STEPS = 1000;
  public static final int VOCAB = 1024;
  public static final int LAYERS = 4;
  public static final int D_MODEL = 128;
  public static final int HEADS = 4;
  public static final int CTX = 64;
  static final int BATCH = 16;
  static final float LR = 2e-3f;
  /**
   * Order of the n-gram baseline: on TinyShakespeare with the demo's 1024-token BPE, order 4 has the
   * lowest validation perplexity of orders 1..6 (36.0; order 3: 37.9, 5 and 6: 36.1; README,
   * "n-gram baseline", from benchmarks/ngram/NgramFigures.java).
   */
  static final int NGRAM_ORDER = 4;

  @Option(names = {"--out", "--output"}, description = "model directory to write (default: ${DEFAULT-VALUE})")
  Path out = Path.of("fuselm-demo");
  @Option(names = {"--text", "--data"}, description = "train on this UTF-8 text file instead of TinyShakespeare")
  Path text;
  @Option(names = "--steps", description = "training steps (default: ${DEFAULT-VALUE})") int steps = STEPS;
  @Option(names = "--vocab-size", description = "BPE vocabulary (default: ${DEFAULT-VALUE})")
  int vocabSize = VOCAB;
  @Option(names = "--layers", description = "transformer blocks (default: ${DEFAULT-VALUE})")
  int layers = LAYERS;
  @Option(names = "--d-model", description = "model width (default: ${DEFAULT-VALUE})")
  int dModel = D_MODEL;
  @Option(names = "--heads", description = "attention heads (default: ${DEFAULT-VALUE})")
  int heads = HEADS;
  @Option(names = {"--ctx", "--seq-len"}, description = "training context in tokens (default: ${DEFAULT-VALUE})")
  int ctx = CTX;
  @Option(names = {"--batch", "--batch-size"}, description = "windows per step (default: ${DEFAULT-VALUE})")
  int batch = BATCH;
  @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})")
  float lr = LR;
  @Option(names = "--prompt", description = "generation prompt (default: ${DEFAULT-VALUE})")
  String prompt = "ROMEO:";
  @Option(names = "--max-new-tokens", description = "generated tokens (default: ${DEFAULT-VALUE})")
  int maxNew = 100;
  @Option(names = "--seed", description = "seed of everything (default: ${DEFAULT-VALUE})") long seed = 123;
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--log-json", description = "also append the JSON lines to this file") Path logJson;

  @Override
  public Integer call() throws IOException {
    String corpus = text == null ? bundled() : Files.readString(text, StandardCharsets.UTF_8);
    if (corpus.isEmpty()) {
      throw new UserInputException(text + ": the text is empty");
    }
    PrintStream err = System.err;
    long t0 = System.nanoTime();
    Gpt2BpeTokenizer tok = BpeTrainer.train(corpus, vocabSize);
    int[] ids = tok.encode(corpus);
    err.printf(Locale.ROOT, "fuselm demo: trained a %d-token BPE vocabulary on %s (%,d characters"
        + " -> %,d tokens) in %.1f s%n", tok.vocabSize(), text == null ? "TinyShakespeare" : text,
        corpus.length(), ids.length, (System.nanoTime() - t0) / 1e9);
    // no dropout: the demo sees each token about once, so it underfits rather than overfits
    GptConfig cfg = GptConfig.of(tok.vocabSize(), ctx, dModel, layers, heads);
    TrainConfig tc = TrainConfig.defaults(steps, batch, ctx, out)
        .withLr(lr, lr / 10, Math.min(100, steps / 10), true)
        .withData(ctx, true, 0.1f, 1).withSchedule(Math.max(1, steps / 5), 0, 16)
        .withOptimizer(0.1f, 1.0f, seed);
    Files.createDirectories(out);
    try (ComputeContext cc = ComputeContext.create()) {
      cc.threads(threads.threads);
      try (GptModel model = GptModel.random(cc, cfg, seed);
          Trainer trainer = new Trainer(model, ids, tc, null)) {
        tok.save(out);
        TrainingConsole.lastEval = null;
        TrainingConsole.run(model, trainer, tc, tok, logJson, true, 0, "",
            String.format(Locale.ROOT, "%d layers, d_model %d, %d heads, context %d",
                cfg.nLayer(), cfg.dModel(), cfg.nHead(), cfg.contextLength()));
        err.printf(Locale.ROOT, "fuselm demo: trained in %.0f s; model, tokenizer and loss.png are"
            + " in %s%n", (System.nanoTime() - t0) / 1e9, out);
        ngramBaseline(ids, trainer.trainTokens(), tok.vocabSize(), TrainingConsole.lastEval);
        err.println("fuselm demo: sample (temperature 0.8, top-k 40, seed " + seed + "):");
        PrintStream o = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        o.print(prompt);
        StreamingDecoder dec = tok.streamingDecoder();
        int eos = tok.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1);
        try (Generator g = new Generator(model, 1)) {
          g.generate(tok.encode(prompt), GenerationConfig.sampling(maxNew, 0.8f, 40, 1f, seed)
              .withStopToken(eos).withTruncation(true), (row, id) -> {
                if (id != eos) {
                  o.print(dec.push(id));
                }
                return true;
              });
        }
        o.println(dec.finish());
      }
    }
    return 0;
  }

  /**
   * Trains a Kneser-Ney n-gram model on the GPT's training tokens ids[0, trainEnd) and scores the
   * tokens the GPT's last validation scored, ids[trainEnd + 1, trainEnd + 1 + gpt.tokens()) (its
   * first evaluation batches), in the same windows of --ctx predictions, so each token is predicted
   * from the same context (the n-gram using at most its last N-1 tokens). Prints one line on
   * stderr and a JSON event on stdout and to --log-json.
   */
  private void ngramBaseline(int[] ids, int trainEnd, int vocab, Evaluator.Result gpt)
      throws IOException {
    long t0 = System.nanoTime();
    NgramModel ngram = NgramModel.train(NgramModel.Settings.kneserNey(NGRAM_ORDER), vocab, ids, 0,
        trainEnd);
    int end = gpt == null ? ids.length : (int) Math.min(ids.length, trainEnd + 1 + gpt.tokens());
    NgramModel.Score s = ngram.evaluateWindows(ids, trainEnd, end, ctx);
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.err.printf(Locale.ROOT, "fuselm demo: n-gram baseline (%s): validation perplexity %.2f"
        + " vs the GPT's %s (the same %,d tokens; counted and scored in %.1f s)%n",
        ngram.settings().describe(), s.perplexity(),
        gpt == null ? "(none)" : String.format(Locale.ROOT, "%.2f", gpt.perplexity()), s.tokens(),
        seconds);
    ObjectNode n = new ObjectMapper().createObjectNode();
    n.put("event", "ngram_baseline");
    n.put("ngram_order", ngram.order());
    n.put("ngram_smoothing", ngram.settings().smoothing().id());
    n.put("ngram_train_tokens", trainEnd);
    n.put("ngram_val_tokens", s.tokens());
    n.put("ngram_val_perplexity", (float) s.perplexity());
    if (gpt != null) {
      n.put("gpt_val_perplexity", (float) gpt.perplexity());
    }
    try (BufferedWriter log = logJson == null ? null : Files.newBufferedWriter(logJson,
        StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
      TrainingConsole.emit(n, log, true);
    }
  }

  private static String bundled() throws IOException {
    try (InputStream in = DemoCommand.class.getResourceAsStream(BUNDLED)) {
      if (in == null) {
        throw new IOException("the bundled demo text is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
