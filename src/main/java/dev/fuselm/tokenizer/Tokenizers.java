package dev.fuselm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/** Finds a tokenizer by name ({@code gpt2}, {@code bert-base-uncased}, {@code bert-base-cased}) or by file. */
public final class Tokenizers {

  private Tokenizers() {
  }

  /**
   * A tokenizer shipped in fuselm ({@code gpt2}, {@code bert-base-uncased}, {@code bert-base-cased}: no network),
   * or one loaded from a file or directory:
   * <ul>
   *   <li>a directory with {@code encoder.json} + {@code vocab.bpe} (or {@code vocab.json} + {@code merges.txt}):
   *       byte-level BPE;</li>
   *   <li>a directory with {@code tokenizer.json}, or that file itself: BPE or WordPiece, by its model type;</li>
   *   <li>a directory with {@code vocab.txt}, or a {@code .txt} file: BERT WordPiece, lower-cased unless
   *       {@code tokenizer_config.json} says {@code "do_lower_case": false} or the name contains "cased"
   *       but not "uncased".</li>
   * </ul>
   *
   * @throws IOException if the path does not exist or holds no readable vocabulary (the message names it)
   */
  public static Tokenizer load(String nameOrPath) throws IOException {
    switch (nameOrPath) {
      case "gpt2":
        return Gpt2BpeTokenizer.gpt2();
      case "bert-base-uncased":
        return WordPieceTokenizer.bertBaseUncased();
      case "bert-base-cased":
        return WordPieceTokenizer.bertBaseCased();
      default:
        return load(Path.of(nameOrPath));
    }
  }

  public static Tokenizer load(Path path) throws IOException {
    if (!Files.exists(path)) {
      throw new NoSuchFileException(path.toString(), null,
          "no such tokenizer file or directory (names shipped in fuselm: gpt2, bert-base-uncased, bert-base-cased)");
    }
    if (Files.isDirectory(path)) {
      if ((Files.isRegularFile(path.resolve("encoder.json")) && Files.isRegularFile(path.resolve("vocab.bpe")))
          || (Files.isRegularFile(path.resolve("vocab.json")) && Files.isRegularFile(path.resolve("merges.txt")))) {
        return Gpt2BpeTokenizer.fromDirectory(path);
      }
      if (Files.isRegularFile(path.resolve("tokenizer.json"))) {
        return fromTokenizerJson(path.resolve("tokenizer.json"));
      }
      if (Files.isRegularFile(path.resolve("vocab.txt"))) {
        return WordPieceTokenizer.fromVocab(path.resolve("vocab.txt"), lowercase(path, path.resolve("vocab.txt")));
      }
      throw new IOException(path + ": no encoder.json + vocab.bpe, tokenizer.json or vocab.txt in this directory");
    }
    String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".json")) {
      return fromTokenizerJson(path);
    }
    return WordPieceTokenizer.fromVocab(path, lowercase(path.getParent(), path));
  }

  private static Tokenizer fromTokenizerJson(Path file) throws IOException {
    String type;
    try (InputStream in = Files.newInputStream(file)) {
      JsonNode root = new ObjectMapper().readTree(BpeVocab.strictUtf8(in));
      type = root == null ? "" : root.path("model").path("type").asText("BPE");
      if (type.equals("WordPiece")) {
        return WordPieceTokenizer.fromTokenizerJson(file, root);
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    return Gpt2BpeTokenizer.fromTokenizerJson(file);
  }

  private static boolean lowercase(Path dir, Path vocab) throws IOException {
    Path config = dir == null ? null : dir.resolve("tokenizer_config.json");
    if (config != null && Files.isRegularFile(config)) {
      try (InputStream in = Files.newInputStream(config)) {
        JsonNode lc = new ObjectMapper().readTree(in).get("do_lower_case");
        if (lc != null && lc.isBoolean()) {
          return lc.asBoolean();
        }
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IOException(config + ": not valid JSON: " + e.getOriginalMessage(), e);
      }
    }
    String n = vocab.toAbsolutePath().toString().toLowerCase(Locale.ROOT);
    return n.contains("uncased") || !n.contains("cased");
  }
}
