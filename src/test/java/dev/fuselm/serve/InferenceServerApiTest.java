package dev.fuselm.serve;

import static dev.fuselm.serve.InferenceServerTest.CLIENT;
import static dev.fuselm.serve.InferenceServerTest.JSON;
import static dev.fuselm.serve.InferenceServerTest.PROMPT;
import static dev.fuselm.serve.InferenceServerTest.assertError;
import static dev.fuselm.serve.InferenceServerTest.expectedText;
import static dev.fuselm.serve.InferenceServerTest.opts;
import static dev.fuselm.serve.InferenceServerTest.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fuselm.data.PromptTemplate;
import dev.fuselm.serve.InferenceServerTest.Running;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OpenAI API surface beyond plain completions: auth, models, chat, stop, logprobs, n, ... */
class InferenceServerApiTest {
  @BeforeAll
  static void setUp() {
    InferenceServerTest.setUp();
  }

  @AfterAll
  static void tearDown() {
    InferenceServerTest.tearDown();
  }

  static HttpResponse<String> get(Running r, String path, String key) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(r.uri(path)).timeout(Duration.ofSeconds(30));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode ok(HttpResponse<String> resp) throws Exception {
    assertEquals(200, resp.statusCode(), resp.body());
    return JSON.readTree(resp.body());
  }

  static String greedy(String extra) {
    return "{\"model\": \"tiny\", \"prompt\": \"" + PROMPT + "\", \"max_tokens\": 12,"
        + " \"temperature\": 0" + extra + "}";
  }

  /** The data events of a server-sent event stream, [DONE] last. */
  static List<JsonNode> events(Running r, String path, String body) throws Exception {
    HttpResponse<java.util.stream.Stream<String>> sse = CLIENT.send(
        HttpRequest.newBuilder(r.uri(path)).POST(HttpRequest.BodyPublishers.ofString(body))
            .build(), HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, sse.statusCode());
    List<String> lines = new ArrayList<>();
    sse.body().filter(l -> !l.isEmpty()).forEach(lines::add);
    assertEquals("data: [DONE]", lines.get(lines.size() - 1));
    List<JsonNode> out = new ArrayList<>();
    for (String l : lines.subList(0, lines.size() - 1)) {
      out.add(JSON.readTree(l.substring("data: ".length())));
    }
    return out;
  }

  @Test
  void listensBeforeLoadingBindsLoopbackAndChecksTheKeyAndTheModel() throws Exception {
    assertEquals("127.0.0.1", InferenceServer.Options.defaults("m").host());
    InferenceServer server = InferenceServer.start(opts().withApiKey("sekret"));
    InferenceSession session = InferenceSession.of(InferenceServerTest.model,
        InferenceServerTest.tok, InferenceSession.Options.defaults().withSlots(2));
    try (Running r = new Running(session, server)) {
      HttpResponse<String> loading = get(r, "/health", null);
      assertEquals(503, loading.statusCode(), loading.body());
      assertEquals("5", loading.headers().firstValue("Retry-After").orElse(""));
      assertError(get(r, "/v1/models", "sekret"), 503, "loading");
      server.serve(session, null, ChatTemplate.alpacaDefault());
      assertEquals(200, get(r, "/health", null).statusCode());

      HttpResponse<String> noKey = get(r, "/v1/models", null);
      assertError(noKey, 401, "Authorization: Bearer");
      assertEquals("invalid_api_key", JSON.readTree(noKey.body()).get("error").get("code")
          .asText());
      assertError(get(r, "/v1/models", "wrong"), 401, "not the one");
      JsonNode models = ok(get(r, "/v1/models", "sekret"));
      assertEquals("list", models.get("object").asText());
      assertEquals("tiny", models.get("data").get(0).get("id").asText());
      assertEquals("model", ok(get(r, "/v1/models/tiny", "sekret")).get("object").asText());
      assertEquals(404, get(r, "/v1/models/gpt-4", "sekret").statusCode());

      HttpResponse<String> other = CLIENT.send(HttpRequest.newBuilder(r.uri("/v1/completions"))
          .header("Authorization", "Bearer sekret").POST(HttpRequest.BodyPublishers.ofString(
              "{\"model\": \"gpt-4\", \"prompt\": \"hi\"}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertError(other, 404, "does not exist");
      assertEquals("model_not_found", JSON.readTree(other.body()).get("error").get("code")
          .asText());
      HttpResponse<String> good = CLIENT.send(HttpRequest.newBuilder(r.uri("/v1/completions"))
          .header("Authorization", "Bearer sekret").POST(HttpRequest.BodyPublishers.ofString(
              greedy(""))).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(expectedText(), ok(good).get("choices").get(0).get("text").asText());

      String metrics = get(r, "/metrics", null).body();
      for (String m : new String[] {"fuselm_queue_depth 0.0", "fuselm_active_slots 0.0",
          "fuselm_requests_total{endpoint=\"/v1/completions\",outcome=\"success\"} 1.0",
          "outcome=\"unauthorized\"", "fuselm_prompt_tokens_total", "fuselm_generated_tokens_total",
          "fuselm_time_to_first_token_seconds_bucket",
          "fuselm_inter_token_latency_seconds_count", "fuselm_prefill_passes_total 1.0",
          "fuselm_prefill_tokens_total", "fuselm_prefix_cache_hits_total 0.0",
          "fuselm_prefix_cache_tokens_reused_total 0.0", "fuselm_prefill_shared_total 0.0",
          "fuselm_prefix_cache_entries 0.0"}) {
        assertTrue(metrics.contains(m), m + " in\n" + metrics);
      }
    }
  }

  @Test
  void stopStringsNChoicesAndLogprobs() throws Exception {
    String expected = expectedText();
    assertTrue(expected.length() >= 8, "the greedy text is long enough: '" + expected + "'");
    String stop = expected.substring(4, 7);
    String before = expected.substring(0, expected.indexOf(stop));
    try (Running r = InferenceServerTest.start(opts(), null)) {
      String stopJson = JSON.writeValueAsString(List.of("\u0000never", stop));
      JsonNode n = ok(post(r, "/v1/completions", greedy(", \"stop\": " + stopJson + ", \"n\": 2")));
      assertEquals(2, n.get("choices").size());
      for (int i = 0; i < 2; i++) {
        JsonNode c = n.get("choices").get(i);
        assertEquals(i, c.get("index").asInt());
        assertEquals(before, c.get("text").asText());
        assertEquals("stop", c.get("finish_reason").asText());
      }
      StringBuilder streamed = new StringBuilder();
      String finish = null;
      for (JsonNode e : events(r, "/v1/completions", greedy(", \"stop\": " + stopJson
          + ", \"stream\": true"))) {
        streamed.append(e.get("choices").get(0).get("text").asText());
        if (!e.get("choices").get(0).get("finish_reason").isNull()) {
          finish = e.get("choices").get(0).get("finish_reason").asText();
        }
      }
      assertEquals(before, streamed.toString());
      assertEquals("stop", finish);

      // legacy logprobs: greedy picks the most likely token, so it heads its alternatives
      JsonNode lp = ok(post(r, "/v1/completions", greedy(", \"logprobs\": 3"))).get("choices")
          .get(0).get("logprobs");
      assertTrue(lp.get("tokens").size() > 0);
      StringBuilder joined = new StringBuilder();
      for (int i = 0; i < lp.get("tokens").size(); i++) {
        String token = lp.get("tokens").get(i).asText();
        double l = lp.get("token_logprobs").get(i).asDouble();
        JsonNode top = lp.get("top_logprobs").get(i);
        assertTrue(l <= 0, "a log-probability: " + l);
        assertEquals(3, top.size());
        double best = Double.NEGATIVE_INFINITY;
        for (var it = top.fields(); it.hasNext();) {
          best = Math.max(best, it.next().getValue().asDouble());
        }
        assertEquals(best, l, 1e-6);
        assertEquals(joined.length(), lp.get("text_offset").get(i).asInt());
        joined.append(token);
      }
      assertEquals(expected, joined.toString());
      assertError(post(r, "/v1/completions", greedy(", \"logprobs\": 6")), 400, "logprobs");
      // streamed logprobs: one token per event, adding up to the same tokens
      StringBuilder streamedTokens = new StringBuilder();
      for (JsonNode e : events(r, "/v1/completions",
          greedy(", \"logprobs\": 1, \"stream\": true"))) {
        JsonNode l = e.get("choices").get(0).get("logprobs");
        if (!l.isNull()) {
          streamedTokens.append(l.get("tokens").get(0).asText());
        }
      }
      assertEquals(joined.toString(), streamedTokens.toString());

      // seed: the same seed samples the same text
      String sampled = "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 12, \"temperature\": 0.9,"
          + " \"seed\": 5, \"n\": 2}";
      JsonNode s1 = ok(post(r, "/v1/completions", sampled));
      JsonNode s2 = ok(post(r, "/v1/completions", sampled));
      assertEquals(s1.get("choices"), s2.get("choices"));

      // the raw model distribution: log-softmax of the logits
      float[] logits = {1f, 3f, -2f, 3f, 0.5f};
      InferenceSession.TokenLogprobs t = InferenceSession.logprobs(logits, 0, 5, 4, 3);
      double z = 0;
      for (float x : logits) {
        z += Math.exp(x);
      }
      assertEquals(0.5 - Math.log(z), t.logprob(), 1e-6);
      assertEquals(List.of(1, 3, 0), java.util.Arrays.stream(t.topIds()).boxed().toList());
      assertEquals(3 - Math.log(z), t.topLogprobs()[0], 1e-6);
    }
  }

  @Test
  void chatUsesTheInstructionTemplateAndAnswersInChatShapes(@TempDir Path dir) throws Exception {
    String prompt = "Be brief.\n\n" + PromptTemplate.alpaca().prompt("Hello", "");
    String messages = "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
        + " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hello\"}]}]";
    String chat = "{\"model\": \"tiny\", \"messages\": " + messages + ", \"max_tokens\": 8,"
        + " \"temperature\": 0, \"logprobs\": true, \"top_logprobs\": 2";
    try (Running r = InferenceServerTest.start(opts(), null)) {
      String want = ok(post(r, "/v1/completions", "{\"prompt\": "
          + JSON.writeValueAsString(prompt) + ", \"max_tokens\": 8, \"temperature\": 0}"))
          .get("choices").get(0).get("text").asText();
      JsonNode n = ok(post(r, "/v1/chat/completions", chat + "}"));
      assertEquals("chat.completion", n.get("object").asText());
      assertTrue(n.get("id").asText().startsWith("chatcmpl-"));
      JsonNode c = n.get("choices").get(0);
      assertEquals("assistant", c.get("message").get("role").asText());
      assertEquals(want, c.get("message").get("content").asText());
      JsonNode content = c.get("logprobs").get("content");
      assertTrue(content.size() > 0);
      assertEquals(2, content.get(0).get("top_logprobs").size());
      assertTrue(content.get(0).get("bytes").isArray());

      List<JsonNode> events = events(r, "/v1/chat/completions", chat
          + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
      assertEquals("assistant", events.get(0).get("choices").get(0).get("delta").get("role")
          .asText());
      StringBuilder text = new StringBuilder();
      for (JsonNode e : events.subList(0, events.size() - 1)) {
        assertEquals("chat.completion.chunk", e.get("object").asText());
        assertTrue(e.get("usage").isNull());
        text.append(e.get("choices").get(0).get("delta").path("content").asText(""));
      }
      assertEquals(want, text.toString());
      JsonNode usage = events.get(events.size() - 1);
      assertEquals(0, usage.get("choices").size());
      assertEquals(n.get("usage"), usage.get("usage"));

      assertError(post(r, "/v1/chat/completions", "{\"messages\": [{\"role\": \"assistant\","
          + " \"content\": \"hi\"}]}"), 400, "must follow a user message");
      assertError(post(r, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\","
          + " \"content\": \"hi\"}], \"tools\": [{}]}"), 400, "tools is not supported");
    }
    Files.writeString(dir.resolve("instruction.json"), "{\"template\": \"phi3\"}");
    ChatTemplate phi3 = ChatTemplate.forModel(dir);
    assertTrue(phi3.description().contains("phi3"), phi3.description());
    assertEquals("<|user|>\nHi\n<|assistant|>\n", phi3.render(JSON.readTree(
        "[{\"role\": \"user\", \"content\": \"Hi\"}]")));
    Files.delete(dir.resolve("instruction.json"));
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"{{x}}\"}");
    ApiError e = assertThrows(ApiError.class, () -> ChatTemplate.forModel(dir).render(
        JSON.readTree("[{\"role\": \"user\", \"content\": \"Hi\"}]")));
    assertTrue(e.getMessage().contains("chat_template"), e.getMessage());
  }

  @Test
  void unsupportedFieldsAreRefusedByName() throws Exception {
    EmbeddingModel emb = new EmbeddingModel() {
      @Override
      public String name() {
        return "emb";
      }

      @Override
      public Embeddings embed(List<String> inputs) {
        return new Embeddings(new float[][] {{1.5f, -2f}}, 1);
      }
    };
    try (Running r = InferenceServerTest.start(opts(), emb)) {
      String[][] cases = {
          {"\"logit_bias\": {\"50256\": -100}", "logit_bias"},
          {"\"best_of\": 2", "best_of"},
          {"\"suffix\": \"x\"", "suffix"},
          {"\"echo\": true", "echo"},
          {"\"stream_options\": {\"include_usage\": true}", "stream_options"},
          {"\"stream\": true, \"stream_options\": {\"other\": 1}", "stream_options.other"},
          {"\"frequency_penalty\": 0.5", "frequency_penalty"},
          {"\"mystery\": 1", "mystery"}};
      for (String[] c : cases) {
        HttpResponse<String> resp = post(r, "/v1/completions", greedy(", " + c[0]));
        assertError(resp, 400, c[1]);
        assertEquals(c[1], JSON.readTree(resp.body()).get("error").get("param").asText());
      }
      // accepted as no-ops: null, an empty logit_bias, best_of equal to n, an empty suffix
      ok(post(r, "/v1/completions", greedy(", \"logit_bias\": {}, \"best_of\": 1, \"suffix\":"
          + " \"\", \"user\": \"u\", \"seed\": 7, \"stop\": null")));
      int[] longPrompt = new int[InferenceServerTest.CFG.contextLength() + 3];
      HttpResponse<String> tooLong = post(r, "/v1/completions", "{\"prompt\": "
          + java.util.Arrays.toString(longPrompt) + "}");
      assertError(tooLong, 400, "the prompt has 515 tokens, more than the model's context window"
          + " of 512 tokens");
      assertFalse(tooLong.body().contains("truncat"), tooLong.body());

      assertError(post(r, "/v1/embeddings", "{\"input\": \"hi\", \"dimensions\": 7}"), 400,
          "dimensions");
      assertError(post(r, "/v1/embeddings", "{\"input\": \"hi\", \"encoding_format\": \"hex\"}"),
          400, "encoding_format");
      assertEquals(2, ok(post(r, "/v1/embeddings", "{\"input\": \"hi\", \"model\": \"emb\","
          + " \"dimensions\": 2, \"encoding_format\": \"float\"}")).get("data").get(0)
          .get("embedding").size());
      byte[] b = Base64.getDecoder().decode(ok(post(r, "/v1/embeddings",
          "{\"input\": \"hi\", \"encoding_format\": \"base64\"}")).get("data").get(0)
          .get("embedding").asText());
      assertEquals(-2f, java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN)
          .getFloat(4));
    }
  }

  @Test
  void tokenizeAndDetokenize() throws Exception {
    try (Running r = InferenceServerTest.start(opts(), null)) {
      JsonNode t = ok(post(r, "/tokenize", "{\"prompt\": \"" + PROMPT + "\"}"));
      int[] ids = InferenceServerTest.tok.encode(PROMPT);
      assertEquals(ids.length, t.get("count").asInt());
      assertEquals(ids[1], t.get("tokens").get(1).asInt());
      assertEquals(512, t.get("max_model_len").asInt());
      assertEquals(PROMPT, ok(post(r, "/detokenize", "{\"tokens\": " + t.get("tokens") + "}"))
          .get("prompt").asText());
      int chatCount = ok(post(r, "/tokenize", "{\"messages\": [{\"role\": \"user\", \"content\":"
          + " \"Hi\"}]}")).get("count").asInt();
      assertEquals(InferenceServerTest.tok.encode(PromptTemplate.alpaca().prompt("Hi", ""))
          .length, chatCount);
      assertError(post(r, "/detokenize", "{\"tokens\": [1, 99999]}"), 400, "vocabulary");
    }
  }

  @Test
  void slowClientsDoNotStallTheServer() throws Exception {
    InferenceServer.Options o = opts().withTimeouts(1500, 1500, 600_000);
    try (Running r = InferenceServerTest.start(o, null)) {
      List<Socket> slow = new ArrayList<>();
      for (int i = 0; i < 80; i++) {
        Socket s = new Socket("127.0.0.1", r.server().port());
        s.getOutputStream().write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .getBytes(StandardCharsets.US_ASCII));
        slow.add(s);
      }
      Thread trickle = new Thread(() -> {
        try {
          for (int k = 0; k < 8; k++) {
            for (Socket s : slow) {
              try {
                s.getOutputStream().write('a');
              } catch (java.io.IOException closed) {
                // the server closed it: expected after the header timeout
              }
            }
            Thread.sleep(500);
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      trickle.start();
      // a slow body: complete headers, 3 of 100 bytes
      Socket slowBody = new Socket("127.0.0.1", r.server().port());
      slowBody.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
          + "Content-Length: 100\r\n\r\n{\"p").getBytes(StandardCharsets.US_ASCII));
      long t0 = System.nanoTime();
      JsonNode n = ok(post(r, "/v1/completions", greedy("")));
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertEquals(expectedText(), n.get("choices").get(0).get("text").asText());
      assertTrue(seconds < 5, "a normal request took " + seconds + " s beside 80 slow clients");
      slowBody.setSoTimeout(10_000);
      String answer = new String(slowBody.getInputStream().readAllBytes(),
          StandardCharsets.UTF_8);
      assertTrue(answer.startsWith("HTTP/1.1 408"), answer);
      trickle.join();
      int closed = 0;
      for (Socket s : slow) {
        s.setSoTimeout(5_000);
        try (InputStream in = s.getInputStream()) {
          if (in.read() < 0) {
            closed++;
          }
        } catch (java.io.IOException reset) {
          closed++;
        }
      }
      assertEquals(80, closed, "the header timeout closed every slow connection");
      slowBody.close();
    }
  }

  @Test
  void aRequestPastTheTimeLimitIsCancelled() throws Exception {
    InferenceServer.Options o = opts().withTimeouts(10_000, 10_000, 30);
    try (Running r = InferenceServerTest.start(o, null)) {
      String req = "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 480, \"temperature\": 0.9,"
          + " \"seed\": 1}";
      HttpResponse<String> resp = post(r, "/v1/completions", req);
      assertError(resp, 504, "time limit");
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (r.session().stats().active() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertEquals(0, r.session().stats().active());
      assertEquals(1, r.session().stats().cancelled());
    }
  }
}
