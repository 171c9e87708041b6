package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF's value conversions against plain references, and fuselm's writer read back by its reader:
 * every metadata type, arrays, and F32/F16/BF16/Q8_0 tensors (the gguf Python package checks the
 * same files in {@link GgufPythonTest}).
 */
class GgufFileTest {
  @TempDir Path tmp;

  /** Every finite half converts back to itself; every float goes to a nearest half, ties even. */
  @Test
  void floatToHalfRoundsToNearestEven() {
    for (int h = 0; h < 0x10000; h++) {
      float f = SafeTensors.halfToFloat((short) h);
      if (!Float.isNaN(f)) {
        assertEquals((short) h, GgufType.floatToHalf(f), "half 0x" + Integer.toHexString(h));
      }
    }
    SplittableRandom r = new SplittableRandom(7);
    for (int i = 0; i < 200_000; i++) {
      float f = (float) (r.nextGaussian() * Math.pow(2, r.nextInt(-30, 20)));
      short h = GgufType.floatToHalf(f);
      double got = SafeTensors.halfToFloat(h);
      if (Double.isInfinite(got)) {
        assertTrue(Math.abs(f) >= 65520f, "overflow only past the largest half: " + f);
        continue;
      }
      for (int step : new int[] {-1, 1}) {
        double other = SafeTensors.halfToFloat((short) (h + step));
        if (Double.isNaN(other) || Math.signum(other) * Math.signum(got) < 0) {
          continue;
        }
        double dGot = Math.abs(f - got), dOther = Math.abs(f - other);
        assertTrue(dGot < dOther || (dGot == dOther && (h & 1) == 0),
            f + " -> " + got + " but " + other + " is nearer (or the even tie)");
      }
    }
    // ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 and goes to the even one (1)
    assertEquals((short) 0x3c00, GgufType.floatToHalf(1f + 0x1p-11f));
    assertEquals((short) 0x3c02, GgufType.floatToHalf(1f + 3 * 0x1p-11f));
    assertEquals((short) 0x0001, GgufType.floatToHalf(0x1p-24f));
    assertEquals((short) 0x0000, GgufType.floatToHalf(0x1p-25f));
    assertEquals((short) 0x7c00, GgufType.floatToHalf(65520f));
    assertEquals((short) 0x7bff, GgufType.floatToHalf(65519f));
  }

  @Test
  void floatToBf16RoundsToNearestEven() {
    SplittableRandom r = new SplittableRandom(8);
    for (int i = 0; i < 200_000; i++) {
      float f = Float.intBitsToFloat(r.nextInt());
      if (Float.isNaN(f) || Float.isInfinite(f)) {
        continue;
      }
      short b = GgufType.floatToBf16(f);
      double got = Float.intBitsToFloat((b & 0xffff) << 16);
      double up = Float.intBitsToFloat(((b + 1) & 0xffff) << 16);
      double down = Float.intBitsToFloat(((b - 1) & 0xffff) << 16);
      if (Double.isInfinite(got)) {
        continue;
      }
      assertTrue(Math.abs(f - got) <= Math.abs(f - up) || Double.isNaN(up), f + " -> " + got);
      assertTrue(Math.abs(f - got) <= Math.abs(f - down) || Double.isNaN(down), f + " -> " + got);
    }
    assertEquals((short) 0x3f80, GgufType.floatToBf16(1f + 0x1p-8f)); // tie to even
    assertEquals((short) 0x3f82, GgufType.floatToBf16(1f + 3 * 0x1p-8f));
    assertEquals((short) 0x7fc0, GgufType.floatToBf16(Float.NaN));
  }

  /** Q8_0 against its definition: d = max|x|/127 as f16, q = round-half-away(x / d). */
  @Test
  void q8BlocksQuantizeAndDequantizeAsGgmlDoes() {
    float[] x = new float[64];
    SplittableRandom r = new SplittableRandom(9);
    for (int i = 0; i < 32; i++) {
      x[i] = (float) r.nextGaussian();
    }
    // second block zero: d = 0 and every q = 0
    ByteBuffer b = GgufType.encode(GgufType.Q8_0, x);
    assertEquals(68, b.remaining());
    float amax = 0;
    for (int i = 0; i < 32; i++) {
      amax = Math.max(amax, Math.abs(x[i]));
    }
    float d = amax / 127f;
    assertEquals(GgufType.floatToHalf(d), b.getShort(0));
    for (int i = 0; i < 32; i++) {
      int q = b.get(2 + i);
      float want = Math.round(Math.abs(x[i] * (1f / d))) * Math.signum(x[i]);
      assertEquals(want, q, 0, "element " + i);
      assertTrue(Math.abs(q) <= 127);
    }
    assertEquals(0, b.getShort(34));
    float[] back = GgufType.decode(GgufType.Q8_0, b.duplicate(), 64);
    float dh = SafeTensors.halfToFloat(b.getShort(0));
    for (int i = 0; i < 32; i++) {
      assertEquals(dh * b.get(2 + i), back[i], 0f);
      assertEquals(x[i], back[i], dh / 2 + Math.abs(x[i]) * 1e-3f, "within half a step");
      assertEquals(0f, back[32 + i]);
    }
    // the exact half: x / d = 2.5 rounds away from zero to 3 (ggml's roundf), not to 2
    float[] tie = new float[32];
    tie[0] = 127f;
    tie[1] = 2.5f;
    tie[2] = -2.5f;
    ByteBuffer t = GgufType.encode(GgufType.Q8_0, tie);
    assertEquals(127, t.get(2));
    assertEquals(3, t.get(3));
    assertEquals(-3, t.get(4));
  }

  @Test
  void whatTheWriterWritesTheReaderReads() throws Exception {
    GgufWriter w = new GgufWriter();
    w.put("u8", GgufFile.UINT8, 200).put("i8", GgufFile.INT8, -5).put("u16", GgufFile.UINT16, 60000)
        .put("i16", GgufFile.INT16, -300).putUint32("u32", 4_000_000_000L)
        .put("i32", GgufFile.INT32, -7).putFloat32("f32", 0.25f)
        .put("u64", GgufFile.UINT64, 1L << 40).put("i64", GgufFile.INT64, -(1L << 40))
        .put("f64", GgufFile.FLOAT64, 0.1).put("bool", GgufFile.BOOL, true)
        .putString("str", "héllo ✓")
        .putArray("arr.str", GgufFile.STRING, List.of("a", "", "Ġthe"))
        .putArray("arr.i32", GgufFile.INT32, List.of(1, -2, 3))
        .putArray("arr.empty", GgufFile.FLOAT32, List.of());
    SplittableRandom r = new SplittableRandom(3);
    float[] a = new float[3 * 64];
    for (int i = 0; i < a.length; i++) {
      a[i] = (float) r.nextGaussian();
    }
    float[] v = {1f, -2f, 3.5f};
    w.tensor("vec", new long[] {3}, GgufType.F32, v);
    for (GgufType t : new GgufType[] {GgufType.F32, GgufType.F16, GgufType.BF16, GgufType.Q8_0}) {
      w.tensor("m." + t, new long[] {3, 64}, t, a);
    }
    Path f = tmp.resolve("t.gguf");
    w.write(f);
    try (GgufFile g = GgufFile.open(f)) {
      assertEquals(3, g.version());
      assertEquals(200, g.metadata().get("u8").value());
      assertEquals(-5, g.metadata().get("i8").value());
      assertEquals(60000, g.metadata().get("u16").value());
      assertEquals(-300, g.metadata().get("i16").value());
      assertEquals(4_000_000_000L, g.metadata().get("u32").value());
      assertEquals(-7, g.metadata().get("i32").value());
      assertEquals(0.25f, g.metadata().get("f32").value());
      assertEquals(1L << 40, g.metadata().get("u64").value());
      assertEquals(-(1L << 40), g.metadata().get("i64").value());
      assertEquals(0.1, g.metadata().get("f64").value());
      assertEquals(true, g.metadata().get("bool").value());
      assertEquals("héllo ✓", g.metadata().get("str").value());
      assertEquals(List.of("a", "", "Ġthe"), g.metadata().get("arr.str").value());
      assertEquals(List.of(1, -2, 3), g.metadata().get("arr.i32").value());
      assertEquals(List.of(), g.metadata().get("arr.empty").value());
      assertArrayEquals(v, g.floats("vec"));
      assertArrayEquals(new long[] {64, 3}, g.tensor("m.F32").dims());
      assertArrayEquals(new long[] {3, 64}, g.tensor("m.F32").shape());
      assertArrayEquals(a, g.floats("m.F32"));
      float[] h = g.floats("m.F16");
      float[] bf = g.floats("m.BF16");
      float[] q = g.floats("m.Q8_0");
      for (int i = 0; i < a.length; i++) {
        assertEquals(SafeTensors.halfToFloat(GgufType.floatToHalf(a[i])), h[i]);
        assertEquals(Float.intBitsToFloat(GgufType.floatToBf16(a[i]) << 16), bf[i]);
        assertEquals(a[i], q[i], 0.03f);
      }
      ByteBuffer raw = g.rawBytes("m.Q8_0");
      assertEquals(6 * 34, raw.remaining(), "six blocks of 34 bytes: the seam for int8 kernels");
      assertEquals(0, g.tensors().get("m.F16").offset() % 32);
      for (GgufFile.TensorInfo t : g.tensors().values()) {
        assertEquals(0, t.offset() % g.alignment(), t.name());
      }
    }
    ByteBuffer head = ByteBuffer.wrap(java.nio.file.Files.readAllBytes(f))
        .order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(GgufFile.MAGIC, head.getInt(0));
  }
}
