package dev.fuselm.io;

import dev.fuselm.model.Backbone;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ConfigMap;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.Pooling;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.NativeMemoryException;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model directory in Hugging Face layout, for any {@link ModelFamily}: {@code config.json} +
 * {@code model.safetensors} under the family's Hugging Face names, plus its tokenizer files. The
 * family is detected from config.json's {@code model_type}. Reads Hugging Face's own directories
 * (names with or without the base prefix, the aliases and buffers the family names, F16/BF16
 * widened) and writes directories Hugging Face loads unchanged. Every file is written atomically
 * ({@link AtomicFiles}). A classifier's head lives beside the model ({@link ClassifierHead}), LoRA
 * adapters in PEFT's layout in {@link PeftAdapters}, the optimizer state in the trainer's
 * {@code training_state.safetensors}.
 */
public final class Checkpoint {
  public static final String CONFIG = ModelDirectory.CONFIG;
  public static final String WEIGHTS = ModelDirectory.WEIGHTS;

  private Checkpoint() {}

  /** The family of a model directory, from its config.json's model_type. */
  public static ModelFamily<?, ?> family(Path dir) throws IOException {
    Path f = ModelDirectory.config(dir);
    Object type = ConfigJson.parseMap(f.toString(), ConfigJson.readText(f)).get("model_type");
    return ModelFamily.forModelType(type instanceof String s ? s : null);
  }

  /** Reads only the config of a model directory. */
  public static <C> C readConfig(Path dir, ModelFamily<C, ?> family) throws IOException {
    return readConfigFile(ModelDirectory.config(dir), family);
  }

  /** Reads a config.json file. */
  public static <C> C readConfigFile(Path file, ModelFamily<C, ?> family) throws IOException {
    return parseConfig(file.toString(), ConfigJson.readText(file), family);
  }

  /** Parses config.json text; where names it in errors. */
  public static <C> C parseConfig(String where, String text, ModelFamily<C, ?> family)
      throws IOException {
    Map<String, Object> map = ConfigJson.parseMap(where, text);
    try {
      return family.parseConfig(new ConfigMap(map));
    } catch (IllegalArgumentException e) {
      throw new IOException(where + ": " + e.getMessage());
    }
  }

  /** config.json text (indented, final newline) of a family's fields. */
  public static String configText(Map<String, Object> fields) {
    return ConfigJson.toText(fields);
  }

  /** Writes a config.json file atomically. */
  public static void writeConfig(Path file, Map<String, Object> fields) throws IOException {
    AtomicFiles.writeString(file, configText(fields));
  }

  /** Loads a model directory onto ctx (with the optional parts its weights file holds). */
  public static <C, M extends AutoCloseable> M load(ComputeContext ctx, Path dir,
      ModelFamily<C, M> family) throws IOException {
    return load(ctx, dir, family, false);
  }

  /**
   * Loads a GPT model directory onto ctx for decoding with bf16 weights only ({@link
   * GptModel#createWithBf16Matrices}): each block matrix is read and rounded to bf16 one at a time,
   * so its float32 values are never all resident; embeddings, norms and biases load as float32.
   */
  public static GptModel loadBf16Matrices(ComputeContext ctx, Path dir) throws IOException {
    return load(ctx, dir, ModelFamily.GPT2, true);
  }

  /**
   * Loads a GPT model directory onto ctx for decoding with int8 weights only ({@link
   * GptModel#createWithInt8Matrices}): each block matrix is read and quantized to Q8_0 one at a
   * time (the bytes an int8 decoder's copies of a float32 model hold), so the float32 matrices are
   * never all resident and no float32 master stays beside the int8 one.
   */
  public static GptModel loadInt8Matrices(ComputeContext ctx, Path dir) throws IOException {
    dir = CheckpointDirectory.verified(dir);
    GptConfig config = readConfig(dir, ModelFamily.GPT2);
    try (SafeTensors.Reader r = SafeTensors.open(ModelDirectory.weights(dir))) {
      GptModel model;
      try {
        model = GptModel.createWithInt8Matrices(ctx, config);
      } catch (NativeMemoryException e) {
        throw new NativeMemoryException(dir + ": " + e.getMessage(), e.requestedBytes(), e);
      }
      try {
        loadInto(ModelFamily.GPT2, model, r, Set.of());
        return model;
      } catch (IOException | RuntimeException e) {
        closeQuietly(model, e);
        throw e;
      }
    }
  }

  private static <C, M extends AutoCloseable> M load(ComputeContext ctx, Path dir,
      ModelFamily<C, M> family, boolean bf16Matrices) throws IOException {
    return load(ctx, dir, family, bf16Matrices, Set.of());
  }

  /**
   * Loads a model directory whose weights file also holds the tensors named in headTensors (a task
   * head that the caller reads itself, e.g. {@code classifier.*}); they are not the model's.
   */
  public static <C, M extends AutoCloseable> M loadBeside(ComputeContext ctx, Path dir,
      ModelFamily<C, M> family, Set<String> headTensors) throws IOException {
    return load(ctx, dir, family, false, headTensors);
  }

  private static <C, M extends AutoCloseable> M load(ComputeContext ctx, Path dir,
      ModelFamily<C, M> family, boolean bf16Matrices, Set<String> headTensors) throws IOException {
    dir = CheckpointDirectory.verified(dir); // the latest checkpoint, its files' digests checked
    C config = readConfig(dir, family);
    Path weights = ModelDirectory.weights(dir);
    try (SafeTensors.Reader r = SafeTensors.open(weights)) {
      M model;
      try {
        model = family.create(ctx, config, r.entries().keySet(), bf16Matrices);
      } catch (NativeMemoryException e) {
        throw new NativeMemoryException(dir + ": " + e.getMessage(), e.requestedBytes(), e);
      }
      try {
        loadInto(family, model, r, headTensors);
        return model;
      } catch (IOException | RuntimeException e) {
        closeQuietly(model, e);
        throw e;
      }
    }
  }

  /**
   * Copies every parameter of the model from an open file, checking names and shapes first (a
   * bf16 parameter gets the file's values rounded to bf16).
   */
  public static <C, M extends AutoCloseable> void loadInto(ModelFamily<C, M> family, M model,
      SafeTensors.Reader r) throws IOException {
    loadInto(family, model, r, Set.of());
  }

  private static <C, M extends AutoCloseable> void loadInto(ModelFamily<C, M> family, M model,
      SafeTensors.Reader r, Set<String> headTensors) throws IOException {
    Set<String> fileTensors = r.entries().keySet();
    C config = family.config(model);
    boolean prefixed = fileTensors.stream().anyMatch(k -> k.startsWith(family.prefix()));
    List<String> names = family.parameterNames(model);
    String[] fileNames = new String[names.size()];
    List<String> missing = new ArrayList<>();
    Set<String> used = new HashSet<>();
    List<ModelFamily.ZeroTensor> zeros = new ArrayList<>();
    // validate everything before copying anything
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      String fileName = family.fileName(name, prefixed, fileTensors);
      fileNames[i] = fileName;
      for (ModelFamily.ZeroTensor z : family.zeroTensorsAfter(name, config)) {
        zeros.add(new ModelFamily.ZeroTensor(family.fileName(z.name(), prefixed, fileTensors),
            z.shape(), z.nonZeroError()));
      }
      SafeTensors.Entry e = r.entries().get(fileName);
      if (e == null) {
        missing.add(fileName);
        continue;
      }
      used.add(fileName);
      long[] want = model instanceof GptModel g ? g.parameterShape(name)
          : family.parameter(model, name).shape(); // an int8 matrix: its (in, out)
      if (!Arrays.equals(e.shape(), want)) {
        throw new IOException(r.path() + ": config/weights mismatch: tensor '" + fileName
            + "' has shape " + Arrays.toString(e.shape()) + ", the config needs "
            + Arrays.toString(want));
      }
    }
    for (ModelFamily.ZeroTensor z : zeros) {
      if (fileTensors.contains(z.name())) {
        requireZero(r, z);
        used.add(z.name());
      }
    }
    List<String> unexpected = new ArrayList<>();
    for (String k : fileTensors) {
      if (!used.contains(k) && !family.skipped(k, config) && !headTensors.contains(k)) {
        unexpected.add(k);
      }
    }
    if (!missing.isEmpty() || !unexpected.isEmpty()) {
      throw new IOException(r.path() + ": config/weights mismatch ("
          + family.mismatchHint(fileTensors, missing, model) + ")"
          + (missing.isEmpty() ? "" : "; missing " + missing.size() + ": " + list(missing))
          + (unexpected.isEmpty() ? "" : "; unexpected " + unexpected.size() + ": "
              + list(unexpected)));
    }
    for (int i = 0; i < names.size(); i++) {
      Tensor t = family.parameter(model, names.get(i));
      float[] values = r.readFiniteFloats(fileNames[i]);
      if (t.dtype() == DType.BFLOAT16) {
        try (Tensor f32 = Tensor.of(t.context(), values, t.shape())) {
          Bf16Ops.narrow(t.context(), t, f32);
        }
      } else if (t.dtype() == DType.INT8) { // one (in, out) matrix in float32 at a time
        try (Tensor f32 = Tensor.of(t.context(), values, ((GptModel) model).parameterShape(
            names.get(i)))) {
          Int8Ops.quantize(t.context(), t, f32, true);
        }
      } else {
        t.copyFrom(values);
      }
    }
  }

  /** A zero tensor that save() writes for Hugging Face; anything else would be dropped weights. */
  private static void requireZero(SafeTensors.Reader r, ModelFamily.ZeroTensor z)
      throws IOException {
    for (float v : r.readFloats(z.name())) {
      if (v != 0f) {
        throw new IOException(r.path() + ": " + String.format(z.nonZeroError(), z.name()));
      }
    }
  }

  private static String list(List<String> names) {
    int n = Math.min(names.size(), 6);
    return String.join(", ", names.subList(0, n)) + (names.size() > n ? ", ..." : "");
  }

  /**
   * Writes {@code config.json} and {@code model.safetensors} into dir (created if needed), each
   * atomically. metadata goes into the safetensors header ({@code format: pt} is always set, as
   * Hugging Face expects).
   */
  public static <C, M extends AutoCloseable> void save(ModelFamily<C, M> family, M model,
      Path dir, Map<String, String> metadata) throws IOException {
    String unsavable = family.unsavable(model);
    if (unsavable != null) {
      throw new IllegalArgumentException(unsavable);
    }
    Files.createDirectories(dir);
    SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
    metadata.forEach(w::metadata);
    C config = family.config(model);
    for (String name : family.parameterNames(model)) {
      Tensor t = family.parameter(model, name);
      w.add(name, SafeTensors.DType.F32, t.shape(),
          ch -> SafeTensors.writeFloats(ch, t.toFloatArray()));
      for (ModelFamily.ZeroTensor z : family.zeroTensorsAfter(name, config)) {
        int n = Math.toIntExact(Arrays.stream(z.shape()).reduce(1, (a, b) -> a * b));
        w.add(z.name(), SafeTensors.DType.F32, z.shape(),
            ch -> SafeTensors.writeFloats(ch, new float[n]));
      }
    }
    w.write(dir.resolve(WEIGHTS));
    writeConfig(dir.resolve(CONFIG), family.configJson(model));
  }

  public static <C, M extends AutoCloseable> void save(ModelFamily<C, M> family, M model,
      Path dir) throws IOException {
    save(family, model, dir, Map.of());
  }

  /** A loaded classifier directory: the model, classifier.json and the head's tensors by name. */
  public record Classifier<M>(M model, ClassifierHead.Meta meta, Map<String, float[]> head) {}

  /**
   * Writes a classifier directory: the model (tagged {@code fuselm_task:
   * sequence-classification}), its head ({@link ClassifierHead}) and, when tokenizerFrom is
   * given, the tokenizer files of that model directory.
   */
  public static <C, M extends AutoCloseable> void saveClassifier(ModelFamily<C, M> family,
      M model, Path dir, ClassifierHead.Meta meta, Map<String, float[]> head, Path tokenizerFrom)
      throws IOException {
    Files.createDirectories(dir);
    save(family, model, dir, Map.of("fuselm_task", "sequence-classification"));
    ClassifierHead.save(family, family.config(model), dir, meta, head);
    if (tokenizerFrom != null) {
      copyTokenizerFiles(family, tokenizerFrom, dir);
    }
  }

  /**
   * Writes clf as a classifier directory (see above): classifier.json records maxLength and, for
   * a BERT model, whether its inputs are sentence pairs.
   */
  public static void saveClassifier(SequenceClassifier<?> clf, int maxLength,
      boolean sentencePairs, Path dir, Path tokenizerFrom) throws IOException {
    ClassifierHead.Meta meta = new ClassifierHead.Meta(clf.labels(), clf.padId(), maxLength,
        sentencePairs);
    if (clf.backbone() instanceof GptModel gpt) {
      saveClassifier(ModelFamily.GPT2, gpt, dir, meta, clf.headTensors(), tokenizerFrom);
    } else if (clf.backbone() instanceof BertModel bert) {
      saveClassifier(ModelFamily.BERT, bert, dir, meta, clf.headTensors(), tokenizerFrom);
    } else {
      throw new IllegalArgumentException("no model directory layout for a "
          + clf.backbone().getClass().getSimpleName());
    }
  }

  /**
   * Loads a classifier directory of family as a {@link SequenceClassifier} in the family's
   * published layout; it owns the model.
   */
  public static <C, M extends Backbone> SequenceClassifier<M> loadSequenceClassifier(
      ComputeContext ctx, Path dir, ModelFamily<C, M> family) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    Classifier<M> c = loadClassifier(ctx, dir, family);
    try {
      return SequenceClassifier.of(c.model(), c.meta().labels(), c.meta().padId(), c.head());
    } catch (RuntimeException e) {
      closeQuietly(c.model(), e);
      throw e;
    }
  }

  /** Loads a classifier directory onto ctx (classifier.json is read first). */
  public static <C, M extends AutoCloseable> Classifier<M> loadClassifier(ComputeContext ctx,
      Path dir, ModelFamily<C, M> family) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    ClassifierHead.Meta meta = ClassifierHead.readMeta(dir);
    M model = load(ctx, dir, family);
    try {
      return new Classifier<>(model, meta,
          ClassifierHead.read(family, family.config(model), dir, meta));
    } catch (IOException | RuntimeException e) {
      closeQuietly(model, e);
      throw e;
    }
  }

  /**
   * Copies the family's tokenizer files that exist in from (a model directory) into dir,
   * atomically; nothing when both are the same directory.
   */
  public static void copyTokenizerFiles(ModelFamily<?, ?> family, Path from, Path dir)
      throws IOException {
    if (from.toAbsolutePath().equals(dir.toAbsolutePath())) {
      return;
    }
    for (String f : family.tokenizerFiles()) {
      Path src = from.resolve(f);
      if (Files.isRegularFile(src)) {
        byte[] bytes = Files.readAllBytes(src);
        AtomicFiles.write(dir.resolve(f), ch -> ch.write(java.nio.ByteBuffer.wrap(bytes)));
      }
    }
  }

  /**
   * Writes a WordPiece vocabulary as {@code vocab.txt} (one token per line, by id) and a
   * {@code tokenizer_config.json} saying whether it lower-cases: Hugging Face's BertTokenizer
   * lower-cases by default, which would be wrong for a cased vocabulary.
   */
  public static void saveVocab(WordPieceTokenizer tokenizer, Path dir)
      throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int id = 0; id < tokenizer.vocabSize(); id++) {
      sb.append(tokenizer.idToToken(id)).append('\n');
    }
    Files.createDirectories(dir);
    AtomicFiles.writeString(dir.resolve(Tokenizers.VOCAB_TXT), sb.toString());
    Map<String, Object> tc = new java.util.LinkedHashMap<>();
    tc.put("tokenizer_class", "BertTokenizer");
    tc.put("do_lower_case", tokenizer.normalizer().lowercase());
    AtomicFiles.writeString(dir.resolve("tokenizer_config.json"), ConfigJson.toText(tc));
  }

  /**
   * Loads a BERT model directory (config.json, model.safetensors, its WordPiece vocabulary) as a
   * sentence embedder that owns the model; maxLength is capped at the model's positions. A
   * sentence-transformers directory's pooling and normalisation ({@link SentenceTransformers})
   * become the embedder's defaults; a plain directory's are mean pooling, not normalised.
   */
  public static SentenceEmbedder loadEmbedder(ComputeContext ctx, Path dir, int maxLength,
      int batchSize) throws IOException {
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    readConfig(dir, ModelFamily.BERT); // a missing directory or config first, then the vocabulary
    WordPieceTokenizer tok = Tokenizers.wordPiece(dir);
    SentenceTransformers.Pipeline p = SentenceTransformers.read(dir);
    return SentenceEmbedder.owning(load(ctx, dir, ModelFamily.BERT), tok, maxLength, batchSize,
        p == null ? Pooling.MEAN : p.pooling(), p != null && p.normalize());
  }

  private static void closeQuietly(AutoCloseable model, Exception cause) {
    try {
      model.close();
    } catch (Exception e) {
      cause.addSuppressed(e);
    }
  }
}
