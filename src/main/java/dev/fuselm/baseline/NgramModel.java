package dev.fuselm.baseline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * A statistical n-gram language model over token ids (the same ids as the GPT's, e.g. GPT-2 BPE),
 * the baseline a GPT's perplexity is read against. Two smoothings:
 *
 * <ul>
 *   <li><b>Interpolated Kneser-Ney</b> (Chen and Goodman 1998, section 3, "interpolated
 *       Kneser-Ney", one discount per order). With h a context of length j and h' its last j-1
 *       tokens, for the highest order N (raw counts c):
 *       <pre>p(w | h) = max(c(h w) - D_N, 0) / c(h .) + D_N * N1+(h .) / c(h .) * p(w | h')</pre>
 *       and for the lower orders the same formula over continuation counts N1+(. h w) (the number
 *       of distinct tokens seen just before h w) in place of c(h w), whose sums over w and numbers of
 *       non-zero entries replace c(h .) and N1+(h .). The unigram level interpolates the same way with
 *       the uniform distribution 1/V over the whole vocabulary, so a token never seen in training
 *       still gets a non-zero probability. A context never seen (or never followed) passes its lower
 *       order's probability through unchanged. The discount D_k of order k is the one given, or,
 *       by default, estimated per order as {@code n1 / (n1 + 2 n2)} (Ney, Essen and Kneser 1994;
 *       Chen and Goodman eq. 26), with n1 and n2 the numbers of k-grams whose count (raw for the
 *       highest order, continuation for the lower ones) is exactly 1 and 2; 0.75 where either is 0.
 *       With 0 < D <= 1 every distribution sums to 1 over the vocabulary.</li>
 *   <li><b>Add-k</b> (Lidstone): {@code p(w | h) = (c(h w) + k) / (c(h .) + k V)} over the longest
 *       context available (no back-off; an unseen context gives 1/V), as NLTK's {@code Lidstone}.</li>
 * </ul>
 *
 * <p>The training data is one token stream without sentence marks. Predictions use the last N-1
 * tokens before a token; where fewer exist (at the start of a stream) the shorter context is used,
 * with the Kneser-Ney distribution of that lower order (continuation counts), as NLTK's
 * {@code KneserNeyInterpolated} does. Differences from NLTK 3.10's {@code KneserNeyInterpolated}:
 * its lowest order is the undiscounted continuation unigram (no uniform term, so unseen tokens get
 * probability 0), its default discount is 0.1 for every order, and its lower orders count
 * N1+(h .) over raw counts, which differs from the continuation-count types only for an n-gram seen
 * solely at the very start of the stream. {@code benchmarks/parity/ngram_reference.py} checks both
 * definitions.
 *
 * <p>Immutable after training; safe to share between threads.
 */
public final class NgramModel {
  /** Orders above this are refused (the tables would be large and the model no better). */
  public static final int MAX_ORDER = 10;
  static final String MAGIC = "fuselm-ngram 1";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The smoothing of a model, with its CLI name. */
  public enum Smoothing {
    KNESER_NEY("kn", "interpolated Kneser-Ney"),
    ADD_K("addk", "add-k");

    private final String id;
    private final String label;

    Smoothing(String id, String label) {
      this.id = id;
      this.label = label;
    }

    /** Short name: {@code kn} or {@code addk}. */
    public String id() {
      return id;
    }

    /** Name for people: "interpolated Kneser-Ney" or "add-k". */
    public String label() {
      return label;
    }

    /** By short name. */
    public static Smoothing of(String id) {
      for (Smoothing s : values()) {
        if (s.id.equals(id)) {
          return s;
        }
      }
      throw new IllegalArgumentException("unknown n-gram smoothing '" + id
          + "': use kn (interpolated Kneser-Ney) or addk (add-k)");
    }
  }

  /**
   * What to train: the order N, the smoothing, the Kneser-Ney discount (NaN: estimated per order)
   * and the add-k constant k (NaN for Kneser-Ney).
   */
  public record Settings(int order, Smoothing smoothing, double discount, double k) {
    public Settings {
      if (order < 1 || order > MAX_ORDER) {
        throw new IllegalArgumentException("the n-gram order must be between 1 and " + MAX_ORDER
            + ", got " + order);
      }
      if (smoothing == Smoothing.KNESER_NEY && !Double.isNaN(discount)
          && !(discount > 0 && discount <= 1)) {
        throw new IllegalArgumentException("the Kneser-Ney discount must be in (0, 1], got "
            + discount);
      }
      if (smoothing == Smoothing.ADD_K && !(k > 0 && Double.isFinite(k))) {
        throw new IllegalArgumentException("add-k needs k > 0, got " + k);
      }
    }

    /** Interpolated Kneser-Ney with discounts estimated per order. */
    public static Settings kneserNey(int order) {
      return new Settings(order, Smoothing.KNESER_NEY, Double.NaN, Double.NaN);
    }

    /** Interpolated Kneser-Ney with one discount for every order. */
    public static Settings kneserNey(int order, double discount) {
      return new Settings(order, Smoothing.KNESER_NEY, discount, Double.NaN);
    }

    public static Settings addK(int order, double k) {
      return new Settings(order, Smoothing.ADD_K, Double.NaN, k);
    }

    /** For example "order 3, interpolated Kneser-Ney" or "order 2, add-k (k = 0.01)". */
    public String describe() {
      return "order " + order + ", " + smoothing.label()
          + (smoothing == Smoothing.ADD_K ? " (k = " + shortNumber(k) + ")" : "");
    }
  }

  /** Tokens scored and their mean negative log-likelihood (nats). */
  public record Score(long tokens, double loss) {
    public double perplexity() {
      return Math.exp(loss);
    }
  }

  /** A model read from a file, with the tokenizer its file names (null when none). */
  public record Saved(NgramModel model, String tokenizer) {}

  private final Settings settings;
  private final NgramCounts counts;
  /** discounts[k] of order k = 1..N (Kneser-Ney only). */
  private final double[] discounts;
  private final int[] trainIds;

  private NgramModel(Settings settings, NgramCounts counts, int[] trainIds) {
    this.settings = settings;
    this.counts = counts;
    this.trainIds = trainIds;
    this.discounts = new double[settings.order() + 1];
    if (settings.smoothing() == Smoothing.KNESER_NEY) {
      for (int k = 1; k <= settings.order(); k++) {
        discounts[k] = Double.isNaN(settings.discount()) ? estimateDiscount(k) : settings.discount();
      }
    }
  }

  /**
   * Trains on tokens[from, to), every id in [0, vocabSize); the vocabulary size sets the uniform
   * floor of Kneser-Ney and the V of add-k.
   */
  public static NgramModel train(Settings settings, int vocabSize, int[] tokens, int from, int to) {
    if (to - from < 1) {
      throw new IllegalArgumentException("no training tokens for the n-gram model");
    }
    NgramCounts c = new NgramCounts(settings.order(), vocabSize, tokens, from, to);
    return new NgramModel(settings, c, Arrays.copyOfRange(tokens, from, to));
  }

  /** Trains on all of tokens. */
  public static NgramModel train(Settings settings, int vocabSize, int[] tokens) {
    return train(settings, vocabSize, tokens, 0, tokens.length);
  }

  private double estimateDiscount(int k) {
    long[] n = counts.countOfCounts(k, k == settings.order());
    return n[0] > 0 && n[1] > 0 ? (double) n[0] / (n[0] + 2 * n[1]) : 0.75;
  }

  public Settings settings() {
    return settings;
  }

  public int order() {
    return settings.order();
  }

  public int vocabSize() {
    return counts.vocabSize;
  }

  /** Tokens the model was trained on. */
  public int trainTokens() {
    return counts.tokens;
  }

  /** The Kneser-Ney discounts of orders 1..N (index 0 is order 1); empty for add-k. */
  public double[] discounts() {
    return settings.smoothing() == Smoothing.KNESER_NEY
        ? Arrays.copyOfRange(discounts, 1, discounts.length) : new double[0];
  }

  /** Distinct k-grams seen in training (k = 1..N). */
  public int ngramTypes(int k) {
    if (k < 1 || k > order()) {
      throw new IllegalArgumentException("k must be in [1, " + order() + "], got " + k);
    }
    return counts.types(k);
  }

  /**
   * p(word | context): the last min(context.length, N-1) tokens of context are used (an empty
   * context gives the unigram distribution).
   */
  public double probability(int[] context, int word) {
    checkId(word, "the word", -1);
    int m = Math.min(context.length, order() - 1);
    for (int t = context.length - m; t < context.length; t++) {
      checkId(context[t], "context token ", t);
    }
    int[] h = new int[m + 1];
    for (int j = 1; j <= m; j++) {
      // the node of the last j tokens: walk down the trie from their first token
      int start = context.length - j;
      int node = 0;
      for (int t = start; t < context.length && node >= 0; t++) {
        node = counts.find(t - start + 1, node, context[t]);
      }
      h[j] = node;
    }
    return probability(h, m, word);
  }

  /**
   * Scores every token of tokens[from + 1, to) given the up to N-1 tokens before it, none before
   * from (the first token has nothing to condition on, as for the GPT; the next N-2 use shorter
   * contexts). Mean negative log-likelihood in nats; its exp is the perplexity.
   */
  public Score evaluate(int[] tokens, int from, int to) {
    if (from < 0 || to > tokens.length || from > to) {
      throw new IllegalArgumentException("token range [" + from + ", " + to + ") is outside the "
          + tokens.length + " tokens");
    }
    int n = order();
    int[] h = new int[n];
    int[] next = new int[n];
    double nll = 0;
    for (int i = from + 1; i < to; i++) {
      // the contexts ending at i-1, from those ending at i-2
      int t = tokens[i - 1];
      checkId(t, "token ", i - 1);
      int m = Math.min(n - 1, i - from);
      next[0] = 0;
      for (int j = 1; j <= m; j++) {
        next[j] = counts.find(j, h[j - 1], t);
      }
      int[] swap = h;
      h = next;
      next = swap;
      int w = tokens[i];
      checkId(w, "token ", i);
      nll -= Math.log(probability(h, m, w));
    }
    long scored = Math.max(0, to - from - 1);
    return new Score(scored, scored == 0 ? Double.NaN : nll / scored);
  }

  /**
   * Scores the tokens a GPT's windowed evaluation scores ({@code dev.fuselm.train.Evaluator}):
   * windows of up to {@code window} predictions starting at from, from + window, ...; a token sees
   * only the tokens of its own window before it (at most N-1 of them), as the GPT does. So over
   * the same range the n-gram and the GPT predict the same tokens from the same contexts, except
   * that the n-gram looks back at most N-1 tokens.
   */
  public Score evaluateWindows(int[] tokens, int from, int to, int window) {
    if (window < 1) {
      throw new IllegalArgumentException("the window must hold at least 1 prediction, got " + window);
    }
    double nll = 0;
    long scored = 0;
    for (int pos = from; pos < to - 1; ) {
      int n = Math.min(window, to - 1 - pos);
      Score s = evaluate(tokens, pos, pos + n + 1);
      nll += s.loss() * s.tokens();
      scored += s.tokens();
      pos += n;
    }
    return new Score(scored, scored == 0 ? Double.NaN : nll / scored);
  }

  /** Scores all of tokens (see {@link #evaluate(int[], int, int)}). */
  public Score evaluate(int[] tokens) {
    return evaluate(tokens, 0, tokens.length);
  }

  /** p(w | h_m) where h[j] is the node of the context's last j tokens (h[0] = 0, the root). */
  private double probability(int[] h, int m, int w) {
    if (settings.smoothing() == Smoothing.ADD_K) {
      double k = settings.k();
      int node = h[m];
      if (node < 0) {
        return 1.0 / vocabSize();
      }
      long total = counts.followTotal(m, node);
      int g = counts.find(m + 1, node, w);
      int c = g < 0 ? 0 : counts.count(m + 1, g);
      return (c + k) / (total + k * vocabSize());
    }
    double p = 1.0 / vocabSize();
    int n = order();
    for (int j = 0; j <= m; j++) {
      int node = h[j];
      if (node < 0) {
        break; // a longer context was never seen either
      }
      int k = j + 1;
      boolean raw = k == n;
      long total = raw ? counts.followTotal(j, node) : counts.contTotal(j, node);
      if (total == 0) {
        continue; // never followed: this order passes the lower order through
      }
      int types = raw ? counts.followTypes(j, node) : counts.contTypes(j, node);
      int g = counts.find(k, node, w);
      int c = g < 0 ? 0 : raw ? counts.count(k, g) : counts.continuation(k, g);
      double d = discounts[k];
      p = Math.max(c - d, 0) / total + d * types / total * p;
    }
    return p;
  }

  /** Refuses an id outside the vocabulary; the message is what, then index when >= 0. */
  private void checkId(int id, String what, int index) {
    if (id < 0 || id >= counts.vocabSize) {
      throw new IllegalArgumentException(what + (index >= 0 ? Integer.toString(index) : "")
          + " has id " + id + ", outside the n-gram model's vocabulary of " + counts.vocabSize);
    }
  }

  // ---- file format ----

  /**
   * Writes the model: the line {@code fuselm-ngram 1}, one line of JSON (order, smoothing,
   * discount (null: estimated per order), k, vocab_size, tokenizer, train_tokens, and for reading
   * only the discounts used), then the training token ids as little-endian int32. Reading counts
   * the ids again, which takes as long as training (well under a second for 300k tokens): the file
   * stays small and simple, and the counts cannot disagree with the settings.
   *
   * @param tokenizer how the ids were made ("gpt2", a directory), or null
   */
  public void save(Path file, String tokenizer) throws IOException {
    ObjectNode head = JSON.createObjectNode();
    head.put("order", order());
    head.put("smoothing", settings.smoothing().id());
    if (Double.isNaN(settings.discount())) {
      head.putNull("discount");
    } else {
      head.put("discount", settings.discount());
    }
    if (Double.isNaN(settings.k())) {
      head.putNull("k");
    } else {
      head.put("k", settings.k());
    }
    head.put("vocab_size", vocabSize());
    if (tokenizer == null) {
      head.putNull("tokenizer");
    } else {
      head.put("tokenizer", tokenizer);
    }
    head.put("train_tokens", trainIds.length);
    var d = head.putArray("discounts");
    for (double x : discounts()) {
      d.add(x);
    }
    byte[] text = (MAGIC + "\n" + head + "\n").getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(text.length + 4 * trainIds.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(text);
    for (int id : trainIds) {
      b.putInt(id);
    }
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, b.array());
  }

  /** Reads a file written by {@link #save}. */
  public static Saved load(Path file) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file.toString(), null, "no such n-gram model file");
    }
    int nl1 = indexOf(bytes, 0);
    if (nl1 < 0 || !new String(bytes, 0, nl1, StandardCharsets.UTF_8).equals(MAGIC)) {
      throw new IOException(file + ": not a fuselm n-gram model (its first line is not '" + MAGIC
          + "'; write one with 'fuselm ngram train')");
    }
    int nl2 = indexOf(bytes, nl1 + 1);
    if (nl2 < 0) {
      throw new IOException(file + ": truncated n-gram model (no header line)");
    }
    JsonNode head;
    try {
      head = JSON.readTree(new String(bytes, nl1 + 1, nl2 - nl1 - 1, StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": the n-gram model's header is not valid JSON: "
          + e.getOriginalMessage());
    }
    Settings settings;
    int vocab;
    long n;
    try {
      Smoothing s = Smoothing.of(field(head, "smoothing", file).asText());
      int order = field(head, "order", file).asInt();
      double discount = head.path("discount").isNumber() ? head.get("discount").asDouble() : Double.NaN;
      double k = head.path("k").isNumber() ? head.get("k").asDouble() : Double.NaN;
      settings = new Settings(order, s, discount, k);
      vocab = field(head, "vocab_size", file).asInt();
      n = field(head, "train_tokens", file).asLong();
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
    long have = bytes.length - (nl2 + 1);
    if (n < 1 || have != 4 * n) {
      throw new IOException(file + ": the header says " + n + " training tokens (" + 4 * n
          + " bytes) but " + have + " bytes follow it: the file is damaged");
    }
    int[] ids = new int[(int) n];
    ByteBuffer.wrap(bytes, nl2 + 1, (int) have).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(ids);
    NgramModel m;
    try {
      m = train(settings, vocab, ids);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
    JsonNode tok = head.get("tokenizer");
    return new Saved(m, tok == null || tok.isNull() ? null : tok.asText());
  }

  private static JsonNode field(JsonNode head, String name, Path file) throws IOException {
    JsonNode v = head.get(name);
    if (v == null || v.isNull()) {
      throw new IOException(file + ": the n-gram model's header lacks \"" + name + "\"");
    }
    return v;
  }

  private static int indexOf(byte[] b, int from) {
    for (int i = from; i < b.length && i < from + (1 << 16); i++) {
      if (b[i] == '\n') {
        return i;
      }
    }
    return -1;
  }

  static String shortNumber(double x) {
    return x == Math.rint(x) && Math.abs(x) < 1e15 ? Long.toString((long) x)
        : String.format(Locale.ROOT, "%s", x);
  }
}
