package dev.fuselm.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.io.onnx.OnnxProto.AttributeProto;
import dev.fuselm.io.onnx.OnnxProto.NodeProto;
import dev.fuselm.io.onnx.OnnxProto.TensorProto;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.model.Pooling;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.tokenizer.Tokenizer;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Imports an ONNX export of a BERT-family encoder (a {@code .onnx} file, or a jar holding one
 * and its {@code tokenizer.json}, as LangChain4j ships them) into a Hugging Face BERT directory
 * that {@link Checkpoint} loads.
 *
 * <p>Weights are found by graph structure, not by file: exporters constant-fold each
 * {@code nn.Linear} weight into an unnamed {@code (in, out)} initializer that is the right operand
 * of a MatMul whose output feeds an Add with a named {@code <prefix>.bias}; that weight is named
 * {@code <prefix>.weight} and transposed to Hugging Face's {@code (out, in)}. Gemm nodes name their
 * weight by their bias the same way. The config comes from the tensors' shapes (vocabulary,
 * hidden, intermediate, positions, token types, layers) and from the graph: the heads from the
 * attention's reshape, the layer-norm epsilon from the constant added under the square root (or
 * a LayerNormalization node's attribute), the activation from the op after the intermediate
 * dense (Erf: exact GELU). What it cannot map is refused naming the first node or tensor at
 * fault: a quantized graph, an op outside BERT's encoder (another architecture), a weight with no
 * place in fuselm's BERT.
 */
public final class OnnxImport {
  /** Ops of a float32 BERT encoder graph as PyTorch and Optimum export it. */
  private static final Set<String> BERT_OPS = Set.of("Constant", "ConstantOfShape", "Identity",
      "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "ReduceMean", "MatMul", "Gemm",
      "Gather", "Unsqueeze", "Squeeze", "Shape", "Concat", "Reshape", "Transpose", "Softmax",
      "Cast", "Slice", "Expand", "Equal", "Where", "LayerNormalization", "Not", "Less");
  /** Ops that only occur in quantized graphs. */
  private static final Set<String> QUANTIZED_OPS = Set.of("QuantizeLinear", "DequantizeLinear",
      "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "ConvInteger", "QGemm",
      "MatMulNBits", "DynamicQuantizeMatMul", "QAttention", "QOrderedMatMul", "QEmbedLayerNorm",
      "MatMulIntegerToFloat", "QLinearAdd");
  private static final int UINT8 = 2;
  private static final int INT8 = 3;

  private OnnxImport() {}

  /** What an import found: the config, the weights under Hugging Face names (no prefix). */
  public record Result(String where, BertConfig config, Map<String, float[]> weights) {}

  /** An ONNX model's bytes and, when there is one, its tokenizer.json's; where names them. */
  record Source(String where, byte[] onnx, String tokenizerWhere, byte[] tokenizerJson) {}

  /**
   * Imports onnxOrJar into dir: config.json, model.safetensors, vocab.txt +
   * tokenizer_config.json (from tokenizerJson, or the jar's or a sibling {@code tokenizer.json}),
   * and sentence-transformers' modules.json with the given pooling and normalisation.
   *
   * @param tokenizerJson a tokenizer.json to use, or null to find one beside the model
   */
  public static Result toDirectory(Path onnxOrJar, Path tokenizerJson, Path dir, Pooling pooling,
      boolean normalize) throws IOException {
    Source src = read(onnxOrJar, tokenizerJson);
    Result r = importGraph(OnnxGraph.parse(src.where(), src.onnx()));
    WordPieceTokenizer tok = src.tokenizerJson() == null ? null : tokenizer(src);
    if (tok != null && tok.vocabSize() > r.config().vocabSize()) {
      throw new IOException(src.tokenizerWhere() + ": " + tok.vocabSize() + " tokens, but the"
          + " model's vocabulary has " + r.config().vocabSize());
    }
    Files.createDirectories(dir);
    try (ComputeContext ctx = ComputeContext.create(); BertModel m = toModel(ctx, r)) {
      Checkpoint.save(ModelFamily.BERT, m, dir, Map.of("fuselm_source", "onnx"));
    }
    if (tok != null) {
      Checkpoint.saveVocab(tok, dir);
    }
    SentenceTransformers.write(dir, r.config().hiddenSize(), pooling, normalize);
    return r;
  }

  /**
   * Loads onnxOrJar (with its tokenizer.json, as {@link #toDirectory}) as a sentence embedder
   * with the given pooling and normalisation as its defaults: the import goes through a temporary
   * directory, deleted before this returns.
   */
  public static SentenceEmbedder loadEmbedder(ComputeContext ctx, Path onnxOrJar,
      Path tokenizerJson, Pooling pooling, boolean normalize, int maxLength, int batchSize)
      throws IOException {
    Path tmp = Files.createTempDirectory("fuselm-onnx");
    try {
      toDirectory(onnxOrJar, tokenizerJson, tmp, pooling, normalize);
      if (!Files.isRegularFile(tmp.resolve(Tokenizers.VOCAB_TXT))) {
        throw new IOException(onnxOrJar + ": no tokenizer.json inside or beside it; give one");
      }
      return Checkpoint.loadEmbedder(ctx, tmp, maxLength, batchSize);
    } finally {
      try (Stream<Path> s = Files.walk(tmp)) {
        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /**
   * A BertModel holding an import's weights (no pooler unless the graph has one); every float
   * tensor of the graph must have its place in it, and none may be missing.
   */
  static BertModel toModel(ComputeContext ctx, Result r) throws IOException {
    boolean pooler = r.weights().containsKey("pooler.dense.weight");
    BertModel m = BertModel.create(ctx, r.config(), pooler, false);
    try {
      Set<String> expected = new HashSet<>();
      List<String> missing = new ArrayList<>();
      for (String name : m.parameterNames()) {
        String hf = hfName(name);
        expected.add(hf);
        float[] v = r.weights().get(hf);
        Tensor t = m.params().get(name);
        if (v == null || v.length != t.numel()) {
          missing.add(hf + (v == null ? "" : " (" + v.length + " values, want " + t.numel()
              + ")"));
        }
      }
      List<String> unexpected = r.weights().keySet().stream()
          .filter(n -> !expected.contains(n)).toList();
      if (!missing.isEmpty() || !unexpected.isEmpty()) {
        throw new IOException(r.where() + ": tensors that do not map onto BERT"
            + (unexpected.isEmpty() ? "" : "; no place for " + list(unexpected))
            + (missing.isEmpty() ? "" : "; missing " + list(missing)));
      }
      for (String name : m.parameterNames()) {
        m.params().get(name).copyFrom(r.weights().get(hfName(name)));
      }
      return m;
    } catch (IOException | RuntimeException e) {
      m.close();
      throw e;
    }
  }

  /** Reads a .onnx file (with tokenizerJson or a sibling tokenizer.json) or a jar/zip. */
  static Source read(Path path, Path tokenizerJson) throws IOException {
    if (!Files.isRegularFile(path)) {
      throw new IOException(path + ": no such file");
    }
    byte[] tok = tokenizerJson == null ? null : Files.readAllBytes(tokenizerJson);
    String tokWhere = tokenizerJson == null ? null : tokenizerJson.toString();
    byte[] head = new byte[4];
    try (InputStream in = Files.newInputStream(path)) {
      in.readNBytes(head, 0, 4);
    }
    if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
      try (ZipFile zip = new ZipFile(path.toFile())) {
        List<ZipEntry> onnx = new ArrayList<>();
        List<ZipEntry> toks = new ArrayList<>();
        zip.stream().forEach(e -> {
          if (e.getName().endsWith(".onnx")) {
            onnx.add(e);
          } else if (e.getName().endsWith("tokenizer.json")) {
            toks.add(e);
          }
        });
        if (onnx.size() != 1) {
          throw new IOException(path + ": holds " + onnx.size() + " .onnx files"
              + (onnx.isEmpty() ? "" : " (" + onnx.stream().map(ZipEntry::getName).toList()
                  + ")") + "; the importer takes an archive with exactly one");
        }
        if (tok == null && toks.size() == 1) {
          tokWhere = path + "!/" + toks.get(0).getName();
          try (InputStream in = zip.getInputStream(toks.get(0))) {
            tok = in.readAllBytes();
          }
        }
        String where = path + "!/" + onnx.get(0).getName();
        try (InputStream in = zip.getInputStream(onnx.get(0))) {
          return new Source(where, in.readAllBytes(), tokWhere, tok);
        }
      }
    }
    Path sibling = path.toAbsolutePath().resolveSibling("tokenizer.json");
    if (tok == null && Files.isRegularFile(sibling)) {
      tok = Files.readAllBytes(sibling);
      tokWhere = sibling.toString();
    }
    if (Files.size(path) > Integer.MAX_VALUE - 64) {
      throw new IOException(path + ": over 2 GiB; the importer reads ONNX files up to 2 GiB");
    }
    return new Source(path.toString(), Files.readAllBytes(path), tokWhere, tok);
  }

  /**
   * The WordPiece tokenizer of a tokenizer.json, refused when its normaliser is one that fuselm's
   * BERT normaliser does not reproduce (it strips accents exactly when it lower-cases).
   */
  static WordPieceTokenizer tokenizer(Source src) throws IOException {
    String where = src.tokenizerWhere();
    JsonNode root = new ObjectMapper().readTree(src.tokenizerJson());
    String model = root.path("model").path("type").asText("");
    if (!model.equals("WordPiece")) {
      throw new IOException(where + ": a " + (model.isEmpty() ? "non-WordPiece" : model)
          + " tokenizer; the importer takes BERT's WordPiece");
    }
    JsonNode norm = root.path("normalizer");
    if (!norm.path("type").asText("").equals("BertNormalizer")) {
      throw new IOException(where + ": normalizer " + norm.path("type").asText("(none)")
          + " is not supported (fuselm's WordPiece applies BERT's normalizer)");
    }
    boolean lower = norm.path("lowercase").asBoolean(true);
    JsonNode strip = norm.path("strip_accents");
    if (strip.isBoolean() && strip.asBoolean() != lower) {
      throw new IOException(where + ": strip_accents " + strip.asBoolean() + " with lowercase "
          + lower + " is not supported (fuselm strips accents exactly when it lower-cases)");
    }
    if (!norm.path("clean_text").asBoolean(true)
        || !norm.path("handle_chinese_chars").asBoolean(true)) {
      throw new IOException(where + ": a BertNormalizer without clean_text or"
          + " handle_chinese_chars is not supported");
    }
    Path tmp = Files.createTempFile("fuselm-tokenizer", ".json");
    try {
      Files.write(tmp, src.tokenizerJson());
      Tokenizer t = Tokenizers.load(tmp);
      if (!(t instanceof WordPieceTokenizer wp)) {
        throw new IOException(where + ": not a WordPiece tokenizer");
      }
      return wp;
    } catch (IOException e) {
      throw new IOException(where + ": " + e.getMessage().replace(tmp.toString(), ""), e);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Maps a parsed graph onto BERT: names, config, weights; refuses what it cannot map. */
  static Result importGraph(OnnxGraph g) throws IOException {
    checkOps(g);
    Map<String, float[]> weights = new LinkedHashMap<>();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    Set<String> used = new HashSet<>();
    for (NodeProto n : g.nodes()) {
      boolean gemm = n.getOpType().equals("Gemm");
      if (!(n.getOpType().equals("MatMul") || gemm) || n.getInputCount() < 2) {
        continue;
      }
      TensorProto w = g.initializers.get(n.getInput(1));
      if (w == null || w.getDimsCount() != 2) {
        continue; // activation x activation (attention scores)
      }
      String bias = gemm && n.getInputCount() > 2 && g.initializers.containsKey(n.getInput(2))
          ? n.getInput(2) : biasOf(g, n);
      if (bias == null || !bias.endsWith(".bias")) {
        throw new IOException(g.where + ": node " + OnnxGraph.describe(n) + ": its weight '"
            + w.getName() + "' has no Add with a named <prefix>.bias to name it by; the"
            + " importer maps BERT exports whose linear layers are MatMul + Add(bias)");
      }
      String prefix = hfName(bias.substring(0, bias.length() - ".bias".length()));
      long[] s = OnnxGraph.shape(w);
      float[] v = g.floats(w);
      AttributeProto transB = OnnxGraph.attribute(n, "transB");
      boolean outIn = gemm && transB != null && transB.getI() == 1;
      weights.put(prefix + ".weight", outIn ? v : transpose(v, (int) s[0], (int) s[1]));
      shapes.put(prefix + ".weight", outIn ? s : new long[] {s[1], s[0]});
      used.add(w.getName());
    }
    for (TensorProto t : g.initializers.values()) {
      if (used.contains(t.getName())) {
        continue;
      }
      if (t.getDataType() == INT8 || t.getDataType() == UINT8) {
        throw new IOException(g.where + ": initializer '" + t.getName() + "' is "
            + (t.getDataType() == INT8 ? "int8" : "uint8") + ": a quantized graph, which the"
            + " importer does not read (it takes float32 exports)");
      }
      if (t.getDataType() != OnnxGraph.FLOAT || t.getName().startsWith("onnx::")
          || t.getName().startsWith("/") || OnnxGraph.elements(t) <= 1) {
        continue; // shape constants, position ids, folded scalars
      }
      String name = hfName(t.getName());
      weights.put(name, g.floats(t));
      shapes.put(name, OnnxGraph.shape(t));
    }
    return new Result(g.where, config(g, shapes), weights);
  }

  /** The first node whose op a float32 BERT encoder does not have, refused. */
  private static void checkOps(OnnxGraph g) throws IOException {
    for (NodeProto n : g.nodes()) {
      if (QUANTIZED_OPS.contains(n.getOpType())) {
        throw new IOException(g.where + ": a quantized graph (node " + OnnxGraph.describe(n)
            + "), which the importer does not read; it takes float32 BERT exports");
      }
    }
    for (NodeProto n : g.nodes()) {
      String dom = n.getDomain();
      if (!(dom.isEmpty() || dom.equals("ai.onnx")) || !BERT_OPS.contains(n.getOpType())) {
        throw new IOException(g.where + ": node " + OnnxGraph.describe(n) + " is not part of a"
            + " BERT encoder the importer maps (another architecture, or an optimized graph"
            + " with fused ops); it takes float32 BERT exports");
      }
    }
  }

  /** The named initializer added to n's output (the Add's other operand), or null. */
  private static String biasOf(OnnxGraph g, NodeProto n) {
    for (NodeProto c : g.consumers(n.getOutput(0))) {
      if (c.getOpType().equals("Add") && c.getInputCount() == 2) {
        String other = c.getInput(0).equals(n.getOutput(0)) ? c.getInput(1) : c.getInput(0);
        if (g.initializers.containsKey(other)) {
          return other;
        }
      }
    }
    return null;
  }

  /** Hugging Face's name without the base prefix (exports of BertModel have none). */
  private static String hfName(String name) {
    return name.startsWith(BertModel.PREFIX) ? name.substring(BertModel.PREFIX.length()) : name;
  }

  private static float[] transpose(float[] v, int rows, int cols) {
    float[] out = new float[v.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[c * rows + r] = v[r * cols + c];
      }
    }
    return out;
  }

  private static long[] need(OnnxGraph g, Map<String, long[]> shapes, String name, int rank)
      throws IOException {
    long[] s = shapes.get(name);
    if (s == null || s.length != rank) {
      throw new IOException(g.where + ": no " + rank + "-d float tensor '" + name + "' (or"
          + " bert." + name + "): not a BERT encoder export the importer maps; its tensors"
          + " start " + list(shapes.keySet()));
    }
    return s;
  }

  private static BertConfig config(OnnxGraph g, Map<String, long[]> shapes) throws IOException {
    long[] word = need(g, shapes, "embeddings.word_embeddings.weight", 2);
    long[] pos = need(g, shapes, "embeddings.position_embeddings.weight", 2);
    long[] types = need(g, shapes, "embeddings.token_type_embeddings.weight", 2);
    int hidden = (int) word[1];
    TreeSet<Integer> layers = new TreeSet<>();
    for (String k : shapes.keySet()) {
      if (k.startsWith("encoder.layer.")) {
        String rest = k.substring("encoder.layer.".length());
        layers.add(Integer.parseInt(rest.substring(0, rest.indexOf('.'))));
      }
    }
    if (layers.isEmpty() || layers.first() != 0 || layers.last() != layers.size() - 1) {
      throw new IOException(g.where + ": encoder layers " + layers + " are not 0..L-1");
    }
    long[] inter = need(g, shapes, "encoder.layer.0.intermediate.dense.bias", 1);
    int heads = heads(g, hidden);
    double eps = layerNormEps(g);
    activation(g);
    return new BertConfig((int) word[0], hidden, layers.size(), heads, (int) inter[0],
        (int) pos[0], (int) types[0], (float) eps, 0.1f, 0.1f);
  }

  /** The node consuming an initializer (named with or without the bert. prefix), or null. */
  private static NodeProto consumerOf(OnnxGraph g, String hfName, String op) {
    for (String n : List.of(hfName, BertModel.PREFIX + hfName)) {
      for (NodeProto c : g.consumers(n)) {
        if (op == null || c.getOpType().equals(op)) {
          return c;
        }
      }
    }
    return null;
  }

  /** Heads from the reshape of layer 0's query to (..., heads, head size). */
  private static int heads(OnnxGraph g, int hidden) throws IOException {
    NodeProto add = consumerOf(g, "encoder.layer.0.attention.self.query.bias", null);
    if (add != null) {
      for (NodeProto c : g.consumers(add.getOutput(0))) {
        if (c.getOpType().equals("Reshape")) {
          List<Double> e = g.shapeEntries(c.getInput(1));
          if (e != null && e.size() >= 2) {
            Double h = e.get(e.size() - 2);
            Double d = e.get(e.size() - 1);
            if (h != null && d != null && h > 0 && d > 0 && h * d == hidden) {
              return h.intValue();
            }
          }
        }
      }
    }
    throw new IOException(g.where + ": cannot infer the attention heads (no reshape of layer 0's"
        + " query to constant (heads, head size) with heads x head size = " + hidden + ")");
  }

  /** The epsilon of every layer norm; they must agree. */
  private static double layerNormEps(OnnxGraph g) throws IOException {
    Double eps = null;
    for (String name : g.initializers.keySet()) {
      if (!name.endsWith("LayerNorm.weight")) {
        continue;
      }
      double e = epsOf(g, name);
      if (eps != null && Math.abs(e - eps) > 1e-6 * Math.abs(eps)) {
        throw new IOException(g.where + ": layer norms with different epsilons (" + eps + ", "
            + e + " at " + name + "); fuselm's BERT has one");
      }
      eps = e;
    }
    if (eps == null) {
      throw new IOException(g.where + ": no LayerNorm.weight tensors: not a BERT encoder");
    }
    return eps;
  }

  /** (x - mean) / sqrt(var + eps) * weight: the constant added under the Sqrt. */
  private static double epsOf(OnnxGraph g, String weight) throws IOException {
    for (NodeProto c : g.consumers(weight)) {
      if (c.getOpType().equals("LayerNormalization")) {
        AttributeProto a = OnnxGraph.attribute(c, "epsilon");
        return a == null ? 1e-5 : a.getF();
      }
      if (c.getOpType().equals("Mul")) {
        NodeProto div = g.producer(c.getInput(0).equals(weight) ? c.getInput(1) : c.getInput(0));
        NodeProto sqrt = div != null && div.getOpType().equals("Div")
            ? g.producer(div.getInput(1)) : null;
        NodeProto add = sqrt != null && sqrt.getOpType().equals("Sqrt")
            ? g.producer(sqrt.getInput(0)) : null;
        if (add != null && add.getOpType().equals("Add")) {
          for (String in : add.getInputList()) {
            double[] v = g.constant(in);
            if (v != null && v.length == 1) {
              return v[0];
            }
          }
        }
      }
    }
    throw new IOException(g.where + ": cannot find the layer-norm epsilon of " + weight
        + " (neither LayerNormalization nor Div(x - mean, Sqrt(var + eps)))");
  }

  /** The activation after layer 0's intermediate dense: Erf within a few nodes is exact GELU. */
  private static void activation(OnnxGraph g) throws IOException {
    NodeProto add = consumerOf(g, "encoder.layer.0.intermediate.dense.bias", null);
    if (add == null) {
      throw new IOException(g.where + ": layer 0's intermediate dense has no bias Add");
    }
    Deque<String> frontier = new ArrayDeque<>(List.of(add.getOutput(0)));
    for (int depth = 0; depth < 4 && !frontier.isEmpty(); depth++) {
      Deque<String> next = new ArrayDeque<>();
      for (String v : frontier) {
        for (NodeProto c : g.consumers(v)) {
          switch (c.getOpType()) {
            case "Erf":
              return;
            case "Tanh", "Sigmoid", "Relu":
              throw new IOException(g.where + ": node " + OnnxGraph.describe(c) + ": the"
                  + " intermediate activation is not exact GELU (" + c.getOpType() + "), the"
                  + " one fuselm's BERT implements");
            case "MatMul", "Gemm":
              break;
            default:
              next.addAll(c.getOutputList());
          }
        }
      }
      frontier = next;
    }
    throw new IOException(g.where + ": cannot tell the intermediate activation (no Erf after"
        + " layer 0's intermediate dense)");
  }

  private static String list(Collection<String> names) {
    List<String> l = new ArrayList<>(names);
    int n = Math.min(l.size(), 5);
    return String.join(", ", l.subList(0, n)) + (l.size() > n ? ", ..." : "");
  }
}
