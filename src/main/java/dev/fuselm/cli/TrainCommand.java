package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.Precision;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.train.TokenData;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fuselm train}: pretrains a GPT on a text or token-id file. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Pretrain a GPT on a text (.txt) or token-id (.ids) file. Prints one JSON line per"
        + " step and per evaluation on stdout, a progress bar on stderr.")
public final class TrainCommand implements Callable<Integer> {
  @Option(names = "--data", required = true, description = "training data: FILE.txt or FILE.ids")
  Path data;
  @Option(names = "--tokenizer", description = "gpt2 (default), a tokenizer directory or"
      + " tokenizer.json (for .txt data)")
  String tokenizer;
  @Option(names = "--init", description = "start from this model directory")
  Path init;
  @Option(names = "--config", description = "a new model: gpt2, gpt2-medium, gpt2-large, gpt2-xl"
      + " or a config.json file")
  String config;
  @Option(names = "--out", required = true, description = "checkpoint directory")
  Path out;
  @Option(names = "--steps", required = true, description = "optimizer steps from the start of"
      + " training") int steps;
  @Option(names = "--batch", required = true, description = "windows per micro-batch") int batch;
  @Option(names = "--ctx", required = true, description = "tokens per window") int ctx;
  @Option(names = "--stride", description = "distance between windows (default: ctx)") Integer stride;
  @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})") float lr = 6e-4f;
  @Option(names = "--min-lr", description = "final cosine rate (default: lr / 10)") Float minLr;
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("cosine");
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.1f);
  @Option(names = "--grad-accum", description = "micro-batches per step (default: ${DEFAULT-VALUE})")
  int gradAccum = 1;
  @Option(names = "--no-shuffle", description = "batches in data order") boolean noShuffle;
  @Option(names = "--seed", description = "seed of init, shuffling and dropout (default: ${DEFAULT-VALUE})")
  long seed = 1337;
  @Option(names = "--eval-every", description = "validate every N steps (default: only at the end)")
  int evalEvery;
  @Option(names = "--eval-batches", description = "validation batches per evaluation, 0 = all"
      + " (default: ${DEFAULT-VALUE})") int evalBatches = 50;
  @Option(names = "--val-fraction", description = "held-out tail of the data (default: ${DEFAULT-VALUE})")
  float valFraction = 0.1f;
  @Option(names = "--save-every", description = "checkpoint every N steps (default: only at the end)")
  int saveEvery;
  @Option(names = "--resume", description = "continue exactly from this checkpoint directory")
  Path resume;
  @Mixin TrainingOptions.Logging logging;
  @Option(names = "--dropout", description = "dropout for a new model (default: 0)") float dropout;
  @Option(names = "--sample-every", description = "print a generated sample every N steps") int sampleEvery;
  @Option(names = "--sample-prompt", description = "prompt of the samples (default: ${DEFAULT-VALUE})")
  String samplePrompt = "\n";
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--precision", description = "fp32 or bf16 (mixed precision: bf16 GEMM inputs,"
      + " fp32 accumulation and master weights); default fp32, on --resume the checkpoint's")
  String precision;

  @Override
  public Integer call() throws IOException {
    TrainConfig cfg = trainConfig();
    TrainingOptions.checkModelSource(init, config, resume, out);
    TrainingOptions.checkNewModelOption("--dropout", dropout != 0, config);
    Precision prec = TrainingOptions.precision(precision, resume);
    Path modelDir = init != null ? init : resume;
    Tokenizer tok = null;
    if (modelDir != null && Tokenizers.present(modelDir) && tokenizer == null) {
      tok = Gpt2BpeTokenizer.fromDirectory(modelDir);
    } else if (!data.getFileName().toString().endsWith(".ids") || tokenizer != null) {
      tok = Tokenizers.gpt2Bpe(tokenizer);
    }
    int[] ids = TokenData.load(data, tok);
    try (ComputeContext cctx = ComputeContext.create()) {
      cctx.threads(threads.threads);
      GptModel model = modelDir != null ? Checkpoint.load(cctx, modelDir, ModelFamily.GPT2)
          : GptModel.random(cctx, newConfig(tok), seed);
      try (model) {
        model.setPrecision(prec);
        try (Trainer trainer = new Trainer(model, ids, cfg, null)) {
          return run(model, trainer, cfg, tok, ids);
        }
      }
    }
  }

  private TrainConfig trainConfig() {
    boolean cosine = schedule.cosine();
    return TrainConfig.defaults(steps, batch, ctx, out)
        .withLr(lr, minLr == null ? lr / 10 : minLr, schedule.warmup, cosine)
        .withData(stride == null ? ctx : stride, !noShuffle, valFraction, gradAccum)
        .withSchedule(evalEvery, saveEvery, evalBatches).withOptimizer(optimizer.weightDecay,
            optimizer.clip, seed);
  }

  private GptConfig newConfig(Tokenizer tok) throws IOException {
    GptConfig c = TrainingOptions.config(config, p -> Checkpoint.readConfigFile(p,
        ModelFamily.GPT2), GptConfig::preset);
    if (tok != null) {
      TrainingOptions.checkVocab(tok.vocabSize(), c.vocabSize());
    }
    return dropout > 0 ? c.withDropout(dropout) : c;
  }

  private int run(GptModel model, Trainer trainer, TrainConfig cfg, Tokenizer tok, int[] ids)
      throws IOException {
    if (resume != null) {
      trainer.resume(resume);
    }
    if (tok instanceof Gpt2BpeTokenizer g && !Tokenizers.present(out)) {
      Files.createDirectories(out);
      g.save(out);
    }
    String how = resume != null ? "resumed at step " + trainer.step() : "from step 0";
    TrainingConsole.run(model, trainer, cfg, tok, logging.logJson, logging.quiet, sampleEvery,
        samplePrompt,
        model.precision() == Precision.FP32 ? how : how + ", " + model.precision()
            + " mixed precision");
    return 0;
  }
}
