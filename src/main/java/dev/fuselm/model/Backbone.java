package dev.fuselm.model;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;

/**
 * The seam every model family implements: a stack of transformer blocks that turns a
 * {@link TokenBatch} into final hidden states (B*T, C), with explicit gradients. Task heads
 * (language modelling, MLM, NSP, sequence classification) sit on top of it and talk to the family
 * only through these methods (and, for BERT's [CLS] pooling, {@link BertModel#pooled}).
 *
 * <p>One forward, then at most one backward: {@link #forwardHidden}, a head computes its loss and
 * the gradient of the hidden states, {@link #backwardHidden} adds the parameter gradients into
 * {@link #grads()}. Not thread-safe.
 */
public interface Backbone extends AutoCloseable {
  ComputeContext context();

  /** The parameters, one slab under Hugging Face names. */
  ParameterSlab params();

  /** The gradient slab (same layout as {@link #params()}), or null before gradients are enabled. */
  ParameterSlab grads();

  /** Allocates the gradient slab (zeroed) so that {@link #backwardHidden} can run. Idempotent. */
  Backbone enableGradients();

  /** Sets every gradient to 0 (nothing when gradients are not enabled). */
  void zeroGrad();

  /** Training mode applies the family's dropout; evaluation mode never does. */
  void setTraining(boolean training);

  boolean isTraining();

  /** The seed of the dropout masks of the next forward/backward pair. */
  void setDropoutSeed(long seed);

  /** C, the width of the hidden states. */
  int hiddenSize();

  /**
   * The final hidden states (B*T, C) of batch: a view that the next forward overwrites. A family
   * rejects inputs it cannot honour (token types where it has none, padding it cannot mask).
   */
  Tensor forwardHidden(TokenBatch batch);

  /**
   * Adds into the gradient slab the gradients of a loss whose gradient with respect to the hidden
   * states of the last {@link #forwardHidden} is dHidden (B*T*C, row-major), through blocks
   * fromBlock.. only, and into the embeddings only when fromBlock is 0.
   */
  void backwardHidden(float[] dHidden, int fromBlock);

  @Override
  void close();
}
