package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.GgufType;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A .gguf file served and loaded in one call (its tokenizer from the file's metadata): the
 * completion equals the Generator's on the directory it was exported from, in float32 and int8.
 */
class GgufServeTest {
  static final GptConfig CFG = GptConfig.of(50257, 64, 32, 2, 2).withDropout(0f);
  static final String PROMPT = "Hello, my name is";
  static final int EOS = 50256;
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  static Path dir;
  static Path f32;
  static Path q8;

  @BeforeAll
  static void write() throws IOException {
    dir = tmp.resolve("gpt");
    try (ComputeContext c = ComputeContext.create(); GptModel m = GptModel.random(c, CFG, 5)) {
      float[] w = m.tokenEmbedding().toFloatArray();
      for (int i = 0; i < w.length; i++) {
        w[i] *= 30;
      }
      m.tokenEmbedding().copyFrom(w);
      Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    f32 = tmp.resolve("tiny.gguf");
    q8 = tmp.resolve("tiny-q8.gguf");
    try (ComputeContext c = ComputeContext.create()) {
      GgufGpt2.export(c, dir, f32, GgufType.F32); // GPT-2's tokenizer goes into the metadata
      GgufGpt2.export(c, dir, q8, GgufType.Q8_0);
    }
  }

  /** The Generator's greedy text on the directory (q8: on the file's matrices, quantized). */
  static String expected(Path modelDir, DType weights, int maxNew) throws IOException {
    Gpt2BpeTokenizer tok = Gpt2BpeTokenizer.gpt2();
    try (ComputeContext c = ComputeContext.create();
        GptModel m = Checkpoint.load(c, modelDir, ModelFamily.GPT2);
        Generator g = new Generator(m, 1, weights)) {
      int[] ids = g.generate(tok.encode(PROMPT), GenerationConfig.greedy(maxNew)
          .withStopToken(EOS), null).ids();
      int n = ids.length;
      return tok.decode(n > 0 && ids[n - 1] == EOS ? Arrays.copyOf(ids, n - 1) : ids);
    }
  }

  static String served(Path gguf, DType weights, int maxNew) throws Exception {
    InferenceSession s = InferenceSession.open(gguf, InferenceSession.Options.defaults()
        .withSlots(2).withWeights(weights));
    assertNotNull(s.tokenizer().orElse(null), "the tokenizer of the GGUF metadata");
    InferenceServer server = InferenceServer.start(s, null,
        InferenceServer.Options.defaults("tiny").withPort(0));
    try {
      HttpResponse<String> resp = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + server.port() + "/v1/completions"))
          .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
          .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tiny\",\"prompt\":\"" + PROMPT
              + "\",\"max_tokens\":" + maxNew + ",\"temperature\":0}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, resp.statusCode(), resp.body());
      JsonNode n = JSON.readTree(resp.body());
      return n.get("choices").get(0).get("text").asText();
    } finally {
      server.close();
      s.close();
    }
  }

  @Test
  void aServedGgufCompletesAsTheGeneratorOnItsDirectory() throws Exception {
    assertEquals(expected(dir, DType.FLOAT32, 12), served(f32, DType.FLOAT32, 12));
  }

  @Test
  void aServedQ8GgufWithInt8WeightsCompletesAsTheGeneratorQuantizingAtLoad() throws Exception {
    Path imported = tmp.resolve("imported-q8");
    GgufGpt2.toDirectory(q8, imported);
    assertEquals(expected(imported, DType.INT8, 12), served(q8, DType.INT8, 12));
  }

  @Test
  void languageModelLoadsAGgufInOneCall() throws Exception {
    try (LanguageModel lm = LanguageModel.load(f32)) {
      assertEquals(expected(dir, DType.FLOAT32, 10),
          lm.generate(PROMPT, GenerationConfig.builder().maxNewTokens(10).temperature(0f)
              .build()));
    }
  }
}
