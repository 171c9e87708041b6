package dev.fuselm.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server over an {@link InferenceSession}, on Jetty's core server:
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions} (JSON, or server-sent events
 * with {@code "stream": true}), {@code POST /v1/embeddings} (when an {@link EmbeddingModel} is
 * given), {@code GET /v1/models}, {@code GET /health} and {@code GET /metrics} (Prometheus).
 *
 * <p>It listens before the model is loaded ({@link #start(Options)}, then {@link #serve}):
 * meanwhile {@code /health} and every other endpoint answer 503 with {@code Retry-After}. With an
 * API key, {@code /v1/*} needs {@code Authorization: Bearer KEY} (else 401). Errors are OpenAI
 * JSON ({@code {"error": {"message", "type", "param", "code"}}}): 400 for malformed JSON and for
 * any field that is wrong or not supported (named in {@code param}), 404 for an unknown endpoint
 * or model, 408 for a body that does not arrive in time, 413 for a body over the limit, 429 (with
 * {@code Retry-After}) when the concurrent-request limit or the session's queue is full, 503 while
 * loading or shutting down, 504 past the per-request time limit.
 *
 * <p>Slow clients: Jetty parses headers without holding a thread; a connection that has not sent
 * a whole request head within the header timeout is closed, a body must arrive within the body
 * timeout (read without holding a thread), and the number of connections is capped. A streaming
 * client that disconnects cancels its request: it leaves the batch at the next decode step.
 * {@link #close()} stops taking requests and waits for the ones in flight to finish.
 */
public final class InferenceServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(InferenceServer.class);

  /**
   * @param host interface to bind ("127.0.0.1": this machine only; "0.0.0.0": all)
   * @param port TCP port (0: any free port, see {@link #port()})
   * @param maxBodyBytes largest request body accepted
   * @param maxTokens largest max_tokens a request may ask for
   * @param maxConcurrent requests handled at once (generating, queued or streaming); more get 429
   * @param modelName the name responses report and the {@code model} field must match
   * @param apiKey the key {@code /v1/*} requests must send as a bearer token (null: none)
   * @param maxConnections open connections at most (more wait in the accept queue)
   * @param headerTimeoutMillis time a connection may take to send a request head
   * @param bodyTimeoutMillis time a request may take to send its body
   * @param requestTimeoutMillis time a generation request may take before it is cancelled
   */
  public record Options(String host, int port, int maxBodyBytes, int maxTokens, int maxConcurrent,
      String modelName, String apiKey, int maxConnections, long headerTimeoutMillis,
      long bodyTimeoutMillis, long requestTimeoutMillis) {
    public Options {
      if (host == null || host.isBlank()) {
        throw new IllegalArgumentException("the host to bind must not be empty");
      }
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("the port must be in 0..65535, got " + port);
      }
      if (maxBodyBytes < 1 || maxTokens < 1 || maxConcurrent < 1 || maxConnections < 1) {
        throw new IllegalArgumentException("the body size, token, concurrency and connection"
            + " limits must be >= 1, got " + maxBodyBytes + ", " + maxTokens + ", "
            + maxConcurrent + ", " + maxConnections);
      }
      if (headerTimeoutMillis < 1 || bodyTimeoutMillis < 1 || requestTimeoutMillis < 1) {
        throw new IllegalArgumentException("the header, body and request time limits must be"
            + " >= 1 ms, got " + headerTimeoutMillis + ", " + bodyTimeoutMillis + ", "
            + requestTimeoutMillis);
      }
      if (apiKey != null && apiKey.isEmpty()) {
        apiKey = null;
      }
    }

    /** 127.0.0.1 and the defaults of {@link #defaults} for what is not given. */
    public Options(int port, int maxBodyBytes, int maxTokens, int maxConcurrent,
        String modelName) {
      this("127.0.0.1", port, maxBodyBytes, maxTokens, maxConcurrent, modelName, null, 256,
          10_000, 30_000, 600_000);
    }

    /**
     * 127.0.0.1:8080, 1 MiB bodies, 1024 tokens, 64 concurrent requests, no API key, 256
     * connections, 10 s for a request head, 30 s for a body, 10 minutes for a generation.
     */
    public static Options defaults(String modelName) {
      return new Options(8080, 1 << 20, 1024, 64, modelName);
    }

    public Options withHost(String h) {
      return new Options(h, port, maxBodyBytes, maxTokens, maxConcurrent, modelName, apiKey,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withPort(int p) {
      return new Options(host, p, maxBodyBytes, maxTokens, maxConcurrent, modelName, apiKey,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withMaxBodyBytes(int n) {
      return new Options(host, port, n, maxTokens, maxConcurrent, modelName, apiKey,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withMaxTokens(int n) {
      return new Options(host, port, maxBodyBytes, n, maxConcurrent, modelName, apiKey,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withMaxConcurrent(int n) {
      return new Options(host, port, maxBodyBytes, maxTokens, n, modelName, apiKey,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withApiKey(String key) {
      return new Options(host, port, maxBodyBytes, maxTokens, maxConcurrent, modelName, key,
          maxConnections, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    public Options withMaxConnections(int n) {
      return new Options(host, port, maxBodyBytes, maxTokens, maxConcurrent, modelName, apiKey,
          n, headerTimeoutMillis, bodyTimeoutMillis, requestTimeoutMillis);
    }

    /** Header, body and per-request time limits in milliseconds. */
    public Options withTimeouts(long headerMillis, long bodyMillis, long requestMillis) {
      return new Options(host, port, maxBodyBytes, maxTokens, maxConcurrent, modelName, apiKey,
          maxConnections, headerMillis, bodyMillis, requestMillis);
    }
  }

  /** What {@link #serve} makes ready. */
  private record Loaded(InferenceSession session, EmbeddingModel embeddings, ChatTemplate chat,
      Completions completions, CompletionRequest.Model model) {}

  private final Options options;
  private final Server jetty;
  private final ServerConnector connector;
  private final ThreadPoolExecutor workers;
  private final ScheduledExecutorService sweeper;
  private final Semaphore permits;
  private final ServerMetrics metrics;
  private final long startedSeconds = System.currentTimeMillis() / 1000;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final Object drained = new Object();
  // connections waiting for a request head, since when (System.nanoTime)
  private final Map<Connection, Long> waitingForHead = new ConcurrentHashMap<>();
  private volatile Loaded loaded;
  private volatile boolean draining;
  private volatile int boundPort;

  private InferenceServer(Options options) {
    this.options = options;
    this.permits = new Semaphore(options.maxConcurrent());
    this.metrics = new ServerMetrics(() -> loaded == null ? null : loaded.session());
    QueuedThreadPool pool = new QueuedThreadPool(Math.max(16, 2 * options.maxConcurrent()));
    pool.setName("fuselm-http");
    pool.setDaemon(true);
    this.jetty = new Server(pool);
    HttpConfiguration http = new HttpConfiguration();
    http.setSendServerVersion(false);
    this.connector = new ServerConnector(jetty, new HttpConnectionFactory(http));
    connector.setHost(options.host());
    connector.setPort(options.port());
    // Jetty's idle timeout only backs ours up: a generation may be silent for long
    connector.setIdleTimeout(options.requestTimeoutMillis() + options.bodyTimeoutMillis());
    connector.addBean(new Connection.Listener() {
      @Override
      public void onOpened(Connection c) {
        waitingForHead.put(c, System.nanoTime());
      }

      @Override
      public void onClosed(Connection c) {
        waitingForHead.remove(c);
      }
    });
    jetty.addConnector(connector);
    jetty.addBean(new NetworkConnectionLimit(options.maxConnections(), connector));
    jetty.setHandler(new Handler.Abstract() {
      @Override
      public boolean handle(Request request, Response response, Callback callback) {
        accept(request, response, callback);
        return true;
      }
    });
    AtomicInteger n = new AtomicInteger();
    // generation holds at most maxConcurrent of these (the permits); the rest answer the cheap
    // endpoints and the 429s
    int threads = options.maxConcurrent() + 16;
    this.workers = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(4 * threads), r -> {
          Thread t = new Thread(r, "fuselm-request-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    workers.allowCoreThreadTimeOut(true);
    this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "fuselm-header-timeout");
      t.setDaemon(true);
      return t;
    });
    long period = Math.max(10, Math.min(500, options.headerTimeoutMillis() / 4));
    sweeper.scheduleWithFixedDelay(this::closeSlowHeads, period, period, TimeUnit.MILLISECONDS);
  }

  /**
   * Starts listening with no model yet: every endpoint answers 503 (with Retry-After) until
   * {@link #serve} is called. Lets a caller load a large model while health checks get an answer.
   */
  public static InferenceServer start(Options options) throws IOException {
    InferenceServer s = new InferenceServer(options);
    try {
      s.jetty.start();
      s.boundPort = s.connector.getLocalPort();
    } catch (Exception e) {
      s.close(0);
      throw new IOException("cannot listen on " + options.host() + ":" + options.port() + ": "
          + e.getMessage(), e);
    }
    return s;
  }

  /** Starts serving a loaded session; the caller keeps ownership (close the server first). */
  public static InferenceServer start(InferenceSession session, EmbeddingModel embeddings,
      Options options) throws IOException {
    InferenceServer s = start(options);
    s.serve(session, embeddings, ChatTemplate.alpacaDefault());
    return s;
  }

  /** Makes the server answer with this session (the caller keeps ownership of all three). */
  public void serve(InferenceSession session, EmbeddingModel embeddings, ChatTemplate chat) {
    int eos = session.tokenizer()
        .map(t -> t.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1)).orElse(-1);
    CompletionRequest.Model model = new CompletionRequest.Model(options.modelName(),
        session.tokenizer().orElse(null), eos, session.config().contextLength(),
        options.maxTokens(), chat);
    Completions completions = new Completions(session, metrics, options.modelName(),
        options.requestTimeoutMillis(), () -> draining);
    loaded = new Loaded(session, embeddings, chat, completions, model);
  }

  /** The port the server listens on (the chosen one when started with port 0). */
  public int port() {
    return boundPort;
  }

  /** The interface the server listens on. */
  public String host() {
    return options.host();
  }

  // ---- connection handling ----------------------------------------------------------------------

  private void closeSlowHeads() {
    long limit = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(options.headerTimeoutMillis());
    waitingForHead.forEach((c, since) -> {
      if (since < limit && waitingForHead.remove(c, since)) {
        c.getEndPoint().close();
      }
    });
  }

  /** On a Jetty thread: checks that need no body, reads the body without blocking, dispatches. */
  private void accept(Request request, Response response, Callback callback) {
    Connection conn = request.getConnectionMetaData().getConnection();
    waitingForHead.remove(conn);
    inFlight.incrementAndGet();
    String path = Request.getPathInContext(request);
    HttpCall early = new HttpCall(request, response, callback, new byte[0]);
    ApiError refusal = refusal(request, path);
    if (refusal != null) {
      dispatch(early, conn, () -> early.sendError(refusal), endpoint(path));
      return;
    }
    long declared = request.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
    if (declared > options.maxBodyBytes()) {
      dispatch(early, conn, () -> early.sendError(tooLarge(declared)), endpoint(path));
      return;
    }
    Content.Source.asByteArrayAsync(request, options.maxBodyBytes() + 1)
        .orTimeout(options.bodyTimeoutMillis(), TimeUnit.MILLISECONDS)
        .whenComplete((body, err) -> {
          if (err instanceof TimeoutException) {
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
            dispatch(early, conn, () -> early.sendError(new ApiError(408, "invalid_request_error",
                null, "the request body did not arrive within " + options.bodyTimeoutMillis()
                    + " ms")), endpoint(path));
          } else if (err != null || body.length > options.maxBodyBytes()) {
            Throwable cause = err instanceof CompletionException && err.getCause() != null
                ? err.getCause() : err;
            // Jetty fails a read past the limit with an IllegalStateException ("Max size")
            ApiError e = cause == null || cause instanceof IllegalStateException
                ? tooLarge(options.maxBodyBytes() + 1L)
                : ApiError.invalid(null, "could not read the request body: " + cause);
            dispatch(early, conn, () -> early.sendError(e), endpoint(path));
          } else {
            HttpCall call = new HttpCall(request, response, callback, body);
            route(call, conn, path);
          }
        });
  }

  /** 401/404/405/503 answers that need no body. */
  private ApiError refusal(Request request, String path) {
    if (draining) {
      return ApiError.unavailable("the server is shutting down", 5);
    }
    if ((path.startsWith("/v1/") || path.endsWith("tokenize")) && options.apiKey() != null) {
      String auth = request.getHeaders().get(HttpHeader.AUTHORIZATION);
      byte[] want = ("Bearer " + options.apiKey()).getBytes(StandardCharsets.UTF_8);
      if (auth == null || !MessageDigest.isEqual(want, auth.getBytes(StandardCharsets.UTF_8))) {
        return new ApiError(401, "invalid_request_error", null, "invalid_api_key", 0,
            auth == null ? "no API key: send the header Authorization: Bearer <key>"
                : "the API key is not the one this server was started with");
      }
    }
    String want = switch (path) {
      case "/health", "/metrics", "/v1/models" -> "GET";
      case "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/tokenize",
          "/detokenize" -> "POST";
      default -> path.startsWith("/v1/models/") ? "GET" : null;
    };
    if (want == null) {
      return new ApiError(404, "invalid_request_error", null, "no endpoint " + request.getMethod()
          + " " + path + " (this server has POST /v1/completions, POST /v1/chat/completions,"
          + " POST /v1/embeddings, GET /v1/models, POST /tokenize, POST /detokenize, GET /health"
          + " and GET /metrics)");
    }
    if (!request.getMethod().equals(want)) {
      return new ApiError(405, "invalid_request_error", null, "method " + request.getMethod()
          + " not allowed here; use " + want);
    }
    if (loaded == null && !path.equals("/metrics")) {
      return ApiError.unavailable("the model is loading", 5);
    }
    return null;
  }

  private static String endpoint(String path) {
    return path.startsWith("/v1/models/") ? "/v1/models/{id}"
        : switch (path) {
          case "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions",
              "/v1/embeddings", "/tokenize", "/detokenize" -> path;
          default -> "other";
        };
  }

  private interface Work {
    void run() throws ApiError, IOException;
  }

  private void route(HttpCall call, Connection conn, String path) {
    Loaded l = loaded;
    switch (path) {
      case "/v1/completions", "/v1/chat/completions" -> withPermit(call, conn, path,
          () -> l.completions().run(call, CompletionRequest.parse(json(call),
              path.equals("/v1/chat/completions"), l.model())));
      case "/v1/embeddings" -> withPermit(call, conn, path,
          () -> Embeddings.respond(call, json(call), l.embeddings(), options.modelName()));
      case "/tokenize", "/detokenize" -> dispatch(call, conn,
          () -> tokenize(call, l, path.equals("/tokenize")), path);
      case "/health" -> dispatch(call, conn, () -> health(call, l), path);
      case "/metrics" -> dispatch(call, conn, () -> call.send(200,
          "text/plain; version=0.0.4; charset=utf-8",
          metrics.scrape().getBytes(StandardCharsets.UTF_8)), path);
      default -> dispatch(call, conn, () -> models(call, l, path), endpoint(path));
    }
  }

  private void withPermit(HttpCall call, Connection conn, String path, Work work) {
    if (!permits.tryAcquire()) {
      dispatch(call, conn, () -> call.sendError(ApiError.busy("too many concurrent requests (the"
          + " limit is " + options.maxConcurrent() + "): retry later")), path);
      return;
    }
    dispatch(call, conn, () -> {
      try {
        work.run();
      } finally {
        permits.release();
      }
    }, path);
  }

  /** Runs the work on a worker thread, answers its errors, ends the exchange. */
  private void dispatch(HttpCall call, Connection conn, Work work, String endpoint) {
    Runnable task = () -> {
      try {
        work.run();
      } catch (ApiError e) {
        call.sendError(e);
      } catch (IOException e) {
        LOG.debug("client connection failed: {}", e.toString());
        call.markCancelled();
      } catch (RuntimeException e) {
        LOG.warn("request {} {} failed: {}", call.method(), call.path(), e.toString());
        call.sendError(new ApiError(500, "server_error", null, "internal error: " + e));
      } finally {
        metrics.request(endpoint, call.status());
        call.complete();
        if (conn.getEndPoint().isOpen()) {
          waitingForHead.put(conn, System.nanoTime()); // keep-alive: the next head has a limit
        }
        if (inFlight.decrementAndGet() == 0) {
          synchronized (drained) {
            drained.notifyAll();
          }
        }
      }
    };
    try {
      workers.execute(task);
    } catch (RejectedExecutionException e) {
      call.abort(e); // the worker queue is full: drop the connection
      if (inFlight.decrementAndGet() == 0) {
        synchronized (drained) {
          drained.notifyAll();
        }
      }
    }
  }

  private ApiError tooLarge(long n) {
    return new ApiError(413, "invalid_request_error", null, "the request body has " + n
        + " bytes or more, over the limit of " + options.maxBodyBytes());
  }

  // ---- small endpoints --------------------------------------------------------------------------

  private void health(HttpCall call, Loaded l) throws IOException {
    InferenceSession.Stats st = l.session().stats();
    ObjectNode n = HttpCall.JSON.createObjectNode();
    n.put("status", "ok");
    n.put("model", options.modelName());
    n.put("embeddings", l.embeddings() != null);
    n.put("active", st.active());
    n.put("queued", st.queued());
    n.put("completed", st.completed());
    n.put("cancelled", st.cancelled());
    n.put("failed", st.failed());
    call.sendJson(200, n);
  }

  /**
   * vLLM's shapes: {@code /tokenize} takes {@code prompt} (or chat {@code messages}, rendered with
   * the chat template) and answers {@code tokens}, {@code count} and {@code max_model_len};
   * {@code /detokenize} takes {@code tokens} and answers {@code prompt}.
   */
  private void tokenize(HttpCall call, Loaded l, boolean encode) throws ApiError, IOException {
    JsonNode body = json(call);
    CompletionRequest.checkModel(body, options.modelName());
    var tok = l.model().tokenizer();
    if (tok == null) {
      throw ApiError.invalid(null, "this model has no tokenizer");
    }
    ObjectNode out = HttpCall.JSON.createObjectNode();
    if (encode) {
      String text;
      if (body.hasNonNull("messages")) {
        text = l.chat().render(body.get("messages"));
      } else if (body.path("prompt").isTextual()) {
        text = body.get("prompt").asText();
      } else {
        throw ApiError.invalid("prompt", "prompt must be a string (or give chat messages)");
      }
      int[] ids = tok.encode(text);
      var arr = out.putArray("tokens");
      for (int id : ids) {
        arr.add(id);
      }
      out.put("count", ids.length);
      out.put("max_model_len", l.model().contextLength());
    } else {
      JsonNode t = body.get("tokens");
      if (t == null || !t.isArray()) {
        throw ApiError.invalid("tokens", "tokens must be an array of token ids");
      }
      int[] ids = new int[t.size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = t.get(i).asInt(-1);
        if (!t.get(i).canConvertToInt() || ids[i] < 0 || ids[i] >= tok.vocabSize()) {
          throw ApiError.invalid("tokens", "token " + i + " is not an id of the vocabulary of "
              + tok.vocabSize());
        }
      }
      out.put("prompt", tok.decode(ids));
    }
    call.sendJson(200, out);
  }

  private void models(HttpCall call, Loaded l, String path) throws ApiError, IOException {
    ObjectNode list = HttpCall.JSON.createObjectNode();
    list.put("object", "list");
    var data = list.putArray("data");
    model(data.addObject(), options.modelName());
    if (l.embeddings() != null && !l.embeddings().name().equals(options.modelName())) {
      model(data.addObject(), l.embeddings().name());
    }
    if (path.equals("/v1/models")) {
      call.sendJson(200, list);
      return;
    }
    String id = path.substring("/v1/models/".length());
    for (JsonNode m : data) {
      if (m.get("id").asText().equals(id)) {
        call.sendJson(200, m);
        return;
      }
    }
    throw new ApiError(404, "invalid_request_error", "model", "model_not_found", 0,
        "the model '" + id + "' does not exist (see GET /v1/models)");
  }

  private void model(ObjectNode m, String id) {
    m.put("id", id);
    m.put("object", "model");
    m.put("created", startedSeconds);
    m.put("owned_by", "fuselm");
  }

  static JsonNode json(HttpCall call) throws ApiError {
    return json(call.body());
  }

  /** A request body as a JSON object; anything else is a 400 (no server needed: fuzzed so). */
  static JsonNode json(byte[] body) throws ApiError {
    JsonNode n;
    try {
      n = HttpCall.JSON.readTree(body);
    } catch (JsonProcessingException e) {
      throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getMessage());
    }
    if (n == null || !n.isObject()) {
      throw ApiError.invalid(null, "the request body must be a JSON object");
    }
    return n;
  }

  // ---- shutdown ---------------------------------------------------------------------------------

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
    try {
      jetty.stop();
    } catch (Exception e) {
      LOG.warn("stopping the HTTP server: {}", e.toString());
    }
    workers.shutdownNow();
    sweeper.shutdownNow();
  }

  /** {@link #close(long)} with 60 seconds for the requests in flight. */
  @Override
  public void close() {
    close(60_000);
  }
}
