package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.data.InstructionCollator;
import dev.fuselm.data.InstructionData;
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
import dev.fuselm.train.InstructionTrainer;
import dev.fuselm.train.ProcessGroup;
import dev.fuselm.train.TrainingDivergedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fuselm finetune-instruct}: supervised instruction fine-tuning on Alpaca-style JSON. */
@Command(name = "finetune-instruct", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Fine-tunes a GPT model directory on Alpaca-style instruction data (JSON array of"
        + " {instruction, input, output}); logs JSON lines, then writes the model (or LoRA"
        + " adapters) to --out and the responses to the test instructions to"
        + " <data-basename>-responses.json beside the data (in --out when that directory is"
        + " read-only).")
public final class FinetuneInstructCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = {"--init", "--model"}, required = true, description = "pretrained model directory") Path init;
  @Option(names = "--data", required = true, description = "instruction JSON file") Path data;
  @Option(names = {"--out", "--output"}, required = true, description = "new output directory") Path out;
  @Option(names = "--mask-prompt", description = "learn only the response: the prompt's targets"
      + " are ignored") boolean maskPrompt;
  @Option(names = "--lora", description = "train rank-R LoRA adapters instead of every weight")
  Integer loraRank;
  @Option(names = "--lora-alpha", description = "LoRA scale numerator: updates are scaled by"
      + " alpha / R (default: 2 R)") Float loraAlpha;
  @Option(names = "--lora-targets", split = ",", description = "LoRA target modules (default:"
      + " c_attn,attn.c_proj,c_fc,mlp.c_proj)") List<String> loraTargets;
  @Option(names = "--merge", description = "with --lora: also write the base with the adapters"
      + " merged in as a plain model directory (config.json + model.safetensors) into --out")
  boolean merge;
  @Option(names = "--template", description = "prompt template: alpaca, phi3 or a file with"
      + " {instruction} and {input} placeholders (default: ${DEFAULT-VALUE})")
  String template = "alpaca";
  @Option(names = "--epochs", description = "passes over the training split (default: ${DEFAULT-VALUE})")
  int epochs = 2;
  @Option(names = {"--batch", "--batch-size"}, description = "examples per step (default: ${DEFAULT-VALUE})")
  int batch = 8;
  @Option(names = "--lr", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  float lr = 5e-5f;
  @Mixin TrainingOptions.Optimizer optimizer = new TrainingOptions.Optimizer(0.1f);
  @Mixin TrainingOptions.Schedule schedule = new TrainingOptions.Schedule("constant");
  @Option(names = "--resume", description = "continue exactly from a directory that an earlier run"
      + " wrote with --save-state (same data, split and settings; --epochs may grow); with --lora"
      + " the base model is --init and the adapters come from this directory")
  Path resume;
  @Option(names = "--save-state", description = "also write the training state (optimizer"
      + " moments, step, data position) into --out, so that --resume can continue the run")
  boolean saveState;
  @Option(names = "--padding", description = "longest: pad each batch to its longest example;"
      + " fixed: pad every batch to --max-length (default: ${DEFAULT-VALUE})")
  String padding = "longest";
  @Option(names = "--max-length", description = "input tokens per example; longer ones are cut"
      + " (and counted in the log) (default: the model's context)") Integer maxLength;
  @Option(names = "--train-ratio", description = "training share (default: ${DEFAULT-VALUE})")
  double trainRatio = 0.85;
  @Option(names = {"--val-ratio", "--val-fraction"}, description = "validation share; the rest is the test set"
      + " (default: ${DEFAULT-VALUE})") double valRatio = 0.05;
  @Option(names = "--eval-every", description = "validation loss every N steps (default: only"
      + " after each epoch)") int evalEvery;
  @Option(names = "--max-new-tokens", description = "longest test response (default: ${DEFAULT-VALUE})")
  int maxNewTokens = 256;
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
    InstructionTrainer.Config tc;
    LoraOptions lc = null;
    try {
      tc = new InstructionTrainer.Config(epochs, batch, lr, optimizer.weightDecay, optimizer.clip,
          schedule.warmup,
          maskPrompt, padding.equals("fixed") ? ctxLen : 0, evalEvery, seed, schedule.cosine());
      if (loraRank != null) {
        lc = LoraOptions.of(loraRank, loraAlpha, loraTargets);
        lc.checkTargets(cfg); // unknown targets fail here
      }
      if (maxNewTokens < 1) {
        throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
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
    PromptTemplate tpl = PromptTemplate.named(template);
    Tokenizer tok = Tokenizers.forModel(init, cfg.vocabSize());
    int eot = InstructionModel.endOfText(tok, init);
    InstructionData ds = InstructionData.read(data);
    InstructionData.Split split;
    try {
      split = ds.split(trainRatio, valRatio, seed);
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    int[] truncated = new int[1];
    List<InstructionCollator.Encoded> train = encode(split.train(), tok, tpl, eot, ctxLen,
        truncated);
    List<InstructionCollator.Encoded> val = encode(split.validation(), tok, tpl, eot, ctxLen,
        truncated);
    List<InstructionCollator.Encoded> test = encode(split.test(), tok, tpl, eot, ctxLen,
        truncated);
    Path responsesFile = responsesPath();
    FinetuneLog log = new FinetuneLog(!group.isLeader()); // the other ranks print nothing
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(TrainCommand.threadsPerProcess(threads.threads, group));
      // on --resume the full model continues from there; LoRA keeps --init's frozen base
      try (GptModel model = Checkpoint.load(c, resume != null && lc == null ? resume : init,
          ModelFamily.GPT2)) {
        // the starting loss is the base model's: measured before any adapters are attached
        double startValLoss = InstructionTrainer.loss(model, val, batch, eot, maskPrompt,
            tc.fixedLength());
        if (lc != null) { // the model owns the adapters from here on
          if (resume != null) {
            PeftAdapters.attach(model, resume, true);
          } else {
            model.addLora(lc, seed);
          }
        }
        long trainable = lc == null ? model.parameterCount() : model.loraParameterCount();
        ObjectNode start = JSON.createObjectNode();
        start.put("event", "start").put("entries", ds.entries().size()).put("train", train.size())
            .put("validation", val.size()).put("test", test.size())
            .put("truncated", truncated[0]).put("max_length", ctxLen).put("padding", padding)
            .put("mask_prompt", maskPrompt).put("template", template)
            .put("base_parameters", model.parameterCount())
            .put("trainable_parameters", trainable)
            // float32 gradients and AdamW's two moments exist only for what trains
            .put("gradient_bytes", 4 * trainable).put("optimizer_state_bytes", 8 * trainable);
        if (lc != null) {
          start.put("lora_rank", lc.rank()).put("lora_alpha", lc.alpha());
          start.set("lora_targets", JSON.valueToTree(lc.targets()));
        }
        start.put("val_loss", startValLoss);
        log.emit(start);
        CheckpointDirectory.Staged staged;
        try (InstructionTrainer t = new InstructionTrainer(model, train, val, eot, tc,
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
          return 0; // rank 0 evaluates, answers, logs and saves
        }
        ObjectNode fin = JSON.createObjectNode();
        fin.put("event", "final")
            .put("train_loss", InstructionTrainer.loss(model, train, batch, eot, maskPrompt,
                tc.fixedLength()))
            .put("val_loss", InstructionTrainer.loss(model, val, batch, eot, maskPrompt,
                tc.fixedLength()))
            .put("test_loss", InstructionTrainer.loss(model, test, batch, eot, maskPrompt,
                tc.fixedLength()))
            .put("gradient_slab_of_base", model.grads() != null);
        if (lc != null) {
          fin.put("adapter_bytes", model.loraBytes());
        }
        log.emit(fin);
        // test responses, with the trained weights (adapters still attached)
        List<int[]> prompts = new ArrayList<>();
        for (InstructionCollator.Encoded e : test) {
          prompts.add(Arrays.copyOf(e.tokens(), e.promptLength()));
        }
        List<int[]> answers = FinetuneLog.respond(model, prompts,
            GenerationConfig.greedy(maxNewTokens).withStopToken(eot), null);
        ArrayNode arr = JSON.createArrayNode();
        for (int i = 0; i < test.size(); i++) {
          InstructionData.Entry e = split.test().get(i);
          arr.addObject().put("instruction", e.instruction()).put("input", e.input())
              .put("output", e.output()).put("model_response", tok.decode(answers.get(i)));
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
        InstructionModel.saveMeta(dest, template, maskPrompt);
        AtomicFiles.writeString(responsesFile,
            JSON.writerWithDefaultPrettyPrinter().writeValueAsString(arr) + "\n");
        ObjectNode done = JSON.createObjectNode();
        done.put("event", "saved").put("out", out.toString())
            .put("responses", responsesFile.toString());
        log.emit(done);
        log.write(dest.resolve("log.jsonl"));
        staged.commit(1);
      }
    }
    return 0;
  }

  /** data's directory if writable (as the issue asks), else --out; says so on stderr. */
  private Path responsesPath() throws IOException {
    String base = data.getFileName().toString();
    base = base.endsWith(".json") ? base.substring(0, base.length() - 5) : base;
    Path dir = data.toAbsolutePath().getParent();
    if (dir != null && writable(dir)) {
      return dir.resolve(base + "-responses.json");
    }
    System.err.println("fuselm: " + dir + " is read-only; the test responses go to " + out);
    return out.resolve(base + "-responses.json");
  }

  /**
   * Whether dir may be written: the process can, and (on POSIX file systems) the directory is not
   * marked read-only, which root's access check would ignore.
   */
  private static boolean writable(Path dir) throws IOException {
    if (!Files.isWritable(dir)) {
      return false;
    }
    try {
      return Files.getPosixFilePermissions(dir).contains(PosixFilePermission.OWNER_WRITE);
    } catch (UnsupportedOperationException e) {
      return true;
    }
  }

  private static List<InstructionCollator.Encoded> encode(List<InstructionData.Entry> entries,
      Tokenizer tok, PromptTemplate tpl, int eot, int ctx, int[] truncated) {
    List<InstructionCollator.Encoded> out = new ArrayList<>();
    for (InstructionData.Entry e : entries) {
      InstructionCollator.Encoded x;
      try {
        x = InstructionCollator.encode(tok, tpl, e, eot, ctx);
      } catch (IllegalArgumentException ex) {
        throw new UserInputException(ex.getMessage());
      }
      truncated[0] += x.truncated() ? 1 : 0;
      out.add(x);
    }
    return out;
  }
}
