package dev.fuselm.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The one tokenizer resolver: finds a tokenizer by name ({@code gpt2}, {@code bert-base-uncased},
 * {@code bert-base-cased}), by file, or beside a model in its directory.
 */
public final class Tokenizers {
  /** BERT's WordPiece vocabulary file, one token per line by id. */
  public static final String VOCAB_TXT = "vocab.txt";

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
      if (hasBpeFiles(path)) {
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
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IOException(file + ": not valid UTF-8", e);
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

  /** True when dir holds byte-level BPE files: encoder.json + vocab.bpe or vocab.json + merges.txt. */
  private static boolean hasBpeFiles(Path dir) {
    return (Files.isRegularFile(dir.resolve("encoder.json"))
            && Files.isRegularFile(dir.resolve("vocab.bpe")))
        || (Files.isRegularFile(dir.resolve("vocab.json"))
            && Files.isRegularFile(dir.resolve("merges.txt")));
  }

  /** True when a GPT model directory holds its tokenizer: BPE files or tokenizer.json. */
  public static boolean present(Path dir) {
    return hasBpeFiles(dir) || Files.isRegularFile(dir.resolve("tokenizer.json"));
  }

  /** A whole file as UTF-8 text; bytes that are not UTF-8 are an error naming the file. */
  private static String utf8(Path file) throws IOException {
    try {
      return Files.readString(file, java.nio.charset.StandardCharsets.UTF_8);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IOException(file + ": not valid UTF-8", e);
    }
  }

  /**
   * A byte-level BPE tokenizer from a spec: "gpt2" (shipped in the jar; also null), a directory of
   * GPT-2 style files, or a tokenizer.json file.
   */
  public static Gpt2BpeTokenizer gpt2Bpe(String spec) throws IOException {
    if (spec == null || spec.equals("gpt2")) {
      return Gpt2BpeTokenizer.gpt2();
    }
    Path p = Path.of(spec);
    if (Files.isDirectory(p)) {
      return Gpt2BpeTokenizer.fromDirectory(p);
    }
    if (Files.isRegularFile(p)) {
      return Gpt2BpeTokenizer.fromTokenizerJson(p);
    }
    throw new IOException("--tokenizer " + spec + ": not 'gpt2', a tokenizer directory or a"
        + " tokenizer.json file");
  }

  /**
   * The tokenizer saved beside a GPT model; a directory without one uses GPT-2's when the model
   * has GPT-2's vocabulary size.
   */
  public static Tokenizer forModel(Path dir, int vocabSize) throws IOException {
    Tokenizer t;
    if (present(dir)) {
      t = Gpt2BpeTokenizer.fromDirectory(dir);
    } else if (vocabSize == 50257) {
      t = Gpt2BpeTokenizer.gpt2();
    } else {
      throw new IOException(dir + ": no tokenizer files (encoder.json + vocab.bpe or"
          + " tokenizer.json) and the vocabulary (" + vocabSize + ") is not GPT-2's: pass token"
          + " ids instead");
    }
    if (t.vocabSize() > vocabSize) {
      throw new IOException(dir + ": the tokenizer has " + t.vocabSize() + " ids but the model"
          + " only " + vocabSize);
    }
    return t;
  }

  /**
   * The WordPiece tokenizer of a BERT model directory: its {@code tokenizer.json} when there is no
   * {@code vocab.txt} (what transformers 5 saves; lower-casing as its normalizer says), else its
   * {@code vocab.txt}, lower-casing as {@code tokenizer_config.json}'s {@code do_lower_case} says,
   * or, without that file, when the vocabulary has no upper-case ASCII letters outside [SPECIAL]
   * tokens (an uncased vocabulary; a model directory's name says nothing, unlike {@link #load}'s
   * file names).
   */
  public static WordPieceTokenizer wordPiece(Path dir) throws IOException {
    Path vocab = dir.resolve(VOCAB_TXT);
    Path json = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(vocab) && Files.isRegularFile(json)) {
      // transformers 5 saves a BERT tokenizer as tokenizer.json only, without vocab.txt
      if (load(json) instanceof WordPieceTokenizer wp) {
        return wp;
      }
      throw new IOException(json + ": not a WordPiece tokenizer (a BERT model directory needs"
          + " one)");
    }
    if (!Files.isRegularFile(vocab)) {
      throw new IOException(dir + ": no " + VOCAB_TXT + " or tokenizer.json (a BERT model"
          + " directory needs its WordPiece vocabulary)");
    }
    Path tc = dir.resolve("tokenizer_config.json");
    Boolean lower = null;
    if (Files.isRegularFile(tc)) {
      JsonNode n;
      try {
        n = new ObjectMapper().readTree(utf8(tc));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IOException(tc + ": not valid JSON: " + e.getOriginalMessage(), e);
      }
      if (n != null && n.has("do_lower_case")) {
        lower = n.get("do_lower_case").asBoolean();
      }
    }
    if (lower == null) {
      lower = true;
      for (String line : utf8(vocab).lines().toList()) {
        if (!(line.startsWith("[") && line.endsWith("]"))
            && !line.equals(line.toLowerCase(Locale.ROOT))) {
          lower = false;
          break;
        }
      }
    }
    return WordPieceTokenizer.fromVocab(vocab, lower);
  }
}
