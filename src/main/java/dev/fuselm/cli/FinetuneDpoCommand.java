package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.PreferenceData;
import dev.fuselm.data.PromptTemplate;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.io.AtomicFiles;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.InstructionModel;
import dev.fuselm.io.PeftAdapters;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.LoraOptions;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.train.DpoLoss;
import dev.fuselm.train.DpoTrainer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TrainingDivergedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fuselm finetune-dpo}: preference tuning with DPO against the frozen --init model. */
@Command(name = "finetune-dpo", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Preference-tunes an instruction-tuned GPT model directory with DPO on pairs"
        + " (JSON array of {instruction, input, chosen, rejected}, as fuselm dpo-pairs writes);"
        + " the reference is the --init model, frozen. Logs loss, rewards, reward margin and"
        + " reward accuracy as JSON lines, then writes the model (or LoRA adapters) to --out and"
        + " greedy responses to the first test prompts before and after to"
        + " OUT/test-responses.json.")
public final class FinetuneDpoCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = {"--init", "--model"}, required = true, description = "instruction-tuned model directory:"
      + " the starting policy and the frozen reference") Path init;
  @Option(names = "--data", required = true, description = "preference pairs JSON file") Path data;
  @Option(names = {"--out", "--output"}, required = true, description = "new output directory") Path out;
  @Option(names = "--beta", description = "DPO temperature beta (default: ${DEFAULT-VALUE})")
  double beta = 0.1;
  @Option(names = "--logprob", description = "a response's log-probability: mean (per token, as"
      + " the book) or sum (as the paper) (default: ${DEFAULT-VALUE})") String logprob = "mean";
  @Option(names = "--lora", description = "train rank-R LoRA adapters instead of every weight")
  Integer loraRank;
  @Option(names = "--lora-alpha", description = "LoRA scale numerator: updates are scaled by"
      + " alpha / R (default: 2 R)") Float loraAlpha;
  @Option(names = "--lora-targets", split = ",", description = "LoRA target modules (default:"
      + " c_attn,attn.c_proj,c_fc,mlp.c_proj)") List<String> loraTargets;
  @Option(names = "--merge", description = "with --lora: also write the merged model into --out")
  boolean merge;
  @Option(names = "--template", description = "prompt template: alpaca, phi3 or a file (default:"
      + " the one --init was instruction-tuned with, else alpaca)") String template;
  @Option(names = "--epochs", description = "passes over the training pairs (default: ${DEFAULT-VALUE})")
  int epochs = 1;
  @Option(names = {"--batch", "--batch-size"}, description = "pairs per step (default: ${DEFAULT-VALUE})")
  int batch = 8;
  @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  float lr = 5e-6f;
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.01f);
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("constant");
  @Option(names = "--resume", description = "continue exactly from a directory that an earlier run"
      + " wrote with --save-state (same pairs, split and settings; --epochs may grow); the"
      + " reference stays --init") Path resume;
  @Option(names = "--save-state", description = "also write the training state into --out")
  boolean saveState;
  @Option(names = "--padding", description = "longest or fixed (to --max-length)"
      + " (default: ${DEFAULT-VALUE})") String padding = "longest";
  @Option(names = "--max-length", description = "tokens per sequence; longer ones are cut"
      + " (default: the model's context)") Integer maxLength;
  @Option(names = "--train-ratio", description = "training share (default: ${DEFAULT-VALUE})")
  double trainRatio = 0.85;
  @Option(names = {"--val-ratio", "--val-fraction"}, description = "validation share; the rest is the test set"
      + " (default: ${DEFAULT-VALUE})") double valRatio = 0.05;
  @Option(names = "--eval-every", description = "validation figures every N steps (default: only"
      + " after each epoch)") int evalEvery;
  @Option(names = "--responses", description = "greedy responses before and after for the first"
      + " N test pairs (default: ${DEFAULT-VALUE})") int responses = 5;
  @Option(names = "--max-new-tokens", description = "longest response (default: ${DEFAULT-VALUE})")
  int maxNewTokens = 64;
  @Option(names = "--seed", description = "seed of the split, shuffling, dropout and adapters"
      + " (default: ${DEFAULT-VALUE})") long seed = 123;
  @Mixin TrainingOptions.Threads threads;
  @Option(names = "--quiet", description = "no per-step JSON lines on stdout") boolean quiet;

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
    GptConfig cfg = Checkpoint.readConfig(init, ModelFamily.GPT2);
    int ctxLen = maxLength == null ? cfg.contextLength() : maxLength;
    if (ctxLen < 2 || ctxLen > cfg.contextLength()) {
      throw new UserInputException("--max-length " + ctxLen + " must be between 2 and the model's"
          + " context window of " + cfg.contextLength());
    }
    if (!padding.equals("longest") && !padding.equals("fixed")) {
      throw new UserInputException("--padding must be 'longest' or 'fixed', got '" + padding + "'");
    }
    if (merge && loraRank == null) {
      throw new UserInputException("--merge needs --lora");
    }
    DpoTrainer.Config tc;
    LoraOptions lc = null;
    try {
      tc = new DpoTrainer.Config(epochs, batch, lr, optimizer.weightDecay, optimizer.clip,
          schedule.warmup, padding.equals("fixed") ? ctxLen : 0, evalEvery, seed,
          schedule.cosine(), beta, DpoLoss.Reduction.named(logprob));
      if (loraRank != null) {
        lc = LoraOptions.of(loraRank, loraAlpha, loraTargets);
        lc.checkTargets(cfg);
      }
      if (maxNewTokens < 1 || responses < 0) {
        throw new IllegalArgumentException("need --max-new-tokens >= 1 and --responses >= 0");
      }
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    if (group.isLeader() && Files.exists(out)) { // rank 0 checks and writes --out
      try (Stream<Path> s = Files.list(out)) {
        if (!Files.isDirectory(out) || s.findAny().isPresent()) {
          throw new UserInputException("--out " + out + " exists and is not an empty directory;"
              + " choose a new one (nothing is overwritten)");
        }
      }
    }
    String templateSpec = template != null ? template : InstructionModel.templateName(init);
    if ("custom".equals(templateSpec)) {
      templateSpec = null; // the text is in init's instruction.json: read below, saved as custom
    }
    PromptTemplate tpl = template != null ? PromptTemplate.named(template)
        : InstructionModel.readTemplate(init);
    Tokenizer tok = Tokenizers.forModel(init, cfg.vocabSize());
    int eot = InstructionModel.endOfText(tok, init);
    PreferenceData.Split split;
    PreferenceData ds = PreferenceData.read(data);
    try {
      split = ds.split(trainRatio, valRatio, seed);
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    int[] truncated = new int[1];
    List<PreferenceData.Encoded> train = encode(split.train(), tok, tpl, eot, ctxLen, truncated);
    List<PreferenceData.Encoded> val = encode(split.validation(), tok, tpl, eot, ctxLen, truncated);
    List<PreferenceData.Encoded> test = encode(split.test(), tok, tpl, eot, ctxLen, truncated);
    FinetuneLog log = new FinetuneLog(!group.isLeader()); // the other ranks print nothing
    GenerationConfig gc = GenerationConfig.greedy(maxNewTokens).withStopToken(eot);
    int shown = Math.min(responses, test.size());
    int fixed = tc.fixedLength();
    DpoLoss.Reduction red = tc.reduction();
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      GptModel model = Checkpoint.load(c, init, ModelFamily.GPT2);
      try {
        // the reference: --init, frozen, its log-probabilities computed once; ranks > 0 only
        // train (rank 0 alone validates and tests), so they skip the validation and test pairs
        boolean leader = group.isLeader();
        List<PreferenceData.Encoded> valSeen = leader ? val : List.of();
        DpoTrainer.Reference trainRef = DpoTrainer.referenceLogProbs(model, train, batch, eot,
            fixed, red);
        DpoTrainer.Reference valRef = DpoTrainer.referenceLogProbs(model, valSeen, batch, eot,
            fixed, red);
        DpoTrainer.Reference testRef = leader ? DpoTrainer.referenceLogProbs(model, test, batch,
            eot, fixed, red) : null;
        // rank 0 answers, evaluates, logs and saves; every rank trains
        List<int[]> before = group.isLeader() ? respond(model, test.subList(0, shown), gc)
            : List.of();
        if (resume != null && lc == null) {
          model.close();
          model = Checkpoint.load(c, resume, ModelFamily.GPT2);
        }
        if (lc != null) {
          if (resume != null) {
            PeftAdapters.attach(model, resume, true);
          } else {
            model.addLora(lc, seed);
          }
        }
        long trainable = lc == null ? model.parameterCount() : model.loraParameterCount();
        ObjectNode start = JSON.createObjectNode();
        start.put("event", "start").put("pairs", ds.pairs().size()).put("train", train.size())
            .put("validation", val.size()).put("test", test.size())
            .put("truncated", truncated[0]).put("max_length", ctxLen).put("beta", beta)
            .put("logprob", logprob).put("base_parameters", model.parameterCount())
            .put("trainable_parameters", trainable);
        if (lc != null) {
          start.put("lora_rank", lc.rank()).put("lora_alpha", lc.alpha());
        }
        log.emit(start);
        if (group.isLeader()) {
          ObjectNode pre = JSON.createObjectNode().put("event", "before");
          DpoTrainer.put(pre, "test_", DpoTrainer.evaluate(model, test, testRef, batch, eot,
              fixed, beta, red));
          log.emit(pre);
        }
        CheckpointDirectory.Staged staged; // the output is written as one checkpoint
        try (DpoTrainer t = new DpoTrainer(model, train, trainRef, valSeen, valRef, eot, tc,
            n -> log.emit(n, !quiet || !"step".equals(n.path("event").asText())))) {
          t.distribute(group);
          if (resume != null) {
            t.resume(resume);
          }
          t.run();
          // rank 0 writes the output as one checkpoint; the other ranks write nothing
          staged = group.isLeader() ? CheckpointDirectory.begin(out, t.step()) : null;
          if (saveState && staged != null) {
            t.saveState(staged.path());
          }
        } catch (IllegalArgumentException | TrainingDivergedException e) {
          throw new UserInputException(e.getMessage());
        }
        if (!group.isLeader()) {
          return 0;
        }
        ObjectNode fin = JSON.createObjectNode().put("event", "final");
        DpoTrainer.put(fin, "train_", DpoTrainer.evaluate(model, train, trainRef, batch, eot,
            fixed, beta, red));
        DpoTrainer.put(fin, "test_", DpoTrainer.evaluate(model, test, testRef, batch, eot, fixed,
            beta, red));
        log.emit(fin);
        List<int[]> after = respond(model, test.subList(0, shown), gc);
        ArrayNode arr = JSON.createArrayNode();
        for (int i = 0; i < shown; i++) {
          PreferenceData.Pair p = split.test().get(i);
          arr.addObject().put("instruction", p.instruction()).put("input", p.input())
              .put("chosen", p.chosen()).put("rejected", p.rejected())
              .put("response_before", tok.decode(before.get(i)))
              .put("response_after", tok.decode(after.get(i)));
        }
        Path dest = staged.path();
        if (lc == null) {
          Checkpoint.save(ModelFamily.GPT2, model, dest, Map.of("fuselm_task",
              "instruction-tuned"));
        } else {
          PeftAdapters.save(model, dest, init.toAbsolutePath().toString());
          if (merge) {
            model.mergeLora();
            Checkpoint.save(ModelFamily.GPT2, model, dest, Map.of("fuselm_task",
                "instruction-tuned"));
          }
        }
        Checkpoint.copyTokenizerFiles(ModelFamily.GPT2, init, dest);
        if (templateSpec == null && Files.isRegularFile(init.resolve(InstructionModel.META_FILE))) {
          Files.copy(init.resolve(InstructionModel.META_FILE),
              dest.resolve(InstructionModel.META_FILE));
        } else {
          InstructionModel.saveMeta(dest, templateSpec, true);
        }
        AtomicFiles.writeString(dest.resolve("test-responses.json"),
            JSON.writerWithDefaultPrettyPrinter().writeValueAsString(arr) + "\n");
        log.emit(JSON.createObjectNode().put("event", "saved").put("out", out.toString()));
        log.write(dest.resolve("log.jsonl"));
        staged.commit(1);
      } finally {
        model.close();
      }
    }
    return 0;
  }

  private static List<PreferenceData.Encoded> encode(List<PreferenceData.Pair> pairs,
      Tokenizer tok, PromptTemplate tpl, int eot, int ctx, int[] truncated) {
    List<PreferenceData.Encoded> out = new ArrayList<>();
    for (PreferenceData.Pair p : pairs) {
      PreferenceData.Encoded x;
      try {
        x = PreferenceData.encode(tok, tpl, p, eot, ctx);
      } catch (IllegalArgumentException ex) {
        throw new UserInputException(ex.getMessage());
      }
      truncated[0] += x.truncated() ? 1 : 0;
      out.add(x);
    }
    return out;
  }

  /** Greedy responses (without the end-of-text) to the prompts of pairs. */
  private static List<int[]> respond(GptModel model, List<PreferenceData.Encoded> pairs,
      GenerationConfig gc) {
    List<int[]> prompts = new ArrayList<>();
    for (PreferenceData.Encoded p : pairs) {
      prompts.add(Arrays.copyOf(p.chosen(), p.promptLength()));
    }
    return FinetuneLog.respond(model, prompts, gc, null);
  }
}
