package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.model.SentenceEmbedder;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.io.Checkpoint;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** POST /v1/embeddings served by a BERT directory, over loopback, against the embedding API. */
class BertEmbeddingServerTest {
  @TempDir static Path tmp;
  static Path bertDir;

  @BeforeAll
  static void setUp() throws Exception {
    InferenceServerTest.setUp();
    bertDir = tmp.resolve("bert");
    try (ComputeContext c = ComputeContext.create();
        BertModel m = BertModel.random(c, new BertConfig(30522, 16, 2, 2, 32, 64, 2, 1e-12f, 0.1f,
            0.1f), 5)) {
      Checkpoint.save(ModelFamily.BERT, m, bertDir);
    }
    Checkpoint.saveVocab(WordPieceTokenizer.bertBaseUncased(), bertDir);
  }

  @AfterAll
  static void tearDown() {
    InferenceServerTest.tearDown();
  }

  @Test
  void embeddingsMatchTheSentenceEmbedderAndReportTokens() throws Exception {
    List<String> texts = List.of("The quick brown fox.", "a second, somewhat longer text");
    float[][] want;
    try (ComputeContext c = ComputeContext.create();
        SentenceEmbedder e = Checkpoint.loadEmbedder(c, bertDir, 512, 32)) {
      want = e.embed(texts, true);
    }
    WordPieceTokenizer tok = Tokenizers.wordPiece(bertDir);
    int tokens = 0;
    for (String t : texts) {
      tokens += tok.encodeForModel(t, null, 64, 0).ids().length;
    }
    try (BertEmbeddingModel emb = BertEmbeddingModel.open(bertDir, 0, 32);
        InferenceServerTest.Running r = InferenceServerTest.start(InferenceServerTest.opts(),
            emb)) {
      HttpResponse<String> resp = InferenceServerTest.post(r, "/v1/embeddings",
          "{\"model\": \"bert\", \"input\": [\"The quick brown fox.\","
              + " \"a second, somewhat longer text\"]}");
      assertEquals(200, resp.statusCode(), resp.body());
      JsonNode body = InferenceServerTest.JSON.readTree(resp.body());
      assertEquals("list", body.get("object").asText());
      assertEquals(tokens, body.get("usage").get("prompt_tokens").asInt());
      JsonNode data = body.get("data");
      assertEquals(2, data.size());
      for (int i = 0; i < 2; i++) {
        JsonNode v = data.get(i).get("embedding");
        assertEquals(i, data.get(i).get("index").asInt());
        assertEquals(16, v.size());
        double norm = 0;
        for (int k = 0; k < 16; k++) {
          assertEquals(want[i][k], v.get(k).floatValue(), 1e-6f, "text " + i + " dim " + k);
          norm += v.get(k).asDouble() * v.get(k).asDouble();
        }
        assertEquals(1.0, norm, 1e-5);
      }
      // a single string works too; an empty list is a 400 naming the field
      assertEquals(200, InferenceServerTest.post(r, "/v1/embeddings",
          "{\"input\": \"hello\"}").statusCode());
      InferenceServerTest.assertError(InferenceServerTest.post(r, "/v1/embeddings",
          "{\"input\": []}"), 400, "non-empty");
      assertTrue(InferenceServerTest.JSON.readTree(InferenceServerTest.CLIENT.send(
          java.net.http.HttpRequest.newBuilder(r.uri("/health")).build(),
          HttpResponse.BodyHandlers.ofString()).body()).get("embeddings").asBoolean());
    }
  }
}
