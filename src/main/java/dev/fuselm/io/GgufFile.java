package dev.fuselm.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (ggml's single-file model format, versions 2 and 3, little-endian), opened for
 * reading: the metadata key/value pairs, the tensor directory and, on demand, one tensor's values.
 *
 * <p>Parsing is strict and bounded, in the manner of ggml's own reader: every string length,
 * array count, tensor count and dimension is checked against the bytes left in the file before
 * anything is allocated; keys and tensor names are unique; {@code general.alignment} is a power
 * of two; each tensor's offset is aligned, its data lies inside the file and overlaps no other
 * tensor. Errors are one-line {@link IOException}s naming the file and the problem.
 *
 * <p>Values: F32, F16, BF16 and Q8_0 tensors read as float32 ({@link #floats}); Q8_0 blocks are
 * dequantized exactly as ggml does (the block's f16 scale widened, times each int8). {@link
 * #rawBytes} gives any tensor's stored bytes, the seam for an int8 path that keeps Q8_0 blocks.
 */
public final class GgufFile implements AutoCloseable {
  static final int MAGIC = 0x46554747; // "GGUF" read little-endian
  static final int DEFAULT_ALIGNMENT = 32;
  static final int MAX_DIMS = 4;

  /** Metadata value types, as numbered in the GGUF spec. */
  public static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5,
      FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;

  /**
   * One metadata value: its GGUF type, the element type of an array (else -1) and the value:
   * Integer (8/16-bit and int32), Long (uint32, 64-bit), Float, Double, Boolean, String, or a List
   * of those for an array.
   */
  public record Value(int type, int elementType, Object value) {
    /** The value as a long, for any integer type. */
    public long asLong() {
      if (value instanceof Integer i) {
        return i;
      }
      if (value instanceof Long l) {
        return l;
      }
      throw new IllegalStateException("not an integer: " + value);
    }
  }

  /** One tensor's directory entry: ggml dims (ne[0] varies fastest), type, offset in the data. */
  public record TensorInfo(String name, long[] dims, GgufType type, long offset, long bytes) {
    /** Number of elements. */
    public long count() {
      long n = 1;
      for (long d : dims) {
        n *= d;
      }
      return n;
    }

    /** The row-major shape (dims reversed), as PyTorch and safetensors write it. */
    public long[] shape() {
      long[] s = new long[dims.length];
      for (int i = 0; i < dims.length; i++) {
        s[i] = dims[dims.length - 1 - i];
      }
      return s;
    }
  }

  private final Path path;
  private final FileChannel channel;
  private final int version;
  private final Map<String, Value> metadata;
  private final Map<String, TensorInfo> tensors;
  private final int alignment;
  private final long dataStart;

  private GgufFile(Path path, FileChannel channel) throws IOException {
    this.path = path;
    this.channel = channel;
    Cursor c = new Cursor(path, channel);
    int magic = c.i32("magic");
    if (magic != MAGIC) {
      throw c.error("not a GGUF file (magic " + String.format("0x%08x", magic)
          + ", expected 'GGUF')");
    }
    version = c.i32("version");
    if (version != 2 && version != 3) {
      throw c.error("GGUF version " + Integer.toUnsignedString(version) + " is not supported"
          + " (fuselm reads versions 2 and 3" + (version == 1 ? "; version 1 predates 64-bit"
          + " counts" : Integer.reverseBytes(version) <= 3 ? "; this looks like a big-endian file"
          : "") + ")");
    }
    long nTensors = c.count("tensor count", 8 + 4 + 8 + 4 + 8);
    long nKv = c.count("metadata count", 8 + 4 + 1);
    metadata = new LinkedHashMap<>();
    for (long i = 0; i < nKv; i++) {
      String key = c.string("metadata key " + i);
      int type = c.i32("type of '" + key + "'");
      Value v = readValue(c, key, type, true);
      if (metadata.put(key, v) != null) {
        throw c.error("duplicate metadata key '" + key + "'");
      }
    }
    Value align = metadata.get("general.alignment");
    if (align == null) {
      alignment = DEFAULT_ALIGNMENT;
    } else {
      if (align.type != UINT32) {
        throw c.error("general.alignment has type " + typeName(align.type) + ", not uint32");
      }
      long a = align.asLong();
      if (a <= 0 || Long.bitCount(a) != 1 || a > (1 << 20)) {
        throw c.error("general.alignment " + a + " is not a power of two (up to 1 MiB)");
      }
      alignment = (int) a;
    }
    Map<String, TensorInfo> ts = new LinkedHashMap<>();
    List<TensorInfo> pending = new ArrayList<>();
    for (long i = 0; i < nTensors; i++) {
      String name = c.string("name of tensor " + i);
      int nd = c.i32("dimension count of tensor '" + name + "'");
      if (nd < 1 || nd > MAX_DIMS) {
        throw c.error("tensor '" + name + "' has " + Integer.toUnsignedString(nd)
            + " dimensions (1 to " + MAX_DIMS + " allowed)");
      }
      long[] dims = new long[nd];
      long count = 1;
      for (int d = 0; d < nd; d++) {
        dims[d] = c.i64("dimension " + d + " of tensor '" + name + "'");
        if (dims[d] <= 0) {
          throw c.error("tensor '" + name + "' has dimension " + d + " = "
              + Long.toUnsignedString(dims[d]) + " (must be positive)");
        }
        if (count > Long.MAX_VALUE / dims[d]) {
          throw c.error("tensor '" + name + "' has " + Arrays.toString(dims) + " elements:"
              + " too many");
        }
        count *= dims[d];
      }
      int typeId = c.i32("type of tensor '" + name + "'");
      GgufType type = GgufType.byId(typeId);
      if (type == null) {
        throw c.error("tensor '" + name + "' has ggml type " + Integer.toUnsignedString(typeId)
            + ", which fuselm does not know");
      }
      if (dims[0] % type.blockSize != 0) {
        throw c.error("tensor '" + name + "' (" + type + ") has a first dimension of " + dims[0]
            + ", not a multiple of its block size " + type.blockSize);
      }
      long offset = c.i64("offset of tensor '" + name + "'");
      if (offset < 0 || offset % alignment != 0) {
        throw c.error("tensor '" + name + "' has offset " + Long.toUnsignedString(offset)
            + ", not a multiple of the alignment " + alignment);
      }
      long bytes = count / type.blockSize * type.blockBytes;
      if (count / type.blockSize > Long.MAX_VALUE / type.blockBytes) {
        throw c.error("tensor '" + name + "' is too large");
      }
      TensorInfo t = new TensorInfo(name, dims, type, offset, bytes);
      if (ts.put(name, t) != null) {
        throw c.error("duplicate tensor name '" + name + "'");
      }
      pending.add(t);
    }
    long afterInfos = c.pos;
    dataStart = (afterInfos + alignment - 1) / alignment * alignment;
    long dataBytes = c.size - dataStart;
    List<TensorInfo> byOffset = new ArrayList<>(pending);
    byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
    long end = 0;
    for (TensorInfo t : byOffset) {
      if (t.offset < end) {
        throw c.error("tensor '" + t.name + "' (offset " + t.offset + ") overlaps the tensor"
            + " before it (which ends at " + end + ")");
      }
      if (dataBytes < 0 || t.offset > dataBytes || t.bytes > dataBytes - t.offset) {
        throw c.error("tensor '" + t.name + "' needs bytes " + t.offset + " to "
            + (t.offset + t.bytes) + " of the data section, which has " + Math.max(0, dataBytes)
            + " (truncated?)");
      }
      end = t.offset + t.bytes;
    }
    tensors = Collections.unmodifiableMap(ts);
  }

  /** Opens and validates a GGUF file (the tensor data is read only when asked for). */
  public static GgufFile open(Path path) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IOException(path + ": no such file");
    }
    try {
      return new GgufFile(path, ch);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  public Path path() {
    return path;
  }

  public int version() {
    return version;
  }

  public int alignment() {
    return alignment;
  }

  /** Metadata in file order. */
  public Map<String, Value> metadata() {
    return Collections.unmodifiableMap(metadata);
  }

  /** Tensors in file order. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** A required metadata value; a one-line error naming the file when absent. */
  public Value require(String key) throws IOException {
    Value v = metadata.get(key);
    if (v == null) {
      throw new IOException(path + ": no metadata key '" + key + "'");
    }
    return v;
  }

  /** A required integer metadata value within [min, max]. */
  public long requireInt(String key, long min, long max) throws IOException {
    Value v = require(key);
    if (v.type == ARRAY || v.type == STRING || v.type == BOOL || v.type == FLOAT32
        || v.type == FLOAT64) {
      throw new IOException(path + ": metadata '" + key + "' has type " + typeName(v.type)
          + ", expected an integer");
    }
    long x = v.asLong();
    if (x < min || x > max) {
      throw new IOException(path + ": metadata '" + key + "' = " + x + " is outside [" + min
          + ", " + max + "]");
    }
    return x;
  }

  /** A tensor's directory entry, or a one-line error naming the file. */
  public TensorInfo tensor(String name) throws IOException {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw new IOException(path + ": no tensor '" + name + "'");
    }
    return t;
  }

  /** A tensor's stored bytes (any type: the Q8_0 blocks as they are, for an int8 path). */
  public ByteBuffer rawBytes(String name) throws IOException {
    TensorInfo t = tensor(name);
    if (t.bytes > Integer.MAX_VALUE - 16) {
      throw new IOException(path + ": tensor '" + name + "' has " + t.bytes + " bytes, more"
          + " than one buffer holds");
    }
    ByteBuffer b = ByteBuffer.allocate((int) t.bytes).order(ByteOrder.LITTLE_ENDIAN);
    long pos = dataStart + t.offset;
    while (b.hasRemaining()) {
      int r = channel.read(b, pos);
      if (r < 0) {
        throw new IOException(path + ": unexpected end of file reading tensor '" + name + "'");
      }
      pos += r;
    }
    return b.flip();
  }

  /**
   * A tensor's values as float32 in storage order (row-major over {@link TensorInfo#shape}):
   * F32 as is, F16 and BF16 widened, Q8_0 dequantized. Other types are refused by name.
   */
  public float[] floats(String name) throws IOException {
    TensorInfo t = tensor(name);
    if (!t.type.readable()) {
      throw new IOException(path + ": tensor '" + name + "' is " + t.type + "; fuselm reads"
          + " F32, F16, BF16 and Q8_0 tensors");
    }
    if (t.count() > Integer.MAX_VALUE - 16) {
      throw new IOException(path + ": tensor '" + name + "' has " + t.count() + " elements,"
          + " more than one float array holds");
    }
    return GgufType.decode(t.type, rawBytes(name), (int) t.count());
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  static String typeName(int type) {
    String[] names = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
        "string", "array", "uint64", "int64", "float64"};
    return type >= 0 && type < names.length ? names[type] : "unknown type " + type;
  }

  private Value readValue(Cursor c, String key, int type, boolean arrayAllowed)
      throws IOException {
    switch (type) {
      case UINT8: return new Value(type, -1, c.u8("value of '" + key + "'") & 0xff);
      case INT8: return new Value(type, -1, (int) (byte) c.u8("value of '" + key + "'"));
      case UINT16: return new Value(type, -1, c.i16("value of '" + key + "'") & 0xffff);
      case INT16: return new Value(type, -1, (int) (short) c.i16("value of '" + key + "'"));
      case UINT32: return new Value(type, -1, c.i32("value of '" + key + "'") & 0xffffffffL);
      case INT32: return new Value(type, -1, c.i32("value of '" + key + "'"));
      case FLOAT32:
        return new Value(type, -1, Float.intBitsToFloat(c.i32("value of '" + key + "'")));
      case UINT64, INT64: return new Value(type, -1, c.i64("value of '" + key + "'"));
      case FLOAT64:
        return new Value(type, -1, Double.longBitsToDouble(c.i64("value of '" + key + "'")));
      case BOOL: {
        int b = c.u8("value of '" + key + "'");
        if (b > 1) {
          throw c.error("bool '" + key + "' holds " + b + " (0 or 1 allowed)");
        }
        return new Value(type, -1, b == 1);
      }
      case STRING: return new Value(type, -1, c.string("value of '" + key + "'"));
      case ARRAY: {
        if (!arrayAllowed) {
          throw c.error("'" + key + "' is an array of arrays, which fuselm does not read");
        }
        int et = c.i32("element type of '" + key + "'");
        if (et < 0 || et > FLOAT64 || et == ARRAY) {
          throw c.error("array '" + key + "' has element type " + typeName(et));
        }
        long n = c.count("element count of '" + key + "'", elementBytes(et));
        List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 20));
        for (long i = 0; i < n; i++) {
          list.add(readValue(c, key, et, false).value);
        }
        return new Value(type, et, Collections.unmodifiableList(list));
      }
      default:
        throw c.error("metadata '" + key + "' has unknown value type "
            + Integer.toUnsignedString(type));
    }
  }

  /** Bytes one element takes at least (a string: its 8-byte length). */
  static int elementBytes(int type) {
    return switch (type) {
      case UINT8, INT8, BOOL -> 1;
      case UINT16, INT16 -> 2;
      case UINT32, INT32, FLOAT32 -> 4;
      default -> 8;
    };
  }

  /** A bounded reader over the file: every read checks the bytes left first. */
  private static final class Cursor {
    final Path path;
    final FileChannel ch;
    final long size;
    long pos;
    final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    long bufStart = 0;

    Cursor(Path path, FileChannel ch) throws IOException {
      this.path = path;
      this.ch = ch;
      this.size = ch.size();
      buf.limit(0);
    }

    IOException error(String what) {
      return new IOException(path + ": " + what);
    }

    /** Makes n bytes at pos available in buf (n at most its capacity). */
    private void need(int n, String what) throws IOException {
      if (n > size - pos) {
        throw error("truncated: " + what + " needs " + n + " bytes at offset " + pos + ", the"
            + " file has " + size);
      }
      long inBuf = pos - bufStart;
      if (inBuf >= 0 && inBuf + n <= buf.limit()) {
        buf.position((int) inBuf);
        return;
      }
      buf.clear();
      bufStart = pos;
      long p = pos;
      int want = (int) Math.min(buf.capacity(), size - pos);
      buf.limit(want);
      while (buf.hasRemaining()) {
        int r = ch.read(buf, p);
        if (r < 0) {
          throw error("unexpected end of file at offset " + p);
        }
        p += r;
      }
      buf.flip();
    }

    int u8(String what) throws IOException {
      need(1, what);
      pos += 1;
      return buf.get() & 0xff;
    }

    int i16(String what) throws IOException {
      need(2, what);
      pos += 2;
      return buf.getShort();
    }

    int i32(String what) throws IOException {
      need(4, what);
      pos += 4;
      return buf.getInt();
    }

    long i64(String what) throws IOException {
      need(8, what);
      pos += 8;
      return buf.getLong();
    }

    /** A count of items of at least minBytes each, checked against the bytes left. */
    long count(String what, int minBytes) throws IOException {
      long n = i64(what);
      if (n < 0 || n > (size - pos) / minBytes) {
        throw error(what + " " + Long.toUnsignedString(n) + " cannot fit in the " + (size - pos)
            + " bytes left (corrupt or truncated?)");
      }
      return n;
    }

    String string(String what) throws IOException {
      long n = i64("length of " + what);
      if (n < 0 || n > size - pos) {
        throw error("length of " + what + " is " + Long.toUnsignedString(n) + " but only "
            + (size - pos) + " bytes are left (corrupt or truncated?)");
      }
      byte[] bytes = new byte[(int) Math.min(n, Integer.MAX_VALUE - 16)];
      if (bytes.length != n) {
        throw error(what + " is too long (" + n + " bytes)");
      }
      int off = 0;
      while (off < bytes.length) {
        int k = Math.min(bytes.length - off, buf.capacity());
        need(k, what);
        buf.get(bytes, off, k);
        pos += k;
        off += k;
      }
      try {
        return StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes)).toString();
      } catch (CharacterCodingException e) {
        throw error(what + " is not valid UTF-8 (at offset " + (pos - n) + ")");
      }
    }
  }
}
