package dev.fuselm.serve;

import dev.fuselm.data.NerEncoding;
import dev.fuselm.data.NerTags;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.TokenClassifierFiles;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.TokenClassificationHead;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A token-classifier directory (what {@code fuselm finetune-ner} saves: a BERT or GPT model in
 * Hugging Face's {@code *ForTokenClassification} layout with {@code id2label}) loaded in one call
 * with its tokenizer:
 *
 * <pre>{@code
 * try (NamedEntityRecognizer ner = NamedEntityRecognizer.load(Path.of("models/ner"))) {
 *   for (NamedEntityRecognizer.Entity e : ner.recognize("Around August 2019 it was published.")) {
 *     System.out.println(e.type() + " " + e.start() + " " + e.end() + " " + e.text());
 *   }
 * }
 * }</pre>
 *
 * <p>Text is split into words as CoNLL data is (whitespace, and each punctuation character a word),
 * each word's first sub-token is classified, and the word tags become entities with seqeval's
 * rules ({@link NerTags}). Words past the model's saved maximum length are tagged O. It owns its
 * context and model and frees them on {@link #close()}; calls are serialised ({@code synchronized}).
 */
public final class NamedEntityRecognizer implements AutoCloseable {
  /**
   * An entity: its type, the characters [start, end) of the input it covers (Java string
   * indices), that text, and the mean probability of its words' predicted tags.
   */
  public record Entity(String type, int start, int end, String text, double score) {}

  private final ComputeContext ctx;
  private final TokenClassifier<?> clf;
  private final Tokenizer tokenizer;
  private final int maxLength;

  private NamedEntityRecognizer(ComputeContext ctx, TokenClassifier<?> clf, Tokenizer tokenizer,
      int maxLength) {
    this.ctx = ctx;
    this.clf = clf;
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
  }

  /**
   * Loads a token-classifier directory of either family on a new context of the default backend.
   *
   * @throws IOException when the directory is not a token-classifier directory
   */
  public static NamedEntityRecognizer load(Path dir) throws IOException {
    TokenClassifierFiles.Meta meta = TokenClassifierFiles.readMeta(dir);
    Tokenizer tok = Checkpoint.family(dir) == ModelFamily.BERT ? Tokenizers.wordPiece(dir)
        : Tokenizers.forModel(dir, Checkpoint.readConfig(dir, ModelFamily.GPT2).vocabSize());
    ComputeContext ctx = ComputeContext.create();
    try {
      TokenClassifier<?> clf = TokenClassifierFiles.load(ctx, dir);
      return new NamedEntityRecognizer(ctx, clf, tok, meta.maxLength());
    } catch (IOException | RuntimeException | Error e) {
      ctx.close();
      throw e;
    }
  }

  /** The label names, in id order. */
  public List<String> labels() {
    return clf.labels();
  }

  /** The predicted tag of each word, and its probability. */
  public record Tagged(List<String> tags, double[] probabilities) {}

  /** Tags pre-split words (a CoNLL sentence). */
  public synchronized Tagged tag(List<String> words) {
    ctx.claim(); // callers are serialised (synchronized): the calling thread takes the model over
    if (words.isEmpty()) {
      return new Tagged(List.of(), new double[0]);
    }
    NerEncoding.Encoded e = NerEncoding.encode(tokenizer, words, null, maxLength);
    boolean types = clf.backbone() instanceof dev.fuselm.model.BertModel;
    TokenBatch b = new TokenBatch(e.ids(), types ? new int[e.length()] : null, null, 1,
        e.length());
    double[] p = clf.probabilities(b);
    int k = clf.numLabels();
    List<String> tags = new ArrayList<>(words.size());
    double[] prob = new double[words.size()];
    for (int w = 0; w < words.size(); w++) {
      int at = e.firstToken()[w];
      int best = at < 0 ? 0 : TokenClassificationHead.argmax(p, at, k);
      tags.add(clf.labels().get(best));
      prob[w] = at < 0 ? 1 : p[at * k + best];
    }
    return new Tagged(tags, prob);
  }

  /** The entities of a text, in order, with character spans into it. */
  public synchronized List<Entity> recognize(String text) {
    List<NerEncoding.Span> spans = NerEncoding.words(text);
    List<String> words = new ArrayList<>(spans.size());
    for (NerEncoding.Span s : spans) {
      words.add(s.of(text));
    }
    Tagged t = tag(words);
    List<Entity> out = new ArrayList<>();
    for (NerTags.Entity e : NerTags.entities(t.tags())) {
      int start = spans.get(e.start()).start(), end = spans.get(e.end() - 1).end();
      double score = 0;
      for (int w = e.start(); w < e.end(); w++) {
        score += t.probabilities()[w];
      }
      out.add(new Entity(e.type(), start, end, text.substring(start, end),
          score / (e.end() - e.start())));
    }
    return out;
  }

  @Override
  public synchronized void close() {
    try {
      clf.close();
    } finally {
      ctx.close();
    }
  }
}
