package dev.fuselm.io;

import static dev.fuselm.io.HfFixtureTest.assertClose;
import static dev.fuselm.io.HfFixtureTest.nextTokenTargets;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.TokenBatch;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.BertEncoding;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.train.AdamW;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model directories fuselm saves, loaded by the real Hugging Face {@code transformers} (strictly:
 * no missing, unexpected or mis-shaped tensor) and run there on the same inputs as in fuselm:
 * GPT models with tied and untied heads, with and without qkv bias, fresh and after a few AdamW
 * steps; a BERT with pooler and pre-training heads after a few MLM + NSP steps (padding and token
 * types in the inputs), and a BERT encoder saved without heads. Hugging Face's parsed config must
 * hold fuselm's values. The tokenizers too: BERT directories with bert-base-uncased's and
 * bert-base-cased's vocabulary as fuselm saves them, and GPT-2's vocabulary files, tokenized by
 * fuselm and by AutoTokenizer on real text lines from the shared data must give the same ids.
 *
 * <p>Runs only when a python with transformers is given ({@code -Dfuselm.hfPython=PATH} or the
 * environment variable {@code FUSELM_HF_PYTHON}; {@code benchmarks/parity/hf_venv.sh} makes one);
 * otherwise every test is skipped with that reason. One python process
 * ({@code benchmarks/parity/hf_interop.py logits}) runs all models. Tolerance as in {@link
 * HfFixtureTest}.
 */
class HfRoundTripTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final int B = 2, T = 9;

  @TempDir static Path tmp;
  static ComputeContext ctx;
  /** Per model name: fuselm's outputs, config values and the JSON line Hugging Face printed. */
  static final Map<String, Case> cases = new LinkedHashMap<>();
  /** What hf_interop.py printed on stderr: Hugging Face's load reports and warnings. */
  static String hfStderr;

  static final class Case {
    final Map<String, float[]> fuselm = new LinkedHashMap<>();
    final Map<String, Object> config = new LinkedHashMap<>();
    /** Per text: fuselm's input ids and token type ids (null where not compared). */
    final List<int[][]> tokens = new ArrayList<>();
    Path dir;
    boolean tied;
    JsonNode hf;
  }

  static String hfPython() {
    String p = System.getProperty("fuselm.hfPython");
    if (p == null || p.isBlank()) {
      p = System.getenv("FUSELM_HF_PYTHON");
    }
    return p == null || p.isBlank() ? null : p;
  }

  static final String NO_PYTHON = "no python with transformers given: set FUSELM_HF_PYTHON or"
      + " -Dfuselm.hfPython (benchmarks/parity/hf_venv.sh DIR makes one)";

  @BeforeAll
  static void saveRunAndAskHuggingFace() throws Exception {
    String python = hfPython();
    if (python == null) {
      return; // each test is skipped, with the reason (an assumption here would hide them)
    }
    ctx = ComputeContext.create();
    int[] ids = randomIds(96, B * T, 1);
    GptConfig g = GptConfig.of(96, 32, 32, 2, 4);
    gpt("gpt-tied", g, 0, ids);
    gpt("gpt-untied", g.withTiedHead(false), 0, ids);
    gpt("gpt-no-qkv-bias", g.withQkvBias(false), 0, ids);
    gpt("gpt-tied-trained", g.withDropout(0.1f), 4, ids);
    gpt("gpt-untied-no-qkv-bias-trained", g.withTiedHead(false).withQkvBias(false), 4, ids);
    BertConfig bc = new BertConfig(80, 32, 2, 4, 48, 24, 2, 1e-12f, 0.1f, 0.1f);
    bert("bert-pretraining-trained", bc, true, 4);
    bert("bert-encoder", bc, false, 0);
    List<String> lines = realTextLines();
    bertWithVocab("bert-uncased-vocab", WordPieceTokenizer.bertBaseUncased(), lines);
    bertWithVocab("bert-cased-vocab", WordPieceTokenizer.bertBaseCased(), lines);
    gpt2Tokenizer("gpt2-tokenizer", lines);
    askHuggingFace(python);
  }

  @BeforeEach
  void needsHuggingFace() {
    assumeTrue(hfPython() != null, NO_PYTHON);
  }

  @AfterAll
  static void release() {
    if (ctx != null) {
      ctx.close();
    }
  }

  static int[] randomIds(int vocab, int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = r.nextInt(vocab);
    }
    return ids;
  }

  /** A GPT saved after `steps` AdamW steps on ids, with its eval-mode logits and hidden states. */
  static void gpt(String name, GptConfig c, int steps, int[] ids) throws IOException {
    Case k = new Case();
    k.dir = tmp.resolve(name);
    k.tied = c.tiedHead();
    try (GptModel m = GptModel.random(ctx, c, 7).enableGradients();
        AdamW opt = new AdamW(ctx, m.params(), m.grads(), 0.9f, 0.95f, 1e-8f, 0.1f, 1f)) {
      int[] targets = nextTokenTargets(ids, B, T);
      m.setTraining(true);
      for (int s = 1; s <= steps; s++) {
        m.zeroGrad();
        m.forward(ids, targets, B, T);
        m.backward(1f);
        opt.step(s, 3e-2f, opt.gradNorm());
      }
      m.setTraining(false);
      Checkpoint.save(ModelFamily.GPT2, m, k.dir);
      m.forward(ids, null, B, T);
      k.fuselm.put("logits", m.logits().toFloatArray());
      k.fuselm.put("hidden", m.forwardHidden(ids, B, T).toFloatArray());
    }
    k.config.put("vocab_size", c.vocabSize());
    k.config.put("n_positions", c.contextLength());
    k.config.put("n_embd", c.dModel());
    k.config.put("n_layer", c.nLayer());
    k.config.put("n_head", c.nHead());
    k.config.put("tie_word_embeddings", c.tiedHead());
    k.config.put("layer_norm_epsilon", (double) c.layerNormEps());
    k.config.put("resid_pdrop", (double) c.residDropout());
    k.config.put("activation_function", "gelu_new");
    writeInputs(k.dir, ids, null, null);
    cases.put(name, k);
  }

  /** A BERT (heads: pooler + MLM + NSP) saved after `steps` MLM + NSP AdamW steps. */
  static void bert(String name, BertConfig c, boolean heads, int steps) throws IOException {
    Case k = new Case();
    k.dir = tmp.resolve(name);
    k.tied = heads;
    int[] ids = randomIds(c.vocabSize(), B * T, 2);
    int[] types = new int[B * T];
    int[] mask = new int[B * T];
    for (int j = 0; j < T; j++) {
      types[j] = j < 4 ? 0 : 1;
      types[T + j] = j < 6 ? 0 : 1;
      mask[j] = 1;
      mask[T + j] = j < 6 ? 1 : 0; // the second sequence is padded
    }
    int[] labels = new int[B * T];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = i % 3 == 0 && mask[i] == 1 ? (ids[i] + 5) % c.vocabSize()
          : SoftmaxOps.IGNORE_INDEX;
    }
    try (BertModel m = heads ? BertModel.random(ctx, c, 11)
        : BertModel.create(ctx, c, true, false)) {
      if (!heads) {
        m.initialize(11);
      }
      m.enableGradients();
      try (AdamW opt = new AdamW(ctx, m.params(), m.grads(), 0.9f, 0.999f, 1e-8f, 0.01f, 1f)) {
        m.setTraining(true);
        for (int s = 1; s <= steps; s++) {
          m.zeroGrad();
          m.forwardHidden(new TokenBatch(ids, types, mask, B, T));
          m.mlmHead().loss(m.hidden(), labels);
          m.nspHead().loss(m.pooled(), new int[] {0, 1});
          m.backward(1f, 1f, null, null);
          opt.step(s, 3e-2f, opt.gradNorm());
        }
      }
      m.setTraining(false);
      Checkpoint.save(ModelFamily.BERT, m, k.dir);
      m.forwardHidden(new TokenBatch(ids, types, mask, B, T));
      k.fuselm.put("hidden", m.hidden().toFloatArray());
      k.fuselm.put("pooled", m.pooled().toFloatArray());
      if (heads) {
        k.fuselm.put("nsp_logits", m.nspHead().logits(m.pooled()));
        m.mlmHead().loss(m.hidden(), ids); // every position labelled: the MLM logits of all of them
        k.fuselm.put("mlm_logits", m.mlmHead().logits().toFloatArray());
      }
    }
    k.config.put("vocab_size", c.vocabSize());
    k.config.put("hidden_size", c.hiddenSize());
    k.config.put("num_hidden_layers", c.numLayers());
    k.config.put("num_attention_heads", c.numHeads());
    k.config.put("intermediate_size", c.intermediateSize());
    k.config.put("max_position_embeddings", c.maxPositions());
    k.config.put("type_vocab_size", c.typeVocabSize());
    k.config.put("layer_norm_eps", (double) c.layerNormEps());
    k.config.put("hidden_dropout_prob", (double) c.hiddenDropout());
    k.config.put("hidden_act", "gelu");
    writeInputs(k.dir, ids, types, mask);
    cases.put(name, k);
  }

  /**
   * Real text for the tokenizers: every 40th non-blank line of the shared tokenizer corpus (prose,
   * code, many scripts) and the first 300 SMS messages (UTF-8 with £ and the like).
   */
  static List<String> realTextLines() throws IOException {
    String shared = System.getProperty("fuselm.shared.dir", "../shared");
    Path data = Path.of(shared, "data");
    List<String> lines = new ArrayList<>();
    List<String> corpus = Files.readAllLines(data.resolve("tokenizer-corpus.txt"));
    for (int i = 0; i < corpus.size(); i += 40) {
      if (!corpus.get(i).isBlank()) {
        lines.add(corpus.get(i));
      }
    }
    List<String> sms = Files.readAllLines(data.resolve("sms-spam-collection/SMSSpamCollection"));
    for (String l : sms.subList(0, 300)) {
      lines.add(l.substring(l.indexOf('\t') + 1));
    }
    return lines;
  }

  /**
   * A small BERT encoder over a real vocabulary, saved with {@link Checkpoint#saveVocab}: its
   * hidden states and, for each line and for pairs of adjacent lines, fuselm's token ids and type
   * ids from the directory's tokenizer, against AutoTokenizer's.
   */
  static void bertWithVocab(String name, WordPieceTokenizer vocab, List<String> lines)
      throws IOException {
    Case k = new Case();
    k.dir = tmp.resolve(name);
    BertConfig c = new BertConfig(vocab.vocabSize(), 16, 1, 2, 24, 16, 2, 1e-12f, 0f, 0f);
    int[] ids = randomIds(c.vocabSize(), B * T, 3);
    try (BertModel m = BertModel.create(ctx, c, true, false)) {
      m.initialize(5);
      Checkpoint.save(ModelFamily.BERT, m, k.dir);
      m.forwardHidden(new TokenBatch(ids, null, null, B, T));
      k.fuselm.put("hidden", m.hidden().toFloatArray());
    }
    Checkpoint.saveVocab(vocab, k.dir);
    WordPieceTokenizer tok = Tokenizers.wordPiece(k.dir);
    ObjectNode n = JSON.createObjectNode();
    n.set("input_ids", rows(ids));
    var texts = n.putArray("texts");
    for (int i = 0; i < lines.size(); i++) {
      String first = lines.get(i);
      String second = i % 5 == 4 ? lines.get(i - 1) : null;
      if (second == null) {
        texts.add(first);
      } else {
        texts.addArray().add(first).add(second);
      }
      BertEncoding e = tok.encodeForModel(first, second, 0, 0);
      k.tokens.add(new int[][] {e.ids(), e.typeIds()});
    }
    Files.writeString(k.dir.resolve("inputs.json"), n.toString());
    k.config.put("vocab_size", c.vocabSize());
    cases.put(name, k);
  }

  /**
   * GPT-2's vocabulary files from the shared data under the names transformers expects
   * ({@code vocab.json}, {@code merges.txt}): fuselm's {@link Gpt2BpeTokenizer} from that directory
   * against AutoTokenizer (GPT2Tokenizer) on the same lines.
   */
  static void gpt2Tokenizer(String name, List<String> lines) throws IOException {
    Case k = new Case();
    k.dir = tmp.resolve(name);
    Files.createDirectories(k.dir);
    Path data = Path.of(System.getProperty("fuselm.shared.dir", "../shared"), "data", "gpt2");
    Files.copy(data.resolve("encoder.json"), k.dir.resolve("vocab.json"));
    Files.copy(data.resolve("vocab.bpe"), k.dir.resolve("merges.txt"));
    Files.writeString(k.dir.resolve("tokenizer_config.json"),
        "{\"tokenizer_class\": \"GPT2Tokenizer\"}\n");
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.fromDirectory(k.dir);
    ObjectNode n = JSON.createObjectNode();
    var texts = n.putArray("texts");
    for (String line : lines) {
      texts.add(line);
      // transformers splits out special tokens written in the text by default
      k.tokens.add(new int[][] {tok.encode(line, true), null});
    }
    Files.writeString(k.dir.resolve("inputs.json"), n.toString());
    cases.put(name, k);
  }

  /** The inputs as hf_interop.py reads them: (B, T) arrays, in inputs.json beside the model. */
  static void writeInputs(Path dir, int[] ids, int[] types, int[] mask) throws IOException {
    ObjectNode n = JSON.createObjectNode();
    n.set("input_ids", rows(ids));
    if (types != null) {
      n.set("token_type_ids", rows(types));
      n.set("attention_mask", rows(mask));
    }
    Files.writeString(dir.resolve("inputs.json"), n.toString());
  }

  static JsonNode rows(int[] v) {
    var a = JSON.createArrayNode();
    for (int i = 0; i < B; i++) {
      var row = a.addArray();
      for (int j = 0; j < T; j++) {
        row.add(v[i * T + j]);
      }
    }
    return a;
  }

  static void askHuggingFace(String python) throws Exception {
    Path script = Path.of("benchmarks/parity/hf_interop.py").toAbsolutePath();
    assertTrue(Files.isRegularFile(script), script + " not found");
    List<String> cmd = new ArrayList<>(List.of(python, script.toString(), "logits"));
    for (Case k : cases.values()) {
      cmd.add(k.dir.toString());
      cmd.add(k.dir.resolve("inputs.json").toString());
    }
    Path out = tmp.resolve("hf.jsonl");
    Path err = tmp.resolve("hf.err");
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
        .start();
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("hf_interop.py logits ran longer than 300 s");
    }
    String stderr = Files.readString(err, StandardCharsets.UTF_8);
    hfStderr = stderr;
    // Hugging Face's load report and warnings, shown with the test output
    if (!stderr.isBlank()) {
      System.err.println("hf_interop.py stderr:\n" + stderr);
    }
    for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
      JsonNode n = JSON.readTree(line);
      String dir = n.get("model_dir").asText();
      cases.values().stream().filter(k -> k.dir.toString().equals(dir)).forEach(k -> k.hf = n);
    }
    assertTrue(p.exitValue() == 0 || p.exitValue() == 3,
        "hf_interop.py exited with " + p.exitValue() + ":\n" + stderr);
  }

  /** Hugging Face loaded the directory strictly, parsed fuselm's config values, ran the outputs. */
  static void check(String name) {
    Case k = cases.get(name);
    JsonNode hf = k.hf;
    assertNotNull(hf, name + ": no output from hf_interop.py (see its stderr above)");
    assertTrue(!hf.has("error"), name + ": " + hf.path("error").asText());
    checkTokens(name, k);
    if (!Files.exists(k.dir.resolve(ModelDirectory.WEIGHTS))) {
      return; // a tokenizer only
    }
    JsonNode cfg = hf.get("config");
    for (Map.Entry<String, Object> e : k.config.entrySet()) {
      JsonNode v = cfg.get(e.getKey());
      assertNotNull(v, name + ": Hugging Face's config has no " + e.getKey());
      Object want = e.getValue();
      if (want instanceof Double d) {
        assertEquals(d, v.asDouble(), Math.abs(d) * 1e-6, name + " config " + e.getKey());
      } else if (want instanceof Integer i) {
        assertEquals(i, v.asInt(), name + " config " + e.getKey());
      } else if (want instanceof Boolean b) {
        assertEquals(b, v.asBoolean(), name + " config " + e.getKey());
      } else {
        assertEquals(want, v.asText(), name + " config " + e.getKey());
      }
    }
    if (hf.has("tied")) {
      assertEquals(k.tied, hf.get("tied").asBoolean(), name + ": head tied in Hugging Face");
    }
    for (Map.Entry<String, float[]> e : k.fuselm.entrySet()) {
      assertTrue(hf.has(e.getKey()), name + ": Hugging Face gave no " + e.getKey());
      assertClose(name + " " + e.getKey(), flatten(hf.get(e.getKey())), e.getValue());
    }
  }

  /** fuselm's token ids (and type ids) equal Hugging Face's for every text. */
  static void checkTokens(String name, Case k) {
    if (k.tokens.isEmpty()) {
      return;
    }
    JsonNode hf = k.hf.get("tokens");
    assertNotNull(hf, name + ": Hugging Face gave no tokens");
    assertEquals(k.tokens.size(), hf.size(), name + ": number of tokenized texts");
    int mismatches = 0;
    StringBuilder first = new StringBuilder();
    for (int i = 0; i < k.tokens.size(); i++) {
      int[][] ours = k.tokens.get(i);
      boolean same = Arrays.equals(ours[0], HfFixtureTest.ints(hf.get(i).get("input_ids")))
          && (ours[1] == null || Arrays.equals(ours[1],
              HfFixtureTest.ints(hf.get(i).get("token_type_ids"))));
      if (!same && mismatches++ < 3) {
        first.append("\n  text ").append(i).append(": fuselm ").append(Arrays.toString(ours[0]))
            .append("\n  Hugging Face ").append(hf.get(i).get("input_ids"));
      }
    }
    assertEquals(0, mismatches, name + ": " + mismatches + " of " + k.tokens.size()
        + " texts tokenized differently (" + k.hf.path("tokenizer").asText() + ")" + first);
  }

  static float[] flatten(JsonNode n) {
    List<Float> out = new ArrayList<>();
    flatten(n, out);
    float[] v = new float[out.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = out.get(i);
    }
    return v;
  }

  private static void flatten(JsonNode n, List<Float> out) {
    if (n.isArray()) {
      n.forEach(c -> flatten(c, out));
    } else {
      out.add((float) n.asDouble());
    }
  }

  /**
   * "Load in Hugging Face unchanged" includes no complaints: transformers warns, for example, about
   * a bos/eos token id outside the vocabulary or weights it had to initialise.
   */
  @Test
  void huggingFaceLoadsEverythingWithoutWarnings() {
    assertTrue(!hfStderr.contains("[transformers]") && !hfStderr.contains("Warning"),
        "transformers warned:\n" + hfStderr);
  }

  @Test
  void gptWithTiedHead() {
    check("gpt-tied");
  }

  @Test
  void gptWithUntiedHead() {
    check("gpt-untied");
  }

  @Test
  void gptWithoutQkvBias() {
    check("gpt-no-qkv-bias");
  }

  @Test
  void gptAfterTrainingWithDropout() {
    check("gpt-tied-trained");
  }

  @Test
  void gptUntiedWithoutQkvBiasAfterTraining() {
    check("gpt-untied-no-qkv-bias-trained");
  }

  @Test
  void bertForPreTrainingAfterMlmAndNspSteps() {
    check("bert-pretraining-trained");
    assertEquals("BertForPreTraining", cases.get("bert-pretraining-trained").hf.get("architecture")
        .asText());
  }

  @Test
  void bertUncasedVocabularyTokenizesAsAutoTokenizer() {
    check("bert-uncased-vocab");
    assertEquals("BertTokenizer", cases.get("bert-uncased-vocab").hf.get("tokenizer").asText());
  }

  /** Without do_lower_case: false in tokenizer_config.json, transformers would lower-case. */
  @Test
  void bertCasedVocabularyTokenizesAsAutoTokenizer() {
    check("bert-cased-vocab");
  }

  @Test
  void gpt2VocabularyTokenizesAsAutoTokenizer() {
    check("gpt2-tokenizer");
    assertEquals("GPT2Tokenizer", cases.get("gpt2-tokenizer").hf.get("tokenizer").asText());
  }

  @Test
  void bertEncoderWithoutHeads() {
    check("bert-encoder");
    assertEquals("BertModel", cases.get("bert-encoder").hf.get("architecture").asText());
  }
}
