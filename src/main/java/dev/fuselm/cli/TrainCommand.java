package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.Precision;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TokenData;
import dev.fuselm.train.TrainConfig;
import dev.fuselm.train.Trainer;
import dev.fuselm.train.TrainingDivergedException;
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
  @Option(names = {"--init", "--model"}, description = "start from this model directory")
  Path init;
  @Option(names = "--config", description = "a new model: gpt2, gpt2-medium, gpt2-large, gpt2-xl"
      + " or a config.json file")
  String config;
  @Option(names = {"--out", "--output"}, required = true, description = "checkpoint directory")
  Path out;
  @Option(names = "--steps", required = true, description = "optimizer steps from the start of"
      + " training") int steps;
  @Option(names = {"--batch", "--batch-size"}, required = true, description = "windows per micro-batch") int batch;
  @Option(names = {"--ctx", "--seq-len"}, required = true, description = "tokens per window") int ctx;
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
  @Option(names = {"--val-fraction", "--val-ratio"}, description = "held-out tail of the data (default: ${DEFAULT-VALUE})")
  float valFraction = 0.1f;
  @Option(names = "--save-every", description = "checkpoint every N steps (default: only at the end)")
  int saveEvery;
  @Option(names = "--resume", description = "continue exactly from this checkpoint directory")
  Path resume;
  @Option(names = "--save-total-limit", description = "checkpoint-<step> directories kept in"
      + " --out, the newest first (default: ${DEFAULT-VALUE})")
  int saveTotalLimit = CheckpointDirectory.DEFAULT_KEEP;
  @Mixin TrainingOptions.Logging logging;
  @Option(names = "--dropout", description = "dropout for a new model (default: 0)") float dropout;
  @Option(names = "--sample-every", description = "print a generated sample every N steps") int sampleEvery;
  @Option(names = "--sample-prompt", description = "prompt of the samples (default: ${DEFAULT-VALUE})")
  String samplePrompt = "\n";
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--precision", description = "fp32 or bf16 (mixed precision: bf16 GEMM inputs,"
      + " fp32 accumulation and master weights); default fp32, on --resume the checkpoint's")
  String precision;
  @Option(names = "--distributed", description = "train data-parallel as one process of an MPI"
      + " job (automatic under mpirun and srun --mpi=pmix, or with FUSELM_DIST=1): each process"
      + " takes batch / processes windows of every batch; only rank 0 prints and saves")
  boolean distributed;

  @Override
  public Integer call() throws IOException {
    TrainConfig cfg = trainConfig();
    TrainingOptions.checkModelSource(init, config, resume, out);
    TrainingOptions.checkNewModelOption("--dropout", dropout != 0, config);
    TrainingOptions.checkSaveTotalLimit(saveTotalLimit);
    init = TrainingOptions.latestCheckpoint(init);
    resume = TrainingOptions.latestCheckpoint(resume);
    try (ProcessGroup group = joinGroup(distributed)) {
      return train(cfg, group);
    }
  }

  /**
   * The data-parallel group when asked for (the flag, FUSELM_DIST, or an MPI launcher's
   * environment), else the one-process group; a missing MPI is a one-line error.
   */
  static ProcessGroup joinGroup(boolean force) {
    try {
      return ProcessGroup.fromEnvironment(force);
    } catch (IllegalStateException e) {
      throw new UserInputException(e.getMessage(), e);
    }
  }

  /**
   * Kernel threads of one process: --threads, else all cores, shared by the processes of a
   * data-parallel job on this node (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE).
   */
  static int threadsPerProcess(int threads, ProcessGroup group) {
    String local = System.getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (threads > 0 || group.size() == 1 || local == null) {
      return threads;
    }
    try {
      return Math.max(1, Runtime.getRuntime().availableProcessors() / Integer.parseInt(local));
    } catch (NumberFormatException e) {
      return threads;
    }
  }

  private int train(TrainConfig cfg, ProcessGroup group) throws IOException {
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
      cctx.threads(threadsPerProcess(threads.threads, group));
      GptModel model = modelDir != null ? Checkpoint.load(cctx, modelDir, ModelFamily.GPT2)
          : GptModel.random(cctx, newConfig(tok), seed);
      try (model) {
        model.setPrecision(prec);
        try (Trainer trainer = new Trainer(model, ids, cfg, null)) {
          trainer.keepCheckpoints(saveTotalLimit);
          trainer.distribute(group);
          return run(model, trainer, cfg, tok, ids, group);
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

  private int run(GptModel model, Trainer trainer, TrainConfig cfg, Tokenizer tok, int[] ids,
      ProcessGroup group) throws IOException {
    if (resume != null) {
      trainer.resume(resume);
    }
    if (!group.isLeader()) { // the other ranks train silently; rank 0 prints and saves
      try {
        trainer.run();
      } catch (TrainingDivergedException e) {
        throw new UserInputException(e.getMessage());
      }
      return 0;
    }
    if (tok instanceof Gpt2BpeTokenizer g && !Tokenizers.present(out)) {
      Files.createDirectories(out);
      g.save(out);
    }
    String how = resume != null ? "resumed at step " + trainer.step() : "from step 0";
    if (group.size() > 1) {
      how += ", data-parallel over " + group.size() + " processes (" + group.libraryVersion()
          + ")";
    }
    TrainingConsole.run(model, trainer, cfg, tok, logging.logJson, logging.quiet, sampleEvery,
        samplePrompt,
        model.precision() == Precision.FP32 ? how : how + ", " + model.precision()
            + " mixed precision");
    if (group.size() > 1) {
      System.err.printf(java.util.Locale.ROOT, "fuselm train: gradient all-reduce of %,d floats:"
          + " %.4f s per step on rank 0 (mean, waiting for the other ranks included)%n",
          model.params().size(), group.meanSlabAllReduceSeconds());
    }
    return 0;
  }
}
