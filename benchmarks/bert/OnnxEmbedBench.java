import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.Precision;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The fuselm side of benchmarks/bert/onnx_vs_fuselm.sh (run as a single-file source program on
 * fuselm's classpath): loads an imported model directory (excluded from timing), then embeds all
 * sentences with its own pooling and normalisation (SentenceEmbedder: tokenize, batch by length,
 * encoder, pool), one untimed warm-up pass, then ROUNDS timed passes; prints one JSON line with
 * the median sentences/s. Usage: java -cp ... OnnxEmbedBench.java DIR SENTENCES BATCH THREADS
 * ROUNDS [PRECISION] (fp32, the default, or bf16: "fuselm bf16", the encoder's linear layers on
 * bf16 weight copies); with -Dfuselm.embed.padded=true the batches are padded and masked (the path before
 * packing) instead of packed.
 */
public final class OnnxEmbedBench {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    List<String> texts = Files.readAllLines(Path.of(args[1]), StandardCharsets.UTF_8);
    int batch = Integer.parseInt(args[2]);
    int threads = Integer.parseInt(args[3]);
    int rounds = Integer.parseInt(args[4]);
    Precision precision = args.length > 5 ? Precision.parse(args[5]) : Precision.FP32;
    try (ComputeContext ctx = ComputeContext.create()) {
      ctx.threads(threads);
      // 128 tokens, as the onnxruntime side truncates (the jar's tokenizer.json)
      try (SentenceEmbedder e = Checkpoint.loadEmbedder(ctx, dir, 128, batch)) {
        e.precision(precision);
        e.embed(texts); // warm-up
        List<Double> rates = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
          long t0 = System.nanoTime();
          e.embed(texts);
          rates.add(texts.size() / ((System.nanoTime() - t0) / 1e9));
        }
        double[] sorted = rates.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = sorted[sorted.length / 2];
        // the path SentenceEmbedder took: packed (no padding) unless -Dfuselm.embed.padded=true
        String impl = Boolean.getBoolean(SentenceEmbedder.PADDED_PROPERTY) ? "fuselm padded"
            : precision == Precision.BF16 ? "fuselm bf16" : "fuselm";
        System.out.printf("{\"impl\": \"%s\", \"threads\": %d, \"batch\": %d,"
            + " \"sentences\": %d, \"sentences_per_s\": %.1f, \"rounds\": %s}%n", impl,
            threads, batch, texts.size(), median, Arrays.toString(rates.stream()
                .map(x -> Math.round(x * 10) / 10.0).toArray()));
      }
    }
  }
}
