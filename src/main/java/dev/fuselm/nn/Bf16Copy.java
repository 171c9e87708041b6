package dev.fuselm.nn;

import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * The bfloat16 copy of one float32 weight: allocated on first use, rounded from the float32 master
 * then, and rounded again on the first use after {@link #markStale()} (an optimizer step, a load),
 * so every reader (mixed-precision training, bf16 decoding) sees the same bits. Or, for a model
 * whose block matrices were loaded as bf16 ({@link #fixed}), the bf16 weight itself with no master:
 * never refreshed, and freed by whoever loaded it.
 *
 * <p>An int8 copy (with its per-column scales) would live next to this one, under the same rule:
 * made from the master on demand, marked stale with it.
 */
public final class Bf16Copy {
  private final Tensor master; // float32; null for a fixed bf16 weight
  private Tensor copy;
  private boolean stale; // the copy no longer holds the master's rounding

  private Bf16Copy(Tensor master, Tensor copy) {
    this.master = master;
    this.copy = copy;
    this.stale = master != null;
  }

  /** A copy of a float32 master, made on first use. */
  public static Bf16Copy of(Tensor master) {
    if (master.dtype() != DType.FLOAT32) {
      throw new IllegalArgumentException("a bf16 copy needs a float32 master, got "
          + master.describe());
    }
    return new Bf16Copy(master, null);
  }

  /** A bf16 weight with no float32 master (loaded as bf16): read as it is, never refreshed. */
  public static Bf16Copy fixed(Tensor bf16) {
    if (bf16.dtype() != DType.BFLOAT16) {
      throw new IllegalArgumentException("a fixed bf16 weight must be bfloat16, got "
          + bf16.describe());
    }
    return new Bf16Copy(null, bf16);
  }

  /** True when there is a float32 master (false for a fixed bf16 weight). */
  public boolean hasMaster() {
    return master != null;
  }

  /** The bf16 weight, allocated and rounded from the master first if needed. */
  public Tensor get(ComputeContext ctx) {
    if (copy == null) {
      copy = Tensor.zeros(ctx, DType.BFLOAT16, master.shape());
      stale = true;
    }
    if (stale) {
      Bf16Ops.narrow(ctx, copy, master);
      stale = false;
    }
    return copy;
  }

  /** Allocates the copy now (rounded on its first use), so its memory shows before a forward. */
  public void allocate(ComputeContext ctx) {
    if (copy == null) {
      copy = Tensor.zeros(ctx, DType.BFLOAT16, master.shape());
      stale = true;
    }
  }

  /** The master was written: the next {@link #get} rounds it again. */
  public void markStale() {
    if (master != null) {
      stale = true;
    }
  }

  /** Native bytes of the copy made here (0 before first use, and for a fixed bf16 weight). */
  public long ownedBytes() {
    return master != null && copy != null ? copy.bytes() : 0;
  }

  /** Frees the copy made here (a later use makes it again); a fixed bf16 weight stays. */
  public void release() {
    if (master != null && copy != null) {
      copy.close();
      copy = null;
    }
  }
}
