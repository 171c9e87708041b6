package dev.fuselm.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects metadata and tensors, then writes one GGUF version 3 file (little-endian, alignment
 * 32), atomically ({@link AtomicFiles}). Tensors are given as float32 values and stored as F32,
 * F16, BF16 or Q8_0 ({@link GgufType#encode}).
 */
public final class GgufWriter {
  private record Tensor(String name, long[] dims, GgufType type, float[] values) {}

  private final Map<String, GgufFile.Value> metadata = new LinkedHashMap<>();
  private final List<Tensor> tensors = new ArrayList<>();

  public GgufWriter put(String key, int type, Object value) {
    metadata.put(key, new GgufFile.Value(type, -1, value));
    return this;
  }

  public GgufWriter putString(String key, String value) {
    return put(key, GgufFile.STRING, value);
  }

  public GgufWriter putUint32(String key, long value) {
    return put(key, GgufFile.UINT32, value);
  }

  public GgufWriter putFloat32(String key, float value) {
    return put(key, GgufFile.FLOAT32, value);
  }

  /** An array of elementType values (Integer/Long/Float/String/... as {@link GgufFile.Value}). */
  public GgufWriter putArray(String key, int elementType, List<?> values) {
    metadata.put(key, new GgufFile.Value(GgufFile.ARRAY, elementType, values));
    return this;
  }

  /**
   * A tensor of row-major shape (the file stores the dims reversed, ggml's ne order) with values in
   * row-major order, stored as type.
   */
  public GgufWriter tensor(String name, long[] shape, GgufType type, float[] values) {
    long[] dims = new long[shape.length];
    long n = 1;
    for (int i = 0; i < shape.length; i++) {
      dims[i] = shape[shape.length - 1 - i];
      n *= shape[i];
    }
    if (n != values.length) {
      throw new IllegalArgumentException(name + ": shape has " + n + " elements, " + values.length
          + " values given");
    }
    if (dims[0] % type.blockSize != 0) {
      throw new IllegalArgumentException(name + ": " + type + " needs rows of a multiple of "
          + type.blockSize + " values, not " + dims[0]);
    }
    tensors.add(new Tensor(name, dims, type, values));
    return this;
  }

  public void write(Path path) throws IOException {
    int align = GgufFile.DEFAULT_ALIGNMENT;
    Bytes head = new Bytes();
    head.i32(GgufFile.MAGIC).i32(3).i64(tensors.size()).i64(metadata.size());
    for (Map.Entry<String, GgufFile.Value> e : metadata.entrySet()) {
      head.string(e.getKey());
      GgufFile.Value v = e.getValue();
      head.i32(v.type());
      if (v.type() == GgufFile.ARRAY) {
        List<?> list = (List<?>) v.value();
        head.i32(v.elementType()).i64(list.size());
        for (Object x : list) {
          value(head, v.elementType(), x);
        }
      } else {
        value(head, v.type(), v.value());
      }
    }
    long offset = 0;
    for (Tensor t : tensors) {
      head.string(t.name).i32(t.dims.length);
      for (long d : t.dims) {
        head.i64(d);
      }
      head.i32(t.type.id).i64(offset);
      offset += pad(t.type.bytes(t.values.length), align);
    }
    while (head.size() % align != 0) {
      head.u8(0);
    }
    long total = head.size() + offset;
    AtomicFiles.write(path, ch -> {
      SafeTensors.writeAll(ch, head.buffer());
      for (Tensor t : tensors) {
        ByteBuffer b = GgufType.encode(t.type, t.values);
        long padding = pad(b.remaining(), align) - b.remaining();
        SafeTensors.writeAll(ch, b);
        SafeTensors.writeAll(ch, ByteBuffer.allocate((int) padding));
      }
      if (ch.position() != total) {
        throw new IOException(path + ": internal error: wrote " + ch.position() + " bytes,"
            + " expected " + total);
      }
    });
  }

  private static long pad(long n, int align) {
    return (n + align - 1) / align * align;
  }

  private static void value(Bytes out, int type, Object x) {
    switch (type) {
      case GgufFile.UINT8, GgufFile.INT8 -> out.u8(((Number) x).intValue());
      case GgufFile.UINT16, GgufFile.INT16 -> out.i16(((Number) x).intValue());
      case GgufFile.UINT32, GgufFile.INT32 -> out.i32((int) ((Number) x).longValue());
      case GgufFile.FLOAT32 -> out.i32(Float.floatToRawIntBits(((Number) x).floatValue()));
      case GgufFile.UINT64, GgufFile.INT64 -> out.i64(((Number) x).longValue());
      case GgufFile.FLOAT64 -> out.i64(Double.doubleToRawLongBits(((Number) x).doubleValue()));
      case GgufFile.BOOL -> out.u8((Boolean) x ? 1 : 0);
      case GgufFile.STRING -> out.string((String) x);
      default -> throw new IllegalArgumentException("cannot write value type " + type);
    }
  }

  /** A growing little-endian byte buffer for the header. */
  private static final class Bytes {
    private ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

    private Bytes room(int n) {
      if (b.remaining() < n) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(2 * b.capacity(), b.position() + n))
            .order(ByteOrder.LITTLE_ENDIAN);
        b.flip();
        bigger.put(b);
        b = bigger;
      }
      return this;
    }

    Bytes u8(int x) {
      room(1).b.put((byte) x);
      return this;
    }

    Bytes i16(int x) {
      room(2).b.putShort((short) x);
      return this;
    }

    Bytes i32(int x) {
      room(4).b.putInt(x);
      return this;
    }

    Bytes i64(long x) {
      room(8).b.putLong(x);
      return this;
    }

    Bytes string(String s) {
      byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
      i64(bytes.length);
      room(bytes.length).b.put(bytes);
      return this;
    }

    long size() {
      return b.position();
    }

    ByteBuffer buffer() {
      return b.duplicate().flip();
    }
  }
}
