import dev.fuselm.baseline.NgramModel;
import dev.fuselm.baseline.NgramModel.Settings;
import dev.fuselm.tokenizer.BpeTrainer;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The README's n-gram table: validation perplexity of interpolated Kneser-Ney and add-k n-gram
 * models on TinyShakespeare, split as `fuselm demo` splits it (the last 10% of the tokens held out),
 * with the demo's tokenizer (a 1,024-token BPE trained on the text, as the demo trains it) and with
 * GPT-2's. Each row: the model, training seconds (counting the n-grams), perplexity on the whole
 * validation split, and on the demo GPT's validation tokens in its windows (the first 16 batches x
 * 16 windows x 64 tokens = 16,384 predictions, each seeing only its window's earlier tokens, as
 * `fuselm demo` scores them; demo tokenizer only). One warm-up training first, not timed.
 * Run (after `mvn package`; Java's single-file launcher compiles this file):
 *   java -cp "target/classes:$(cat target/classpath.txt)" benchmarks/ngram/NgramFigures.java \
 *       [TEXT=src/main/resources/dev/fuselm/demo/tinyshakespeare.txt]
 */
public class NgramFigures {
  static final int GPT_VAL_TARGETS = 16 * 16 * 64;

  public static void main(String[] args) throws Exception {
    Path file = Path.of(args.length > 0 ? args[0]
        : "src/main/resources/dev/fuselm/demo/tinyshakespeare.txt");
    String text = Files.readString(file);
    long t0 = System.nanoTime();
    Gpt2BpeTokenizer demo = BpeTrainer.train(text, 1024);
    System.out.printf(Locale.ROOT, "demo BPE (1024) trained in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    table("demo BPE, 1,024 ids", demo, text, true);
    table("GPT-2 BPE, 50,257 ids", Gpt2BpeTokenizer.gpt2(), text, false);
  }

  static void table(String name, Tokenizer tok, String text, boolean gptWindow) {
    int[] ids = tok.encode(text, true);
    int trainEnd = ids.length - (int) Math.round(ids.length * 0.1);
    int v = tok.vocabSize();
    System.out.printf(Locale.ROOT, "%n%s: %,d tokens, %,d to train, %,d to validate%n", name,
        ids.length, trainEnd, ids.length - trainEnd);
    NgramModel.train(Settings.kneserNey(3), v, ids, 0, trainEnd); // warm-up (JIT), not timed
    List<Settings> rows = new ArrayList<>();
    for (int n = 1; n <= 6; n++) {
      rows.add(Settings.kneserNey(n));
    }
    rows.add(Settings.kneserNey(3, 0.75));
    rows.add(Settings.kneserNey(4, 0.75));
    for (int n = 1; n <= 3; n++) {
      for (double k : new double[] {1, 0.1, 0.01}) {
        rows.add(Settings.addK(n, k));
      }
    }
    System.out.println("| model | discounts | train s | val perplexity"
        + (gptWindow ? " | on the GPT's 16,384 val tokens" : "") + " |");
    for (Settings s : rows) {
      long t = System.nanoTime();
      NgramModel m = NgramModel.train(s, v, ids, 0, trainEnd);
      double secs = (System.nanoTime() - t) / 1e9;
      double all = m.evaluate(ids, trainEnd, ids.length).perplexity();
      String d = s.smoothing() == NgramModel.Smoothing.KNESER_NEY ? discounts(m, s) : "";
      String window = gptWindow ? String.format(Locale.ROOT, " | %.2f", m.evaluateWindows(ids,
          trainEnd, Math.min(ids.length, trainEnd + 1 + GPT_VAL_TARGETS), 64).perplexity()) : "";
      System.out.printf(Locale.ROOT, "| %s | %s | %.2f | %.2f%s |%n", s.describe(), d, secs, all,
          window);
    }
  }

  static String discounts(NgramModel m, Settings s) {
    if (!Double.isNaN(s.discount())) {
      return "fixed " + s.discount();
    }
    StringBuilder b = new StringBuilder();
    for (double x : m.discounts()) {
      b.append(b.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.2f", x));
    }
    return b.toString();
  }
}
