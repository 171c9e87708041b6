package dev.fuselm.model;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;

/**
 * A {@link GptModel} seen as a {@link Backbone}. Merge shim: GptModel is being split by another
 * engineer in the same change and could not gain the two methods it lacks here; once GptModel has
 * {@code hiddenSize()} and {@code forwardHidden(TokenBatch)} (the bodies below) and declares
 * {@code implements Backbone}, callers pass the GptModel itself and this class is deleted.
 */
@Deprecated(forRemoval = true) // merge shim: GptModel implements Backbone
public final class GptBackbone implements Backbone {
  private final GptModel model;

  public GptBackbone(GptModel model) {
    this.model = model;
  }

  public GptModel model() {
    return model;
  }

  @Override
  public ComputeContext context() {
    return model.context();
  }

  @Override
  public ParameterSlab params() {
    return model.params();
  }

  @Override
  public ParameterSlab grads() {
    return model.grads();
  }

  @Override
  public Backbone enableGradients() {
    model.enableGradients();
    return this;
  }

  @Override
  public void zeroGrad() {
    model.zeroGrad();
  }

  @Override
  public void setTraining(boolean training) {
    model.setTraining(training);
  }

  @Override
  public boolean isTraining() {
    return model.isTraining();
  }

  @Override
  public void setDropoutSeed(long seed) {
    model.setDropoutSeed(seed);
  }

  /** GptModel.hiddenSize(): {@code return config.dModel();} */
  @Override
  public int hiddenSize() {
    return model.config().dModel();
  }

  /**
   * GptModel.forwardHidden(TokenBatch): GPT-2 has no token types, and its attention is causal, so
   * right padding is invisible to the real tokens before it and needs no mask; padding anywhere
   * else cannot be honoured.
   */
  @Override
  public Tensor forwardHidden(TokenBatch batch) {
    if (batch.tokenTypes() != null) {
      throw new IllegalArgumentException("GPT-2 has no token types; pass none");
    }
    batch.lengths(); // checks that any padding is right padding
    return model.forwardHidden(batch.ids(), batch.b(), batch.t());
  }

  @Override
  public void backwardHidden(float[] dHidden, int fromBlock) {
    model.backwardHidden(dHidden, fromBlock);
  }

  @Override
  public void close() {
    model.close();
  }
}
