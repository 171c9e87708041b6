package dev.fuselm.ops;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;

/**
 * Argument checks shared by the ops: every size is validated here, once, before it reaches C, with
 * messages that name the op, the tensor and both shapes.
 */
final class Checks {
  private Checks() {}

  /** t must be a live tensor on ctx's device with this type and exactly this shape. */
  static void shape(String op, String name, Tensor t, ComputeContext ctx, DType dtype, long... shape) {
    live(op, name, t, ctx, dtype);
    if (!Arrays.equals(t.shape(), shape)) {
      throw new IllegalArgumentException(
          op + ": " + name + " has shape " + t.describe() + ", expected "
              + dtype.name().toLowerCase(java.util.Locale.ROOT) + Arrays.toString(shape));
    }
  }

  /** Like {@link #shape} but only the element count must match (the layout is flat). */
  static void numel(String op, String name, Tensor t, ComputeContext ctx, DType dtype, long numel) {
    live(op, name, t, ctx, dtype);
    if (t.numel() != numel) {
      throw new IllegalArgumentException(
          op + ": " + name + " has shape " + t.describe() + " (" + t.numel() + " elements), expected "
              + numel + " elements");
    }
  }

  /** Optional tensors (gradients not wanted, no bias) may be null; otherwise as {@link #shape}. */
  static void optionalShape(
      String op, String name, Tensor t, ComputeContext ctx, DType dtype, long... shape) {
    if (t != null) {
      shape(op, name, t, ctx, dtype, shape);
    }
  }

  static void live(String op, String name, Tensor t, ComputeContext ctx, DType dtype) {
    if (t == null) {
      throw new IllegalArgumentException(op + ": " + name + " is null");
    }
    if (t.isClosed()) {
      throw new IllegalArgumentException(op + ": " + name + " " + t.describe() + " is closed");
    }
    ctx.checkOpCaller(op); // another thread's context: refused, not raced
    if (t.device() != ctx.backend()) {
      throw new IllegalArgumentException(
          op + ": " + name + " lives on " + t.device() + " but the context runs on " + ctx.backend());
    }
    if (t.dtype() != dtype) {
      throw new IllegalArgumentException(
          op + ": " + name + " is " + t.describe() + ", expected " + dtype);
    }
  }

  static void positive(String op, String name, long value) {
    if (value <= 0) {
      throw new IllegalArgumentException(op + ": " + name + " must be positive, got " + value);
    }
  }

  /** Rows and last dimension of a tensor of rank >= 1: (N, C) with N the product of the rest. */
  static long rows(Tensor t) {
    return t.rank() == 0 ? 1 : t.numel() / Math.max(1, t.dim(-1));
  }

  static long address(Tensor t) {
    return t == null ? 0 : t.address();
  }
}
