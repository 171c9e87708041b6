package dev.fuselm.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
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

    /**
     * {@link #readFloats}, refusing a tensor that holds NaN or an infinity (weights from a
     * diverged run or a corrupt file would otherwise compute NaN silently).
     */
    public float[] readFiniteFloats(String name) throws IOException {
      float[] v = readFloats(name);
      int bad = 0;
      int first = -1;
      for (int i = 0; i < v.length; i++) {
        if (!Float.isFinite(v[i])) {
          bad++;
          first = first < 0 ? i : first;
        }
      }
      if (bad > 0) {
        throw new IOException(path + ": tensor '" + name + "' holds " + bad + " non-finite value"
            + (bad == 1 ? "" : "s") + " (the first, " + v[first] + ", at element " + first + " of "
            + v.length + "): the weights are corrupt or come from a diverged run; fuselm does not"
            + " load NaN or infinite weights");
      }
      return v;
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

  /**
   * Opens and validates a safetensors file ({@link SafeTensorsHeader}: as strict as the reference
   * reader); every inconsistency is an IOException naming the file and the problem.
   */
  public static Reader open(Path path) throws IOException {
    if (Files.isDirectory(path)) {
      throw new IOException(path + ": is a directory, not a safetensors file");
    }
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
      int headerLen = SafeTensorsHeader.checkLength(path, lenBuf.getLong(0), size);
      ByteBuffer hb = ByteBuffer.allocate(headerLen);
      readFully(ch, hb, 8, path);
      String header = SafeTensorsHeader.decode(path, hb.array());
      long dataStart = 8L + headerLen;
      Map<String, String> metadata = new LinkedHashMap<>();
      Map<String, Entry> entries =
          SafeTensorsHeader.parse(path, header, size - dataStart, metadata);
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
