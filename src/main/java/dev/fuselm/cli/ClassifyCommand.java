package dev.fuselm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm classify}: labels texts with a classifier from finetune-classify. */
@Command(name = "classify", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Classifies --text, or each non-blank line of --input; prints one JSON line per"
        + " input: {\"label\":L,\"probabilities\":{label:p,...}}.")
public final class ClassifyCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--model", required = true, description = "classifier directory") Path model;

  static final class Input {
    @Option(names = "--text", required = true, description = "one text") String text;
    @Option(names = "--input", required = true, description = "a file, one text a line (for a"
        + " sentence-pair classifier: first TAB second)") Path file;
  }

  @ArgGroup(exclusive = true, multiplicity = "1") Input input;
  @Option(names = "--text-pair", description = "second text of the pair, with --text (sentence-pair"
      + " classifiers only)") String textPair;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;

  @Override
  public Integer call() throws IOException {
    if (Checkpoint.family(model) == ModelFamily.BERT) {
      return callBert();
    }
    if (textPair != null) {
      throw new UserInputException("--text-pair needs a BERT sentence-pair classifier");
    }
    ClassifierHead.Meta meta = ClassifierHead.readMeta(model);
    GptConfig cfg = Checkpoint.readConfig(model, ModelFamily.GPT2);
    Tokenizer tok = Tokenizers.forModel(model, cfg.vocabSize());
    List<String> texts = texts();
    List<int[]> seqs = new ArrayList<>();
    for (String t : texts) {
      int[] ids = tok.encode(t);
      if (ids.length == 0) {
        throw new UserInputException("the text '" + t + "' encodes to no tokens");
      }
      seqs.add(ids.length > meta.maxLength() ? Arrays.copyOf(ids, meta.maxLength()) : ids);
    }
    if (seqs.isEmpty()) {
      throw new UserInputException(input.file + ": no texts to classify");
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (SequenceClassifier<GptModel> clf = Checkpoint.loadSequenceClassifier(c, model,
          ModelFamily.GPT2)) {
        for (int[] ids : seqs) {
          double[] p = clf.probabilities(TokenBatch.rightPadded(List.of(ids), clf.padId(), 0));
          printPrediction(clf.labels(), p);
        }
      }
    }
    return 0;
  }

  /** --text, or the non-blank lines of --input. */
  private List<String> texts() throws IOException {
    List<String> texts = new ArrayList<>();
    if (input.text != null) {
      texts.add(input.text);
    } else {
      if (!Files.isRegularFile(input.file)) {
        throw new UserInputException(input.file + ": no such file");
      }
      for (String line : Files.readString(input.file, StandardCharsets.UTF_8).split("\n")) {
        String s = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
        if (!s.isBlank()) {
          texts.add(s);
        }
      }
    }
    return texts;
  }

  private int callBert() throws IOException {
    ClassifierHead.Meta meta = ClassifierHead.readMeta(model);
    boolean pairs = meta.sentencePairs();
    WordPieceTokenizer tok = Tokenizers.wordPiece(model);
    List<BertEncoding> seqs = new ArrayList<>();
    for (String t : texts()) {
      String first = t, second = null;
      if (pairs) {
        if (input.text != null) {
          second = textPair;
        } else {
          int tab = t.indexOf('\t');
          if (tab >= 0) {
            first = t.substring(0, tab);
            second = t.substring(tab + 1);
          }
        }
        if (second == null || second.isBlank()) {
          throw new UserInputException("this is a sentence-pair classifier: give --text A"
              + " --text-pair B, or lines 'A<TAB>B' in --input");
        }
      } else if (textPair != null) {
        throw new UserInputException("--text-pair: this classifier takes single texts");
      }
      seqs.add(tok.encodeForModel(first, second, meta.maxLength(), 0));
    }
    if (seqs.isEmpty()) {
      throw new UserInputException(input.file + ": no texts to classify");
    }
    try (ComputeContext c = ComputeContext.create()) {
      c.threads(threads);
      try (SequenceClassifier<BertModel> clf = Checkpoint.loadSequenceClassifier(c, model,
          ModelFamily.BERT)) {
        for (BertEncoding e : seqs) {
          double[] p = clf.probabilities(TokenBatch.ofEncodings(List.of(e), clf.padId()));
          printPrediction(clf.labels(), p);
        }
      }
    }
    return 0;
  }

  private static void printPrediction(List<String> labels, double[] p) throws IOException {
    int best = 0;
    ObjectNode n = JSON.createObjectNode();
    ObjectNode probs = JSON.createObjectNode();
    for (int j = 0; j < labels.size(); j++) {
      probs.put(labels.get(j), p[j]);
      if (p[j] > p[best]) {
        best = j;
      }
    }
    n.put("label", labels.get(best));
    n.set("probabilities", probs);
    System.out.println(JSON.writeValueAsString(n));
  }
}
