import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Generation quality with bf16 (or int8) weights against fp32 weights, for one trained model
 * directory.
 *
 * <p>Both run through the same Generator code path (KV cache, one token at a time), so the only
 * difference is the weights: {@code new Generator(model, 1)} versus {@code new Generator(model, 1,
 * DType.BFLOAT16)}. On the last 10% of a text (held-out text for `fuselm demo`, which validates on
 * its last 10%):
 *   loss      mean next-token cross-entropy (nats) over `windows` windows of the model's context
 *   greedy    `prompts` prompts (16 tokens, from the same windows), `new` greedy tokens each: how
 *             many generated positions agree, and the first position where the two differ
 * Run (after `mvn package`; Java's single-file launcher compiles this file):
 *   java -cp "target/classes:$(cat target/classpath.txt)" benchmarks/gpt/Bf16Quality.java \
 *       MODEL_DIR TEXT_FILE [windows=40] [prompts=20] [new=48] [weights=bf16|int8]
 * With int8 the JSON keys say int8 instead of bf16 (Q8_0 weights, int8 activations per block).
 */
public class Bf16Quality {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    String text = Files.readString(Path.of(args[1]));
    int windows = args.length > 2 ? Integer.parseInt(args[2]) : 40;
    int prompts = args.length > 3 ? Integer.parseInt(args[3]) : 20;
    int newTokens = args.length > 4 ? Integer.parseInt(args[4]) : 48;
    String wname = args.length > 5 ? args[5] : "bf16";
    DType wtype = wname.equals("int8") ? DType.INT8 : DType.BFLOAT16;
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = Checkpoint.load(ctx, dir,
        ModelFamily.GPT2);
        Generator g32 = new Generator(m, 1); Generator g16 = new Generator(m, 1, wtype)) {
      Tokenizer tok = Tokenizers.forModel(dir, m.config().vocabSize());
      int[] all = tok.encode(text);
      int[] held = Arrays.copyOfRange(all, all.length - all.length / 10, all.length);
      int t = m.config().contextLength();
      int v = m.config().vocabSize();
      int stride = Math.max(1, (held.length - t) / windows);
      double ce32 = 0;
      double ce16 = 0;
      double maxLogitDiff = 0;
      long n = 0;
      for (int w = 0; w < windows; w++) {
        int[] seq = Arrays.copyOfRange(held, w * stride, w * stride + t);
        float[][] a = g32.cachedLogits(seq, 1);
        float[][] b = g16.cachedLogits(seq, 1);
        for (int k = 0; k + 1 < t; k++) {
          ce32 += crossEntropy(a[k], seq[k + 1], v);
          ce16 += crossEntropy(b[k], seq[k + 1], v);
          for (int i = 0; i < v; i++) {
            maxLogitDiff = Math.max(maxLogitDiff, Math.abs(a[k][i] - b[k][i]));
          }
          n++;
        }
      }
      int agree = 0;
      int total = 0;
      int identical = 0;
      int[] firstDiff = new int[prompts];
      for (int p = 0; p < prompts; p++) {
        int start = (int) ((long) p * (held.length - t) / prompts);
        int[] prompt = Arrays.copyOfRange(held, start, start + 16);
        GenerationConfig gc = GenerationConfig.greedy(newTokens);
        int[] x = g32.generate(prompt, gc, null).ids();
        int[] y = g16.generate(prompt, gc, null).ids();
        int len = Math.min(x.length, y.length);
        firstDiff[p] = len;
        for (int i = 0; i < len; i++) {
          if (x[i] == y[i]) {
            agree++;
          } else if (firstDiff[p] == len) {
            firstDiff[p] = i;
          }
        }
        total += Math.max(x.length, y.length);
        identical += Arrays.equals(x, y) ? 1 : 0;
      }
      Arrays.sort(firstDiff);
      System.out.printf(Locale.ROOT, "{\"model\":\"%s\",\"eval_tokens\":%d,\"loss_fp32\":%.5f,"
          + "\"loss_" + wname + "\":%.5f,\"loss_diff\":%.5f,\"max_abs_logit_diff\":%.4f,"
          + "\"perplexity_fp32\":%.4f,\"perplexity_" + wname + "\":%.4f,\"prompts\":%d,"
          + "\"new_tokens\":%d,\"greedy_tokens_agreeing\":%d,\"greedy_tokens\":%d,"
          + "\"identical_continuations\":%d,\"median_first_difference\":%d,"
          + "\"matmul_bytes_fp32\":%d,\"matmul_bytes_" + wname + "\":%d}%n", dir, n, ce32 / n,
          ce16 / n, (ce16 - ce32) / n, maxLogitDiff, Math.exp(ce32 / n), Math.exp(ce16 / n), prompts, newTokens, agree, total, identical,
          firstDiff[prompts / 2], g32.matmulWeightBytesPerToken(),
          g16.matmulWeightBytesPerToken());
    }
  }

  static double crossEntropy(float[] logits, int target, int v) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < v; i++) {
      max = Math.max(max, logits[i]);
    }
    double sum = 0;
    for (int i = 0; i < v; i++) {
      sum += Math.exp(logits[i] - max);
    }
    return Math.log(sum) + max - logits[target];
  }
}
