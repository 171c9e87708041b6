package dev.fuselm.bench;

import dev.fuselm.cli.JsonLine;
import dev.fuselm.cli.UserInputException;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fuselm bench embed}: median time of one sentence-embedding batch (BERT encoder forward
 * with the padding mask, mean pooling) on random weights and random token ids, every sequence
 * exactly --seq tokens long ([CLS] ... [SEP]), as benchmarks/bert/bert_torch_bench.py does.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Time sentence-embedding batches (BERT forward + mean pooling) on random weights"
        + " and ids; prints one JSON line with medians.")
public final class BenchEmbedCommand implements Callable<Integer> {
  @Option(names = "--config", description = "bert-base-uncased, bert-large, bert-tiny, ... or a"
      + " config.json (default: ${DEFAULT-VALUE})") String config = "bert-base-uncased";
  @Option(names = {"--batch", "--batch-size"}, description = "sentences per batch (default: ${DEFAULT-VALUE})")
  int batch = 32;
  @Option(names = {"--seq", "--seq-len", "--ctx"}, description = "tokens per sentence (default: ${DEFAULT-VALUE})")
  int seq = 128;
  @Option(names = "--steps", description = "timed batches (default: ${DEFAULT-VALUE})")
  int steps = 3;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--precision", description = "fp32, or bf16: the encoder's linear layers on"
      + " bf16 weight copies (default: ${DEFAULT-VALUE})") String precision = "fp32";

  @Override
  public Integer call() throws IOException {
    Path p = Path.of(config);
    BertConfig cfg = Files.isRegularFile(p) ? dev.fuselm.io.Checkpoint.readConfigFile(p,
        dev.fuselm.model.ModelFamily.BERT)
        : BertConfig.preset(config);
    if (batch <= 0 || seq < 2 || seq > cfg.maxPositions() || steps <= 0) {
      throw new UserInputException("need --batch > 0, 2 <= --seq <= " + cfg.maxPositions()
          + " and --steps > 0");
    }
    dev.fuselm.model.Precision prec = dev.fuselm.cli.TrainingOptions.precision(precision);
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    if (tok.vocabSize() > cfg.vocabSize()) {
      throw new UserInputException("the config's vocabulary (" + cfg.vocabSize() + ") is smaller"
          + " than bert-base-uncased's (" + tok.vocabSize() + ")");
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (BertModel m = BertModel.create(c, cfg, true, false)) {
        m.initialize(1);
        m.setTraining(false);
        SentenceEmbedder emb = new SentenceEmbedder(m, tok, seq, batch).precision(prec);
        SplittableRandom r = new SplittableRandom(2);
        int[][] ids = new int[batch][seq];
        for (int[] x : ids) {
          for (int i = 0; i < seq; i++) {
            x[i] = 1000 + r.nextInt(tok.vocabSize() - 1000); // ordinary word pieces
          }
          x[0] = 101; // [CLS]
          x[seq - 1] = 102; // [SEP]
        }
        double[] ms = new double[steps], cpu = new double[steps];
        for (int s = 0; s <= steps; s++) { // the first batch is an untimed warm-up
          long t0 = System.nanoTime(), c0 = BenchTrainCommand.processCpuNs();
          emb.embedIds(ids, false);
          if (s > 0) {
            ms[s - 1] = (System.nanoTime() - t0) / 1e6;
            cpu[s - 1] = (BenchTrainCommand.processCpuNs() - c0) / 1e6;
          }
        }
        Arrays.sort(ms);
        Arrays.sort(cpu);
        double med = ms[steps / 2];
        new JsonLine().put("bench", "embed").put("config", config)
            .put("parameters", m.parameterCount()).put("batch", batch).put("seq", seq)
            .put("threads", c.threads()).put("steps", steps).put("ms_per_batch", med, 1)
            .put("sentences_per_s", batch / (med / 1e3), 2)
            .put("cpu_ms_per_batch", cpu[steps / 2], 1).put("precision", prec.toString()).println(System.out);
      }
    }
    return 0;
  }
}
