package dev.fuselm.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reading and writing the JSON files of a model directory ({@code config.json} and others). */
final class ConfigJson {
  private static final ObjectMapper JSON = JsonMapper.builder()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .build();

  private ConfigJson() {}

  /** The file's text; a missing file, a directory or bytes that are not UTF-8 are errors. */
  static String readText(Path file) throws IOException {
    if (Files.isDirectory(file)) {
      throw new IOException(file + ": is a directory, not a JSON file");
    }
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new IOException(file + ": no such file", e);
    }
    CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(bytes);
    CharBuffer out = CharBuffer.allocate(bytes.length);
    CoderResult r = d.decode(in, out, true);
    if (!r.isError()) {
      r = d.flush(out);
    }
    if (r.isError()) {
      throw new IOException(file + ": not valid UTF-8 (bad byte at offset " + in.position()
          + "); a JSON config must be UTF-8 text");
    }
    return out.flip().toString();
  }

  /** The JSON object of a config; {@code where} names it in errors. */
  static JsonNode parseObject(String where, String text) throws IOException {
    JsonNode n;
    try {
      n = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      String msg = String.valueOf(e.getOriginalMessage());
      if (msg.startsWith("Duplicate field ")) {
        throw new IOException(where + ": not valid JSON for a config: "
            + msg.replace("Duplicate field", "duplicate key") + " (which one would count?)");
      }
      throw new IOException(where + ": not valid JSON (" + msg + ")");
    }
    if (n == null || !n.isObject()) {
      throw new IOException(where + ": a model config must be a JSON object");
    }
    return n;
  }

  /** The JSON object of a config as a plain map (what a {@code ModelFamily} reads). */
  @SuppressWarnings("unchecked")
  static java.util.Map<String, Object> parseMap(String where, String text) throws IOException {
    return JSON.convertValue(parseObject(where, text), java.util.LinkedHashMap.class);
  }

  /** Indented JSON with a final newline. */
  static String toText(Object n) {
    try {
      return JSON.writeValueAsString(n) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
