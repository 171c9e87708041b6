package dev.fuselm.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.generate.Generator.StopReason;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.StreamingDecoder;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server over an {@link InferenceSession}, on the JDK's built-in HTTP
 * server: {@code POST /v1/completions} (JSON, or server-sent events with {@code "stream": true}),
 * {@code POST /v1/embeddings} (when an {@link EmbeddingModel} is given) and {@code GET /health}.
 *
 * <p>Limits answer with OpenAI-style JSON errors ({@code {"error": {"message", "type", "param",
 * "code"}}}): 400 for malformed JSON or bad fields (max_tokens over the limit, a prompt longer than
 * the context), 413 for a body over the size limit, 429 when the concurrent-request limit is
 * reached or the session's queue is full, 503 while shutting down. A streaming client that
 * disconnects cancels its request: it leaves the batch at the next decode step.
 * {@link #close()} stops taking requests and waits for the ones in flight to finish.
 */
public final class InferenceServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(InferenceServer.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * @param port TCP port (0: any free port, see {@link #port()})
   * @param maxBodyBytes largest request body accepted
   * @param maxTokens largest max_tokens a request may ask for
   * @param maxConcurrent requests handled at once (generating, queued or streaming); more get 429
   * @param modelName the name responses report
   */
  public record Options(int port, int maxBodyBytes, int maxTokens, int maxConcurrent,
      String modelName) {
    public Options {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
      }
      if (maxBodyBytes < 1 || maxTokens < 1 || maxConcurrent < 1) {
        throw new IllegalArgumentException("the body size, token and concurrency limits must be"
            + " >= 1, got " + maxBodyBytes + ", " + maxTokens + ", " + maxConcurrent);
      }
    }

    /** Port 8080, 1 MiB bodies, 1024 tokens, 64 concurrent requests. */
    public static Options defaults(String modelName) {
      return new Options(8080, 1 << 20, 1024, 64, modelName);
    }

    public Options withPort(int p) {
      return new Options(p, maxBodyBytes, maxTokens, maxConcurrent, modelName);
    }

    public Options withMaxBodyBytes(int n) {
      return new Options(port, n, maxTokens, maxConcurrent, modelName);
    }

    public Options withMaxTokens(int n) {
      return new Options(port, maxBodyBytes, n, maxConcurrent, modelName);
    }

    public Options withMaxConcurrent(int n) {
      return new Options(port, maxBodyBytes, maxTokens, n, modelName);
    }
  }

  /** A request the client got wrong: becomes an OpenAI error response. */
  private static final class ApiError extends Exception {
    final int status;
    final String type;
    final String param;

    ApiError(int status, String type, String param, String message) {
      super(message);
      this.status = status;
      this.type = type;
      this.param = param;
    }

    static ApiError invalid(String param, String message) {
      return new ApiError(400, "invalid_request_error", param, message);
    }
  }

  private final InferenceSession session;
  private final EmbeddingModel embeddings;
  private final Options options;
  private final HttpServer http;
  private final ExecutorService executor;
  private final Semaphore permits;
  private final AtomicInteger inFlight = new AtomicInteger();
  private volatile boolean draining;
  private final Object drained = new Object();

  private InferenceServer(InferenceSession session, EmbeddingModel embeddings, Options options)
      throws IOException {
    this.session = session;
    this.embeddings = embeddings;
    this.options = options;
    this.permits = new Semaphore(options.maxConcurrent());
    this.http = HttpServer.create(new InetSocketAddress(options.port()), 64);
    // a few threads beyond the limit, so that requests over it get their 429 promptly
    AtomicInteger n = new AtomicInteger();
    this.executor = Executors.newFixedThreadPool(options.maxConcurrent() + 4, r -> {
      Thread t = new Thread(r, "fuselm-http-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    http.setExecutor(executor);
    http.createContext("/", this::handle);
  }

  /** Starts serving; the caller keeps ownership of the session (close the server first). */
  public static InferenceServer start(InferenceSession session, EmbeddingModel embeddings,
      Options options) throws IOException {
    InferenceServer s = new InferenceServer(session, embeddings, options);
    s.http.start();
    return s;
  }

  /** The port the server listens on (the chosen one when started with port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  // ---- dispatch ----------------------------------------------------------------------------------

  private void handle(HttpExchange ex) {
    inFlight.incrementAndGet();
    try {
      String path = ex.getRequestURI().getPath();
      String method = ex.getRequestMethod();
      try {
        if (draining) {
          throw new ApiError(503, "server_error", null, "the server is shutting down");
        }
        switch (path) {
          case "/health" -> {
            requireMethod(method, "GET");
            health(ex);
          }
          case "/v1/completions" -> {
            requireMethod(method, "POST");
            withPermit(ex, () -> completions(ex));
          }
          case "/v1/embeddings" -> {
            requireMethod(method, "POST");
            withPermit(ex, () -> embeddings(ex));
          }
          default -> throw new ApiError(404, "invalid_request_error", null,
              "no endpoint " + method + " " + path + " (this server has POST /v1/completions,"
                  + " POST /v1/embeddings and GET /health)");
        }
      } catch (ApiError e) {
        sendError(ex, e);
      } catch (IOException e) {
        LOG.debug("client connection failed: {}", e.toString());
      } catch (RuntimeException e) {
        LOG.warn("request {} {} failed: {}", method, path, e.toString());
        sendError(ex, new ApiError(500, "server_error", null, "internal error: " + e));
      }
    } finally {
      ex.close();
      if (inFlight.decrementAndGet() == 0) {
        synchronized (drained) {
          drained.notifyAll();
        }
      }
    }
  }

  private interface Work {
    void run() throws ApiError, IOException;
  }

  private void withPermit(HttpExchange ex, Work work) throws ApiError, IOException {
    if (!permits.tryAcquire()) {
      throw new ApiError(429, "rate_limit_error", null, "too many concurrent requests (the"
          + " limit is " + options.maxConcurrent() + "): retry later");
    }
    try {
      work.run();
    } finally {
      permits.release();
    }
  }

  private static void requireMethod(String method, String allowed) throws ApiError {
    if (!method.equals(allowed)) {
      throw new ApiError(405, "invalid_request_error", null,
          "method " + method + " not allowed here; use " + allowed);
    }
  }

  private void health(HttpExchange ex) throws IOException {
    InferenceSession.Stats st = session.stats();
    ObjectNode n = JSON.createObjectNode();
    n.put("status", "ok");
    n.put("model", options.modelName());
    n.put("embeddings", embeddings != null);
    n.put("active", st.active());
    n.put("queued", st.queued());
    n.put("completed", st.completed());
    n.put("cancelled", st.cancelled());
    n.put("failed", st.failed());
    sendJson(ex, 200, n);
  }

  // ---- /v1/completions ---------------------------------------------------------------------------

  private record Completion(List<int[]> prompts, GenerationConfig gc, boolean stream) {}

  private void completions(HttpExchange ex) throws ApiError, IOException {
    JsonNode body = readJson(ex);
    Completion c = parseCompletion(body);
    String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
    long created = System.currentTimeMillis() / 1000;
    if (c.stream()) {
      stream(ex, id, created, c.prompts().get(0), c.gc());
      return;
    }
    List<CompletableFuture<Result>> futures = new ArrayList<>();
    try {
      for (int[] p : c.prompts()) {
        futures.add(submit(p, c.gc(), null));
      }
      ObjectNode resp = header(id, created);
      ArrayNode choices = resp.putArray("choices");
      int promptTokens = 0, completionTokens = 0;
      for (int i = 0; i < futures.size(); i++) {
        Result r = await(futures.get(i));
        ObjectNode ch = choices.addObject();
        ch.put("text", decode(r.ids(), c.gc().stopToken()));
        ch.put("index", i);
        ch.putNull("logprobs");
        ch.put("finish_reason", finishReason(r.reason()));
        promptTokens += c.prompts().get(i).length;
        completionTokens += r.ids().length;
      }
      ObjectNode usage = resp.putObject("usage");
      usage.put("prompt_tokens", promptTokens);
      usage.put("completion_tokens", completionTokens);
      usage.put("total_tokens", promptTokens + completionTokens);
      sendJson(ex, 200, resp);
    } finally {
      for (CompletableFuture<Result> f : futures) {
        f.cancel(false); // no-op when done; frees the slot when the client went away
      }
    }
  }

  /** Server-sent events: one chunk per piece of text, a last chunk with the finish reason, [DONE]. */
  private void stream(HttpExchange ex, String id, long created, int[] prompt, GenerationConfig gc)
      throws ApiError, IOException {
    LinkedBlockingQueue<Integer> tokens = new LinkedBlockingQueue<>();
    CompletableFuture<Result> f = submit(prompt, gc, t -> {
      tokens.add(t);
      return true;
    });
    StreamingDecoder dec = streamingDecoder();
    try {
      ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
      ex.getResponseHeaders().set("Cache-Control", "no-cache");
      ex.sendResponseHeaders(200, 0);
      OutputStream out = ex.getResponseBody();
      while (true) {
        Integer t = tokens.poll(20, TimeUnit.MILLISECONDS);
        if (t == null) {
          if (f.isDone() && tokens.isEmpty()) {
            break;
          }
          continue;
        }
        if (t == gc.stopToken()) {
          continue;
        }
        String piece = dec.push(t);
        if (!piece.isEmpty()) {
          writeEvent(out, chunk(id, created, piece, null));
        }
      }
      Result r;
      try {
        r = f.get();
      } catch (ExecutionException e) {
        LOG.warn("streamed generation failed: {}", String.valueOf(e.getCause()));
        writeEvent(out, errorJson(new ApiError(500, "server_error", null,
            "generation failed: " + e.getCause())));
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
        return;
      }
      writeEvent(out, chunk(id, created, dec.finish(), finishReason(r.reason())));
      out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      f.cancel(false); // the client disconnected (a write failed): leave the batch now
    }
  }

  private ObjectNode chunk(String id, long created, String text, String finish) {
    ObjectNode n = header(id, created);
    ObjectNode ch = n.putArray("choices").addObject();
    ch.put("text", text);
    ch.put("index", 0);
    ch.putNull("logprobs");
    if (finish == null) {
      ch.putNull("finish_reason");
    } else {
      ch.put("finish_reason", finish);
    }
    return n;
  }

  private ObjectNode header(String id, long created) {
    ObjectNode n = JSON.createObjectNode();
    n.put("id", id);
    n.put("object", "text_completion");
    n.put("created", created);
    n.put("model", options.modelName());
    return n;
  }

  private static void writeEvent(OutputStream out, JsonNode n) throws IOException {
    out.write(("data: " + JSON.writeValueAsString(n) + "\n\n").getBytes(StandardCharsets.UTF_8));
    out.flush();
  }

  private Completion parseCompletion(JsonNode body) throws ApiError {
    int maxTokens = intField(body, "max_tokens", 16, 0, options.maxTokens());
    float temperature = (float) numberField(body, "temperature", 1.0, 0, 2);
    float topP = (float) numberField(body, "top_p", 1.0, Double.MIN_VALUE, 1);
    int topK = intField(body, "top_k", 0, 0, Integer.MAX_VALUE);
    long seed = body.hasNonNull("seed")
        ? (long) numberField(body, "seed", 0, -Math.pow(2, 63), Math.pow(2, 63))
        : ThreadLocalRandom.current().nextLong();
    intField(body, "n", 1, 1, 1); // one choice per prompt
    boolean stream = body.path("stream").asBoolean(false);
    if (body.has("stream") && !body.get("stream").isBoolean() && !body.get("stream").isNull()) {
      throw ApiError.invalid("stream", "stream must be true or false");
    }
    if (body.path("echo").asBoolean(false)) {
      throw ApiError.invalid("echo", "echo is not supported by this server");
    }
    if (body.hasNonNull("logprobs")) {
      throw ApiError.invalid("logprobs", "logprobs are not supported by this server");
    }
    if (body.hasNonNull("stop")) {
      throw ApiError.invalid("stop", "stop sequences are not supported by this server (generation"
          + " stops at <|endoftext|>)");
    }
    for (String p : new String[] {"presence_penalty", "frequency_penalty"}) {
      if (body.hasNonNull(p) && body.get(p).asDouble() != 0) {
        throw ApiError.invalid(p, p + " is not supported by this server (only 0)");
      }
    }
    List<int[]> prompts = parsePrompts(body.get("prompt"));
    if (stream && prompts.size() != 1) {
      throw ApiError.invalid("prompt", "streaming takes exactly one prompt, got " + prompts.size());
    }
    int eos = session.tokenizer()
        .map(t -> t.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1)).orElse(-1);
    GenerationConfig gc = new GenerationConfig(maxTokens, temperature, topK, topP, seed, eos,
        false);
    return new Completion(prompts, gc, stream);
  }

  /** A string, an array of strings, an array of token ids, or an array of arrays of ids. */
  private List<int[]> parsePrompts(JsonNode p) throws ApiError {
    if (p == null || p.isNull()) {
      throw ApiError.invalid("prompt", "prompt is required");
    }
    List<int[]> out = new ArrayList<>();
    if (p.isTextual()) {
      out.add(encode(p.asText()));
    } else if (p.isArray() && p.size() > 0 && p.get(0).isIntegralNumber()) {
      out.add(ids(p));
    } else if (p.isArray() && p.size() > 0) {
      for (JsonNode e : p) {
        if (e.isTextual()) {
          out.add(encode(e.asText()));
        } else if (e.isArray()) {
          out.add(ids(e));
        } else {
          throw ApiError.invalid("prompt", "prompt must be a string, an array of strings, an"
              + " array of token ids or an array of arrays of token ids");
        }
      }
    } else {
      throw ApiError.invalid("prompt", "prompt must be a non-empty string or array");
    }
    return out;
  }

  private static int[] ids(JsonNode arr) throws ApiError {
    int[] ids = new int[arr.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode e = arr.get(i);
      if (!e.isIntegralNumber() || !e.canConvertToInt()) {
        throw ApiError.invalid("prompt", "token " + i + " of the prompt is not an integer id");
      }
      ids[i] = e.asInt();
    }
    return ids;
  }

  private int[] encode(String text) throws ApiError {
    Tokenizer tok = session.tokenizer().orElseThrow(() -> ApiError.invalid("prompt",
        "this model has no tokenizer: send the prompt as an array of token ids"));
    return tok.encode(text);
  }

  private String decode(int[] ids, int stopToken) {
    StreamingDecoder dec = streamingDecoder();
    if (dec == null) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      if (id != stopToken) {
        sb.append(dec.push(id));
      }
    }
    return sb.append(dec.finish()).toString();
  }

  private StreamingDecoder streamingDecoder() {
    return session.tokenizer().filter(t -> t instanceof Gpt2BpeTokenizer)
        .map(t -> ((Gpt2BpeTokenizer) t).streamingDecoder()).orElse(null);
  }

  private CompletableFuture<Result> submit(int[] prompt, GenerationConfig gc,
      InferenceSession.TokenListener listener) throws ApiError {
    try {
      return session.submit(prompt, gc, listener);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("prompt", e.getMessage());
    } catch (RejectedExecutionException e) {
      throw new ApiError(draining ? 503 : 429, draining ? "server_error" : "rate_limit_error",
          null, e.getMessage());
    }
  }

  private static Result await(CompletableFuture<Result> f) throws ApiError {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ApiError(503, "server_error", null, "interrupted");
    } catch (ExecutionException e) {
      throw new ApiError(500, "server_error", null, "generation failed: " + e.getCause());
    }
  }

  private static String finishReason(StopReason r) {
    return r == StopReason.STOP_TOKEN ? "stop" : "length";
  }

  // ---- /v1/embeddings ----------------------------------------------------------------------------

  private void embeddings(HttpExchange ex) throws ApiError, IOException {
    JsonNode body = readJson(ex);
    if (embeddings == null) {
      throw new ApiError(501, "invalid_request_error", "model", "this server has no embedding"
          + " model loaded (it serves the GPT model " + options.modelName() + "): start it with an"
          + " embedding model for /v1/embeddings");
    }
    JsonNode in = body.get("input");
    List<String> inputs = new ArrayList<>();
    if (in != null && in.isTextual()) {
      inputs.add(in.asText());
    } else if (in != null && in.isArray() && in.size() > 0) {
      for (JsonNode e : in) {
        if (!e.isTextual()) {
          throw ApiError.invalid("input", "input must be a string or an array of strings");
        }
        inputs.add(e.asText());
      }
    } else {
      throw ApiError.invalid("input", "input must be a non-empty string or array of strings");
    }
    EmbeddingModel.Embeddings out;
    try {
      out = embeddings.embed(inputs);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("input", e.getMessage());
    }
    ObjectNode resp = JSON.createObjectNode();
    resp.put("object", "list");
    ArrayNode data = resp.putArray("data");
    for (int i = 0; i < out.vectors().length; i++) {
      ObjectNode d = data.addObject();
      d.put("object", "embedding");
      d.put("index", i);
      ArrayNode v = d.putArray("embedding");
      for (float x : out.vectors()[i]) {
        v.add(x);
      }
    }
    resp.put("model", embeddings.name());
    ObjectNode usage = resp.putObject("usage");
    usage.put("prompt_tokens", out.promptTokens());
    usage.put("total_tokens", out.promptTokens());
    sendJson(ex, 200, resp);
  }

  // ---- JSON in and out ---------------------------------------------------------------------------

  private JsonNode readJson(HttpExchange ex) throws ApiError, IOException {
    String len = ex.getRequestHeaders().getFirst("Content-Length");
    if (len != null) {
      long n;
      try {
        n = Long.parseLong(len.trim());
      } catch (NumberFormatException e) {
        throw ApiError.invalid(null, "bad Content-Length: " + len);
      }
      if (n > options.maxBodyBytes()) {
        throw tooLarge(n);
      }
    }
    byte[] body = readAtMost(ex.getRequestBody(), options.maxBodyBytes());
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      throw ApiError.invalid(null, "the request body is not valid JSON: "
          + e.getOriginalMessage());
    }
    if (n == null || !n.isObject()) {
      throw ApiError.invalid(null, "the request body must be a JSON object");
    }
    return n;
  }

  private byte[] readAtMost(InputStream in, int max) throws ApiError, IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] chunk = new byte[8192];
    int r;
    while ((r = in.read(chunk)) >= 0) {
      buf.write(chunk, 0, r);
      if (buf.size() > max) {
        throw tooLarge(buf.size());
      }
    }
    return buf.toByteArray();
  }

  private ApiError tooLarge(long n) {
    return new ApiError(413, "invalid_request_error", null, "the request body has " + n
        + " bytes or more, over the limit of " + options.maxBodyBytes());
  }

  private static ObjectNode errorJson(ApiError e) {
    ObjectNode n = JSON.createObjectNode();
    ObjectNode err = n.putObject("error");
    err.put("message", e.getMessage());
    err.put("type", e.type);
    if (e.param == null) {
      err.putNull("param");
    } else {
      err.put("param", e.param);
    }
    err.put("code", e.status);
    return n;
  }

  private static void sendError(HttpExchange ex, ApiError e) {
    try {
      sendJson(ex, e.status, errorJson(e));
    } catch (IOException io) {
      LOG.debug("could not send the error response: {}", io.toString());
    }
  }

  private static void sendJson(HttpExchange ex, int status, JsonNode n) throws IOException {
    byte[] b = JSON.writeValueAsBytes(n);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
  }

  private static int intField(JsonNode body, String name, int dflt, int min, int max)
      throws ApiError {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < min || v.asInt() > max) {
      throw ApiError.invalid(name, name + " must be an integer in [" + min + ", " + max + "], got "
          + v);
    }
    return v.asInt();
  }

  private static double numberField(JsonNode body, String name, double dflt, double min,
      double max) throws ApiError {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isNumber() || !(v.asDouble() >= min && v.asDouble() <= max)) {
      throw ApiError.invalid(name, name + " must be a number in [" + min + ", " + max + "], got "
          + v);
    }
    return v.asDouble();
  }

  // ---- shutdown ----------------------------------------------------------------------------------

  /**
   * Graceful shutdown: new requests get 503, the ones in flight (streams included) finish, then
   * the listening socket closes. Waits at most {@code timeoutMillis} for the requests in flight.
   */
  public void close(long timeoutMillis) {
    draining = true;
    long deadline = System.currentTimeMillis() + timeoutMillis;
    synchronized (drained) {
      while (inFlight.get() > 0 && System.currentTimeMillis() < deadline) {
        try {
          drained.wait(Math.max(1, Math.min(100, deadline - System.currentTimeMillis())));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    http.stop(0);
    executor.shutdownNow();
  }

  /** {@link #close(long)} with 60 seconds for the requests in flight. */
  @Override
  public void close() {
    close(60_000);
  }
}
