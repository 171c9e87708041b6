package dev.fuselm.nn;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Owns a set of long-lived native tensors (a model's activations for one batch shape, a KV cache)
 * allocated once and freed together by {@link #close()}.
 */
public final class TensorPool implements AutoCloseable {
  private final ComputeContext ctx;
  private final List<Tensor> owned = new ArrayList<>();
  private long bytes;

  public TensorPool(ComputeContext ctx) {
    this.ctx = ctx;
  }

  public Tensor floats(long... shape) {
    return add(Tensor.zeros(ctx, DType.FLOAT32, shape));
  }

  public Tensor ints(long... shape) {
    return add(Tensor.zeros(ctx, DType.INT32, shape));
  }

  private Tensor add(Tensor t) {
    owned.add(t);
    bytes += t.bytes();
    return t;
  }

  /** Native bytes held. */
  public long bytes() {
    return bytes;
  }

  @Override
  public void close() {
    for (Tensor t : owned) {
      t.close();
    }
    owned.clear();
    bytes = 0;
  }
}
