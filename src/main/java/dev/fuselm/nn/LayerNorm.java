package dev.fuselm.nn;

import dev.fuselm.ops.LayerNormOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/** Layer norm over the last dimension with a weight and a bias (Hugging Face ln_1, ln_2, ln_f). */
public final class LayerNorm {
  private final Tensor weight;
  private final Tensor bias;
  private final Tensor dweight;
  private final Tensor dbias;
  private final float eps;

  public LayerNorm(Tensor weight, Tensor bias, Tensor dweight, Tensor dbias, float eps) {
    this.weight = weight;
    this.bias = bias;
    this.dweight = dweight;
    this.dbias = dbias;
    this.eps = eps;
  }

  /** out = LN(inp); mean/rstd (rows) saved for backward, or null in inference. */
  public void forward(ComputeContext ctx, Tensor out, Tensor mean, Tensor rstd, Tensor inp) {
    LayerNormOps.forward(ctx, out, mean, rstd, inp, weight, bias, eps);
  }

  /** residualOut = a + b, out = LN(residualOut). */
  public void residualForward(
      ComputeContext ctx, Tensor residualOut, Tensor out, Tensor mean, Tensor rstd, Tensor a,
      Tensor b) {
    LayerNormOps.residualForward(ctx, residualOut, out, mean, rstd, a, b, weight, bias, eps);
  }

  /** dinp, dweight, dbias += gradients (dinp may be null). */
  public void backward(
      ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp, Tensor mean, Tensor rstd) {
    LayerNormOps.backward(ctx, dinp, dweight, dbias, dout, inp, weight, mean, rstd);
  }
}
