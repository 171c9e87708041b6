package dev.fuselm.tensor;

/** Element types a tensor can hold. */
public enum DType {
  FLOAT32(4),
  INT32(4),
  /** bfloat16: the high half of a float32 (8 exponent bits, 7 mantissa bits), for weights. */
  BFLOAT16(2),
  /**
   * Signed or unsigned bytes: as generation weights, int8 (Q8_0) matrices in the decode kernel's
   * packed form ({@code dev.fuselm.nn.Int8Copy}).
   */
  INT8(1);

  public final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }
}
