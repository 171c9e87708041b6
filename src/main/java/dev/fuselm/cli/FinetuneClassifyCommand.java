package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.baseline.TfidfLogisticBaseline;
import dev.fuselm.data.ClassificationData;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.train.ClassifierTrainer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TrainingDivergedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code fuselm finetune-classify}: a GPT or BERT model fine-tuned as a text classifier (the kind
 * is read from the {@code model_type} of the model's config.json).
 */
@Command(name = "finetune-classify", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Fine-tunes a GPT model directory (head on the last token's final hidden state)"
        + " or a BERT model directory (pooled [CLS] + dropout + linear; single texts or sentence"
        + " pairs) as a text classifier on a TSV/CSV file; prints and logs JSON metrics.")
public final class FinetuneClassifyCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = {"--init", "--model"}, required = true, description = "pretrained model directory") Path init;
  @Option(names = "--data", required = true, description = "TSV/CSV file, one example a line")
  Path data;
  @Option(names = "--text-column", required = true,
      description = "text column: header name or 0-based index") String textColumn;
  @Option(names = "--label-column", required = true,
      description = "label column: header name or 0-based index") String labelColumn;
  @Option(names = "--text-pair-column", description = "second text of a sentence pair: header"
      + " name or 0-based index (BERT models only)") String textPairColumn;
  @Option(names = {"--out", "--output"}, required = true, description = "new classifier directory") Path out;
  @Option(names = "--epochs", description = "passes over the training split (default: ${DEFAULT-VALUE})")
  int epochs = 5;
  @Option(names = {"--batch", "--batch-size"}, description = "examples per step (default: ${DEFAULT-VALUE})")
  int batch = 8;
  @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  float lr = 5e-5f;
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.1f);
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("constant");
  @Option(names = "--resume", description = "continue exactly from a directory that an earlier run"
      + " wrote with --save-state (same data, split and settings; --epochs may grow)")
  Path resume;
  @Option(names = "--save-state", description = "also write the training state (optimizer"
      + " moments, step, data position) into --out, so that --resume can continue the run")
  boolean saveState;
  @Option(names = "--train-all", description = "train every block and the embeddings (default for"
      + " GPT: only the last block, the final norm and the head; BERT always trains everything)")
  boolean trainAll;
  @Option(names = "--balance", description = "down-sample every label to the rarest one's count")
  boolean balance;
  @Option(names = {"--val-ratio", "--val-fraction"}, description = "validation share (default: ${DEFAULT-VALUE})")
  double valRatio = 0.1;
  @Option(names = "--test-ratio", description = "test share (default: ${DEFAULT-VALUE})")
  double testRatio = 0.2;
  @Option(names = "--max-length", description = "truncate texts to this many tokens (default: the"
      + " model's context)") Integer maxLength;
  @Option(names = "--seed", description = "seed of balancing, split, head and shuffling"
      + " (default: ${DEFAULT-VALUE})") long seed = 123;
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--baseline", description = "after fine-tuning, also train a TF-IDF + logistic"
      + " regression baseline on the same training split and print (and log) its metrics as an"
      + " {\"event\":\"baseline\"} line") boolean baseline;
  @Option(names = "--padding", description = "longest: pad each batch to its longest text;"
      + " fixed: pad every batch to --max-length (GPT models; default: ${DEFAULT-VALUE})")
  String padding = "longest";
  @Option(names = "--lora", description = "train rank-R LoRA adapters (attention and MLP"
      + " projections) and the head instead of model weights; the adapters are saved in PEFT"
      + " format and merged into the saved model (GPT models)") Integer loraRank;
  @Option(names = "--lora-alpha", description = "LoRA scale numerator: updates are scaled by"
      + " alpha / R (default: 2 R)") Float loraAlpha;

  /** The data-parallel group (one process unless started by mpirun/srun or FUSELM_DIST=1). */
  private ProcessGroup group = ProcessGroup.single();

  @Override
  public Integer call() throws IOException {
    try (ProcessGroup g = TrainCommand.joinGroup(false)) {
      group = g;
      return train();
    }
  }

  private Integer train() throws IOException {
    if (Checkpoint.family(init) == ModelFamily.BERT) {
      return callBert();
    }
    if (textPairColumn != null) {
      throw new UserInputException("--text-pair-column needs a BERT model; " + init
          + " is a GPT model");
    }
    GptConfig cfg = Checkpoint.readConfig(init, ModelFamily.GPT2);
    int maxLen = maxLength == null ? cfg.contextLength() : maxLength;
    if (maxLen < 1 || maxLen > cfg.contextLength()) {
      throw new UserInputException("--max-length " + maxLen + " must be between 1 and the model's"
          + " context window of " + cfg.contextLength());
    }
    if (!padding.equals("longest") && !padding.equals("fixed")) {
      throw new UserInputException("--padding must be 'longest' or 'fixed', got '" + padding + "'");
    }
    int padTo = padding.equals("fixed") ? maxLen : 0;
    ClassifierTrainer.Config tc = trainerConfig(trainAll, padTo);
    LoraOptions lc = null;
    if (loraRank != null) {
      if (trainAll) {
        throw new UserInputException("--lora trains adapters on a frozen model; it cannot"
            + " be combined with --train-all");
      }
      try {
        lc = LoraOptions.of(loraRank, loraAlpha, null);
      } catch (IllegalArgumentException e) {
        throw new UserInputException(e.getMessage());
      }
    }
    requireNewOut();
    Tokenizer tok = Tokenizers.forModel(init, cfg.vocabSize());
    ClassificationData ds = ClassificationData.read(data, textColumn, labelColumn);
    if (balance) {
      ds = ds.balanced(seed);
    }
    ClassificationData.Split split = ds.split(valRatio, testRatio, seed);
    List<String> labels = ds.labels();
    int padId = tok.tokenToId("<|endoftext|>").orElse(0);
    int[] truncated = new int[1];
    ClassifierTrainer.Examples train = encode(split.train(), tok, labels, maxLen, truncated);
    ClassifierTrainer.Examples val = encode(split.validation(), tok, labels, maxLen, truncated);
    ClassifierTrainer.Examples test = encode(split.test(), tok, labels, maxLen, truncated);
    FinetuneLog log = new FinetuneLog(!group.isLeader()); // the other ranks print nothing
    ObjectNode start = JSON.createObjectNode();
    start.put("event", "start").put("examples", ds.examples().size())
        .put("train", train.size()).put("validation", val.size()).put("test", test.size())
        .put("truncated", truncated[0]).put("max_length", maxLen).put("train_all", trainAll)
        .put("padding", padding);
    if (lc != null) {
      start.put("lora_rank", lc.rank()).put("lora_alpha", lc.alpha());
    }
    start.set("labels", JSON.valueToTree(ds.counts()));
    log.emit(start);
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      try (SequenceClassifier<GptModel> clf = classifier(c, labels, padId, lc != null)) {
        GptModel model = clf.backbone();
        if (lc != null) { // the model owns the adapters from here on
          if (resume != null) {
            PeftAdapters.attach(model, resume, true);
          } else {
            model.addLora(lc, seed);
          }
        }
        if (group.isLeader()) { // the other ranks write nothing
          Files.createDirectories(out);
        }
        CheckpointDirectory.Staged staged; // rank 0 writes the output as one checkpoint
        try (ClassifierTrainer t = new ClassifierTrainer(clf, train, val, tc,
            log::emit)) {
          t.distribute(group);
          runTraining(t::resume, t::run);
          if (!group.isLeader()) {
            return 0; // rank 0 evaluates, logs and saves
          }
          staged = CheckpointDirectory.begin(out, t.step());
          if (saveState) {
            t.saveState(staged.path()); // before the adapters are merged: the moments are theirs
          }
        }
        Path dest = staged.path();
        ObjectNode fin = JSON.createObjectNode();
        fin.put("event", "final");
        fin.set("train", ClassifierTrainer.evaluate(clf, train, batch, padTo).toJson(labels, true));
        fin.set("validation",
            ClassifierTrainer.evaluate(clf, val, batch, padTo).toJson(labels, true));
        fin.set("test", ClassifierTrainer.evaluate(clf, test, batch, padTo).toJson(labels, true));
        log.emit(fin);
        if (lc != null) {
          // adapters on their own (PEFT layout), then folded in so `classify` needs no LoRA
          PeftAdapters.save(model, dest, init.toAbsolutePath().toString());
          model.mergeLora();
        }
        if (baseline) {
          baseline(split, labels, log);
        }
        Checkpoint.saveClassifier(clf, maxLen, false, dest, init);
        log.write(dest.resolve("log.jsonl"));
        staged.commit(1);
      }
    }
    return 0;
  }

  private ClassifierTrainer.Config trainerConfig(boolean all, int padTo) {
    try {
      return new ClassifierTrainer.Config(epochs, batch, lr, optimizer.weightDecay, optimizer.clip,
          all, seed, padTo,
          schedule.warmup, schedule.cosine());
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
  }

  /** Continues a run from --resume (when given), then trains; a divergence is a CLI error. */
  private void runTraining(Resumable resumeFrom, TrainingConsole.TrainingAction run)
      throws IOException {
    try {
      if (resume != null) {
        resumeFrom.resume(resume);
      }
      run.run();
    } catch (IllegalArgumentException | TrainingDivergedException e) {
      throw new UserInputException(e.getMessage());
    }
  }

  interface Resumable {
    void resume(Path dir) throws IOException;
  }

  /**
   * The GPT classifier: a new head on --init, or on --resume the saved one (with LoRA the frozen
   * base is --init's and only the head comes from --resume, whose model file has the adapters
   * merged in).
   */
  private SequenceClassifier<GptModel> classifier(ComputeContext c, List<String> labels,
      int padId, boolean withLora) throws IOException {
    if (resume == null) {
      return SequenceClassifier.gpt(Checkpoint.load(c, init, ModelFamily.GPT2), labels, padId,
          seed);
    }
    if (!withLora) {
      SequenceClassifier<GptModel> clf = Checkpoint.loadSequenceClassifier(c, resume,
          ModelFamily.GPT2);
      checkLabels(clf.labels(), labels);
      return clf;
    }
    SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(
        Checkpoint.load(c, init, ModelFamily.GPT2), labels, padId, seed);
    try (SequenceClassifier<GptModel> saved = Checkpoint.loadSequenceClassifier(c, resume,
        ModelFamily.GPT2)) {
      checkLabels(saved.labels(), labels);
      float[] w = clf.head().weight();
      System.arraycopy(saved.head().weight(), 0, w, 0, w.length);
    }
    return clf;
  }

  private void checkLabels(List<String> saved, List<String> labels) {
    if (!saved.equals(labels)) {
      throw new UserInputException("--resume " + resume + " was trained on the labels " + saved
          + ", this data has " + labels);
    }
  }

  private void requireNewOut() throws IOException {
    if (!group.isLeader()) {
      return; // rank 0 checks and writes --out; here it may already have created it
    }
    if (Files.exists(out)) {
      try (Stream<Path> s = Files.list(out)) {
        if (!Files.isDirectory(out) || s.findAny().isPresent()) {
          throw new UserInputException("--out " + out + " exists and is not an empty directory;"
              + " choose a new one (nothing is overwritten)");
        }
      }
    }
  }

  /** The TF-IDF + logistic regression baseline on the same split (first texts only). */
  private static void baseline(ClassificationData.Split split, List<String> labels,
      FinetuneLog log) {
    TfidfLogisticBaseline bl = TfidfLogisticBaseline.train(split.train(), labels,
        TfidfLogisticBaseline.Config.defaults());
    ObjectNode b = JSON.createObjectNode();
    b.put("event", "baseline").put("model", "tfidf-logreg");
    b.set("test", bl.evaluate(split.test()).toJson(labels, true));
    b.set("validation", bl.evaluate(split.validation()).toJson(labels, false));
    b.set("train", bl.evaluate(split.train()).toJson(labels, false));
    b.put("vocabulary", bl.vocabulary().size());
    log.emit(b);
  }

  /**
   * model itself, or, when it has no pooler (a sentence-transformers encoder, e.g. one imported
   * from ONNX), a copy with a freshly initialised pooler (N(0, 0.02) weights, zero bias, from
   * --seed), as Hugging Face's BertForSequenceClassification initialises the weights a checkpoint
   * lacks.
   */
  private BertModel withPooler(BertModel model) {
    if (model.hasPooler()) {
      return model;
    }
    System.err.println("fuselm: " + init + " has no pooler (bert.pooler.*): initialising one,"
        + " as Hugging Face's BertForSequenceClassification does");
    try (model) {
      BertModel p = BertModel.create(model.context(), model.config(), true, false);
      p.initialize(seed);
      for (String name : model.parameterNames()) {
        p.params().get(name).copyFrom(model.params().get(name).toFloatArray());
      }
      return p;
    }
  }

  /**
   * The BERT path. The whole encoder always trains (BERT's fine-tuning recipe; --train-all is
   * implied): the encoder backward runs through every layer anyway, so freezing saves no work.
   */
  private int callBert() throws IOException {
    BertConfig cfg = Checkpoint.readConfig(init, ModelFamily.BERT);
    int maxLen = maxLength == null ? cfg.maxPositions() : maxLength;
    boolean pairs = textPairColumn != null;
    if (maxLen < (pairs ? 3 : 2) + 1 || maxLen > cfg.maxPositions()) {
      throw new UserInputException("--max-length " + maxLen + " must be between " + (pairs ? 4 : 3)
          + " and the model's max_position_embeddings of " + cfg.maxPositions());
    }
    if (loraRank != null || !padding.equals("longest")) {
      throw new UserInputException("--lora and --padding fixed are implemented for GPT models;"
          + " " + init + " is a BERT model");
    }
    ClassifierTrainer.Config tc = trainerConfig(true, 0);
    requireNewOut();
    WordPieceTokenizer tok = Tokenizers.wordPiece(init);
    ClassificationData ds = ClassificationData.read(data, textColumn, textPairColumn,
        labelColumn);
    if (balance) {
      ds = ds.balanced(seed);
    }
    ClassificationData.Split split = ds.split(valRatio, testRatio, seed);
    List<String> labels = ds.labels();
    int padId = tok.specialTokenId(WordPieceTokenizer.PAD).orElse(0);
    int[] truncated = new int[1];
    ClassifierTrainer.Examples train = encodeBert(split.train(), tok, labels, maxLen, truncated);
    ClassifierTrainer.Examples val = encodeBert(split.validation(), tok, labels, maxLen,
        truncated);
    ClassifierTrainer.Examples test = encodeBert(split.test(), tok, labels, maxLen, truncated);
    FinetuneLog log = new FinetuneLog(!group.isLeader()); // the other ranks print nothing
    ObjectNode start = JSON.createObjectNode();
    start.put("event", "start").put("model_type", "bert").put("sentence_pairs", pairs)
        .put("examples", ds.examples().size()).put("train", train.size())
        .put("validation", val.size()).put("test", test.size()).put("truncated", truncated[0])
        .put("max_length", maxLen).put("train_all", true);
    start.set("labels", JSON.valueToTree(ds.counts()));
    log.emit(start);
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      try (SequenceClassifier<BertModel> clf = resume != null
          ? Checkpoint.loadSequenceClassifier(c, resume, ModelFamily.BERT)
          : SequenceClassifier.bert(withPooler(Checkpoint.load(c, init, ModelFamily.BERT)),
              labels, padId, seed)) {
        checkLabels(clf.labels(), labels);
        if (group.isLeader()) { // the other ranks write nothing
          Files.createDirectories(out);
        }
        CheckpointDirectory.Staged staged; // rank 0 writes the output as one checkpoint
        try (ClassifierTrainer t = new ClassifierTrainer(clf, train, val, tc,
            log::emit)) {
          t.distribute(group);
          runTraining(t::resume, t::run);
          if (!group.isLeader()) {
            return 0; // rank 0 evaluates, logs and saves
          }
          staged = CheckpointDirectory.begin(out, t.step());
          if (saveState) {
            t.saveState(staged.path());
          }
        }
        Path dest = staged.path();
        ObjectNode fin = JSON.createObjectNode();
        fin.put("event", "final");
        fin.set("train", ClassifierTrainer.evaluate(clf, train, batch).toJson(labels, true));
        fin.set("validation", ClassifierTrainer.evaluate(clf, val, batch).toJson(labels, true));
        fin.set("test", ClassifierTrainer.evaluate(clf, test, batch).toJson(labels, true));
        log.emit(fin);
        if (baseline) {
          baseline(split, labels, log);
        }
        Checkpoint.saveClassifier(clf, maxLen, pairs, dest, init);
        log.write(dest.resolve("log.jsonl"));
        staged.commit(1);
      }
    }
    return 0;
  }

  static ClassifierTrainer.Examples encodeBert(List<ClassificationData.Example> ex,
      WordPieceTokenizer tok, List<String> labels, int maxLen, int[] truncated) {
    List<BertEncoding> seqs = new ArrayList<>();
    int[] y = new int[ex.size()];
    for (int i = 0; i < ex.size(); i++) {
      ClassificationData.Example e = ex.get(i);
      BertEncoding enc = tok.encodeForModel(e.text(), e.textPair(), maxLen, 0);
      if (enc.length() == maxLen
          && tok.encodeForModel(e.text(), e.textPair(), 0, 0).length() > maxLen) {
        truncated[0]++;
      }
      seqs.add(enc);
      y[i] = labels.indexOf(e.label());
    }
    return ClassifierTrainer.Examples.ofEncodings(seqs, y);
  }

  static ClassifierTrainer.Examples encode(List<ClassificationData.Example> ex, Tokenizer tok,
      List<String> labels, int maxLen, int[] truncated) throws IOException {
    List<int[]> seqs = new ArrayList<>();
    int[] y = new int[ex.size()];
    for (int i = 0; i < ex.size(); i++) {
      ClassificationData.Example e = ex.get(i);
      int[] ids = tok.encode(e.text());
      if (ids.length == 0) {
        throw new IOException("line " + e.line() + ": the text encodes to no tokens");
      }
      if (ids.length > maxLen) {
        ids = java.util.Arrays.copyOf(ids, maxLen);
        truncated[0]++;
      }
      seqs.add(ids);
      y[i] = labels.indexOf(e.label());
    }
    return ClassifierTrainer.Examples.ofTokens(seqs, y);
  }
}
