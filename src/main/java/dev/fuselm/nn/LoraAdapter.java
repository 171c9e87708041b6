package dev.fuselm.nn;

import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A low-rank adapter on one {@link Linear}: {@code out += scale * (inp A^T) B^T} with A (r, in),
 * B (out, r) and scale = alpha / r (PEFT's LoRA; A and B are views into a {@link LoraAdapters}
 * slab). The (rows, r) intermediates live in a scratch shared by all adapters of a model; the
 * backward pass recomputes {@code inp A^T} rather than saving it per layer.
 */
public final class LoraAdapter {
  private final Tensor a;
  private final Tensor b;
  private final Tensor da;
  private final Tensor db;
  private final float scale;
  private final LoraAdapters.Scratch scratch;

  LoraAdapter(Tensor a, Tensor b, Tensor da, Tensor db, float scale,
      LoraAdapters.Scratch scratch) {
    this.a = a;
    this.b = b;
    this.da = da;
    this.db = db;
    this.scale = scale;
    this.scratch = scratch;
  }

  public long rank() {
    return a.dim(0);
  }

  /** out (M, out) += scale * (inp (M, in) A^T) B^T. */
  void forward(ComputeContext ctx, Tensor out, Tensor inp) {
    Tensor u = scratch.u(inp.dim(0), rank());
    GemmOps.sgemm(ctx, false, true, 1f, inp, a, 0f, u);
    GemmOps.sgemm(ctx, false, true, scale, u, b, 1f, out);
  }

  /**
   * Adds dA += scale * (dout B)^T inp and dB += scale * dout^T (inp A^T) (when this adapter has
   * gradients), and dinp += scale * (dout B) A (dinp null: not wanted).
   */
  void backward(ComputeContext ctx, Tensor dinp, Tensor dout, Tensor inp) {
    long m = inp.dim(0);
    Tensor g = scratch.g(m, rank());
    GemmOps.sgemm(ctx, false, false, 1f, dout, b, 0f, g);
    if (db != null) {
      Tensor u = scratch.u(m, rank());
      GemmOps.sgemm(ctx, false, true, 1f, inp, a, 0f, u);
      GemmOps.sgemm(ctx, true, false, scale, dout, u, 1f, db);
    }
    if (da != null) {
      GemmOps.sgemm(ctx, true, false, scale, g, inp, 1f, da);
    }
    if (dinp != null) {
      GemmOps.sgemm(ctx, false, false, scale, g, a, 1f, dinp);
    }
  }

  /** weight (in, out) += scale * A^T B^T: the adapter folded into a Conv1D weight. */
  void mergeInto(ComputeContext ctx, Tensor weight) {
    GemmOps.sgemm(ctx, true, true, scale, a, b, 1f, weight);
  }
}
