package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
  @TempDir Path dir;

  @Test
  void roundTripsFloatsLongsAndMetadata() throws IOException {
    float[] a = {1f, -2.5f, Float.MIN_VALUE, 3e38f, 0f, -0f};
    Path f = dir.resolve("x.safetensors");
    new SafeTensors.Writer().metadata("format", "pt").addFloats("a.weight", new long[] {2, 3}, a)
        .addLongs("step", new long[] {42, -1}).write(f);
    byte[] bytes = Files.readAllBytes(f);
    long headerLen = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertEquals(0, headerLen % 8, "header padded to 8 bytes");
    assertEquals(8 + headerLen + 6 * 4 + 2 * 8, bytes.length);
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      assertEquals("pt", r.metadata().get("format"));
      assertArrayEquals(new long[] {2, 3}, r.entry("a.weight").shape());
      assertArrayEquals(a, r.readFloats("a.weight"));
      assertArrayEquals(new long[] {42, -1}, r.readLongs("step"));
    }
    assertTrue(Files.list(dir).allMatch(p -> p.equals(f)), "no temporary file left behind");
  }

  @Test
  void widensHalfAndBfloat16() throws IOException {
    Path f = dir.resolve("h.safetensors");
    short[] half = {0x3c00, (short) 0xc000, 0x0001, 0x7c00}; // 1, -2, smallest subnormal, inf
    short[] bf = {0x3f80, (short) 0xbfc0}; // 1, -1.5
    new SafeTensors.Writer()
        .add("h", SafeTensors.DType.F16, new long[] {4}, ch -> SafeTensors.writeAll(ch, shorts(half)))
        .add("b", SafeTensors.DType.BF16, new long[] {2}, ch -> SafeTensors.writeAll(ch, shorts(bf)))
        .write(f);
    try (SafeTensors.Reader r = SafeTensors.open(f)) {
      assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, Float.POSITIVE_INFINITY}, r.readFloats("h"));
      assertArrayEquals(new float[] {1f, -1.5f}, r.readFloats("b"));
    }
  }

  private static ByteBuffer shorts(short[] s) {
    ByteBuffer b = ByteBuffer.allocate(2 * s.length).order(ByteOrder.LITTLE_ENDIAN);
    for (short v : s) {
      b.putShort(v);
    }
    return b.flip();
  }

  private Path raw(String header, int dataBytes) throws IOException {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    Path f = dir.resolve("bad-" + System.nanoTime() + ".safetensors");
    Files.write(f, b.array());
    return f;
  }

  private String error(Path f) {
    IOException e = assertThrows(IOException.class, () -> SafeTensors.open(f).close());
    return e.getMessage();
  }

  @Test
  void rejectsCorruptFilesWithClearMessages() throws IOException {
    String ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    try (SafeTensors.Reader r = SafeTensors.open(raw(ok, 16))) {
      assertEquals(4, r.readFloats("w").length);
    }
    assertTrue(error(raw(ok, 8)).contains("outside the data section"));
    assertTrue(error(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,16]}}", 16))
        .contains("data_offsets span 16 bytes"));
    assertTrue(error(raw("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2))
        .contains("unsupported dtype Q4"));
    assertTrue(error(raw("{\"w\": [1, 2", 0)).contains("not valid JSON"));
    assertTrue(error(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12)).contains("overlap"));
    assertTrue(error(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0))
        .contains("invalid shape"));
    // a header length larger than the file
    Path lying = dir.resolve("lying.safetensors");
    ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).putLong(0);
    Files.write(lying, b.array());
    assertTrue(error(lying).contains("header length 1000"));
    Path tiny = dir.resolve("tiny.safetensors");
    Files.write(tiny, new byte[3]);
    assertTrue(error(tiny).contains("not a safetensors file"));
    assertTrue(error(dir.resolve("missing.safetensors")).contains("no such file"));
  }

  @Test
  void truncatedFileIsRejectedBeforeUse() throws IOException {
    Path f = dir.resolve("t.safetensors");
    float[] v = new float[100];
    Arrays.fill(v, 1f);
    new SafeTensors.Writer().addFloats("v", new long[] {100}, v).write(f);
    byte[] all = Files.readAllBytes(f);
    Files.write(f, Arrays.copyOf(all, all.length - 10));
    assertTrue(error(f).contains("outside the data section"));
  }

  @Test
  void atomicWriteKeepsTheOldFileWhenTheWriterFails() throws IOException {
    Path f = dir.resolve("keep.txt");
    AtomicFiles.writeString(f, "old");
    assertThrows(IOException.class, () -> AtomicFiles.write(f, ch -> {
      ch.write(ByteBuffer.wrap("partial".getBytes(StandardCharsets.UTF_8)));
      throw new IOException("disk full");
    }));
    assertEquals("old", Files.readString(f));
    assertEquals(1, Files.list(dir).count());
  }
}
