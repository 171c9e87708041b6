package dev.fuselm.cli;

import dev.fuselm.serve.BertEmbeddingModel;
import dev.fuselm.serve.ChatTemplate;
import dev.fuselm.serve.InferenceServer;
import dev.fuselm.serve.InferenceSession;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code fuselm serve}: an OpenAI-compatible HTTP server for a model directory. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Serve a GPT model directory or GPT-2 .gguf file over HTTP: POST /v1/completions and POST"
        + " /v1/chat/completions (OpenAI-compatible, \"stream\": true for server-sent events),"
        + " POST /v1/embeddings, GET /v1/models, POST /tokenize, POST /detokenize, GET /health,"
        + " GET /metrics (Prometheus). It"
        + " listens first and loads the model after (/health answers 503 meanwhile)."
        + " Ctrl-C / SIGTERM stops taking requests and finishes the ones in flight.")
public final class ServeCommand implements Callable<Integer> {
  static final String API_KEY_ENV = "FUSELM_API_KEY";
  // Jetty's start/stop notices are not the CLI's business (warnings still show); held so that
  // java.util.logging does not forget the level
  private static final java.util.logging.Logger JETTY_LOG =
      java.util.logging.Logger.getLogger("org.eclipse.jetty");

  @Option(names = "--model", description = "model directory (config.json +"
      + " model.safetensors + tokenizer files) or a GPT-2 .gguf file (its tokenizer from the"
      + " file's metadata)") Path model;
  @Parameters(arity = "0..1", paramLabel = "MODEL", description = "the model, as --model"
      + " (fuselm serve model.gguf)") Path modelArgument;
  @Option(names = "--host", description = "interface to listen on: 127.0.0.1 serves this"
      + " machine only, 0.0.0.0 every interface (default: ${DEFAULT-VALUE})")
  String host = "127.0.0.1";
  @Option(names = "--port", description = "TCP port (default: ${DEFAULT-VALUE})") int port = 8080;
  @Option(names = "--api-key", description = "require Authorization: Bearer KEY on /v1/*"
      + " (default: the environment variable " + API_KEY_ENV + "; none when unset)")
  String apiKey;
  @Option(names = "--slots", description = "requests generating at once, each with its own KV"
      + " cache (default: ${DEFAULT-VALUE})") int slots = 8;
  @Option(names = "--max-concurrent", description = "requests handled at once; more get HTTP 429"
      + " (default: ${DEFAULT-VALUE})") int maxConcurrent = 64;
  @Option(names = "--max-connections", description = "open connections at most"
      + " (default: ${DEFAULT-VALUE})") int maxConnections = 256;
  @Option(names = "--max-tokens", description = "largest max_tokens a request may ask for"
      + " (default: ${DEFAULT-VALUE})") int maxTokens = 1024;
  @Option(names = "--max-body-bytes", description = "largest request body; more get HTTP 413"
      + " (default: ${DEFAULT-VALUE})") int maxBodyBytes = 1 << 20;
  @Option(names = "--header-timeout", description = "seconds a connection may take to send a"
      + " request's headers (default: ${DEFAULT-VALUE})") double headerTimeout = 10;
  @Option(names = "--body-timeout", description = "seconds a request may take to send its body;"
      + " later gets HTTP 408 (default: ${DEFAULT-VALUE})") double bodyTimeout = 30;
  @Option(names = "--request-timeout", description = "seconds a generation request may run"
      + " before it is cancelled (HTTP 504) (default: ${DEFAULT-VALUE})")
  double requestTimeout = 600;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--embedding-model", description = "BERT model directory (config.json +"
      + " model.safetensors + vocab.txt) that answers POST /v1/embeddings") Path embeddingModel;
  @Option(names = "--weights", description = "matrix weights used for decoding: fp32, bf16"
      + " (about 1.3x faster per token, bf16 rounding) or int8 (Q8_0, quantized at load)"
      + " (default: ${DEFAULT-VALUE})")
  String weights = "fp32";
  @Option(names = "--prefix-cache", description = "finished prompts kept for exact reuse of their"
      + " KV entries by later prompts that start the same way, each in one extra KV-cache slot;"
      + " 0 or off disables it (default: ${DEFAULT-VALUE})") String prefixCache = "2";
  // for tests of the loading phase: a pause between listening and loading
  @Option(names = "--load-delay", hidden = true) double loadDelay;

  /** The --prefix-cache value: a count, or off (0). */
  static int prefixCacheEntries(String v) {
    if (v.equalsIgnoreCase("off")) {
      return 0;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n >= 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // the refusal below
    }
    throw new IllegalArgumentException("--prefix-cache must be a count >= 0 or off, got '" + v
        + "'");
  }

  @Override
  public Integer call() throws IOException, InterruptedException {
    if (model != null && modelArgument != null) {
      throw new UserInputException("give the model once: as --model or as MODEL, not both");
    }
    if (model == null && modelArgument == null) {
      throw new UserInputException("no model: give a model directory or .gguf file (--model or"
          + " MODEL)");
    }
    model = model != null ? model : modelArgument;
    boolean gguf = dev.fuselm.io.GgufGpt2.isGguf(model);
    if (!gguf && !Files.isDirectory(model)) {
      throw new UserInputException(model + ": no such model directory or GGUF file");
    }
    JETTY_LOG.setLevel(java.util.logging.Level.WARNING);
    String key = apiKey != null ? apiKey : System.getenv(API_KEY_ENV);
    InferenceServer.Options serverOptions;
    InferenceSession.Options sessionOptions;
    ChatTemplate chat;
    try {
      serverOptions = new InferenceServer.Options(host, port, maxBodyBytes, maxTokens,
          maxConcurrent, model.toAbsolutePath().normalize().getFileName().toString(), key,
          maxConnections, millis(headerTimeout, "--header-timeout"),
          millis(bodyTimeout, "--body-timeout"), millis(requestTimeout, "--request-timeout"));
      // each request may ask for up to 8 choices (n), each its own session request
      sessionOptions = new InferenceSession.Options(slots, 8 * maxConcurrent, threads,
          GenerateCommand.weightType(weights), prefixCacheEntries(prefixCache));
      chat = ChatTemplate.forModel(model);
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    // listen first, so that health checks get 503 (not a refused connection) while loading
    InferenceServer server;
    try {
      server = InferenceServer.start(serverOptions);
    } catch (IOException e) {
      throw new UserInputException(e.getMessage());
    }
    InferenceSession session;
    BertEmbeddingModel embedder = null;
    if (loadDelay > 0) {
      Thread.sleep(Math.round(loadDelay * 1000));
    }
    try {
      session = InferenceSession.open(model, sessionOptions);
    } catch (IOException | RuntimeException e) {
      server.close(0);
      throw e;
    }
    if (session.tokenizer().isEmpty()) {
      server.close(0);
      session.close();
      throw new UserInputException(model + " has no tokenizer files (encoder.json + vocab.bpe or"
          + " tokenizer.json) and its vocabulary is not GPT-2's: the server needs a tokenizer");
    }
    if (embeddingModel != null) {
      try {
        embedder = BertEmbeddingModel.open(embeddingModel, threads, 32);
      } catch (IOException | IllegalArgumentException e) {
        server.close(0);
        session.close();
        throw new UserInputException("--embedding-model " + embeddingModel + ": " + e.getMessage());
      }
    }
    server.serve(session, embedder, chat);
    BertEmbeddingModel embedderToClose = embedder;
    CountDownLatch stopped = new CountDownLatch(1);
    Thread hook = new Thread(() -> {
      System.err.println("fuselm: shutting down (finishing requests in flight)");
      server.close();
      session.close();
      if (embedderToClose != null) {
        embedderToClose.close();
      }
      stopped.countDown();
    }, "fuselm-serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    String shownHost = host.contains(":") ? "[" + host + "]" : host;
    System.err.printf("fuselm: serving %s on http://%s:%d (POST /v1/completions, POST"
        + " /v1/chat/completions,%s GET /v1/models, POST /tokenize, POST /detokenize,"
        + " GET /health, GET /metrics)%n", model,
        shownHost, server.port(),
        embedder == null ? "" : " POST /v1/embeddings with " + embeddingModel + ",");
    System.err.printf("fuselm: chat template: %s; API key: %s%n", chat.description(),
        key == null ? "none (anyone who can connect may use it)" : "required on /v1/*");
    stopped.await();
    return 0;
  }

  private static long millis(double seconds, String option) {
    if (!(seconds > 0) || Double.isInfinite(seconds)) {
      throw new IllegalArgumentException(option + " must be > 0 seconds, got " + seconds);
    }
    return Math.max(1, Math.round(seconds * 1000));
  }
}
