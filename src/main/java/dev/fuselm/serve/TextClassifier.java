package dev.fuselm.serve;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.ClassifierHead;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A sequence-classifier directory (what {@code fuselm finetune-classify} saves: a GPT or BERT
 * model with {@code classifier.json} and its head) loaded in one call with its tokenizer:
 *
 * <pre>{@code
 * try (TextClassifier clf = TextClassifier.load(Path.of("models/spam"))) {
 *   TextClassifier.Prediction p = clf.classify("WINNER!! Claim your free prize now");
 *   System.out.println(p.label() + " " + p.probabilities());
 * }
 * }</pre>
 *
 * <p>Texts are encoded as the classifier was trained (GPT: the tokenizer's ids; BERT: {@code [CLS]
 * text [SEP]}) and truncated to the classifier's saved maximum length. It owns its context and
 * model and frees them on {@link #close()}. Not thread-safe: calls are serialised ({@code
 * synchronized}), so sharing one between threads is safe but runs one text at a time.
 */
public final class TextClassifier implements AutoCloseable {
  /** The most likely label and every label's probability, in the classifier's label order. */
  public record Prediction(String label, Map<String, Double> probabilities) {}

  private final ComputeContext ctx;
  private final SequenceClassifier<?> clf;
  private final Tokenizer gptTokenizer; // null for BERT
  private final WordPieceTokenizer wordPiece; // null for GPT
  private final ClassifierHead.Meta meta;

  private TextClassifier(ComputeContext ctx, SequenceClassifier<?> clf, Tokenizer gptTokenizer,
      WordPieceTokenizer wordPiece, ClassifierHead.Meta meta) {
    this.ctx = ctx;
    this.clf = clf;
    this.gptTokenizer = gptTokenizer;
    this.wordPiece = wordPiece;
    this.meta = meta;
  }

  /**
   * Loads a GPT or BERT classifier directory (by config.json's {@code model_type}) on a new
   * context of the default backend.
   *
   * @throws IOException when the directory is not a classifier directory
   */
  public static TextClassifier load(Path dir) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    ClassifierHead.Meta meta = ClassifierHead.readMeta(dir);
    boolean bert = Checkpoint.family(dir) == ModelFamily.BERT;
    Tokenizer gptTok = null;
    WordPieceTokenizer wp = null;
    if (bert) {
      wp = Tokenizers.wordPiece(dir);
    } else {
      GptConfig cfg = Checkpoint.readConfig(dir, ModelFamily.GPT2);
      gptTok = Tokenizers.forModel(dir, cfg.vocabSize());
    }
    ComputeContext ctx = ComputeContext.create();
    try {
      SequenceClassifier<?> clf = bert
          ? Checkpoint.loadSequenceClassifier(ctx, dir, ModelFamily.BERT)
          : Checkpoint.loadSequenceClassifier(ctx, dir, ModelFamily.GPT2);
      return new TextClassifier(ctx, clf, gptTok, wp, meta);
    } catch (IOException | RuntimeException | Error e) {
      ctx.close();
      throw e;
    }
  }

  /** The labels, in the order of {@link #probabilities}. */
  public List<String> labels() {
    return clf.labels();
  }

  /** Whether the classifier takes sentence pairs ({@link #classify(String, String)}). */
  public boolean sentencePairs() {
    return meta.sentencePairs();
  }

  /** The probability of each label for one text. */
  public synchronized double[] probabilities(String text) {
    return probabilities(text, null);
  }

  private double[] probabilities(String text, String pair) {
    ctx.claim(); // callers are serialised (synchronized): the calling thread takes the model over
    if (sentencePairs() != (pair != null)) {
      throw new IllegalArgumentException(sentencePairs()
          ? "this is a sentence-pair classifier: call classify(text, pair)"
          : "this classifier takes single texts: call classify(text)");
    }
    TokenBatch batch;
    if (wordPiece != null) {
      batch = TokenBatch.ofEncodings(
          List.of(wordPiece.encodeForModel(text, pair, meta.maxLength(), 0)), clf.padId());
    } else {
      int[] ids = gptTokenizer.encode(text);
      if (ids.length == 0) {
        throw new IllegalArgumentException("the text '" + text + "' encodes to no tokens");
      }
      ids = Arrays.copyOf(ids, Math.min(ids.length, meta.maxLength()));
      batch = TokenBatch.rightPadded(List.of(ids), clf.padId(), 0);
    }
    return clf.probabilities(batch);
  }

  /** The most likely label of one text, with every label's probability. */
  public synchronized Prediction classify(String text) {
    return prediction(probabilities(text, null));
  }

  /** The same for a sentence pair (a BERT classifier trained on pairs). */
  public synchronized Prediction classify(String text, String pair) {
    return prediction(probabilities(text, pair));
  }

  private Prediction prediction(double[] p) {
    Map<String, Double> probs = new LinkedHashMap<>();
    int best = 0;
    for (int j = 0; j < p.length; j++) {
      probs.put(clf.labels().get(j), p[j]);
      best = p[j] > p[best] ? j : best;
    }
    return new Prediction(clf.labels().get(best), java.util.Collections.unmodifiableMap(probs));
  }

  /** Frees the model and the context. */
  @Override
  public synchronized void close() {
    try {
      clf.close();
    } finally {
      ctx.close();
    }
  }
}
