package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.baseline.NgramModel;
import dev.fuselm.baseline.NgramModel.Settings;
import dev.fuselm.baseline.NgramModel.Smoothing;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.train.TokenData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fuselm ngram train|eval}: the statistical n-gram baseline ({@link NgramModel}) over the
 * same token ids as a GPT; each prints one JSON line.
 */
@Command(name = "ngram", mixinStandardHelpOptions = true,
    description = "Train and evaluate an n-gram language model (interpolated Kneser-Ney or add-k)"
        + " over BPE token ids: the baseline a GPT's perplexity is read against.",
    subcommands = {NgramCommand.Train.class, NgramCommand.Eval.class})
public final class NgramCommand implements Runnable {
  private static final ObjectMapper JSON = new ObjectMapper();
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** A text or token-id file: exactly one of --text and --tokens. */
  static final class Data {
    @Option(names = "--text", paramLabel = "FILE", description = "UTF-8 text, tokenized with"
        + " --tokenizer (a FILE.ids is read as token ids)") Path text;
    @Option(names = "--tokens", paramLabel = "FILE", description = "token ids, decimal,"
        + " whitespace-separated") Path tokens;

    Path file() {
      return text != null ? text : tokens;
    }
  }

  /** The model's settings and the tokenizer. */
  static final class ModelOptions {
    @Option(names = "--tokenizer", paramLabel = "NAME|DIR", description = "gpt2 (shipped), or a"
        + " tokenizer directory/file such as a fuselm model's (default: gpt2)") String tokenizer;
    @Option(names = "--vocab-size", paramLabel = "V", description = "size of the id space (default:"
        + " the tokenizer's)") Integer vocabSize;
    @Option(names = "--order", paramLabel = "N", description = "n-gram order (default:"
        + " ${DEFAULT-VALUE})") int order = 3;
    @Option(names = "--smoothing", paramLabel = "kn|addk", description = "interpolated Kneser-Ney or"
        + " add-k (default: ${DEFAULT-VALUE})") String smoothing = "kn";
    @Option(names = "--k", paramLabel = "X", description = "add-k's k (default: 0.01)") Double k;
    @Option(names = "--discount", paramLabel = "D", description = "Kneser-Ney discount in (0, 1] for"
        + " every order (default: estimated per order, n1 / (n1 + 2 n2))") Double discount;

    Settings settings() {
      Smoothing s = NgramModel.Smoothing.of(smoothing);
      if (order < 1) {
        throw new UserInputException("--order must be at least 1, got " + order);
      }
      if (k != null && s != Smoothing.ADD_K) {
        throw new UserInputException("--k is for --smoothing addk, not kn");
      }
      double addK = k == null ? 0.01 : k;
      if (s == Smoothing.ADD_K && !(addK > 0 && Double.isFinite(addK))) {
        throw new UserInputException("--k must be > 0, got " + addK);
      }
      if (discount != null && s == Smoothing.ADD_K) {
        throw new UserInputException("--discount is for --smoothing kn, not addk");
      }
      if (discount != null && !(discount > 0 && discount <= 1)) {
        throw new UserInputException("--discount must be in (0, 1], got " + discount);
      }
      return s == Smoothing.ADD_K ? Settings.addK(order, addK)
          : discount == null ? Settings.kneserNey(order) : Settings.kneserNey(order, discount);
    }

    /** --tokenizer, else GPT-2's when needed (text to tokenize, or no --vocab-size), else none. */
    Tokenizer tokenizer(boolean forText) throws IOException {
      if (tokenizer != null) {
        return Tokenizers.load(tokenizer);
      }
      return forText || vocabSize == null ? Tokenizers.load("gpt2") : null;
    }

    /** --vocab-size (at least the tokenizer's), else the tokenizer's. */
    int vocabSize(Tokenizer tok) {
      if (vocabSize == null) {
        return tok.vocabSize();
      }
      if (vocabSize < 1 || (tok != null && vocabSize < tok.vocabSize())) {
        throw new UserInputException("--vocab-size " + vocabSize + " is smaller than "
            + (tok == null ? "1" : "the tokenizer's " + tok.vocabSize() + " ids"));
      }
      return vocabSize;
    }

    /** What the model file records as its tokenizer: a name as given, a path made absolute. */
    String tokenizerLabel(Tokenizer tok) {
      if (tokenizer == null) {
        return tok == null ? null : "gpt2";
      }
      Path p = Path.of(tokenizer);
      return Files.exists(p) ? p.toAbsolutePath().normalize().toString() : tokenizer;
    }
  }

  /** {@code fuselm ngram train}. */
  @Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Count the n-grams of a text or token file and write the model; prints"
          + " {\"order\":N,\"smoothing\":...,\"train_tokens\":T,\"vocab_size\":V,\"seconds\":S}.")
  static final class Train implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1") Data data;
    @Mixin ModelOptions options;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE", description = "model file to"
        + " write") Path out;

    @Override
    public Integer call() throws IOException {
      Settings s = options.settings();
      Tokenizer tok = options.tokenizer(needsTokenizer(data));
      int vocab = options.vocabSize(tok);
      int[] ids = read(data, tok, vocab);
      long t0 = System.nanoTime();
      NgramModel m = NgramModel.train(s, vocab, ids);
      double seconds = (System.nanoTime() - t0) / 1e9;
      m.save(out, options.tokenizerLabel(tok));
      ObjectNode n = describe(m);
      n.put("train_tokens", m.trainTokens());
      n.put("vocab_size", vocab);
      n.put("seconds", Math.round(seconds * 1000) / 1000.0);
      n.put("out", out.toString());
      System.out.println(n);
      return 0;
    }
  }

  /** {@code fuselm ngram eval}. */
  @Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Perplexity of an n-gram model on a text or token file: each token after the"
          + " first given the N-1 before it (fewer at the start); prints {\"tokens\":N,\"loss\":L,"
          + "\"perplexity\":P,\"order\":N,\"smoothing\":...}. The model is --model FILE, or trained"
          + " here from --train FILE with the model options.")
  static final class Eval implements Callable<Integer> {
    @ArgGroup(exclusive = true, multiplicity = "1") Source source;
    @ArgGroup(exclusive = true, multiplicity = "1") Data data;
    @Mixin ModelOptions options;
    @Spec CommandSpec spec;

    static final class Source {
      @Option(names = "--model", paramLabel = "FILE", description = "a model from 'fuselm ngram"
          + " train'") Path model;
      @Option(names = "--train", paramLabel = "FILE", description = "train first on this UTF-8"
          + " text (a FILE.ids is read as token ids)") Path train;
    }

    @Override
    public Integer call() throws IOException {
      NgramModel m;
      Tokenizer tok;
      if (source.model != null) {
        for (String o : new String[] {"--order", "--smoothing", "--k", "--discount", "--vocab-size"}) {
          if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
            throw new UserInputException(o + " is for training (with --train FILE); the model file"
                + " " + source.model + " already fixes it");
          }
        }
        NgramModel.Saved saved = NgramModel.load(source.model);
        m = saved.model();
        String spec = options.tokenizer != null ? options.tokenizer : saved.tokenizer();
        tok = null;
        if (needsTokenizer(data)) {
          if (spec == null) {
            throw new UserInputException(source.model + " names no tokenizer: pass --tokenizer, or"
                + " --tokens FILE with token ids");
          }
          tok = Tokenizers.load(spec);
          if (tok.vocabSize() > m.vocabSize()) {
            throw new UserInputException("the tokenizer " + spec + " has " + tok.vocabSize()
                + " ids but the n-gram model " + source.model + " only " + m.vocabSize());
          }
        }
      } else {
        Settings s = options.settings();
        Data train = new Data();
        train.text = source.train;
        tok = options.tokenizer(needsTokenizer(train) || needsTokenizer(data));
        int vocab = options.vocabSize(tok);
        m = NgramModel.train(s, vocab, read(train, tok, vocab));
      }
      int[] ids = read(data, tok, m.vocabSize());
      if (ids.length < 2) {
        throw new UserInputException(data.file() + ": needs at least 2 tokens to score a"
            + " prediction");
      }
      NgramModel.Score r = m.evaluate(ids);
      ObjectNode n = JSON.createObjectNode();
      n.put("tokens", r.tokens());
      n.put("loss", (float) r.loss());
      n.put("perplexity", (float) r.perplexity());
      n.setAll(describe(m));
      System.out.println(n);
      return 0;
    }
  }

  /** order, smoothing, and the discounts (kn) or k (addk). */
  static ObjectNode describe(NgramModel m) {
    ObjectNode n = JSON.createObjectNode();
    n.put("order", m.order());
    n.put("smoothing", m.settings().smoothing().id());
    if (m.settings().smoothing() == Smoothing.KNESER_NEY) {
      var d = n.putArray("discounts");
      for (double x : m.discounts()) {
        d.add((float) x);
      }
    } else {
      n.put("k", m.settings().k());
    }
    return n;
  }

  /** True when d is a text to tokenize (not token ids). */
  static boolean needsTokenizer(Data d) {
    return d.text != null && !d.text.getFileName().toString().endsWith(".ids");
  }

  /** The ids of --text (through tok; FILE.ids as ids) or --tokens, each checked below vocab. */
  static int[] read(Data d, Tokenizer tok, int vocab) throws IOException {
    Path file = d.file();
    int[] ids;
    if (d.text != null) {
      ids = TokenData.load(file, tok);
    } else {
      if (!Files.isRegularFile(file)) {
        throw new UserInputException(file + ": no such token file");
      }
      // ISO-8859-1 maps every byte to a char, so a stray byte is reported by parseIds by position
      ids = TokenData.parseIds(file.toString(), Files.readString(file, StandardCharsets.ISO_8859_1));
      if (ids.length == 0) {
        throw new UserInputException(file + ": the data is empty (no tokens)");
      }
    }
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] >= vocab) {
        throw new UserInputException(file + ": token " + i + " has id " + ids[i] + ", outside the"
            + " vocabulary of " + vocab);
      }
    }
    return ids;
  }
}
