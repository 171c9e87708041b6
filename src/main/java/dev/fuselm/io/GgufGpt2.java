package dev.fuselm.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * GPT-2 models between fuselm's Hugging Face directories and GGUF files in llama.cpp's layout (as
 * its convert_hf_to_gguf.py writes GPT-2): tensors {@code token_embd}, {@code position_embd},
 * {@code blk.N.attn_norm}, {@code attn_qkv}, {@code attn_output}, {@code ffn_norm}, {@code ffn_up},
 * {@code ffn_down}, {@code output_norm} and, for an untied head, {@code output}; the four block
 * matrices stored transposed from Hugging Face's Conv1D (in, out) to (out, in); hyperparameters
 * under {@code gpt2.*}; the tokenizer as {@code tokenizer.ggml.model = gpt2} with its tokens and
 * merges. Vectors (norms, biases) are always F32, matrices the chosen type (a matrix whose rows
 * are not a multiple of 32 stays F32 under Q8_0).
 */
public final class GgufGpt2 {
  static final String ARCH = "gpt2";
  /** ggml token types: normal, control (special tokens), unused (padding rows). */
  static final int TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5;

  private GgufGpt2() {}

  /** llama.cpp's general.file_type for a tensor type (F32 0, F16 1, Q8_0 7, BF16 32). */
  static int fileType(GgufType t) {
    return switch (t) {
      case F32 -> 0;
      case F16 -> 1;
      case Q8_0 -> 7;
      case BF16 -> 32;
      default -> throw new IllegalArgumentException("fuselm writes GGUF as f32, f16, bf16 or"
          + " q8_0, not " + t);
    };
  }

  /** The type named by --type's words: f32, f16, bf16, q8_0. */
  public static GgufType parseType(String s) {
    return switch (s.toLowerCase(java.util.Locale.ROOT)) {
      case "f32" -> GgufType.F32;
      case "f16" -> GgufType.F16;
      case "bf16" -> GgufType.BF16;
      case "q8_0" -> GgufType.Q8_0;
      default -> throw new IllegalArgumentException("GGUF type '" + s + "' is not one of f32,"
          + " f16, bf16, q8_0");
    };
  }

  /** Hugging Face name and shape -> GGUF name, and whether the matrix is stored transposed. */
  record Mapping(String hf, long[] hfShape, String gguf, boolean transposed) {}

  static List<Mapping> mappings(GptConfig c) {
    String p = GptModel.PREFIX;
    long d = c.dModel();
    List<Mapping> m = new ArrayList<>();
    m.add(new Mapping(p + "wte.weight", new long[] {c.vocabSize(), d}, "token_embd.weight", false));
    m.add(new Mapping(p + "wpe.weight", new long[] {c.contextLength(), d}, "position_embd.weight",
        false));
    for (int l = 0; l < c.nLayer(); l++) {
      String h = p + "h." + l + ".";
      String b = "blk." + l + ".";
      m.add(new Mapping(h + "ln_1.weight", new long[] {d}, b + "attn_norm.weight", false));
      m.add(new Mapping(h + "ln_1.bias", new long[] {d}, b + "attn_norm.bias", false));
      m.add(new Mapping(h + "attn.c_attn.weight", new long[] {d, 3 * d}, b + "attn_qkv.weight",
          true));
      m.add(new Mapping(h + "attn.c_attn.bias", new long[] {3 * d}, b + "attn_qkv.bias", false));
      m.add(new Mapping(h + "attn.c_proj.weight", new long[] {d, d}, b + "attn_output.weight",
          true));
      m.add(new Mapping(h + "attn.c_proj.bias", new long[] {d}, b + "attn_output.bias", false));
      m.add(new Mapping(h + "ln_2.weight", new long[] {d}, b + "ffn_norm.weight", false));
      m.add(new Mapping(h + "ln_2.bias", new long[] {d}, b + "ffn_norm.bias", false));
      m.add(new Mapping(h + "mlp.c_fc.weight", new long[] {d, 4 * d}, b + "ffn_up.weight", true));
      m.add(new Mapping(h + "mlp.c_fc.bias", new long[] {4 * d}, b + "ffn_up.bias", false));
      m.add(new Mapping(h + "mlp.c_proj.weight", new long[] {4 * d, d}, b + "ffn_down.weight",
          true));
      m.add(new Mapping(h + "mlp.c_proj.bias", new long[] {d}, b + "ffn_down.bias", false));
    }
    m.add(new Mapping(p + "ln_f.weight", new long[] {d}, "output_norm.weight", false));
    m.add(new Mapping(p + "ln_f.bias", new long[] {d}, "output_norm.bias", false));
    if (!c.tiedHead()) {
      m.add(new Mapping("lm_head.weight", new long[] {c.vocabSize(), d}, "output.weight", false));
    }
    return m;
  }

  /** The row-major transpose of a rows x cols matrix. */
  static float[] transpose(float[] a, int rows, int cols) {
    float[] t = new float[a.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = a[r * cols + c];
      }
    }
    return t;
  }

  // -----------------------------------------------------------------------------------------------
  // export

  /** What {@link #export} wrote: tensor count by stored type, and the tokenizer's size. */
  public record ExportResult(GptConfig config, Map<GgufType, Integer> tensorsByType,
      int tokens) {}

  /**
   * Writes the GPT-2 model directory dir as one GGUF file, matrices stored as type. The tokenizer
   * comes from dir (or is GPT-2's for a 50,257-token model without tokenizer files).
   */
  public static ExportResult export(ComputeContext ctx, Path dir, Path out, GgufType type)
      throws IOException {
    fileType(type);
    if (!(Checkpoint.family(dir) == ModelFamily.GPT2)) {
      throw new IOException(dir + ": GGUF export supports GPT-2 models; this directory's"
          + " model_type is not gpt2");
    }
    GptConfig c = Checkpoint.readConfig(dir, ModelFamily.GPT2);
    Gpt2BpeTokenizer tok = (Gpt2BpeTokenizer) Tokenizers.forModel(dir, c.vocabSize());
    GgufWriter w = new GgufWriter();
    Path name = dir.toAbsolutePath().normalize().getFileName();
    w.putString("general.architecture", ARCH)
        .putString("general.name", name == null ? "fuselm" : name.toString())
        .putUint32("general.file_type", fileType(type))
        .putUint32("general.quantization_version", 2)
        .putUint32(ARCH + ".context_length", c.contextLength())
        .putUint32(ARCH + ".embedding_length", c.dModel())
        .putUint32(ARCH + ".feed_forward_length", 4L * c.dModel())
        .putUint32(ARCH + ".block_count", c.nLayer())
        .putUint32(ARCH + ".attention.head_count", c.nHead())
        .putFloat32(ARCH + ".attention.layer_norm_epsilon", c.layerNormEps());
    int tokens = putTokenizer(w, tok, c.vocabSize());
    Map<GgufType, Integer> counts = new LinkedHashMap<>();
    try (GptModel m = Checkpoint.load(ctx, dir, ModelFamily.GPT2)) {
      for (Mapping mp : mappings(c)) {
        long[] shape = mp.hfShape;
        float[] v = mp.hf.endsWith("attn.c_attn.bias") && !c.qkvBias()
            ? new float[3 * c.dModel()] // llama.cpp's GPT-2 needs the bias: zero computes the same
            : m.parameter(mp.hf).toFloatArray();
        if (mp.transposed) {
          v = transpose(v, (int) shape[0], (int) shape[1]);
          shape = new long[] {shape[1], shape[0]};
        }
        GgufType ty = shape.length == 1 ? GgufType.F32
            : type == GgufType.Q8_0 && shape[1] % 32 != 0 ? GgufType.F32 : type;
        w.tensor(mp.gguf, shape, ty, v);
        counts.merge(ty, 1, Integer::sum);
      }
    }
    w.write(out);
    return new ExportResult(c, counts, tokens);
  }

  /** tokenizer.ggml.* for a GPT-2 BPE tokenizer, padded with unused tokens to the model's rows. */
  static int putTokenizer(GgufWriter w, Gpt2BpeTokenizer tok, int vocabSize) {
    List<String> tokens = new ArrayList<>(vocabSize);
    List<Integer> types = new ArrayList<>(vocabSize);
    Set<String> specials = tok.specialTokens().keySet();
    for (int id = 0; id < tok.vocabSize(); id++) {
      String s = tok.idToToken(id);
      tokens.add(s);
      types.add(specials.contains(s) ? TOKEN_CONTROL : TOKEN_NORMAL);
    }
    for (int id = tok.vocabSize(); id < vocabSize; id++) {
      tokens.add("[PAD" + id + "]"); // as llama.cpp's converter pads a vocabulary
      types.add(TOKEN_UNUSED);
    }
    List<String> merges = new ArrayList<>(tok.mergeCount());
    for (int r = 0; r < tok.mergeCount(); r++) {
      merges.add(tok.merge(r));
    }
    w.putString("tokenizer.ggml.model", "gpt2").putString("tokenizer.ggml.pre", "gpt-2")
        .putArray("tokenizer.ggml.tokens", GgufFile.STRING, tokens)
        .putArray("tokenizer.ggml.token_type", GgufFile.INT32, types)
        .putArray("tokenizer.ggml.merges", GgufFile.STRING, merges);
    Integer eot = tok.specialTokens().get(Gpt2BpeTokenizer.END_OF_TEXT);
    if (eot != null) {
      w.putUint32("tokenizer.ggml.bos_token_id", eot).putUint32("tokenizer.ggml.eos_token_id", eot);
    }
    return tok.vocabSize();
  }

  // -----------------------------------------------------------------------------------------------
  // import

  /** What {@link #toDirectory} found: the config, tensor count by stored type, tokens written. */
  public record ImportResult(GptConfig config, Map<GgufType, Integer> tensorsByType, int tokens) {}

  /**
   * Writes a GGUF GPT-2 file as a Hugging Face GPT-2 directory (config.json, model.safetensors in
   * float32, and encoder.json + vocab.bpe from the file's tokenizer when it has one).
   */
  public static ImportResult toDirectory(Path file, Path out) throws IOException {
    try (GgufFile g = GgufFile.open(file)) {
      GptConfig c = config(g);
      List<Mapping> maps = mappings(c);
      Files.createDirectories(out);
      SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
      Map<GgufType, Integer> counts = new LinkedHashMap<>();
      for (Mapping mp : maps) {
        GgufFile.TensorInfo t = g.tensor(mp.gguf);
        long[] hfShape = mp.hfShape;
        long[] stored = mp.transposed ? new long[] {hfShape[1], hfShape[0]} : hfShape;
        if (!Arrays.equals(t.shape(), stored)) {
          throw new IOException(file + ": tensor '" + mp.gguf + "' has shape "
              + Arrays.toString(t.shape()) + ", the hyperparameters need "
              + Arrays.toString(stored));
        }
        float[] v = g.floats(mp.gguf);
        for (float x : v) {
          if (!Float.isFinite(x)) {
            throw new IOException(file + ": tensor '" + mp.gguf + "' holds a non-finite value");
          }
        }
        if (mp.transposed) {
          v = transpose(v, (int) stored[0], (int) stored[1]);
        }
        w.addFloats(mp.hf, hfShape, v);
        counts.merge(t.type(), 1, Integer::sum);
      }
      w.write(out.resolve(Checkpoint.WEIGHTS));
      Checkpoint.writeConfig(out.resolve(Checkpoint.CONFIG), ModelFamily.GPT2.configJson(c));
      int tokens = writeTokenizer(g, out);
      return new ImportResult(c, counts, tokens);
    }
  }

  /**
   * The GPT-2 config of an open GGUF file: its hyperparameters checked, and any tensor a GPT-2 of
   * that size does not have refused by name.
   */
  static GptConfig config(GgufFile g) throws IOException {
    Path file = g.path();
    GgufFile.Value arch = g.require("general.architecture");
    if (!ARCH.equals(arch.value())) {
      throw new IOException(file + ": architecture '" + arch.value() + "' is not supported"
          + " (fuselm imports gpt2 GGUF files)");
    }
    int layers = (int) g.requireInt(ARCH + ".block_count", 1, 1 << 12);
    int dModel = (int) g.requireInt(ARCH + ".embedding_length", 1, 1 << 16);
    int heads = (int) g.requireInt(ARCH + ".attention.head_count", 1, 1 << 12);
    int ctxLen = (int) g.requireInt(ARCH + ".context_length", 1, 1 << 24);
    if (g.metadata().containsKey(ARCH + ".feed_forward_length")) {
      long ff = g.requireInt(ARCH + ".feed_forward_length", 1, 1L << 20);
      if (ff != 4L * dModel) {
        throw new IOException(file + ": feed_forward_length " + ff + " is not 4 x"
            + " embedding_length " + dModel + " (fuselm's GPT-2 MLP is 4 x wide)");
      }
    }
    float eps = 1e-5f;
    GgufFile.Value e = g.metadata().get(ARCH + ".attention.layer_norm_epsilon");
    if (e != null) {
      if (e.type() != GgufFile.FLOAT32) {
        throw new IOException(file + ": " + ARCH + ".attention.layer_norm_epsilon is not a"
            + " float32");
      }
      eps = (Float) e.value();
    }
    long[] emb = g.tensor("token_embd.weight").shape();
    if (emb.length != 2 || emb[1] != dModel || emb[0] > Integer.MAX_VALUE) {
      throw new IOException(file + ": token_embd.weight has shape " + Arrays.toString(emb)
          + ", expected (vocab, " + dModel + ")");
    }
    boolean tied = !g.tensors().containsKey("output.weight");
    GptConfig c;
    try {
      c = new GptConfig((int) emb[0], ctxLen, dModel, layers, heads, 0.1f, 0.1f, 0.1f, true,
          tied, eps);
    } catch (IllegalArgumentException ex) {
      throw new IOException(file + ": " + ex.getMessage());
    }
    List<Mapping> maps = mappings(c);
    Set<String> expected = new LinkedHashSet<>();
    maps.forEach(mp -> expected.add(mp.gguf));
    List<String> unexpected = new ArrayList<>();
    for (String k : g.tensors().keySet()) {
      if (!expected.contains(k)) {
        unexpected.add(k);
      }
    }
    if (!unexpected.isEmpty()) {
      throw new IOException(file + ": tensors a GPT-2 of " + layers + " blocks does not have: "
          + String.join(", ", unexpected.subList(0, Math.min(6, unexpected.size())))
          + (unexpected.size() > 6 ? ", ..." : ""));
    }
    return c;
  }

  /** encoder.json + vocab.bpe from tokenizer.ggml.*; 0 when the file has no tokenizer. */
  static int writeTokenizer(GgufFile g, Path out) throws IOException {
    GgufFile.Value model = g.metadata().get("tokenizer.ggml.model");
    if (model == null) {
      return 0;
    }
    if (!"gpt2".equals(model.value())) {
      throw new IOException(g.path() + ": tokenizer.ggml.model is '" + model.value() + "';"
          + " fuselm reads GPT-2 byte-level BPE (gpt2) tokenizers");
    }
    List<?> tokens = stringArray(g, "tokenizer.ggml.tokens");
    List<?> merges = stringArray(g, "tokenizer.ggml.merges");
    GgufFile.Value types = g.metadata().get("tokenizer.ggml.token_type");
    int n = tokens.size();
    if (types != null && types.value() instanceof List<?> ts && ts.size() == n) {
      while (n > 0 && Integer.valueOf(TOKEN_UNUSED).equals(ts.get(n - 1))) {
        n--; // padding rows of the embedding, not tokens
      }
    }
    Map<String, Integer> enc = new LinkedHashMap<>();
    for (int id = 0; id < n; id++) {
      if (enc.put((String) tokens.get(id), id) != null) {
        throw new IOException(g.path() + ": tokenizer.ggml.tokens has '" + tokens.get(id)
            + "' twice");
      }
    }
    StringBuilder bpe = new StringBuilder("#version: 0.2\n");
    for (Object m : merges) {
      bpe.append((String) m).append('\n');
    }
    Path encFile = out.resolve("encoder.json");
    Path bpeFile = out.resolve("vocab.bpe");
    AtomicFiles.write(encFile, ch -> SafeTensors.writeAll(ch,
        java.nio.ByteBuffer.wrap(new ObjectMapper().writeValueAsBytes(enc))));
    AtomicFiles.writeString(bpeFile, bpe.toString());
    try {
      Gpt2BpeTokenizer.fromFiles(encFile, bpeFile); // its own checks: every merge in the vocabulary
    } catch (IOException ex) {
      throw new IOException(g.path() + ": its tokenizer is not a valid GPT-2 BPE: "
          + ex.getMessage());
    }
    return n;
  }

  private static List<?> stringArray(GgufFile g, String key) throws IOException {
    GgufFile.Value v = g.require(key);
    if (v.type() != GgufFile.ARRAY || v.elementType() != GgufFile.STRING) {
      throw new IOException(g.path() + ": " + key + " is not an array of strings");
    }
    return (List<?>) v.value();
  }

  // -----------------------------------------------------------------------------------------------
  // loading a .gguf where a model directory is expected

  /** Whether path names a GGUF file (by its magic, or its .gguf name when unreadable). */
  public static boolean isGguf(Path path) {
    if (!Files.isRegularFile(path)) {
      return false;
    }
    try (var in = Files.newInputStream(path)) {
      byte[] m = in.readNBytes(4);
      return m.length == 4 && new String(m, StandardCharsets.ISO_8859_1).equals("GGUF");
    } catch (IOException e) {
      return path.getFileName().toString().endsWith(".gguf");
    }
  }

  /**
   * A model directory for path: path itself, or, for a GGUF file, a temporary directory it is
   * imported into (deleted when the JVM exits).
   */
  public static Path modelDirectory(Path path) throws IOException {
    if (!isGguf(path)) {
      return path;
    }
    Path tmp = Files.createTempDirectory("fuselm-gguf-");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(tmp)));
    toDirectory(path, tmp);
    return tmp;
  }

  static void deleteTree(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort at exit
    }
  }
}
