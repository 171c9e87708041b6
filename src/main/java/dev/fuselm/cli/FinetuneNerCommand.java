package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.baseline.MostFrequentTagBaseline;
import dev.fuselm.data.ConllData;
import dev.fuselm.data.NerEncoding;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.io.TokenClassifierFiles;
import dev.fuselm.model.Backbone;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TokenClassifierTrainer;
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
 * {@code fuselm finetune-ner}: a BERT or GPT model fine-tuned for named-entity recognition on
 * CoNLL-style data (one token and its BIO tag a line, blank line between sentences), saved as a
 * Hugging Face {@code *ForTokenClassification} directory.
 */
@Command(name = "finetune-ner", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Fine-tunes a BERT (or GPT) model directory as a token classifier (NER) on"
        + " CoNLL-style files; prints and logs JSON metrics with entity-level F1 (seqeval's"
        + " default mode).")
public final class FinetuneNerCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = {"--init", "--model"}, required = true, description = "pretrained model directory") Path init;
  @Option(names = "--train", required = true, description = "CoNLL file: token and tag a line"
      + " (tag in the last column; 4-column CoNLL-2003 works), blank line between sentences")
  Path trainFile;
  @Option(names = "--val", description = "validation CoNLL file (metrics every epoch)") Path valFile;
  @Option(names = "--test", description = "test CoNLL file (metrics at the end)") Path testFile;
  @Option(names = {"--out", "--output"}, required = true, description = "new token-classifier directory")
  Path out;
  @Option(names = "--epochs", description = "passes over the training file (default: ${DEFAULT-VALUE})")
  int epochs = 3;
  @Option(names = {"--batch", "--batch-size"},
      description = "sentences per step (default: ${DEFAULT-VALUE})") int batch = 16;
  @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  float lr = 5e-5f;
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.01f);
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("constant");
  @Option(names = "--max-length", description = "tokens per sentence, special tokens included;"
      + " words past it are not trained on and are tagged O (default: 128, or the model's"
      + " positions when fewer)")
  Integer maxLengthOption;
  private int maxLength;
  @Option(names = "--train-all", description = "GPT: train every block and the embeddings"
      + " (default: the last block, the final norm and the head; BERT always trains everything)")
  boolean trainAll;
  @Option(names = "--lora", description = "train rank-R LoRA adapters and the head instead of"
      + " model weights (GPT models); saved in PEFT format and merged into the saved model")
  Integer loraRank;
  @Option(names = "--lora-alpha", description = "LoRA scale numerator (default: 2 R)")
  Float loraAlpha;
  @Option(names = "--seed", description = "seed of head and shuffling (default: ${DEFAULT-VALUE})")
  long seed = 123;
  @Option(names = "--resume", description = "continue exactly from a directory that an earlier run"
      + " wrote with --save-state (same data and settings; --epochs may grow); with --lora the"
      + " base model is --init and the adapters come from this directory")
  Path resume;
  @Option(names = "--save-state", description = "also write the training state (optimizer"
      + " moments, step, data position) into --out, so that --resume can continue the run")
  boolean saveState;
  @Option(names = "--baseline", description = "also score the most-frequent-tag-per-word"
      + " baseline trained on --train, as an {\"event\":\"baseline\"} line") boolean baseline;
  @Mixin TrainingOptions.Threads threads;

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
    boolean bert = Checkpoint.family(init) == ModelFamily.BERT;
    int positions = bert ? Checkpoint.readConfig(init, ModelFamily.BERT).maxPositions()
        : Checkpoint.readConfig(init, ModelFamily.GPT2).contextLength();
    maxLength = maxLengthOption == null ? Math.min(128, positions) : maxLengthOption;
    if (maxLength < 3 || maxLength > positions) {
      throw new UserInputException("--max-length " + maxLength + " must be between 3 and the"
          + " model's " + positions + " positions");
    }
    LoraOptions lc = null;
    if (loraRank != null) {
      if (bert || trainAll) {
        throw new UserInputException("--lora trains adapters on a frozen GPT model; it needs a"
            + " GPT --init and no --train-all");
      }
      try {
        lc = LoraOptions.of(loraRank, loraAlpha, null);
      } catch (IllegalArgumentException e) {
        throw new UserInputException(e.getMessage());
      }
    }
    TokenClassifierTrainer.Config tc;
    try {
      tc = new TokenClassifierTrainer.Config(epochs, batch, lr, optimizer.weightDecay,
          optimizer.clip, bert || trainAll, seed, schedule.warmup, schedule.cosine());
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    if (group.isLeader()) { // rank 0 checks and writes --out
      requireNewOut();
    }
    ConllData train = ConllData.read(trainFile);
    List<String> labels = train.labels();
    ConllData val = valFile == null ? null : ConllData.read(valFile);
    ConllData test = testFile == null ? null : ConllData.read(testFile);
    for (ConllData d : new ConllData[] {val, test}) {
      if (d != null) {
        d.requireLabels(labels);
      }
    }
    Tokenizer tok = bert ? Tokenizers.wordPiece(init)
        : Tokenizers.forModel(init, Checkpoint.readConfig(init, ModelFamily.GPT2).vocabSize());
    int padId = bert ? tok.tokenToId(WordPieceTokenizer.PAD).orElse(0)
        : tok.tokenToId("<|endoftext|>").orElse(0);
    int[] cut = new int[1];
    TokenClassifierTrainer.Examples trainEx = encode(train, tok, labels, bert, maxLength, cut);
    TokenClassifierTrainer.Examples valEx = val == null ? null
        : encode(val, tok, labels, bert, maxLength, cut);
    TokenClassifierTrainer.Examples testEx = test == null ? null
        : encode(test, tok, labels, bert, maxLength, cut);
    FinetuneLog log = new FinetuneLog(!group.isLeader()); // the other ranks print nothing
    ObjectNode start = JSON.createObjectNode();
    start.put("event", "start").put("model_type", bert ? "bert" : "gpt2")
        .put("train", train.size()).put("train_words", train.words())
        .put("validation", val == null ? 0 : val.size()).put("test", test == null ? 0 : test.size())
        .put("words_cut", cut[0]).put("max_length", maxLength).put("train_all", tc.trainAll());
    if (lc != null) {
      start.put("lora_rank", lc.rank()).put("lora_alpha", lc.alpha());
    }
    start.set("labels", JSON.valueToTree(labels));
    log.emit(start);
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      try (TokenClassifier<? extends Backbone> clf = classifier(c, bert, labels, padId,
          lc != null)) {
        Backbone model = clf.backbone();
        if (lc != null) { // the model owns the adapters from here on
          if (resume != null) {
            PeftAdapters.attach((GptModel) model, resume, true);
          } else {
            ((GptModel) model).addLora(lc, seed);
          }
        }
        // rank 0 writes the output as one checkpoint (io/CheckpointDirectory)
        CheckpointDirectory.Staged staged = null;
        try (TokenClassifierTrainer t = new TokenClassifierTrainer(clf, trainEx, valEx, tc,
            maxLength, log::emit)) {
          t.distribute(group);
          if (resume != null) {
            t.resume(resume);
          }
          t.run();
          if (group.isLeader()) {
            staged = CheckpointDirectory.begin(out, t.step());
            if (saveState) { // before the adapters are merged: the moments are theirs
              t.saveState(staged.path());
            }
          }
        } catch (IllegalArgumentException | TrainingDivergedException e) {
          throw new UserInputException(e.getMessage());
        }
        if (!group.isLeader()) {
          return 0; // rank 0 evaluates, logs and saves
        }
        ObjectNode fin = JSON.createObjectNode();
        fin.put("event", "final");
        fin.set("train", TokenClassifierTrainer.evaluate(clf, trainEx, batch).toJson());
        if (valEx != null) {
          fin.set("validation", TokenClassifierTrainer.evaluate(clf, valEx, batch).toJson());
        }
        if (testEx != null) {
          fin.set("test", TokenClassifierTrainer.evaluate(clf, testEx, batch).toJson());
        }
        log.emit(fin);
        if (baseline) {
          baseline(train, val, test, log);
        }
        Path dest = staged.path();
        if (lc != null) {
          PeftAdapters.save((GptModel) model, dest, init.toAbsolutePath().toString());
          ((GptModel) model).mergeLora();
        }
        TokenClassifierFiles.save(clf, maxLength, dest, init);
        log.write(dest.resolve("log.jsonl"));
        staged.commit(1);
      }
    }
    return 0;
  }

  /**
   * The token classifier: a new head on --init, or on --resume the saved one (with LoRA the frozen
   * base is --init's and only the head comes from --resume, whose model has the adapters merged).
   */
  private TokenClassifier<? extends Backbone> classifier(ComputeContext c, boolean bert,
      List<String> labels, int padId, boolean withLora) throws IOException {
    if (resume == null) {
      Backbone model = bert ? Checkpoint.load(c, init, ModelFamily.BERT)
          : Checkpoint.load(c, init, ModelFamily.GPT2);
      return TokenClassifier.of(model, labels, padId, seed);
    }
    if ((Checkpoint.family(resume) == ModelFamily.BERT) != bert) {
      throw new UserInputException("--resume " + resume + " is not a token classifier of --init's"
          + " model family (" + (bert ? "BERT" : "GPT-2") + ")");
    }
    TokenClassifier<? extends Backbone> saved = TokenClassifierFiles.load(c, resume);
    if (!saved.labels().equals(labels)) {
      List<String> had = saved.labels();
      saved.close();
      throw new UserInputException("--resume " + resume + " was trained on the labels " + had
          + ", this data has " + labels);
    }
    if (!withLora) {
      return saved;
    }
    try (saved) {
      return TokenClassifier.of(Checkpoint.load(c, init, ModelFamily.GPT2), labels, padId,
          saved.head().weight().clone(), saved.head().bias().clone());
    }
  }

  static TokenClassifierTrainer.Examples encode(ConllData data, Tokenizer tok,
      List<String> labels, boolean bert, int maxLength, int[] cut) {
    List<NerEncoding.Encoded> enc = new ArrayList<>();
    List<int[]> wordLabels = new ArrayList<>();
    for (int s = 0; s < data.size(); s++) {
      int[] y = data.tagIds(s, labels);
      NerEncoding.Encoded e = NerEncoding.encode(tok, data.sentences().get(s).words(), y,
          maxLength);
      cut[0] += e.unplaced();
      enc.add(e);
      wordLabels.add(y);
    }
    return new TokenClassifierTrainer.Examples(enc, wordLabels, bert);
  }

  private static void baseline(ConllData train, ConllData val, ConllData test,
      FinetuneLog log) {
    MostFrequentTagBaseline b = MostFrequentTagBaseline.train(train);
    ObjectNode n = JSON.createObjectNode();
    n.put("event", "baseline").put("model", "most-frequent-tag").put("vocabulary", b.vocabulary());
    n.set("train", scores(b, train));
    if (val != null) {
      n.set("validation", scores(b, val));
    }
    if (test != null) {
      n.set("test", scores(b, test));
    }
    log.emit(n);
  }

  private static ObjectNode scores(MostFrequentTagBaseline b, ConllData d) {
    var s = b.evaluate(d);
    return JSON.createObjectNode().put("precision", s.precision()).put("recall", s.recall())
        .put("f1", s.f1()).put("entities", s.micro().gold());
  }

  private void requireNewOut() throws IOException {
    if (Files.exists(out)) {
      try (Stream<Path> s = Files.list(out)) {
        if (!Files.isDirectory(out) || s.findAny().isPresent()) {
          throw new UserInputException("--out " + out + " exists and is not an empty directory;"
              + " choose a new one (nothing is overwritten)");
        }
      }
    }
  }
}
