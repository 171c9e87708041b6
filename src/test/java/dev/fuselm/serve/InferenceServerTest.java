package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The HTTP server over loopback with the JDK's HTTP client and a raw socket. */
class InferenceServerTest {
  static final ObjectMapper JSON = new ObjectMapper();
  // GPT-2's vocabulary (so the shipped GPT-2 tokenizer applies), tiny otherwise; a context of 512
  // makes a long stream take long enough to disconnect in the middle of it
  static final GptConfig CFG = GptConfig.of(50257, 512, 128, 2, 4);
  static final String PROMPT = "Hello, my name is";
  static final int EOS = 50256;

  static ComputeContext ctx;
  static GptModel model;
  static Gpt2BpeTokenizer tok;
  static int[] expectedIds; // greedy continuation of PROMPT, 12 tokens, computed alone

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
    model = GptModel.random(ctx, CFG, 3);
    float[] w = model.tokenEmbedding().toFloatArray();
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30;
    }
    model.tokenEmbedding().copyFrom(w);
    tok = Gpt2BpeTokenizer.gpt2();
    try (Generator g = new Generator(model, 1)) {
      expectedIds = g.generate(tok.encode(PROMPT), GenerationConfig.greedy(12).withStopToken(EOS),
          null).ids();
    }
  }

  @AfterAll
  static void tearDown() {
    model.close();
    ctx.close();
  }

  static String expectedText() {
    int n = expectedIds.length;
    int[] ids = n > 0 && expectedIds[n - 1] == EOS ? Arrays.copyOf(expectedIds, n - 1) : expectedIds;
    return tok.decode(ids);
  }

  record Running(InferenceSession session, InferenceServer server) implements AutoCloseable {
    URI uri(String path) {
      return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    @Override
    public void close() {
      server.close();
      session.close();
    }
  }

  static Running start(InferenceServer.Options o, EmbeddingModel emb) throws Exception {
    InferenceSession s = InferenceSession.of(model, tok,
        InferenceSession.Options.defaults().withSlots(4));
    return new Running(s, InferenceServer.start(s, emb, o));
  }

  static InferenceServer.Options opts() {
    return InferenceServer.Options.defaults("tiny").withPort(0).withMaxBodyBytes(4096)
        .withMaxTokens(500);
  }

  static final HttpClient CLIENT = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(10)).build();

  static HttpResponse<String> post(Running r, String path, String body) throws Exception {
    return CLIENT.send(HttpRequest.newBuilder(r.uri(path))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(60)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static void assertError(HttpResponse<String> resp, int status, String messagePart)
      throws Exception {
    assertEquals(status, resp.statusCode(), resp.body());
    JsonNode err = JSON.readTree(resp.body()).get("error");
    assertTrue(err.get("message").asText().contains(messagePart), resp.body());
    assertTrue(err.has("type") && err.has("param") && err.has("code"), resp.body());
  }

  @Test
  void completionsHealthAndStreamingAnswerTheOpenAiShapes() throws Exception {
    try (Running r = start(opts(), null)) {
      HttpResponse<String> health = CLIENT.send(HttpRequest.newBuilder(r.uri("/health")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
      assertEquals("ok", JSON.readTree(health.body()).get("status").asText());

      // the request shape the openai client sends for completions.create(...)
      String req = "{\"model\":\"tiny\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":12,"
          + "\"temperature\":0,\"top_p\":1,\"n\":1,\"stream\":false,\"logprobs\":null,"
          + "\"stop\":null,\"presence_penalty\":0,\"frequency_penalty\":0}";
      HttpResponse<String> resp = post(r, "/v1/completions", req);
      assertEquals(200, resp.statusCode(), resp.body());
      assertTrue(resp.headers().firstValue("Content-Type").orElse("").startsWith(
          "application/json"));
      JsonNode n = JSON.readTree(resp.body());
      assertEquals("text_completion", n.get("object").asText());
      assertTrue(n.get("id").asText().startsWith("cmpl-"));
      assertEquals("tiny", n.get("model").asText());
      JsonNode choice = n.get("choices").get(0);
      assertEquals(expectedText(), choice.get("text").asText());
      assertEquals(expectedIds[expectedIds.length - 1] == EOS ? "stop" : "length",
          choice.get("finish_reason").asText());
      assertEquals(tok.encode(PROMPT).length, n.get("usage").get("prompt_tokens").asInt());
      assertEquals(expectedIds.length, n.get("usage").get("completion_tokens").asInt());

      // token ids as the prompt, and several prompts in one request
      String ids = Arrays.toString(tok.encode(PROMPT));
      JsonNode two = JSON.readTree(post(r, "/v1/completions", "{\"prompt\":[" + ids + "," + ids
          + "],\"max_tokens\":12,\"temperature\":0}").body());
      assertEquals(2, two.get("choices").size());
      for (JsonNode c : two.get("choices")) {
        assertEquals(expectedText(), c.get("text").asText());
      }

      // the same request streamed: text/event-stream chunks that add up to the same text
      HttpResponse<java.util.stream.Stream<String>> sse = CLIENT.send(
          HttpRequest.newBuilder(r.uri("/v1/completions"))
              .POST(HttpRequest.BodyPublishers.ofString(req.replace("\"stream\":false",
                  "\"stream\":true"))).build(),
          HttpResponse.BodyHandlers.ofLines());
      assertEquals(200, sse.statusCode());
      assertTrue(sse.headers().firstValue("Content-Type").orElse("").startsWith(
          "text/event-stream"));
      List<String> events = new ArrayList<>();
      sse.body().filter(l -> !l.isEmpty()).forEach(events::add);
      assertEquals("data: [DONE]", events.get(events.size() - 1));
      StringBuilder text = new StringBuilder();
      String finish = null;
      for (String e : events.subList(0, events.size() - 1)) {
        assertTrue(e.startsWith("data: "), e);
        JsonNode c = JSON.readTree(e.substring(6)).get("choices").get(0);
        text.append(c.get("text").asText());
        if (!c.get("finish_reason").isNull()) {
          finish = c.get("finish_reason").asText();
        }
      }
      assertEquals(expectedText(), text.toString());
      assertEquals(choice.get("finish_reason").asText(), finish);
      assertTrue(events.size() >= 3, "several chunks, not one: " + events.size());
    }
  }

  @Test
  void badRequestsGetClearOpenAiErrors() throws Exception {
    try (Running r = start(opts(), null)) {
      assertError(post(r, "/v1/completions", "{\"prompt\": \"hi\", "), 400, "not valid JSON");
      assertError(post(r, "/v1/completions", "[1, 2]"), 400, "JSON object");
      assertError(post(r, "/v1/completions", "{\"max_tokens\": 3}"), 400, "prompt is required");
      assertError(post(r, "/v1/completions", "{\"prompt\": 7}"), 400, "prompt must be");
      assertError(post(r, "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 501}"), 400,
          "max_tokens must be an integer in [0, 500]");
      assertError(post(r, "/v1/completions", "{\"prompt\": \"hi\", \"temperature\": \"hot\"}"),
          400, "temperature");
      assertError(post(r, "/v1/completions", "{\"prompt\": [1, 99999]}"), 400,
          "outside the model's vocabulary");
      int[] longPrompt = new int[CFG.contextLength() + 1];
      assertError(post(r, "/v1/completions", "{\"prompt\": " + Arrays.toString(longPrompt) + "}"),
          400, "context window");
      assertError(post(r, "/v1/completions", "{\"prompt\": \"hi\", \"n\": 9}"), 400,
          "n must be an integer in [1, 8]");
      assertError(post(r, "/v1/completions", "{\"prompt\": \"hi\", \"stop\": [\"a\", \"b\", \"c\","
          + " \"d\", \"e\"]}"), 400, "at most 4 strings");
      // oversized body (limit 4096 bytes)
      String big = "{\"prompt\": \"" + "a".repeat(5000) + "\"}";
      assertError(post(r, "/v1/completions", big), 413, "over the limit of 4096");
      // the same without a Content-Length (chunked): the limit holds while reading
      HttpResponse<String> chunked = CLIENT.send(HttpRequest.newBuilder(r.uri("/v1/completions"))
          .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(
              big.getBytes(StandardCharsets.UTF_8)))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertError(chunked, 413, "over the limit of 4096");
      assertError(post(r, "/v1/embeddings", "{\"input\": \"hi\"}"), 501,
          "no embedding model loaded");
      assertError(post(r, "/v1/nothing", "{}"), 404, "no endpoint");
      HttpResponse<String> get = CLIENT.send(HttpRequest.newBuilder(r.uri("/v1/completions"))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertError(get, 405, "use POST");
      // the server still answers a good request after all that
      assertEquals(200, post(r, "/v1/completions",
          "{\"prompt\": \"hi\", \"max_tokens\": 2}").statusCode());
      assertEquals(0, r.session().stats().failed());
    }
  }

  @Test
  void concurrencyLimitAnswers429AndEmbeddingsGoThroughTheInterface() throws Exception {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    EmbeddingModel slow = new EmbeddingModel() {
      @Override
      public String name() {
        return "test-embedder";
      }

      @Override
      public Embeddings embed(List<String> inputs) {
        entered.countDown();
        try {
          release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        float[][] v = new float[inputs.size()][];
        for (int i = 0; i < v.length; i++) {
          v[i] = new float[] {inputs.get(i).length(), 1f};
        }
        return new Embeddings(v, 3 * inputs.size());
      }
    };
    try (Running r = start(opts().withMaxConcurrent(1), slow)) {
      CompletableFuture<HttpResponse<String>> first = CLIENT.sendAsync(
          HttpRequest.newBuilder(r.uri("/v1/embeddings"))
              .POST(HttpRequest.BodyPublishers.ofString("{\"input\": [\"abc\", \"hello\"]}"))
              .build(), HttpResponse.BodyHandlers.ofString());
      assertTrue(entered.await(30, TimeUnit.SECONDS));
      HttpResponse<String> busy = post(r, "/v1/completions", "{\"prompt\": \"hi\"}");
      assertError(busy, 429, "too many concurrent requests");
      assertEquals("1", busy.headers().firstValue("Retry-After").orElse(""), "Retry-After");
      release.countDown();
      HttpResponse<String> ok = first.get(30, TimeUnit.SECONDS);
      assertEquals(200, ok.statusCode(), ok.body());
      JsonNode n = JSON.readTree(ok.body());
      assertEquals("list", n.get("object").asText());
      assertEquals(5f, n.get("data").get(1).get("embedding").get(0).floatValue());
      assertEquals(6, n.get("usage").get("prompt_tokens").asInt());
      assertEquals(200, post(r, "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 1}")
          .statusCode());
    }
  }

  /** Sends a streaming request on a raw socket and reads up to the first event. */
  static Socket openStream(Running r, int maxTokens) throws Exception {
    Socket sock = new Socket("127.0.0.1", r.server().port());
    String body = "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": " + maxTokens
        + ", \"temperature\": 0, \"stream\": true}";
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    OutputStream out = sock.getOutputStream();
    out.write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        + "\r\nContent-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.write(b);
    out.flush();
    return sock;
  }

  @Test
  void clientDisconnectMidStreamCancelsItsRequestOnly() throws Exception {
    try (Running r = start(opts(), null)) {
      Socket sock = openStream(r, 480); // the prompt plus 480 tokens just fit in the context
      BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(),
          StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null && !line.contains("data: ")) {
        // status line, headers, chunk sizes
      }
      assertTrue(line != null && line.contains("text_completion"), "first event: " + line);
      sock.close();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (r.session().stats().cancelled() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      InferenceSession.Stats st = r.session().stats();
      assertEquals(1, st.cancelled(), "the disconnected stream was cancelled: " + st);
      assertTrue(st.generatedTokens() < 480, "it stopped early: " + st.generatedTokens());
      assertEquals(0, st.active());
      HttpResponse<String> after = post(r, "/v1/completions",
          "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 12, \"temperature\": 0}");
      assertEquals(expectedText(), JSON.readTree(after.body()).get("choices").get(0)
          .get("text").asText());
    }
  }

  @Test
  void shutdownFinishesTheStreamInFlightAndRefusesNewRequests() throws Exception {
    Running r = start(opts(), null);
    Socket sock = openStream(r, 200);
    BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(),
        StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null && !line.contains("data: ")) {
      // up to the first event
    }
    Thread closer = new Thread(r::close);
    closer.start();
    List<String> rest = new ArrayList<>();
    while ((line = in.readLine()) != null && !line.equals("0")) {
      if (line.startsWith("data: ")) {
        rest.add(line);
      }
    }
    closer.join(60_000);
    assertFalse(closer.isAlive());
    assertEquals("data: [DONE]", rest.get(rest.size() - 1), "the stream ran to its end");
    JsonNode last = JSON.readTree(rest.get(rest.size() - 2).substring(6));
    assertFalse(last.get("choices").get(0).get("finish_reason").isNull());
    sock.close();
    assertEquals(1, r.session().stats().completed());
    boolean refused;
    try {
      HttpResponse<String> resp = post(r, "/v1/completions", "{\"prompt\": \"hi\"}");
      refused = resp.statusCode() == 503;
    } catch (java.io.IOException e) {
      refused = true; // connection refused: the socket is closed
    }
    assertTrue(refused);
  }
}
