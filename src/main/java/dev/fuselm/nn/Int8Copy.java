package dev.fuselm.nn;

import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * The int8 copy of one float32 weight, beside its {@link Bf16Copy} and under the same rule: made
 * from the master on first use, quantized again on the first use after {@link #markStale()}. The
 * copy is Q8_0 (llama.cpp's blocks of 32 int8 values with one fp16 scale, per output column along
 * the input dimension), held in the decode kernel's packed form ({@link Int8Ops}).
 */
public final class Int8Copy {
  private final Tensor master; // float32; null for a fixed int8 weight
  private final boolean masterIsKn; // (in, out) Conv1D layout; else (out, in)
  private final long in, out;
  private Tensor copy;
  private boolean stale = true;

  private Int8Copy(Tensor master, boolean masterIsKn) {
    this.master = master;
    this.masterIsKn = masterIsKn;
    this.in = masterIsKn ? master.dim(0) : master.dim(1);
    this.out = masterIsKn ? master.dim(1) : master.dim(0);
  }

  private Int8Copy(Tensor packed, long in, long out) {
    this.master = null;
    this.masterIsKn = true;
    this.in = in;
    this.out = out;
    this.copy = packed;
    this.stale = false;
  }

  /**
   * A copy of a float32 master, made on first use: (in, out) when {@code masterIsKn}, else (out,
   * in); in must be a multiple of {@link Int8Ops#BLOCK}.
   */
  public static Int8Copy of(Tensor master, boolean masterIsKn) {
    if (master.dtype() != DType.FLOAT32 || master.rank() != 2) {
      throw new IllegalArgumentException("an int8 copy needs a 2-D float32 master, got "
          + master.describe());
    }
    return new Int8Copy(master, masterIsKn);
  }

  /**
   * An int8 weight with no float32 master (loaded straight from Q8_0 blocks, e.g. a GGUF file):
   * packed is in the decode kernel's form of an in x out matrix ({@link Int8Ops#packedBytes}); it
   * is read as it is, never requantized, and freed by whoever loaded it.
   */
  public static Int8Copy fixed(Tensor packed, long in, long out) {
    if (packed.dtype() != DType.INT8 || in % Int8Ops.BLOCK != 0
        || packed.numel() != Int8Ops.packedBytes(in, out)) {
      throw new IllegalArgumentException("a fixed int8 weight of " + in + " x " + out + " must be"
          + " the packed int8 form of that size, got " + packed.describe());
    }
    return new Int8Copy(packed, in, out);
  }

  /** True when there is a float32 master (false for a fixed int8 weight). */
  public boolean hasMaster() {
    return master != null;
  }

  /** The input dimension (the one quantized in blocks of 32). */
  public long in() {
    return in;
  }

  /** The output dimension. */
  public long out() {
    return out;
  }

  /** The packed int8 weight, allocated and quantized from the master first if needed. */
  public Tensor get(ComputeContext ctx) {
    allocate(ctx);
    if (stale) {
      Int8Ops.quantize(ctx, copy, master, masterIsKn);
      stale = false;
    }
    return copy;
  }

  /** Allocates the copy now (quantized on its first use), so its memory shows before a forward. */
  public void allocate(ComputeContext ctx) {
    if (copy == null) {
      if (in() % Int8Ops.BLOCK != 0) {
        throw new IllegalArgumentException("int8 weights need input sizes that are multiples of "
            + Int8Ops.BLOCK + ", got a weight of " + master.describe());
      }
      copy = Tensor.zeros(ctx, DType.INT8, Int8Ops.packedBytes(in(), out()));
      stale = true;
    }
  }

  /** The master was written: the next {@link #get} quantizes it again (a fixed weight: no-op). */
  public void markStale() {
    if (master != null) {
      stale = true;
    }
  }

  /** Native bytes of the copy (0 before first use; a fixed weight's packed bytes). */
  public long ownedBytes() {
    return copy != null ? copy.bytes() : 0;
  }

  /** Frees the copy (a later use makes it again); a fixed weight stays (its loader frees it). */
  public void release() {
    if (copy != null && master != null) {
      copy.close();
      copy = null;
    }
  }
}
