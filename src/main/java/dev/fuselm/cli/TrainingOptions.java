package dev.fuselm.cli;

import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.model.Precision;
import dev.fuselm.train.TrainingState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import picocli.CommandLine.Option;

/**
 * Option groups (picocli mixins) and checks shared by the training commands ({@code train},
 * {@code train-mlm}, {@code finetune-classify}, {@code finetune-instruct}, {@code bench train},
 * {@code demo}).
 */
public final class TrainingOptions {
  private TrainingOptions() {}

  /** {@code --threads}. */
  public static final class Threads {
    @Option(names = "--threads", description = "kernel threads (default: all cores)") public int threads;
  }

  /**
   * {@code --warmup} and {@code --schedule}; the default schedule is the command's (cosine for
   * pretraining, constant for fine-tuning, so old fine-tuning runs stay as they were).
   */
  static final class Schedule {
    @Option(names = "--warmup", description = "linear warmup steps (default: ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--schedule", description = "cosine or constant (default: ${DEFAULT-VALUE})")
    String schedule;

    /** Picocli's no-argument instance: the pretraining default. */
    Schedule() {
      this("cosine");
    }

    Schedule(String defaultSchedule) {
      this.schedule = defaultSchedule;
    }

    /** --schedule: true for cosine, false for constant. */
    boolean cosine() {
      return TrainingOptions.cosine(schedule);
    }
  }

  /**
   * AdamW's {@code --weight-decay} (its default is the command's) and {@code --clip}; betas and
   * eps come from the {@link dev.fuselm.train.TrainConfig} preset of the kind of training.
   */
  static final class Optimizer {
    @Option(names = "--weight-decay", description = "AdamW decay of matrices (default:"
        + " ${DEFAULT-VALUE})") float weightDecay;
    @Option(names = "--clip", description = "gradient-norm clipping, 0 = off (default:"
        + " ${DEFAULT-VALUE})") float clip = 1.0f;

    /** Picocli's no-argument instance: GPT pretraining's decay. */
    Optimizer() {
      this(0.1f);
    }

    Optimizer(float weightDecay) {
      this.weightDecay = weightDecay;
    }
  }

  /** {@code --log-json} and {@code --quiet} of the pretraining commands. */
  static final class Logging {
    @Option(names = "--log-json", description = "also append the JSON lines to this file")
    Path logJson;
    @Option(names = "--quiet", description = "no JSON step lines on stdout (evaluations still"
        + " print)") boolean quiet;
  }

  /** Reads a config.json file. */
  interface ConfigReader<C> {
    C read(Path file) throws IOException;
  }

  /** --schedule: true for cosine, false for constant. */
  static boolean cosine(String schedule) {
    if (schedule.equals("cosine")) {
      return true;
    } else if (schedule.equals("constant")) {
      return false;
    }
    throw new UserInputException("--schedule must be cosine or constant, got " + schedule);
  }

  /**
   * Exactly one model source (--init, --config or --resume), an --out that is a directory (or
   * not there yet), and no fresh run over an --out that already holds a training checkpoint.
   */
  static void checkModelSource(Path init, String config, Path resume, Path out) {
    int sources = (init != null ? 1 : 0) + (config != null ? 1 : 0) + (resume != null ? 1 : 0);
    if (sources != 1) {
      throw new UserInputException("give exactly one of --init MODEL_DIR, --config NAME|JSON or"
          + " --resume DIR");
    }
    checkOutDirectory(out);
    if (resume == null && (Files.isRegularFile(out.resolve(TrainingState.FILE))
        || CheckpointDirectory.hasCheckpoints(out))) {
      throw new UserInputException(out + " already holds a training checkpoint: continue it with"
          + " --resume " + out + " or choose another --out");
    }
  }

  /** --save-total-limit: at least the one checkpoint a resume needs. */
  static void checkSaveTotalLimit(int keep) {
    if (keep < 1) {
      throw new UserInputException("--save-total-limit must be at least 1 (the checkpoint a"
          + " --resume continues), got " + keep);
    }
  }

  /**
   * A model or training directory as read: the newest complete checkpoint of a training output
   * directory ({@link CheckpointDirectory#resolve}), the directory itself otherwise; null stays.
   */
  static Path latestCheckpoint(Path dir) throws IOException {
    return dir == null || !Files.isDirectory(dir) ? dir : CheckpointDirectory.resolve(dir);
  }

  /** --out must name a directory or nothing yet: an existing file is refused before any work. */
  static void checkOutDirectory(Path out) {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new UserInputException("--out " + out + ": is a file, not a directory (it names the"
          + " directory the checkpoint is written to)");
    }
  }

  /**
   * An option that shapes a new model (--dropout) is refused with --init or --resume, whose model
   * keeps what its config.json says, rather than silently ignored.
   */
  static void checkNewModelOption(String option, boolean given, String config) {
    if (given && config == null) {
      throw new UserInputException(option + " sets up a new model (--config): a model from --init"
          + " or --resume keeps the value its config.json gives");
    }
  }

  /** --precision: fp32 or bf16. */
  public static Precision precision(String s) {
    try {
      return Precision.parse(s);
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
  }

  /**
   * The precision of a run: --precision (default fp32), or on --resume the one recorded in the
   * checkpoint's training state (fp32 if none is recorded); an explicit --precision that differs
   * from the recorded one is refused, since the resumed run would not continue the same curve.
   */
  static Precision precision(String option, Path resume) throws IOException {
    Precision given = option == null ? null : precision(option);
    String recorded = resume == null ? null
        : TrainingState.metadata(resume).getOrDefault("precision", Precision.FP32.label());
    if (recorded == null) {
      return given == null ? Precision.FP32 : given;
    }
    Precision was = precision(recorded);
    if (given != null && given != was) {
      throw new UserInputException("--precision " + given + " does not match " + resume
          + ", which was trained with --precision " + was + ": resume it with --precision " + was
          + " (or leave --precision out)");
    }
    return was;
  }

  /** --config: a config.json file (read) or a preset name (preset). */
  static <C> C config(String config, ConfigReader<C> read, Function<String, C> preset)
      throws IOException {
    Path file = Path.of(config);
    if (Files.isRegularFile(file)) {
      return read.read(file);
    } else if (config.endsWith(".json")) {
      throw new UserInputException("--config " + config + ": no such file");
    }
    return preset.apply(config);
  }

  /** The tokenizer's ids must all be rows of the new model's embedding. */
  static void checkVocab(int tokenizerIds, int configVocab) {
    if (tokenizerIds > configVocab) {
      throw new UserInputException("the tokenizer has " + tokenizerIds + " ids but the config's"
          + " vocab_size is " + configVocab);
    }
  }
}
