package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-crafted broken GGUF files, one named case per way a file can be wrong, in the manner of
 * llama.cpp's test-gguf.cpp (its HANDCRAFTED_* cases): each must be refused with a one-line
 * IOException that names the file and the problem, before anything large is allocated. Then every
 * truncation of a valid file, and random byte flips in its header: never another exception.
 */
class GgufCorruptionTest {
  @TempDir Path tmp;

  /** A small, valid file built field by field; each case changes one field. */
  static final class Craft {
    int magic = GgufFile.MAGIC;
    int version = 3;
    Long nTensorsOverride;
    Long nKvOverride;
    Long keyLengthOverride;
    int kvType = GgufFile.UINT32;
    String secondKey = "general.architecture";
    int alignKeyType = GgufFile.UINT32;
    long alignment = 32;
    int nDims = 2;
    long[] dims = {32, 2};
    int tensorType = 0;
    long offset0 = 0;
    long offset1 = 256;
    String name1 = "b";
    int dataBytes = 512;
    int boolByte = 1;

    byte[] bytes() {
      Out o = new Out();
      o.i32(magic).i32(version).i64(nTensorsOverride != null ? nTensorsOverride : 2)
          .i64(nKvOverride != null ? nKvOverride : 4);
      // kv 1: general.alignment
      if (keyLengthOverride != null) {
        o.i64(keyLengthOverride).raw("general.alignment".getBytes(StandardCharsets.UTF_8));
      } else {
        o.str("general.alignment");
      }
      o.i32(alignKeyType);
      if (alignKeyType == GgufFile.UINT32) {
        o.i32((int) alignment);
      } else {
        o.i64(alignment);
      }
      // kv 2: a string
      o.str(secondKey).i32(GgufFile.STRING).str("gpt2");
      // kv 3: the value type under test
      o.str("x.value").i32(kvType);
      if (kvType == GgufFile.ARRAY) {
        o.i32(GgufFile.ARRAY).i64(1); // an array whose elements are arrays
      } else {
        o.i32(7);
      }
      // kv 4: a bool
      o.str("x.flag").i32(GgufFile.BOOL).u8(boolByte);
      // tensor infos
      o.str("a").i32(nDims);
      for (int d = 0; d < nDims; d++) {
        o.i64(d < dims.length ? dims[d] : 1);
      }
      o.i32(tensorType).i64(offset0);
      o.str(name1).i32(1).i64(32).i32(0).i64(offset1);
      while (o.size() % 32 != 0) {
        o.u8(0);
      }
      o.raw(new byte[dataBytes]);
      return o.toByteArray();
    }
  }

  static final class Out extends ByteArrayOutputStream {
    Out i32(int x) {
      byte[] b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(x).array();
      write(b, 0, 4);
      return this;
    }

    Out i64(long x) {
      byte[] b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(x).array();
      write(b, 0, 8);
      return this;
    }

    Out u8(int x) {
      write(x);
      return this;
    }

    Out raw(byte[] b) {
      write(b, 0, b.length);
      return this;
    }

    Out str(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      return i64(b.length).raw(b);
    }
  }

  Path file(String name, Craft c) throws IOException {
    Path f = tmp.resolve(name + ".gguf");
    Files.write(f, c.bytes());
    return f;
  }

  /** The case's file is refused with one line naming the file and containing want. */
  void refused(String name, Consumer<Craft> change, String want) throws IOException {
    Craft c = new Craft();
    change.accept(c);
    Path f = file(name, c);
    IOException e = assertThrows(IOException.class, () -> GgufFile.open(f).close(), name);
    assertTrue(e.getMessage().startsWith(f.toString()), name + ": " + e.getMessage());
    assertTrue(e.getMessage().contains(want), name + ": " + e.getMessage());
    assertEquals(1, e.getMessage().lines().count(), name);
  }

  @Test
  void theCraftedBaseFileIsValid() throws IOException {
    try (GgufFile g = GgufFile.open(file("valid", new Craft()))) {
      assertEquals(2, g.tensors().size());
      assertEquals(4, g.metadata().size());
      assertEquals(64, g.floats("a").length);
    }
  }

  @Test
  void handcraftedHeaderCases() throws IOException {
    refused("HEADER_BAD_MAGIC", c -> c.magic = 0x46554746, "not a GGUF file");
    refused("HEADER_BAD_VERSION_0", c -> c.version = 0, "version 0 is not supported");
    refused("HEADER_BAD_VERSION_1", c -> c.version = 1, "version 1 predates 64-bit counts");
    refused("HEADER_BAD_VERSION_FUTURE", c -> c.version = 4, "version 4 is not supported");
    refused("HEADER_BIG_ENDIAN", c -> c.version = Integer.reverseBytes(3), "big-endian");
    refused("HEADER_BAD_N_TENSORS", c -> c.nTensorsOverride = Long.MAX_VALUE / 2,
        "tensor count");
    refused("HEADER_NEGATIVE_N_TENSORS", c -> c.nTensorsOverride = -1L, "tensor count");
    refused("HEADER_BAD_N_KV", c -> c.nKvOverride = 1L << 40, "metadata count");
  }

  @Test
  void handcraftedKvCases() throws IOException {
    refused("KV_BAD_KEY_SIZE", c -> c.keyLengthOverride = 1L << 50, "length of metadata key 0");
    refused("KV_BAD_TYPE", c -> c.kvType = 13, "unknown value type 13");
    refused("KV_ARRAY_OF_ARRAYS", c -> c.kvType = GgufFile.ARRAY, "element type");
    refused("KV_DUPLICATE_KEY", c -> c.secondKey = "general.alignment", "duplicate metadata key");
    refused("KV_BAD_ALIGN", c -> c.alignment = 33, "not a power of two");
    refused("KV_ZERO_ALIGN", c -> c.alignment = 0, "not a power of two");
    refused("KV_ALIGN_WRONG_TYPE", c -> c.alignKeyType = GgufFile.UINT64, "not uint32");
    refused("KV_BAD_BOOL", c -> c.boolByte = 2, "bool 'x.flag' holds 2");
  }

  @Test
  void handcraftedTensorCases() throws IOException {
    refused("TENSORS_BAD_N_DIMS", c -> c.nDims = 5, "5 dimensions");
    refused("TENSORS_ZERO_DIMS", c -> c.nDims = 0, "0 dimensions");
    refused("TENSORS_BAD_SHAPE", c -> c.dims = new long[] {32, 0}, "dimension 1 = 0");
    refused("TENSORS_NEGATIVE_SHAPE", c -> c.dims = new long[] {32, -4}, "must be positive");
    refused("TENSORS_NE_TOO_BIG", c -> c.dims = new long[] {1L << 40, 1L << 40}, "too many");
    refused("TENSORS_BAD_TYPE", c -> c.tensorType = 99, "ggml type 99");
    refused("TENSORS_BAD_BLOCK", c -> {
      c.tensorType = GgufType.Q8_0.id;
      c.dims = new long[] {30, 2};
    }, "not a multiple of its block size 32");
    refused("TENSORS_BAD_OFFSET", c -> c.offset0 = 8, "not a multiple of the alignment");
    refused("TENSORS_DUPLICATE_NAME", c -> c.name1 = "a", "duplicate tensor name 'a'");
    refused("TENSORS_OVERLAP", c -> c.offset1 = 0, "overlaps");
    refused("TENSORS_BAD_ALIGN", c -> {
      c.alignment = 64;
      c.offset1 = 288;
    }, "not a multiple of the alignment 64");
    refused("DATA_NOT_ENOUGH_DATA", c -> c.dataBytes = 300, "truncated?");
    refused("DATA_OFFSET_PAST_END", c -> c.offset1 = 1L << 40, "needs bytes");
  }

  @Test
  void readingAnUnsupportedTypeNamesIt() throws IOException {
    Craft c = new Craft();
    c.tensorType = GgufType.Q4_K.id;
    c.dims = new long[] {256, 1};
    Path f = file("q4k", c);
    try (GgufFile g = GgufFile.open(f)) {
      IOException e = assertThrows(IOException.class, () -> g.floats("a"));
      assertTrue(e.getMessage().contains("tensor 'a' is Q4_K; fuselm reads F32, F16, BF16 and"
          + " Q8_0"), e.getMessage());
    }
  }

  /** Every prefix of a valid file, and random flips of its header bytes: only IOExceptions. */
  @Test
  void truncationsAndFlipsGiveIoExceptionsOnly() throws IOException {
    byte[] valid = new Craft().bytes();
    int headerEnd = valid.length - new Craft().dataBytes;
    Path f = tmp.resolve("cut.gguf");
    for (int n = 0; n < headerEnd + 300; n++) {
      Files.write(f, java.util.Arrays.copyOf(valid, n));
      int len = n;
      IOException e = assertThrows(IOException.class, () -> GgufFile.open(f).close(),
          "a file cut at " + len + " bytes");
      assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
    }
    SplittableRandom r = new SplittableRandom(11);
    for (int i = 0; i < 3000; i++) {
      byte[] b = valid.clone();
      for (int k = 0; k < 1 + r.nextInt(3); k++) {
        b[r.nextInt(headerEnd)] ^= (byte) (1 << r.nextInt(8));
      }
      Files.write(f, b);
      try (GgufFile g = GgufFile.open(f)) {
        for (String t : g.tensors().keySet()) {
          if (g.tensors().get(t).type().readable()) {
            g.floats(t);
          }
        }
      } catch (IOException expected) {
        assertEquals(1, expected.getMessage().lines().count(), expected.getMessage());
      }
    }
  }
}
