package dev.fuselm.train;

import dev.fuselm.ops.OptimizerOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;

/**
 * AdamW over a model's parameter slab (PyTorch's formula, bias-corrected, decoupled weight decay
 * on the segments flagged as decaying: matrices and embeddings, not biases or norms), with global
 * gradient-norm clipping folded into the same fused pass.
 */
public final class AdamW implements AutoCloseable {
  private final ComputeContext ctx;
  private final ParameterSlab params;
  private final ParameterSlab grads;
  private final ParameterSlab m;
  private final ParameterSlab v;
  private final float beta1, beta2, eps, weightDecay, clip;

  public AdamW(ComputeContext ctx, ParameterSlab params, ParameterSlab grads, float beta1,
      float beta2, float eps, float weightDecay, float clip) {
    this.ctx = ctx;
    this.params = params;
    this.grads = grads;
    this.m = params.sameLayout(ctx);
    this.v = params.sameLayout(ctx);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.clip = clip;
  }

  public ParameterSlab firstMoment() {
    return m;
  }

  public ParameterSlab secondMoment() {
    return v;
  }

  /** The global gradient norm (before clipping). */
  public float gradNorm() {
    return OptimizerOps.gradNorm(ctx, grads.flat());
  }

  /** One step number t >= 1 at rate lr, given the gradient norm from {@link #gradNorm()}. */
  public void step(long t, float lr, float gradNorm) {
    float scale = clip > 0 && gradNorm > clip ? clip / gradNorm : 1f;
    OptimizerOps.adamwStep(ctx, params, grads, m, v, lr, beta1, beta2, eps, weightDecay, t, scale);
  }

  @Override
  public void close() {
    m.close();
    v.close();
  }
}
