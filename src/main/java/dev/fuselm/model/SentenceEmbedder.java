package dev.fuselm.model;

import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Sentence embeddings from a BERT encoder: each text is tokenized ({@code [CLS] text [SEP]},
 * truncated to maxLength tokens), texts are batched by similar length, the encoder runs on each
 * batch's tokens packed back to back (no padding; {@link BertModel#forwardPacked}; on CUDA padded
 * with a mask instead), and each embedding pools the last hidden states over the text's tokens ([CLS] and [SEP] included, as sentence-transformers does): by default their
 * mean, or as the model was trained ({@link Pooling}: mean, CLS, max), optionally L2-normalised.
 *
 * <p>Uses all cores: tokenization runs on a parallel stream and the encoder's kernels on the
 * context's threads. <b>Thread-safe</b>: calls are serialised on the model (it has one set of
 * activations; each call takes the model's context over, {@link
 * dev.fuselm.tensor.ComputeContext#claim()}), which loses nothing because one call already keeps
 * every core busy.
 */
public final class SentenceEmbedder implements AutoCloseable {
  /** {@code -Dfuselm.embed.padded=true}: padded batches instead of packed ones (comparisons). */
  public static final String PADDED_PROPERTY = "fuselm.embed.padded";

  private final BertModel model;
  private final WordPieceTokenizer tokenizer;
  private final int maxLength;
  private final int batchSize;
  private final int padId;
  private final boolean ownsModel;
  private final Pooling pooling;
  private final boolean normalize;

  /**
   * @param maxLength the longest input in tokens including [CLS] and [SEP] (longer texts are
   *     truncated); at most the model's max_position_embeddings
   * @param batchSize texts per encoder pass
   */
  public SentenceEmbedder(BertModel model, WordPieceTokenizer tokenizer, int maxLength,
      int batchSize) {
    this(model, tokenizer, maxLength, batchSize, false, Pooling.MEAN, false);
  }

  private SentenceEmbedder(BertModel model, WordPieceTokenizer tokenizer, int maxLength,
      int batchSize, boolean ownsModel, Pooling pooling, boolean normalize) {
    if (maxLength < 2 || maxLength > model.config().maxPositions()) {
      throw new IllegalArgumentException("max length must be in [2, " + model.config()
          .maxPositions() + "] (the model's positions), got " + maxLength);
    }
    if (batchSize <= 0) {
      throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
    }
    if (tokenizer.vocabSize() > model.config().vocabSize()) {
      throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize()
          + " tokens but the model only " + model.config().vocabSize());
    }
    this.model = model;
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
    this.batchSize = batchSize;
    this.padId = tokenizer.tokenToId(WordPieceTokenizer.PAD).orElse(0);
    this.ownsModel = ownsModel;
    this.pooling = pooling;
    this.normalize = normalize;
  }

  /**
   * An embedder that owns model and closes it with itself; maxLength is capped at the model's
   * positions. Closes the model when the arguments are refused.
   */
  public static SentenceEmbedder owning(BertModel model, WordPieceTokenizer tokenizer,
      int maxLength, int batchSize) {
    return owning(model, tokenizer, maxLength, batchSize, Pooling.MEAN, false);
  }

  /**
   * As {@link #owning(BertModel, WordPieceTokenizer, int, int)}, with the pooling and
   * normalisation the model was trained with as this embedder's defaults ({@link #embed(List)}).
   */
  public static SentenceEmbedder owning(BertModel model, WordPieceTokenizer tokenizer,
      int maxLength, int batchSize, Pooling pooling, boolean normalize) {
    try {
      return new SentenceEmbedder(model, tokenizer,
          Math.min(maxLength, model.config().maxPositions()), batchSize, true, pooling,
          normalize);
    } catch (RuntimeException e) {
      model.close();
      throw e;
    }
  }

  /**
   * The precision of the encoder's linear layers for the embeddings that follow: FP32 (the
   * default) or BF16 (bf16 copies of the weights, inputs rounded to bf16 in each GEMM, float32
   * sums; see {@link BertModel#setInferencePrecision}; measured: cosine >= 0.9999 to the float32
   * embeddings of real sentences, SentenceEmbedderBf16Test). BF16 runs on the packed path of the
   * CPU and reference backends only. Returns this.
   */
  public SentenceEmbedder precision(Precision p) {
    if (p == Precision.BF16 && !model.supportsPacked()) {
      throw new IllegalArgumentException("bf16 embeddings run on the CPU backend only, not "
          + model.context().backend() + ": use fp32");
    }
    synchronized (model) {
      model.setInferencePrecision(p);
    }
    return this;
  }

  /** The embedding width C. */
  public int dimension() {
    return model.config().hiddenSize();
  }

  public int maxLength() {
    return maxLength;
  }

  /** The pooling used where none is given (the model's, or mean). */
  public Pooling pooling() {
    return pooling;
  }

  /** Whether embeddings are L2-normalised where not said (the model's Normalize module). */
  public boolean normalizes() {
    return normalize;
  }

  public float[] embed(String text, boolean normalize) {
    return embed(List.of(text), normalize)[0];
  }

  /** One embedding per text, pooled and normalised as the model was trained. */
  public float[][] embed(List<String> texts) {
    return embed(texts, pooling, normalize);
  }

  /** One embedding (C floats) per text, in the order of texts, with this embedder's pooling. */
  public float[][] embed(List<String> texts, boolean normalize) {
    return embed(texts, pooling, normalize);
  }

  /** One embedding (C floats) per text, in the order of texts. */
  public float[][] embed(List<String> texts, Pooling pooling, boolean normalize) {
    int n = texts.size();
    int[][] ids = new int[n][];
    IntStream.range(0, n).parallel().forEach(i -> {
      BertEncoding e = tokenizer.encodeForModel(texts.get(i), null, maxLength, 0);
      ids[i] = e.ids();
    });
    return embedIds(ids, pooling, normalize);
  }

  /** {@link #embedIds(int[][], Pooling, boolean)} with this embedder's pooling. */
  public float[][] embedIds(int[][] ids, boolean normalize) {
    return embedIds(ids, pooling, normalize);
  }

  /**
   * Embeddings of already tokenized inputs (each with its [CLS] and [SEP], at most maxLength ids),
   * in the given order.
   */
  public float[][] embedIds(int[][] ids, Pooling pooling, boolean normalize) {
    int n = ids.length;
    for (int i = 0; i < n; i++) {
      if (ids[i].length == 0 || ids[i].length > maxLength) {
        throw new IllegalArgumentException("input " + i + " has " + ids[i].length
            + " tokens; need 1.." + maxLength);
      }
    }
    // batch texts of similar length together, so little compute goes to padding
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, Comparator.comparingInt(i -> ids[i].length));
    float[][] out = new float[n][];
    int c = dimension();
    boolean packed = usePacked();
    if (!packed && model.inferencePrecision() == Precision.BF16) {
      // the padded path has no bf16 forward: it would run float32 without a word
      throw new IllegalStateException("bf16 embeddings run on the packed path only (CPU backend,"
          + " model not training, -D" + PADDED_PROPERTY + " unset): use fp32 here");
    }
    synchronized (model) {
      model.context().claim(); // calls are serialised here, so the caller may take the model over
      for (int start = 0; start < n; start += batchSize) {
        int b = Math.min(batchSize, n - start);
        if (packed) {
          // no padding: the encoder runs on the b texts' tokens back to back
          int[][] seqs = new int[b][];
          for (int j = 0; j < b; j++) {
            seqs[j] = ids[order[start + j]];
          }
          int[] cu = new int[b + 1];
          float[] hidden = model.forwardPacked(seqs, cu).toFloatArray();
          for (int j = 0; j < b; j++) {
            float[] e = pool(pooling, hidden, cu[j] * c, seqs[j].length, c);
            if (normalize) {
              l2Normalize(e);
            }
            out[order[start + j]] = e;
          }
          continue;
        }
        int longest = ids[order[start + b - 1]].length;
        // pad to a multiple of 8 so that similar batches share one activation shape
        int t = Math.min(maxLength, (longest + 7) / 8 * 8);
        int[] batchIds = new int[b * t];
        int[] mask = new int[b * t];
        Arrays.fill(batchIds, padId);
        for (int j = 0; j < b; j++) {
          int[] x = ids[order[start + j]];
          System.arraycopy(x, 0, batchIds, j * t, x.length);
          Arrays.fill(mask, j * t, j * t + x.length, 1);
        }
        float[] hidden =
            model.forwardHidden(new TokenBatch(batchIds, null, mask, b, t)).toFloatArray();
        for (int j = 0; j < b; j++) {
          int len = ids[order[start + j]].length;
          float[] e = pool(pooling, hidden, j * t * c, len, c);
          if (normalize) {
            l2Normalize(e);
          }
          out[order[start + j]] = e;
        }
      }
    }
    return out;
  }

  /**
   * Packed batches (no padding, {@link BertModel#forwardPacked}) where the backend has them, unless
   * the system property {@value #PADDED_PROPERTY} is true (padded batches with a mask, the path
   * before packing: for comparisons). Both give the same bits on the CPU backend.
   */
  private boolean usePacked() {
    return model.supportsPacked() && !model.isTraining()
        && !Boolean.getBoolean(PADDED_PROPERTY);
  }

  /** The pooled rows [0, len) of the (len, c) block of hidden starting at offset. */
  static float[] pool(Pooling pooling, float[] hidden, int offset, int len, int c) {
    switch (pooling) {
      case CLS:
        return Arrays.copyOfRange(hidden, offset, offset + c);
      case MAX:
        float[] m = Arrays.copyOfRange(hidden, offset, offset + c);
        for (int r = 1; r < len; r++) {
          for (int k = 0; k < c; k++) {
            m[k] = Math.max(m[k], hidden[offset + r * c + k]);
          }
        }
        return m;
      default:
        return meanPool(hidden, offset, len, c);
    }
  }

  /** The mean of rows [0, len) of the (len, c) block of hidden starting at offset, in double. */
  static float[] meanPool(float[] hidden, int offset, int len, int c) {
    double[] sum = new double[c];
    for (int r = 0; r < len; r++) {
      int base = offset + r * c;
      for (int k = 0; k < c; k++) {
        sum[k] += hidden[base + k];
      }
    }
    float[] e = new float[c];
    for (int k = 0; k < c; k++) {
      e[k] = (float) (sum[k] / len);
    }
    return e;
  }

  /** e /= max(|e|, 1e-12), as torch.nn.functional.normalize. */
  static void l2Normalize(float[] e) {
    double s = 0;
    for (float v : e) {
      s += (double) v * v;
    }
    double norm = Math.max(Math.sqrt(s), 1e-12);
    for (int k = 0; k < e.length; k++) {
      e[k] = (float) (e[k] / norm);
    }
  }

  /** Closes the model if this embedder owns it ({@link #owning}). */
  @Override
  public void close() {
    if (ownsModel) {
      model.close();
    }
  }
}
