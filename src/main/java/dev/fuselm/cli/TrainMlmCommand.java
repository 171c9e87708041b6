package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.MlmDataset;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.train.MlmTrainer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TrainConfig;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fuselm train-mlm}: pretrains a BERT with masked-language modelling (and NSP). */
@Command(name = "train-mlm", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Pretrain a BERT on text with the masked-language-model loss (15%% of the tokens"
        + " chosen, 80%% [MASK] / 10%% random / 10%% kept), optionally with next-sentence pairs."
        + " Prints one JSON line per step and per evaluation on stdout, a progress bar on stderr.")
public final class TrainMlmCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--data", required = true, description = "UTF-8 text file, one sentence or"
      + " paragraph a line (repeat for several files; they are joined in order)")
  List<Path> data;
  @Option(names = "--tokenizer", description = "bert-base-uncased (default for a new model),"
      + " bert-base-cased, a vocab.txt file or a BERT model directory")
  String tokenizer;
  @Option(names = "--config", description = "a new model: bert-tiny, bert-mini, bert-base-uncased,"
      + " bert-base-cased, bert-large or a config.json file")
  String config;
  @Option(names = {"--init", "--model"}, description = "start from this BERT model directory (with cls.* heads)")
  Path init;
  @Option(names = {"--out", "--output"}, required = true, description = "checkpoint directory") Path out;
  @Option(names = "--steps", required = true, description = "optimizer steps from the start of"
      + " training") int steps;
  @Option(names = {"--batch", "--batch-size"}, required = true, description = "sequences per micro-batch") int batch;
  @Option(names = {"--seq-len", "--ctx"}, required = true, description = "tokens per sequence,"
      + " [CLS] and [SEP] included") int seqLen;
  @Option(names = "--lr", description = "peak learning rate (default: ${DEFAULT-VALUE})") float lr = 1e-4f;
  @Option(names = "--min-lr", description = "final cosine rate (default: lr / 10)") Float minLr;
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("cosine");
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.01f);
  @Option(names = "--grad-accum", description = "micro-batches per step (default: ${DEFAULT-VALUE})")
  int gradAccum = 1;
  @Option(names = "--no-shuffle", description = "sequences in data order") boolean noShuffle;
  @Option(names = "--seed", description = "seed of init, masking, pairs, shuffling and dropout"
      + " (default: ${DEFAULT-VALUE})") long seed = 1337;
  @Option(names = "--eval-every", description = "validate every N steps (default: only at the end)")
  int evalEvery;
  @Option(names = "--eval-batches", description = "validation batches per evaluation, 0 = all"
      + " (default: ${DEFAULT-VALUE})") int evalBatches = 20;
  @Option(names = {"--val-fraction", "--val-ratio"}, description = "held-out tail of the lines (default: ${DEFAULT-VALUE})")
  float valFraction = 0.1f;
  @Option(names = "--save-every", description = "checkpoint every N steps (default: only at the end)")
  int saveEvery;
  @Option(names = "--resume", description = "continue exactly from this checkpoint directory")
  Path resume;
  @Option(names = "--save-total-limit", description = "checkpoint-<step> directories kept in"
      + " --out, the newest first (default: ${DEFAULT-VALUE})")
  int saveTotalLimit = CheckpointDirectory.DEFAULT_KEEP;
  @Mixin TrainingOptions.Logging logging;
  @Option(names = "--nsp", description = "sentence pairs (50%% true next, 50%% random) with the"
      + " next-sentence loss") boolean nsp;
  @Option(names = "--whole-word", description = "mask whole words (a piece and its ## pieces)")
  boolean wholeWord;
  @Option(names = "--dropout", description = "hidden dropout of a new model (default: the"
      + " config's)") Float dropout;
  @Mixin TrainingOptions.Threads threads;

  @Override
  public Integer call() throws IOException {
    try (ProcessGroup group = TrainCommand.joinGroup(false)) {
      return train(group);
    }
  }

  private Integer train(ProcessGroup group) throws IOException {
    TrainConfig cfg = trainConfig();
    TrainingOptions.checkModelSource(init, config, resume, out);
    TrainingOptions.checkNewModelOption("--dropout", dropout != null, config);
    TrainingOptions.checkSaveTotalLimit(saveTotalLimit);
    init = TrainingOptions.latestCheckpoint(init);
    resume = TrainingOptions.latestCheckpoint(resume);
    Path modelDir = init != null ? init : resume;
    WordPieceTokenizer tok = tokenizer != null ? resolveTokenizer(tokenizer)
        : modelDir != null ? Tokenizers.wordPiece(modelDir)
        : WordPieceTokenizer.bertBaseUncased();
    List<int[]> sentences = new ArrayList<>();
    for (Path f : data) {
      sentences.addAll(MlmDataset.sentences(readText(f), tok));
    }
    try (ComputeContext cctx = ComputeContext.create()) {
      cctx.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      BertModel model = modelDir != null ? Checkpoint.load(cctx, modelDir, ModelFamily.BERT)
          : BertModel.random(cctx, newConfig(tok), seed);
      try (model; MlmTrainer trainer = new MlmTrainer(model, tok, sentences, nsp, wholeWord, cfg,
          null)) {
        trainer.distribute(group);
        trainer.keepCheckpoints(saveTotalLimit);
        if (resume != null) {
          trainer.resume(resume);
        }
        if (!group.isLeader()) { // the other ranks train silently; rank 0 prints and saves
          trainer.run();
          return 0;
        }
        Files.createDirectories(out);
        writeTokenizer(tok, out);
        run(model, trainer, cfg, group.size() == 1 ? "" : ", data-parallel over " + group.size()
            + " processes (" + group.libraryVersion() + ")");
      }
    }
    return 0;
  }

  private TrainConfig trainConfig() {
    boolean cosine = schedule.cosine();
    return TrainConfig.bertPretraining(steps, batch, seqLen, out)
        .withLr(lr, minLr == null ? lr / 10 : minLr, schedule.warmup, cosine)
        .withData(seqLen, !noShuffle, valFraction, gradAccum)
        .withSchedule(evalEvery, saveEvery, evalBatches).withOptimizer(optimizer.weightDecay,
            optimizer.clip, seed);
  }

  private BertConfig newConfig(WordPieceTokenizer tok) throws IOException {
    BertConfig c = TrainingOptions.config(config, p -> Checkpoint.readConfigFile(p,
        ModelFamily.BERT), BertConfig::preset);
    TrainingOptions.checkVocab(tok.vocabSize(), c.vocabSize());
    return dropout != null ? c.withDropout(dropout, c.attentionDropout()) : c;
  }

  /** Reads a UTF-8 text file; a missing or undecodable file is a one-line error. */
  static String readText(Path f) throws IOException {
    if (!Files.isRegularFile(f)) {
      throw new UserInputException("--data " + f + ": no such file");
    }
    try {
      return Files.readString(f, StandardCharsets.UTF_8);
    } catch (CharacterCodingException e) {
      throw new UserInputException("--data " + f + ": not valid UTF-8 text");
    }
  }

  /**
   * bert-base-uncased / bert-base-cased (shipped in the jar), a BERT model directory, or a
   * vocab.txt file (lower-casing when no entry outside [SPECIAL] tokens has an upper-case letter).
   */
  static WordPieceTokenizer resolveTokenizer(String spec) throws IOException {
    if (spec.equals("bert-base-uncased")) {
      return WordPieceTokenizer.bertBaseUncased();
    }
    if (spec.equals("bert-base-cased")) {
      return WordPieceTokenizer.bertBaseCased();
    }
    Path p = Path.of(spec);
    if (Files.isDirectory(p)) {
      return Tokenizers.wordPiece(p);
    }
    if (!Files.isRegularFile(p)) {
      throw new UserInputException("--tokenizer " + spec + ": not bert-base-uncased,"
          + " bert-base-cased, a vocab.txt file or a model directory");
    }
    boolean lower = true;
    for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
      if (!(line.startsWith("[") && line.endsWith("]"))
          && !line.equals(line.toLowerCase(Locale.ROOT))) {
        lower = false;
        break;
      }
    }
    return WordPieceTokenizer.fromVocab(p, lower);
  }

  /** vocab.txt and tokenizer_config.json (do_lower_case), as Hugging Face reads them. */
  static void writeTokenizer(WordPieceTokenizer tok, Path dir) throws IOException {
    Checkpoint.saveVocab(tok, dir);
    ObjectNode n = JSON.createObjectNode();
    n.put("do_lower_case", tok.normalizer().lowercase());
    n.put("tokenizer_class", "BertTokenizer");
    AtomicFiles.writeString(dir.resolve("tokenizer_config.json"), n.toPrettyString() + "\n");
  }

  private void run(BertModel model, MlmTrainer trainer, TrainConfig cfg, String how)
      throws IOException {
    try (TrainingConsole.Session console = new TrainingConsole.Session(logging.logJson,
        trainer.step(),
        cfg.steps())) {
      console.bar.message(String.format(Locale.ROOT,
          "fuselm train-mlm: %,d parameters, %,d training + %,d validation sequences of %d tokens"
              + " (%s), %,d positions/step, %s",
          model.parameterCount(), trainer.trainSequences(), trainer.valSequences(), cfg.ctx(),
          nsp ? "sentence pairs, MLM + NSP" : "MLM", trainer.tokensPerStep(),
          (resume != null ? "resumed at step " + trainer.step() : "from step 0") + how));
      trainer.setListener(new MlmTrainer.Listener() {
        @Override
        public void onStep(long step, float loss, float mlmLoss, float nspLoss, float lr,
            float gradNorm, double tps) {
          console.step(step, loss, n -> {
            n.put("mlm_loss", mlmLoss);
            if (nsp) {
              n.put("nsp_loss", nspLoss);
            }
          }, lr, gradNorm, tps, !logging.quiet);
        }

        @Override
        public void onEval(long step, MlmTrainer.Eval r) {
          ObjectNode n = TrainingConsole.evalLine(step, r.loss());
          n.put("val_mlm_loss", (float) r.mlmLoss());
          n.put("val_mlm_accuracy", (float) r.mlmAccuracy());
          n.put("val_masked_tokens", r.maskedTokens());
          if (nsp) {
            n.put("val_nsp_loss", (float) r.nspLoss());
            n.put("val_nsp_accuracy", (float) r.nspAccuracy());
          }
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
      }
    }
  }
}
