package dev.fuselm.ops;

import static dev.fuselm.ops.Checks.address;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/** Token + position embedding: out (B, T, C) = wte[ids] + wpe[t]. */
public final class EmbeddingOps {
  private EmbeddingOps() {}

  /** ids (B, T) int32 in [0, V); wte (V, C); wpe (maxT >= T, C) or null. */
  public static void forward(ComputeContext ctx, Tensor out, Tensor ids, Tensor wte, Tensor wpe) {
    String op = "embedding_forward";
    long[] btc = check(op, ctx, ids, wte, wpe);
    Checks.shape(op, "out", out, ctx, DType.FLOAT32, btc);
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_embedding_forward(
            ctx.handle(), out.address(), ids.address(), wte.address(), address(wpe), btc[0], btc[1],
            btc[2]),
        "fl_embedding_forward");
    OpProfile.stop(prof, "fl_embedding_forward");
  }

  /** dwte[ids] += dout; dwpe[t] += dout summed over the batch (either may be null). */
  public static void backward(
      ComputeContext ctx, Tensor dwte, Tensor dwpe, Tensor dout, Tensor ids, Tensor wte, Tensor wpe) {
    String op = "embedding_backward";
    long[] btc = check(op, ctx, ids, wte, wpe);
    Checks.shape(op, "dout", dout, ctx, DType.FLOAT32, btc);
    Checks.optionalShape(op, "dwte", dwte, ctx, DType.FLOAT32, wte.shape());
    if (dwpe != null) {
      if (wpe == null) {
        throw new IllegalArgumentException(op + ": dwpe given but wpe is null");
      }
      Checks.shape(op, "dwpe", dwpe, ctx, DType.FLOAT32, wpe.shape());
    }
    long prof = OpProfile.start();
    FuselmNativeException.check(
        FuselmNative.fl_embedding_backward(
            ctx.handle(), address(dwte), address(dwpe), dout.address(), ids.address(), btc[0],
            btc[1], btc[2]),
        "fl_embedding_backward");
    OpProfile.stop(prof, "fl_embedding_backward");
  }

  private static long[] check(String op, ComputeContext ctx, Tensor ids, Tensor wte, Tensor wpe) {
    Checks.live(op, "ids", ids, ctx, DType.INT32);
    Checks.live(op, "wte", wte, ctx, DType.FLOAT32);
    if (ids.rank() != 2 || wte.rank() != 2) {
      throw new IllegalArgumentException(
          op + ": ids must be (B, T) and wte (V, C), got " + ids.describe() + " and "
              + wte.describe());
    }
    long b = ids.dim(0), t = ids.dim(1), v = wte.dim(0), c = wte.dim(1);
    if (wpe != null) {
      Checks.live(op, "wpe", wpe, ctx, DType.FLOAT32);
      if (wpe.rank() != 2 || wpe.dim(1) != c || wpe.dim(0) < t) {
        throw new IllegalArgumentException(
            op + ": wpe " + wpe.describe() + " must be (maxT >= " + t + ", " + c + ")");
      }
    }
    int[] values = ids.toIntArray();
    for (int i = 0; i < values.length; i++) {
      if (values[i] < 0 || values[i] >= v) {
        throw new IllegalArgumentException(
            op + ": token id " + values[i] + " at position " + i + " is outside the vocabulary [0, "
                + v + ")");
      }
    }
    return new long[] {b, t, c};
  }
}
