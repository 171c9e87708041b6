package dev.fuselm.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.fuselm.io.SafeTensors.DType;
import dev.fuselm.io.SafeTensors.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Validation of a safetensors header, as strict as the reference implementation's
 * {@code validate()} (huggingface/safetensors): the header length is an unsigned 64-bit number no
 * larger than {@link #MAX_HEADER} and inside the file; the header is UTF-8, starts with
 * {@code '{'} and is one JSON object (trailing spaces allowed) with no duplicate key; every tensor
 * has a known dtype, a shape of non-negative integers and {@code data_offsets [begin, end]} with
 * {@code end - begin == elements * dtype size} (overflow-checked); sorted by offset the tensors
 * tile the data section exactly: the first begins at 0, each begins where the previous ends, the
 * last ends at the end of the file. Every error is an IOException naming the file and the
 * problem.
 */
final class SafeTensorsHeader {
  /** Headers larger than this are refused: 100 MB, the reference implementation's limit. */
  static final long MAX_HEADER = 100_000_000L;

  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build();
  private static final Pattern DUPLICATE = Pattern.compile("Duplicate field '(.*)'");

  private SafeTensorsHeader() {}

  /**
   * Checks the 8-byte header length (read as unsigned, as the format defines it) against the cap
   * and the file size; returns it as an int.
   */
  static int checkLength(Path path, long headerLen, long fileSize) throws IOException {
    String n = Long.toUnsignedString(headerLen);
    if (Long.compareUnsigned(headerLen, MAX_HEADER) > 0) {
      throw new IOException(path + ": not a safetensors file or corrupt: its header length " + n
          + " exceeds the cap of " + MAX_HEADER + " bytes (100 MB, as the reference reader)");
    }
    if (headerLen < 2) {
      throw new IOException(path + ": not a safetensors file or corrupt: its header length is "
          + n + " bytes, too short for a JSON object");
    }
    if (headerLen > fileSize - 8) {
      throw new IOException(path + ": not a safetensors file or truncated: header length " + n
          + " does not fit in a file of " + fileSize + " bytes");
    }
    return (int) headerLen;
  }

  /** The header bytes as text; anything but well-formed UTF-8 is an error. */
  static String decode(Path path, byte[] header) throws IOException {
    CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(header);
    CharBuffer out = CharBuffer.allocate(header.length);
    CoderResult r = d.decode(in, out, true);
    if (!r.isError()) {
      r = d.flush(out);
    }
    if (r.isError()) {
      throw new IOException(path + ": corrupt safetensors header: the header is not valid UTF-8"
          + " (bad byte at offset " + (8 + in.position()) + " of the file)");
    }
    return out.flip().toString();
  }

  /**
   * Parses and validates the header text; dataBytes is the size of the data section (the file
   * after the header). Fills metadata; returns the tensors in header order.
   */
  static Map<String, Entry> parse(Path path, String header, long dataBytes,
      Map<String, String> metadata) throws IOException {
    JsonNode root = json(path, header);
    Map<String, Entry> entries = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> f : root.properties()) {
      if (f.getKey().equals("__metadata__")) {
        metadata(path, f.getValue(), metadata);
      } else {
        entries.put(f.getKey(), entry(path, f.getKey(), f.getValue(), dataBytes));
      }
    }
    checkTiling(path, entries, dataBytes);
    return entries;
  }

  private static JsonNode json(Path path, String header) throws IOException {
    if (!header.startsWith("{")) {
      throw new IOException(path + ": corrupt safetensors header: it must start with '{', starts"
          + " with " + describe(header.isEmpty() ? -1 : header.codePointAt(0)));
    }
    JsonNode root;
    try {
      root = JSON.readTree(header);
    } catch (JsonProcessingException e) {
      String msg = e.getOriginalMessage();
      Matcher m = DUPLICATE.matcher(msg == null ? "" : msg);
      if (m.find()) {
        throw new IOException(path + ": corrupt safetensors header: duplicate key '" + m.group(1)
            + "' in its JSON (a reader would silently keep one of them)");
      }
      throw new IOException(path + ": corrupt safetensors header (not valid JSON: " + msg + ")");
    }
    if (root == null || !root.isObject()) {
      throw new IOException(path + ": corrupt safetensors header (not a JSON object)");
    }
    return root;
  }

  private static String describe(int cp) {
    if (cp < 0) {
      return "nothing";
    }
    return cp < 0x20 || cp > 0x7e ? String.format("U+%04X", cp) : "'" + (char) cp + "'";
  }

  private static void metadata(Path path, JsonNode v, Map<String, String> metadata)
      throws IOException {
    if (v.isNull()) {
      return;
    }
    if (!v.isObject()) {
      throw new IOException(path + ": __metadata__ must be an object of strings, got " + kind(v));
    }
    for (Map.Entry<String, JsonNode> kv : v.properties()) {
      if (!kv.getValue().isTextual()) {
        throw new IOException(path + ": __metadata__ value '" + kv.getKey()
            + "' is not a string");
      }
      metadata.put(kv.getKey(), kv.getValue().asText());
    }
  }

  private static Entry entry(Path path, String name, JsonNode v, long dataBytes)
      throws IOException {
    String where = path + ": tensor '" + name + "'";
    if (!v.isObject() || !v.path("dtype").isTextual() || !v.path("shape").isArray()
        || !v.path("data_offsets").isArray() || v.path("data_offsets").size() != 2) {
      throw new IOException(where + " needs dtype (a string), shape (an array) and data_offsets"
          + " [begin, end]");
    }
    DType dtype;
    try {
      dtype = DType.valueOf(v.get("dtype").asText());
    } catch (IllegalArgumentException e) {
      throw new IOException(where + " has unsupported dtype " + v.get("dtype").asText()
          + " (fuselm reads " + Arrays.toString(DType.values()) + ")");
    }
    JsonNode s = v.get("shape");
    long[] shape = new long[s.size()];
    long numel = 1;
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = s.get(i);
      if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
        throw new IOException(where + " has an invalid shape " + s
            + " (dimensions must be non-negative integers)");
      }
      shape[i] = d.asLong();
      try {
        numel = Math.multiplyExact(numel, shape[i]);
      } catch (ArithmeticException e) {
        throw new IOException(where + " has a shape too large: " + s + " (its element count"
            + " overflows 64 bits)");
      }
    }
    JsonNode o = v.get("data_offsets");
    for (JsonNode x : o) {
      if (!x.isIntegralNumber() || !x.canConvertToLong() || x.asLong() < 0) {
        throw new IOException(where + " has invalid data_offsets " + o
            + " (they must be non-negative 64-bit integers)");
      }
    }
    long begin = o.get(0).asLong();
    long end = o.get(1).asLong();
    if (end < begin) {
      throw new IOException(where + " has data_offsets [" + begin + ", " + end
          + "]: its end is before its begin");
    }
    if (end > dataBytes) {
      throw new IOException(where + " has data_offsets [" + begin + ", " + end
          + "] outside the data section of " + dataBytes + " bytes (truncated or corrupt file)");
    }
    long expected;
    try {
      expected = Math.multiplyExact(numel, (long) dtype.bytes);
    } catch (ArithmeticException e) {
      throw new IOException(where + " is too large: " + numel + " elements of " + dtype
          + " overflow 64 bits of bytes");
    }
    if (end - begin != expected) {
      throw new IOException(where + " has shape " + Arrays.toString(shape) + " of " + dtype
          + " (" + expected + " bytes) but data_offsets span " + (end - begin) + " bytes");
    }
    return new Entry(name, dtype, shape, begin, end);
  }

  /** Sorted by offset, the tensors must cover [0, dataBytes) exactly, without gap or overlap. */
  private static void checkTiling(Path path, Map<String, Entry> entries, long dataBytes)
      throws IOException {
    List<Entry> sorted = new ArrayList<>(entries.values());
    sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    long at = 0;
    Entry prev = null;
    for (Entry e : sorted) {
      if (e.begin() < at) {
        throw new IOException(path + ": tensors '" + prev.name() + "' and '" + e.name()
            + "' overlap in the data section (bytes " + e.begin() + " to " + at + ")");
      }
      if (e.begin() > at) {
        throw new IOException(path + ": a gap of " + (e.begin() - at) + " bytes in the data"
            + " section before tensor '" + e.name() + "' (it begins at " + e.begin() + ", "
            + (prev == null ? "but the first tensor must begin at 0"
                : "'" + prev.name() + "' ends at " + at)
            + "); the format requires tensors to be contiguous");
      }
      at = e.end();
      prev = e;
    }
    if (at != dataBytes) {
      throw new IOException(path + ": " + (dataBytes - at) + " trailing bytes after the last"
          + " tensor (the tensors end at byte " + at + " of a data section of " + dataBytes
          + " bytes): something was appended to the file (another archive?) or it is corrupt");
    }
  }

  private static String kind(JsonNode v) {
    return v.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
  }
}
