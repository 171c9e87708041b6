package dev.fuselm.tensor;

/** Element types a tensor can hold. */
public enum DType {
  FLOAT32(4),
  INT32(4),
  /** bfloat16: the high half of a float32 (8 exponent bits, 7 mantissa bits), for weights. */
  BFLOAT16(2);

  public final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }
}
