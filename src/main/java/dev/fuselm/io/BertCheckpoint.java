package dev.fuselm.io;

import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A BERT model directory in Hugging Face layout: {@code config.json} + {@code model.safetensors}
 * with BERT tensor names and {@code nn.Linear} (out, in) layouts, and usually {@code vocab.txt}.
 *
 * <p>Reads Hugging Face's own directories: names with or without the {@code bert.} prefix; old
 * {@code LayerNorm.gamma}/{@code beta} names; the {@code position_ids} buffer and the tied
 * {@code cls.predictions.decoder.*} copies are skipped; F16/BF16 weights are widened. A directory
 * without {@code cls.*} (an encoder-only export) loads without the pre-training heads, one without
 * {@code bert.pooler.*} without the pooler. Writes directories Hugging Face loads unchanged, with
 * the {@code bert.} prefix. Writes are atomic per file.
 */
public final class BertCheckpoint {
  public static final String CONFIG = ModelDirectory.CONFIG;
  public static final String WEIGHTS = ModelDirectory.WEIGHTS;
  public static final String VOCAB = "vocab.txt";

  private BertCheckpoint() {}

  /** Reads only the config of a model directory. */
  public static BertConfig readConfig(Path dir) throws IOException {
    return BertConfigJson.read(ModelDirectory.config(dir));
  }

  /** Loads a model directory onto ctx, with the pooler and heads the file holds. */
  public static BertModel load(ComputeContext ctx, Path dir) throws IOException {
    BertConfig config = readConfig(dir);
    Path weights = ModelDirectory.weights(dir);
    try (SafeTensors.Reader r = SafeTensors.open(weights)) {
      Map<String, SafeTensors.Entry> entries = r.entries();
      boolean heads = entries.keySet().stream().anyMatch(k -> k.startsWith("cls."));
      boolean pooler = entries.keySet().stream().anyMatch(k -> k.contains("pooler.dense."));
      BertModel model = BertModel.create(ctx, config, pooler || heads, heads);
      try {
        loadInto(model, r);
        return model;
      } catch (IOException | RuntimeException e) {
        model.close();
        throw e;
      }
    }
  }

  /** Copies every parameter of the model from an open file, checking names and shapes first. */
  public static void loadInto(BertModel model, SafeTensors.Reader r) throws IOException {
    Map<String, SafeTensors.Entry> entries = r.entries();
    boolean prefixed = entries.keySet().stream().anyMatch(k -> k.startsWith(BertModel.PREFIX));
    List<String> names = model.parameterNames();
    String[] fileNames = new String[names.size()];
    List<String> missing = new ArrayList<>();
    java.util.Set<String> used = new java.util.HashSet<>();
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      String fileName = fileName(name, prefixed, entries);
      fileNames[i] = fileName;
      SafeTensors.Entry e = entries.get(fileName);
      if (e == null) {
        missing.add(fileName);
        continue;
      }
      used.add(fileName);
      long[] want = model.params().get(name).shape();
      if (!Arrays.equals(e.shape(), want)) {
        throw new IOException(r.path() + ": config/weights mismatch: tensor '" + fileName
            + "' has shape " + Arrays.toString(e.shape()) + ", the config needs "
            + Arrays.toString(want));
      }
    }
    List<String> unexpected = new ArrayList<>();
    for (String k : entries.keySet()) {
      if (used.contains(k) || k.endsWith("embeddings.position_ids")
          || k.startsWith("cls.predictions.decoder.")) {
        continue; // a buffer of old exports; the decoder is tied to the word embeddings and bias
      }
      unexpected.add(k);
    }
    if (!missing.isEmpty() || !unexpected.isEmpty()) {
      throw new IOException(r.path() + ": config/weights mismatch (" + layoutHint(entries, model)
          + ")"
          + (missing.isEmpty() ? "" : "; missing " + missing.size() + ": " + list(missing))
          + (unexpected.isEmpty() ? "" : "; unexpected " + unexpected.size() + ": "
              + list(unexpected)));
    }
    for (int i = 0; i < names.size(); i++) {
      model.params().get(names.get(i)).copyFrom(r.readFloats(fileNames[i]));
    }
  }

  /**
   * Why names did not match: Hugging Face task layouts fuselm's BERT cannot hold are named (its
   * BertModel has both pre-training heads and the pooler, or no heads), else the layer count.
   */
  private static String layoutHint(Map<String, ?> entries, BertModel model) {
    boolean mlmHead = entries.containsKey("cls.predictions.bias");
    boolean nspHead = entries.keySet().stream().anyMatch(k -> k.startsWith("cls.seq_relationship."));
    if (mlmHead && !nspHead) {
      return "this is a Hugging Face BertForMaskedLM: an MLM head without the NSP head and pooler,"
          + " which fuselm's BERT does not hold; it loads BertForPreTraining and BertModel layouts";
    }
    if (entries.keySet().stream().anyMatch(k -> k.startsWith("classifier."))) {
      return "this is a Hugging Face task model with a classifier.* head, which fuselm's BERT does"
          + " not hold; it loads BertForPreTraining and BertModel layouts";
    }
    return "the config asks for " + model.config().numLayers() + " layers";
  }

  /** The file's name for a parameter: prefix as the file has it, LayerNorm gamma/beta if so. */
  private static String fileName(String name, boolean prefixed, Map<String, ?> entries) {
    String n = name;
    if (!prefixed && n.startsWith(BertModel.PREFIX)) {
      n = n.substring(BertModel.PREFIX.length());
    }
    if (!entries.containsKey(n) && n.contains("LayerNorm.")) {
      String old = n.replace("LayerNorm.weight", "LayerNorm.gamma")
          .replace("LayerNorm.bias", "LayerNorm.beta");
      if (entries.containsKey(old)) {
        return old;
      }
    }
    return n;
  }

  private static String list(List<String> names) {
    int n = Math.min(names.size(), 6);
    return String.join(", ", names.subList(0, n)) + (names.size() > n ? ", ..." : "");
  }

  /**
   * Writes {@code config.json} and {@code model.safetensors} into dir (created if needed), each
   * atomically, under Hugging Face names with the {@code bert.} prefix (the tied decoder weight is
   * not stored, as Hugging Face does). metadata goes into the safetensors header.
   */
  public static void save(BertModel model, Path dir, Map<String, String> metadata)
      throws IOException {
    Files.createDirectories(dir);
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
    metadata.forEach(w::metadata);
    for (String name : model.parameterNames()) {
      Tensor t = model.params().get(name);
      w.add(name, SafeTensors.DType.F32, t.shape(),
          ch -> SafeTensors.writeFloats(ch, t.toFloatArray()));
    }
    w.write(dir.resolve(WEIGHTS));
    BertConfigJson.write(dir.resolve(CONFIG), model.config(), model.hasHeads());
  }

  public static void save(BertModel model, Path dir) throws IOException {
    save(model, dir, Map.of());
  }

  /**
   * Writes the tokenizer's vocabulary as {@code vocab.txt} (one token per line, by id) and a
   * {@code tokenizer_config.json} saying whether it lower-cases: Hugging Face's BertTokenizer
   * lower-cases by default, which would be wrong for a cased vocabulary.
   */
  public static void saveVocab(WordPieceTokenizer tokenizer, Path dir) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int id = 0; id < tokenizer.vocabSize(); id++) {
      sb.append(tokenizer.idToToken(id)).append('\n');
    }
    Files.createDirectories(dir);
    AtomicFiles.writeString(dir.resolve(VOCAB), sb.toString());
    com.fasterxml.jackson.databind.node.ObjectNode tc = ConfigJson.newObject();
    tc.put("tokenizer_class", "BertTokenizer");
    tc.put("do_lower_case", tokenizer.normalizer().lowercase());
    AtomicFiles.writeString(dir.resolve("tokenizer_config.json"), ConfigJson.toText(tc));
  }

  /**
   * The WordPiece tokenizer of a model directory: its {@code tokenizer.json} when there is no
   * {@code vocab.txt} (what transformers 5 saves; lower-casing as its normalizer says), else its
   * {@code vocab.txt}, lower-casing as
   * {@code tokenizer_config.json}'s {@code do_lower_case} says, or, without that file, when the
   * vocabulary has no upper-case ASCII letters outside [SPECIAL] tokens (an uncased vocabulary).
   */
  public static WordPieceTokenizer tokenizer(Path dir) throws IOException {
    Path vocab = dir.resolve(VOCAB);
    Path json = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(vocab) && Files.isRegularFile(json)) {
      // transformers 5 saves a BERT tokenizer as tokenizer.json only, without vocab.txt
      if (Tokenizers.load(json) instanceof WordPieceTokenizer wp) {
        return wp;
      }
      throw new IOException(json + ": not a WordPiece tokenizer (a BERT model directory needs"
          + " one)");
    }
    if (!Files.isRegularFile(vocab)) {
      throw new IOException(dir + ": no " + VOCAB + " or tokenizer.json (a BERT model directory"
          + " needs its WordPiece vocabulary)");
    }
    Path tc = dir.resolve("tokenizer_config.json");
    Boolean lower = null;
    if (Files.isRegularFile(tc)) {
      JsonNode n = new ObjectMapper().readTree(Files.readString(tc, StandardCharsets.UTF_8));
      if (n != null && n.has("do_lower_case")) {
        lower = n.get("do_lower_case").asBoolean();
      }
    }
    if (lower == null) {
      lower = true;
      for (String line : Files.readAllLines(vocab, StandardCharsets.UTF_8)) {
        if (!(line.startsWith("[") && line.endsWith("]")) && !line.equals(line.toLowerCase(
            java.util.Locale.ROOT))) {
          lower = false;
          break;
        }
      }
    }
    return WordPieceTokenizer.fromVocab(vocab, lower);
  }
}
