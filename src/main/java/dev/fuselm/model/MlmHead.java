package dev.fuselm.model;

import dev.fuselm.nn.Dense;
import dev.fuselm.nn.LayerNorm;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * BERT's masked-LM head (Hugging Face {@code cls.predictions}): dense + exact GELU + layer norm,
 * then a decoder tied to the word embeddings plus a bias, with a mean cross-entropy over the
 * labelled positions. It runs on those positions only, so its cost grows with the masked tokens, not
 * with B*T. Reads the hidden states of an encoder; adds its gradient into that of those states.
 */
public final class MlmHead implements AutoCloseable {
  private final ComputeContext ctx;
  private final Dense transform;
  private final LayerNorm norm;
  private final Tensor decoder;
  private final Tensor dDecoder;
  private final Tensor bias;
  private final Tensor dBias;
  private final Arena pool;
  private State state;

  /** What the forward saved for the backward. */
  private static final class State {
    Tensor rows, labels, selected, t1, t2, t3, mean, rstd, logits, lse;
    SoftmaxOps.Loss loss;
  }

  /**
   * decoder: the word embeddings (V, C), shared with the encoder (dDecoder its gradient or null);
   * bias (V) and dBias (or null).
   */
  public MlmHead(ComputeContext ctx, Dense transform, LayerNorm norm, Tensor decoder,
      Tensor dDecoder, Tensor bias, Tensor dBias) {
    this.ctx = ctx;
    this.transform = transform;
    this.norm = norm;
    this.decoder = decoder;
    this.dDecoder = dDecoder;
    this.bias = bias;
    this.dBias = dBias;
    this.pool = new Arena(ctx, 1 << 16);
  }

  /** Forgets the last loss (a new forward of the encoder makes it stale). */
  public void reset() {
    state = null;
  }

  /**
   * The masked-LM loss of hidden (N, C): mean cross-entropy over the positions whose label (N) is
   * not {@link SoftmaxOps#IGNORE_INDEX} (-100); 0 when no position is labelled.
   */
  public float loss(Tensor hidden, int[] labels) {
    long n = hidden.dim(0), c = hidden.dim(1), v = decoder.dim(0);
    if (labels.length != n) {
      throw new IllegalArgumentException("labels has " + labels.length + " entries, expected B*T = "
          + n);
    }
    int m = 0;
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] != SoftmaxOps.IGNORE_INDEX) {
        if (labels[i] < 0 || labels[i] >= v) {
          throw new IllegalArgumentException("MLM label " + labels[i] + " at position " + i
              + " is outside the vocabulary [0, " + v + ") and is not " + SoftmaxOps.IGNORE_INDEX);
        }
        m++;
      }
    }
    int[] rows = new int[m];
    int[] kept = new int[m];
    for (int i = 0, j = 0; i < labels.length; i++) {
      if (labels[i] != SoftmaxOps.IGNORE_INDEX) {
        rows[j] = i;
        kept[j++] = labels[i];
      }
    }
    pool.reset();
    State s = new State();
    state = s;
    if (m == 0) {
      s.loss = new SoftmaxOps.Loss(0f, 0);
      return 0f;
    }
    s.rows = pool.ints(1, m);
    s.rows.copyFrom(rows);
    s.labels = pool.ints(m);
    s.labels.copyFrom(kept);
    s.selected = pool.floats(1, m, c);
    s.t1 = pool.floats(m, c);
    s.t2 = pool.floats(m, c);
    s.t3 = pool.floats(m, c);
    s.mean = pool.floats(m);
    s.rstd = pool.floats(m);
    s.logits = pool.floats(m, v);
    s.lse = pool.floats(m);
    EmbeddingOps.forward(ctx, s.selected, s.rows, hidden, null); // gather the labelled rows
    transform.forward(ctx, s.t1, s.selected.reshape(m, c));
    PointwiseOps.geluErfForward(ctx, s.t2, s.t1);
    norm.forward(ctx, s.t3, s.mean, s.rstd, s.t2);
    GemmOps.sgemmBias(ctx, false, true, s.t3, decoder, bias, s.logits);
    s.loss = SoftmaxOps.crossEntropyForward(ctx, null, s.lse, s.logits, s.labels);
    return s.loss.mean();
  }

  /** Whether a {@link #loss} was computed since the last {@link #reset}. */
  public boolean hasLoss() {
    return state != null;
  }

  /** The logits (M, V) of the labelled positions of the last {@link #loss}, in position order. */
  public Tensor logits() {
    if (state == null || state.logits == null) {
      throw new IllegalStateException(
          "no mlmHead().loss() with labelled positions since the last forward");
    }
    return state.logits;
  }

  /**
   * Adds the gradients of weight * the last loss into the head's parameters, the tied decoder's
   * and dHidden (N, C, the gradient of the hidden states given to {@link #loss}). Overwrites the
   * logits; one backward per loss.
   */
  public void backward(float weight, Tensor hidden, Tensor dHidden) {
    if (state == null) {
      throw new IllegalStateException("backward() with an MLM weight needs mlmHead().loss() first");
    }
    State s = state;
    state = null;
    if (weight == 0 || s.loss.count() == 0) {
      return;
    }
    long m = s.labels.numel(), c = hidden.dim(1);
    SoftmaxOps.crossEntropyBackward(ctx, s.logits, s.logits, s.lse, s.labels, weight,
        s.loss.count());
    if (dBias != null) {
      GemmOps.biasBackward(ctx, dBias, s.logits);
    }
    if (dDecoder != null) {
      GemmOps.sgemm(ctx, true, false, 1f, s.logits, s.t3, 1f, dDecoder);
    }
    Tensor dt3 = s.t3; // t3 is not needed any more: reuse it for its gradient
    Tensor dt2 = pool.zeros(m, c);
    GemmOps.sgemm(ctx, false, false, 1f, s.logits, decoder, 0f, dt3);
    norm.backward(ctx, dt2, dt3, s.t2, s.mean, s.rstd);
    Tensor dt1 = s.t2; // t2 consumed by the layer norm backward above
    dt1.zero();
    PointwiseOps.geluErfBackward(ctx, dt1, s.t1, dt2);
    Tensor dsel = dt3;
    transform.backward(ctx, dsel, dt1, s.selected.reshape(m, c), false);
    // scatter-add the rows back: the embedding backward is exactly that
    EmbeddingOps.backward(ctx, dHidden, null, dsel.reshape(1, m, c), s.rows, hidden, null);
  }

  @Override
  public void close() {
    pool.close();
  }
}
