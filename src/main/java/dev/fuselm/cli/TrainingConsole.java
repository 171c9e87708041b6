package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptModel;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.train.Evaluator;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.Trainer;
import dev.fuselm.train.TrainingDivergedException;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.function.Consumer;

/** Runs a Trainer with the console contract: JSON lines on stdout (and --log-json), a bar on stderr. */
final class TrainingConsole {
  private static final ObjectMapper JSON = new ObjectMapper();

  private TrainingConsole() {}

  /** Last validation result seen, for callers that summarise. */
  static Evaluator.Result lastEval;

  static void run(GptModel model, Trainer trainer, TrainConfig cfg, Tokenizer tok, Path logJson,
      boolean quiet, int sampleEvery, String samplePrompt, String startedHow) throws IOException {
    try (Session console = new Session(logJson, trainer.step(), cfg.steps())) {
      console.bar.message(String.format(Locale.ROOT,
          "fuselm train: %,d parameters, %,d training + %,d validation tokens, %,d tokens/step, %s",
          model.parameterCount(), trainer.trainTokens(), trainer.valTokens(),
          trainer.tokensPerStep(), startedHow));
      Generator[] sampler = new Generator[1];
      trainer.setListener(new Trainer.Listener() {
        @Override
        public void onStep(long step, float loss, float lr, float gradNorm, double tps) {
          console.step(step, loss, n -> {}, lr, gradNorm, tps, !quiet);
          if (sampleEvery > 0 && step % sampleEvery == 0 && tok != null) {
            if (sampler[0] == null) {
              sampler[0] = new Generator(model, 1);
            }
            console.bar.message("--- sample at step " + step + " ---\n"
                + sample(sampler[0], tok, samplePrompt, 60, 0.8f, 1) + "\n---");
          }
        }

        @Override
        public void onEval(long step, Evaluator.Result r) {
          lastEval = r;
          ObjectNode n = evalLine(step, r.loss());
          n.put("val_perplexity", (float) r.perplexity());
          console.emit(n, true);
        }

        @Override
        public void onSave(long step, Path dir) {
          console.saved(step, dir);
        }
      });
      try {
        console.train(trainer::run);
      } finally {
        trainer.setListener(null);
        if (sampler[0] != null) {
          sampler[0].close();
        }
      }
    }
  }

  /** A training run: its run() may stop with a {@link TrainingDivergedException}. */
  interface TrainingAction {
    void run() throws IOException;
  }

  /**
   * The console of one training command: the --log-json file (appended, closed with this) and the
   * progress bar on stderr.
   */
  static final class Session implements AutoCloseable {
    final BufferedWriter log;
    final ConsoleProgress bar;

    Session(Path logJson, long firstStep, long steps) throws IOException {
      log = logJson == null ? null : Files.newBufferedWriter(logJson, StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      bar = new ConsoleProgress(System.err, firstStep, steps, ConsoleProgress.stderrIsTerminal());
    }

    /** A JSON line to the log, and to stdout too when asked (on its own line, not the bar's). */
    void emit(ObjectNode n, boolean stdout) {
      if (stdout) {
        bar.clearLine();
      }
      TrainingConsole.emit(n, log, stdout);
    }

    /**
     * Emits a step's JSON line (step, loss, the fields lossParts adds, lr, grad_norm,
     * tokens_per_s) and moves the bar.
     */
    void step(long step, float loss, Consumer<ObjectNode> lossParts, float lr, float gradNorm,
        double tps, boolean stdout) {
      ObjectNode n = JSON.createObjectNode();
      n.put("step", step);
      n.put("loss", loss);
      lossParts.accept(n);
      n.put("lr", lr);
      n.put("grad_norm", gradNorm);
      n.put("tokens_per_s", Math.round(tps * 10) / 10.0);
      emit(n, stdout);
      bar.update(step, loss, tps);
    }

    void saved(long step, Path dir) {
      bar.message("saved checkpoint of step " + step + " to " + dir);
    }

    /** Runs the training; a divergence becomes a one-line CLI error. */
    void train(TrainingAction run) throws IOException {
      try {
        run.run();
      } catch (TrainingDivergedException e) {
        throw new UserInputException(e.getMessage());
      }
    }

    @Override
    public void close() throws IOException {
      bar.close();
      if (log != null) {
        log.close();
      }
    }
  }

  /** The start of an evaluation's JSON line: step and validation loss. */
  static ObjectNode evalLine(long step, double valLoss) {
    ObjectNode n = JSON.createObjectNode();
    n.put("step", step);
    n.put("val_loss", (float) valLoss);
    return n;
  }

  /** A short sample: the prompt and its continuation. */
  static String sample(Generator g, Tokenizer tok, String prompt, int tokens, float temperature,
      long seed) {
    int[] ids = tok.encode(prompt);
    int eos = tok.specialTokenId("<|endoftext|>").orElse(-1);
    GenerationConfig gc = GenerationConfig.sampling(tokens, temperature, 40, 1f, seed)
        .withStopToken(eos).withTruncation(true);
    int[] out = g.generate(ids, gc, null).ids();
    if (out.length > 0 && out[out.length - 1] == eos) {
      out = java.util.Arrays.copyOf(out, out.length - 1);
    }
    return prompt + tok.decode(out);
  }

  static void emit(ObjectNode n, BufferedWriter log, boolean stdout) {
    String line = n.toString();
    if (stdout) {
      System.out.println(line);
      System.out.flush();
    }
    if (log != null) {
      try {
        log.write(line);
        log.newLine();
        log.flush();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
