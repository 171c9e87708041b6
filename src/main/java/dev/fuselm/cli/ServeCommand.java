package dev.fuselm.cli;

import dev.fuselm.serve.BertEmbeddingModel;
import dev.fuselm.serve.InferenceServer;
import dev.fuselm.serve.InferenceSession;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuselm serve}: an OpenAI-compatible HTTP server for a model directory. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Serve a GPT model directory over HTTP: POST /v1/completions (OpenAI-compatible,"
        + " \"stream\": true for server-sent events), POST /v1/embeddings, GET /health."
        + " Ctrl-C / SIGTERM stops taking requests and finishes the ones in flight.")
public final class ServeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "model directory (config.json +"
      + " model.safetensors + tokenizer files)") Path model;
  @Option(names = "--port", description = "TCP port (default: ${DEFAULT-VALUE})") int port = 8080;
  @Option(names = "--slots", description = "requests generating at once, each with its own KV"
      + " cache (default: ${DEFAULT-VALUE})") int slots = 8;
  @Option(names = "--max-concurrent", description = "requests handled at once; more get HTTP 429"
      + " (default: ${DEFAULT-VALUE})") int maxConcurrent = 64;
  @Option(names = "--max-tokens", description = "largest max_tokens a request may ask for"
      + " (default: ${DEFAULT-VALUE})") int maxTokens = 1024;
  @Option(names = "--max-body-bytes", description = "largest request body; more get HTTP 413"
      + " (default: ${DEFAULT-VALUE})") int maxBodyBytes = 1 << 20;
  @Option(names = "--threads", description = "kernel threads (default: all cores)") int threads;
  @Option(names = "--embedding-model", description = "BERT model directory (config.json +"
      + " model.safetensors + vocab.txt) that answers POST /v1/embeddings") Path embeddingModel;
  @Option(names = "--weights", description = "matrix weights used for decoding: fp32, or bf16"
      + " (about 1.3x faster per token, bf16 rounding) (default: ${DEFAULT-VALUE})")
  String weights = "fp32";

  @Override
  public Integer call() throws IOException, InterruptedException {
    if (!Files.isDirectory(model)) {
      throw new UserInputException(model + ": no such model directory");
    }
    InferenceServer.Options serverOptions;
    InferenceSession.Options sessionOptions;
    try {
      serverOptions = new InferenceServer.Options(port, maxBodyBytes, maxTokens, maxConcurrent,
          model.toAbsolutePath().normalize().getFileName().toString());
      sessionOptions = new InferenceSession.Options(slots, maxConcurrent, threads,
          GenerateCommand.weightType(weights));
    } catch (IllegalArgumentException e) {
      throw new UserInputException(e.getMessage());
    }
    InferenceSession session = InferenceSession.open(model, sessionOptions);
    if (session.tokenizer().isEmpty()) {
      session.close();
      throw new UserInputException(model + " has no tokenizer files (encoder.json + vocab.bpe or"
          + " tokenizer.json) and its vocabulary is not GPT-2's: the server needs a tokenizer");
    }
    BertEmbeddingModel embedder = null;
    if (embeddingModel != null) {
      try {
        embedder = BertEmbeddingModel.open(embeddingModel, threads, 32);
      } catch (IOException | IllegalArgumentException e) {
        session.close();
        throw new UserInputException("--embedding-model " + embeddingModel + ": " + e.getMessage());
      }
    }
    InferenceServer server;
    try {
      server = InferenceServer.start(session, embedder, serverOptions);
    } catch (IOException e) {
      session.close();
      if (embedder != null) {
        embedder.close();
      }
      throw new UserInputException("cannot listen on port " + port + ": " + e.getMessage());
    }
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
    System.err.printf("fuselm: serving %s on http://localhost:%d (POST /v1/completions,%s"
        + " GET /health)%n", model, server.port(),
        embedder == null ? "" : " POST /v1/embeddings with " + embeddingModel + ",");
    stopped.await();
    return 0;
  }
}
