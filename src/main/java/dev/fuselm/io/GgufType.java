package dev.fuselm.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * ggml tensor types as GGUF numbers them, with their block layout (elements per block, bytes per
 * block), so that every tensor's size can be checked; and the conversions fuselm does itself:
 * F32, F16, BF16 and Q8_0 (blocks of 32: an f16 scale d, then 32 int8 q; value = d * q) both ways.
 */
public enum GgufType {
  F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20), Q5_0(6, 32, 22), Q5_1(7, 32, 24),
  Q8_0(8, 32, 34), Q8_1(9, 32, 36), Q2_K(10, 256, 84), Q3_K(11, 256, 110), Q4_K(12, 256, 144),
  Q5_K(13, 256, 176), Q6_K(14, 256, 210), Q8_K(15, 256, 292), I8(24, 1, 1), I16(25, 1, 2),
  I32(26, 1, 4), I64(27, 1, 8), F64(28, 1, 8), BF16(30, 1, 2);

  public final int id;
  public final int blockSize;
  public final int blockBytes;

  GgufType(int id, int blockSize, int blockBytes) {
    this.id = id;
    this.blockSize = blockSize;
    this.blockBytes = blockBytes;
  }

  /** The type numbered id, or null when fuselm does not know it. */
  public static GgufType byId(int id) {
    for (GgufType t : values()) {
      if (t.id == id) {
        return t;
      }
    }
    return null;
  }

  /** Whether {@link GgufFile#floats} reads this type. */
  public boolean readable() {
    return this == F32 || this == F16 || this == BF16 || this == Q8_0;
  }

  /** Bytes of n elements (n a multiple of the block size). */
  public long bytes(long n) {
    return n / blockSize * blockBytes;
  }

  /** Float values of count elements stored as type in b (little-endian). */
  static float[] decode(GgufType type, ByteBuffer b, int count) {
    b.order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[count];
    switch (type) {
      case F32 -> b.asFloatBuffer().get(out);
      case F16 -> {
        for (int i = 0; i < count; i++) {
          out[i] = SafeTensors.halfToFloat(b.getShort());
        }
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
        }
      }
      case Q8_0 -> {
        for (int blk = 0; blk < count / 32; blk++) {
          float d = SafeTensors.halfToFloat(b.getShort());
          for (int j = 0; j < 32; j++) {
            out[blk * 32 + j] = d * b.get();
          }
        }
      }
      default -> throw new IllegalArgumentException(type + " is not decoded by fuselm");
    }
    return out;
  }

  /** values stored as type (F32, F16, BF16 or Q8_0; Q8_0 needs a multiple of 32 values). */
  static ByteBuffer encode(GgufType type, float[] values) {
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(type.bytes(values.length)))
        .order(ByteOrder.LITTLE_ENDIAN);
    switch (type) {
      case F32 -> b.asFloatBuffer().put(values);
      case F16 -> {
        for (float v : values) {
          b.putShort(floatToHalf(v));
        }
      }
      case BF16 -> {
        for (float v : values) {
          b.putShort(floatToBf16(v));
        }
      }
      case Q8_0 -> {
        if (values.length % 32 != 0) {
          throw new IllegalArgumentException("Q8_0 needs a multiple of 32 values, not "
              + values.length);
        }
        for (int blk = 0; blk < values.length / 32; blk++) {
          quantizeQ8Block(values, blk * 32, b);
        }
      }
      default -> throw new IllegalArgumentException(type + " is not encoded by fuselm");
    }
    b.position(b.capacity());
    return b.flip();
  }

  /**
   * One Q8_0 block as ggml's reference quantizer (and gguf-py) make it: d = max|x| / 127 (float32),
   * q = round-half-away-from-zero(x / d) computed as x * (1 / d), d stored as f16.
   */
  static void quantizeQ8Block(float[] x, int from, ByteBuffer out) {
    float amax = 0;
    for (int j = 0; j < 32; j++) {
      amax = Math.max(amax, Math.abs(x[from + j]));
    }
    float d = amax / 127f;
    float id = d == 0f ? 0f : 1f / d;
    out.putShort(floatToHalf(d));
    for (int j = 0; j < 32; j++) {
      float v = x[from + j] * id;
      // round half away from zero, exactly in float: floor(a) + floor(2 (a - floor(a)))
      float a = Math.abs(v);
      float fl = (float) Math.floor(a);
      float r = fl + (float) Math.floor(2f * (a - fl));
      out.put((byte) (int) Math.copySign(r, v));
    }
  }

  /** float32 to IEEE half, round to nearest even (overflow to infinity, NaN kept). */
  public static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) {
      return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (e <= 0) {
      if (e < -10) {
        return (short) sign;
      }
      int m = mant | 0x800000;
      int shift = 14 - e;
      int half = m >>> shift;
      int rem = m & ((1 << shift) - 1);
      int mid = 1 << (shift - 1);
      if (rem > mid || (rem == mid && (half & 1) != 0)) {
        half++;
      }
      return (short) (sign | half);
    }
    int half = (e << 10) | (mant >>> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
      half++; // a carry into the exponent is right, up to infinity
    }
    return (short) (sign | half);
  }

  /** float32 to bfloat16, round to nearest even (NaN stays a quiet NaN), as gguf-py does it. */
  public static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) (((bits & 0xffff0000) | (64 << 16)) >>> 16);
    }
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }
}
