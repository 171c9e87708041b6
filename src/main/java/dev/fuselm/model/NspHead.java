package dev.fuselm.model;

import dev.fuselm.nn.Dense;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * BERT's next-sentence head (Hugging Face {@code cls.seq_relationship}): a dense layer (2, C) on the
 * pooled output, index 0 meaning "B follows A", with a mean cross-entropy.
 */
public final class NspHead implements AutoCloseable {
  private final ComputeContext ctx;
  private final Dense dense;
  private final Arena pool;
  private Tensor labels, logits, lse;
  private SoftmaxOps.Loss loss;

  public NspHead(ComputeContext ctx, Dense dense) {
    this.ctx = ctx;
    this.dense = dense;
    this.pool = new Arena(ctx, 1 << 12);
  }

  /** Forgets the last logits and loss (a new forward of the encoder makes them stale). */
  public void reset() {
    logits = null;
    loss = null;
  }

  private Tensor forward(Tensor pooled) {
    if (logits == null) {
      long b = pooled.dim(0);
      pool.reset();
      labels = pool.ints(b);
      logits = pool.zeros(b, 2);
      lse = pool.zeros(b);
      dense.forward(ctx, logits, pooled);
    }
    return logits;
  }

  /** The logits (B, 2) of pooled (B, C) (computed once per {@link #reset}). */
  public float[] logits(Tensor pooled) {
    return forward(pooled).toFloatArray();
  }

  /** The mean cross-entropy of the logits of pooled (B, C) against labels (B) in {0, 1}. */
  public float loss(Tensor pooled, int[] labels) {
    long b = pooled.dim(0);
    if (labels.length != b) {
      throw new IllegalArgumentException("NSP labels has " + labels.length + " entries, expected"
          + " B = " + b);
    }
    for (int i = 0; i < labels.length; i++) {
      if (labels[i] != 0 && labels[i] != 1) {
        throw new IllegalArgumentException("NSP label " + labels[i] + " of sequence " + i
            + " is not 0 (next) or 1 (random)");
      }
    }
    forward(pooled);
    this.labels.copyFrom(labels);
    loss = SoftmaxOps.crossEntropyForward(ctx, null, lse, logits, this.labels);
    return loss.mean();
  }

  /** Whether a {@link #loss} was computed since the last {@link #reset}. */
  public boolean hasLoss() {
    return loss != null;
  }

  /**
   * Adds the gradients of weight * the last loss into the head's parameters and into dPooled (B, C),
   * the gradient of the pooled output given to {@link #loss}. One backward per loss.
   */
  public void backward(float weight, Tensor pooled, Tensor dPooled) {
    if (loss == null) {
      throw new IllegalStateException(
          "backward() with an NSP weight needs nspHead().loss() first");
    }
    Tensor dlogits = logits;
    SoftmaxOps.crossEntropyBackward(ctx, dlogits, logits, lse, labels, weight, loss.count());
    dense.backward(ctx, dPooled, dlogits, pooled, true);
    reset();
  }

  @Override
  public void close() {
    pool.close();
  }
}
