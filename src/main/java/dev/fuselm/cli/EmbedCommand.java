package dev.fuselm.cli;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.Pooling;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm embed}: sentence embeddings from a BERT model directory. */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Embeds each line of --input (pooling the last hidden states over its tokens as"
        + " a sentence-transformers directory says, else their mean); prints one JSON array of"
        + " floats per input line, in order.")
public final class EmbedCommand implements Callable<Integer> {
  /** Lines read, embedded and written at a time, so a large input never sits in memory whole. */
  static final int CHUNK_LINES = 4096;

  @Option(names = "--model", required = true, description = "a BERT model directory"
      + " (config.json, model.safetensors, vocab.txt)") Path model;
  @Option(names = "--input", required = true, description = "a UTF-8 file, one text a line")
  Path input;
  @Option(names = {"--batch", "--batch-size"}, description = "texts per encoder pass (default: ${DEFAULT-VALUE})")
  int batch = 32;
  @Option(names = "--max-length", description = "longest input in tokens with [CLS] and [SEP];"
      + " longer texts are truncated (default: ${DEFAULT-VALUE}, at most the model's positions)")
  int maxLength = 512;
  @Option(names = "--pooling", description = "mean, cls or max (default: the model's"
      + " 1_Pooling module, else mean)") String pooling;
  @Option(names = "--normalize", negatable = true, description = "L2-normalise each embedding"
      + " (default: when the model has a Normalize module)") Boolean normalize;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--precision", description = "fp32, or bf16: the encoder's linear layers on"
      + " bf16 weight copies (CPU; default: ${DEFAULT-VALUE})") String precision = "fp32";

  @Override
  public Integer call() throws IOException {
    if (!Files.isRegularFile(input)) {
      throw new UserInputException(input + ": no such file");
    }
    if (batch <= 0 || maxLength < 2) {
      throw new UserInputException("need --batch > 0 and --max-length >= 2");
    }
    Pooling mode = pooling == null ? null : Pooling.parse(pooling);
    dev.fuselm.model.Precision prec = TrainingOptions.precision(precision);
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (SentenceEmbedder emb = Checkpoint.loadEmbedder(c, model, maxLength, batch);
          BufferedReader in = Files.newBufferedReader(input, StandardCharsets.UTF_8)) {
        emb.precision(prec);
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8),
            1 << 16);
        List<String> lines = new ArrayList<>(CHUNK_LINES);
        for (String line = in.readLine(); ; line = in.readLine()) {
          if (line != null) {
            lines.add(line);
          }
          if (lines.size() == CHUNK_LINES || (line == null && !lines.isEmpty())) {
            for (float[] e : emb.embed(lines, mode == null ? emb.pooling() : mode,
                normalize == null ? emb.normalizes() : normalize)) {
              writeArray(out, e);
            }
            lines.clear();
          }
          if (line == null) {
            break;
          }
        }
        out.flush();
      }
    }
    return 0;
  }

  /** [v0,v1,...] with each float in its shortest round-trip form, then a newline. */
  static void writeArray(Writer out, float[] e) throws IOException {
    StringBuilder sb = new StringBuilder(e.length * 12);
    sb.append('[');
    for (int i = 0; i < e.length; i++) {
      if (i > 0) {
        sb.append(',');
      }
      sb.append(e[i]);
    }
    sb.append("]\n");
    out.write(sb.toString());
  }
}
