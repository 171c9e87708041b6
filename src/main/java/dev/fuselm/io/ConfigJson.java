package dev.fuselm.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reading and writing the JSON files of a model directory ({@code config.json} and others). */
final class ConfigJson {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ConfigJson() {}

  static String readText(Path file) throws IOException {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new IOException(file + ": no such file", e);
    }
  }

  /** The JSON object of a config; {@code where} names it in errors. */
  static JsonNode parseObject(String where, String text) throws IOException {
    JsonNode n;
    try {
      n = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new IOException(where + ": not valid JSON (" + e.getOriginalMessage() + ")");
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
