package dev.fuselm.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
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
 * The safetensors format: an 8-byte little-endian header length N, N bytes of JSON header mapping
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to
 * the data section after the header) plus an optional {@code "__metadata__"} string map, then the
 * raw little-endian data. Readers validate everything before any data is used.
 */
public final class SafeTensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Headers larger than this are refused (the reference implementation uses 100 MB). */
  static final long MAX_HEADER = 100L << 20;

  private SafeTensors() {}

  /** Element types this implementation reads; F16 and BF16 are widened to float32 on read. */
  public enum DType {
    F32(4), F16(2), BF16(2), I32(4), I64(8), U8(1);

    public final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }
  }

  /** One tensor of a file: its dtype, shape and byte range in the data section. */
  public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
    public long numel() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  // ------------------------------------------------------------------------------------------------
  // reading

  /** An open, validated safetensors file. */
  public static final class Reader implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Reader(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries,
        Map<String, String> metadata) {
      this.path = path;
      this.channel = channel;
      this.dataStart = dataStart;
      this.entries = entries;
      this.metadata = metadata;
    }

    public Path path() {
      return path;
    }

    /** Entries in file order. */
    public Map<String, Entry> entries() {
      return Collections.unmodifiableMap(entries);
    }

    public Map<String, String> metadata() {
      return Collections.unmodifiableMap(metadata);
    }

    public boolean contains(String name) {
      return entries.containsKey(name);
    }

    public Entry entry(String name) throws IOException {
      Entry e = entries.get(name);
      if (e == null) {
        throw new IOException(path + ": no tensor named '" + name + "'");
      }
      return e;
    }

    /** The tensor as float32 (F32 as stored; F16 and BF16 widened). */
    public float[] readFloats(String name) throws IOException {
      Entry e = entry(name);
      ByteBuffer buf = read(e);
      float[] out = new float[Math.toIntExact(e.numel())];
      switch (e.dtype()) {
        case F32:
          buf.asFloatBuffer().get(out);
          break;
        case BF16:
          for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat((buf.getShort(2 * i) & 0xffff) << 16);
          }
          break;
        case F16:
          for (int i = 0; i < out.length; i++) {
            out[i] = halfToFloat(buf.getShort(2 * i));
          }
          break;
        default:
          throw new IOException(path + ": tensor '" + name + "' is " + e.dtype()
              + ", expected a floating-point type (F32, F16, BF16)");
      }
      return out;
    }

    /** An I64 (or I32) tensor as longs. */
    public long[] readLongs(String name) throws IOException {
      Entry e = entry(name);
      ByteBuffer buf = read(e);
      long[] out = new long[Math.toIntExact(e.numel())];
      if (e.dtype() == DType.I64) {
        buf.asLongBuffer().get(out);
      } else if (e.dtype() == DType.I32) {
        for (int i = 0; i < out.length; i++) {
          out[i] = buf.getInt(4 * i);
        }
      } else {
        throw new IOException(path + ": tensor '" + name + "' is " + e.dtype()
            + ", expected I64 or I32");
      }
      return out;
    }

    private ByteBuffer read(Entry e) throws IOException {
      long n = e.end() - e.begin();
      if (n > Integer.MAX_VALUE - 16) {
        throw new IOException(path + ": tensor '" + e.name() + "' is larger than 2 GiB");
      }
      ByteBuffer buf = ByteBuffer.allocate((int) n).order(ByteOrder.LITTLE_ENDIAN);
      long pos = dataStart + e.begin();
      while (buf.hasRemaining()) {
        int r = channel.read(buf, pos);
        if (r < 0) {
          throw new IOException(path + ": file ends inside tensor '" + e.name() + "' (truncated?)");
        }
        pos += r;
      }
      buf.flip();
      return buf;
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }

  /** Opens and validates a safetensors file; every inconsistency is an IOException naming it. */
  public static Reader open(Path path) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new IOException(path + ": no such file", e);
    }
    try {
      long size = ch.size();
      if (size < 8) {
        throw new IOException(path + ": not a safetensors file (" + size
            + " bytes, shorter than the 8-byte header length)");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0, path);
      long headerLen = lenBuf.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER || headerLen > size - 8) {
        throw new IOException(path + ": not a safetensors file or truncated: header length "
            + headerLen + " does not fit in a file of " + size + " bytes");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8, path);
      String header = new String(hb.array(), StandardCharsets.UTF_8);
      long dataStart = 8 + headerLen;
      Map<String, String> metadata = new LinkedHashMap<>();
      Map<String, Entry> entries = parseHeader(path, header, size - dataStart, metadata);
      return new Reader(path, ch, dataStart, entries, metadata);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path path)
      throws IOException {
    while (buf.hasRemaining()) {
      int r = ch.read(buf, pos);
      if (r < 0) {
        throw new IOException(path + ": unexpected end of file (truncated?)");
      }
      pos += r;
    }
  }

  static Map<String, Entry> parseHeader(Path path, String header, long dataBytes,
      Map<String, String> metadata) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(header.trim());
    } catch (JsonProcessingException e) {
      throw new IOException(path + ": corrupt safetensors header (not valid JSON: "
          + e.getOriginalMessage() + ")");
    }
    if (root == null || !root.isObject()) {
      throw new IOException(path + ": corrupt safetensors header (not a JSON object)");
    }
    Map<String, Entry> entries = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> f : root.properties()) {
      String name = f.getKey();
      JsonNode v = f.getValue();
      if (name.equals("__metadata__")) {
        if (!v.isObject()) {
          throw new IOException(path + ": __metadata__ must be an object of strings");
        }
        for (Map.Entry<String, JsonNode> kv : v.properties()) {
          if (!kv.getValue().isTextual()) {
            throw new IOException(path + ": __metadata__ value '" + kv.getKey()
                + "' is not a string");
          }
          metadata.put(kv.getKey(), kv.getValue().asText());
        }
        continue;
      }
      String where = path + ": tensor '" + name + "'";
      if (!v.isObject() || !v.path("dtype").isTextual() || !v.path("shape").isArray()
          || !v.path("data_offsets").isArray() || v.path("data_offsets").size() != 2) {
        throw new IOException(where + " needs dtype, shape and data_offsets [begin, end]");
      }
      DType dtype;
      try {
        dtype = DType.valueOf(v.get("dtype").asText());
      } catch (IllegalArgumentException e) {
        throw new IOException(where + " has unsupported dtype " + v.get("dtype").asText()
            + " (fuselm reads " + Arrays.toString(DType.values()) + ")");
      }
      long[] shape = new long[v.get("shape").size()];
      long numel = 1;
      for (int i = 0; i < shape.length; i++) {
        JsonNode d = v.get("shape").get(i);
        if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
          throw new IOException(where + " has an invalid shape " + v.get("shape"));
        }
        shape[i] = d.asLong();
        try {
          numel = Math.multiplyExact(numel, shape[i]);
        } catch (ArithmeticException e) {
          throw new IOException(where + " has a shape too large: " + v.get("shape"));
        }
      }
      JsonNode o = v.get("data_offsets");
      if (!o.get(0).isIntegralNumber() || !o.get(1).isIntegralNumber()) {
        throw new IOException(where + " has non-integer data_offsets " + o);
      }
      long begin = o.get(0).asLong(), end = o.get(1).asLong();
      if (begin < 0 || end < begin || end > dataBytes) {
        throw new IOException(where + " has data_offsets [" + begin + ", " + end
            + "] outside the data section of " + dataBytes + " bytes (truncated or corrupt file)");
      }
      long expected;
      try {
        expected = Math.multiplyExact(numel, (long) dtype.bytes);
      } catch (ArithmeticException e) {
        throw new IOException(where + " is too large");
      }
      if (end - begin != expected) {
        throw new IOException(where + " has shape " + Arrays.toString(shape) + " of " + dtype
            + " (" + expected + " bytes) but data_offsets span " + (end - begin) + " bytes");
      }
      entries.put(name, new Entry(name, dtype, shape, begin, end));
    }
    List<Entry> sorted = new ArrayList<>(entries.values());
    sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    for (int i = 1; i < sorted.size(); i++) {
      Entry a = sorted.get(i - 1), b = sorted.get(i);
      if (b.begin() < a.end()) {
        throw new IOException(path + ": tensors '" + a.name() + "' and '" + b.name()
            + "' overlap in the data section");
      }
    }
    return entries;
  }

  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      float f = mant * 0x1p-24f;
      return sign == 0 ? f : -f;
    }
    if (exp == 31) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  // ------------------------------------------------------------------------------------------------
  // writing

  /** Writes the bytes of one tensor (exactly numel * dtype bytes, little-endian). */
  @FunctionalInterface
  public interface DataWriter {
    void write(FileChannel channel) throws IOException;
  }

  /** Collects tensors, then writes them as one file, atomically. */
  public static final class Writer {
    private record Item(String name, DType dtype, long[] shape, DataWriter data) {}

    private final List<Item> items = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public Writer metadata(String key, String value) {
      metadata.put(key, value);
      return this;
    }

    public Writer add(String name, DType dtype, long[] shape, DataWriter data) {
      items.add(new Item(name, dtype, shape.clone(), data));
      return this;
    }

    public Writer addFloats(String name, long[] shape, float[] values) {
      return add(name, DType.F32, shape, ch -> writeFloats(ch, values));
    }

    public Writer addLongs(String name, long[] values) {
      return add(name, DType.I64, new long[] {values.length}, ch -> {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        writeAll(ch, b);
      });
    }

    public void write(Path path) throws IOException {
      ObjectNode header = JSON.createObjectNode();
      if (!metadata.isEmpty()) {
        ObjectNode m = header.putObject("__metadata__");
        metadata.forEach(m::put);
      }
      long offset = 0;
      for (Item it : items) {
        long n = 1;
        for (long d : it.shape) {
          n *= d;
        }
        long bytes = n * it.dtype.bytes;
        ObjectNode e = header.putObject(it.name);
        e.put("dtype", it.dtype.name());
        ArrayNode s = e.putArray("shape");
        for (long d : it.shape) {
          s.add(d);
        }
        ArrayNode o = e.putArray("data_offsets");
        o.add(offset);
        o.add(offset + bytes);
        offset += bytes;
      }
      byte[] json = JSON.writeValueAsBytes(header);
      int padded = (json.length + 7) / 8 * 8;
      ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
      head.putLong(padded);
      head.put(json);
      while (head.hasRemaining()) {
        head.put((byte) ' ');
      }
      head.flip();
      long total = offset;
      AtomicFiles.write(path, ch -> {
        writeAll(ch, head);
        for (Item it : items) {
          it.data.write(ch);
        }
        if (ch.position() != 8 + padded + total) {
          throw new IOException(path + ": internal error: wrote " + ch.position()
              + " bytes, expected " + (8 + padded + total));
        }
      });
    }
  }

  /** Writes floats little-endian through a 1 MiB buffer. */
  public static void writeFloats(FileChannel ch, float[] values) throws IOException {
    ByteBuffer b = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    int i = 0;
    while (i < values.length) {
      b.clear();
      int n = Math.min(values.length - i, b.capacity() / 4);
      b.asFloatBuffer().put(values, i, n);
      b.limit(4 * n);
      writeAll(ch, b);
      i += n;
    }
  }

  static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
