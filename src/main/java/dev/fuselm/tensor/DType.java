package dev.fuselm.tensor;

/** Element types a tensor can hold. */
public enum DType {
  FLOAT32(4),
  INT32(4);

  public final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }
}
