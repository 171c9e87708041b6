package dev.fuselm.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator.Result;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a {@link CompletionRequest} on the session and answers it in OpenAI's shapes: {@code
 * text_completion} or {@code chat.completion} JSON, or server-sent chunks ({@code
 * chat.completion.chunk} for chat). Each choice is its own session request (n choices of a prompt
 * sample with seeds seed, seed + 1, ...). Past the per-request time limit the choices are
 * cancelled: a plain request gets a 504, a stream an error event.
 */
final class Completions {
  private static final Logger LOG = LoggerFactory.getLogger(Completions.class);

  private final InferenceSession session;
  private final ServerMetrics metrics;
  private final String modelName;
  private final long timeLimitMillis;
  private final BooleanSupplier draining;

  Completions(InferenceSession session, ServerMetrics metrics, String modelName,
      long timeLimitMillis, BooleanSupplier draining) {
    this.session = session;
    this.metrics = metrics;
    this.modelName = modelName;
    this.timeLimitMillis = timeLimitMillis;
    this.draining = draining;
  }

  void run(HttpCall call, CompletionRequest req) throws ApiError, IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeLimitMillis);
    String id = (req.chat() ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString()
        .replace("-", "");
    long created = System.currentTimeMillis() / 1000;
    LinkedBlockingQueue<Choice.Event> events = req.stream() ? new LinkedBlockingQueue<>() : null;
    List<Choice> choices = new ArrayList<>();
    List<CompletableFuture<Result>> futures = new ArrayList<>();
    List<CompletableFuture<Result>> finished = new ArrayList<>();
    int eos = req.gc().stopToken();
    try {
      for (int p = 0; p < req.prompts().size(); p++) {
        int[] prompt = req.prompts().get(p);
        metrics.promptTokens(prompt.length);
        // the n choices are queued together: admitted at once, they share one prefill
        List<Choice> these = new ArrayList<>();
        for (int j = 0; j < req.n(); j++) {
          these.add(new Choice(choices.size() + j, prompt.length,
              session.tokenizer().orElse(null), eos, req.stops(), events, metrics));
        }
        List<CompletableFuture<Result>> fs = submit(prompt, req, these);
        for (int j = 0; j < these.size(); j++) {
          Choice c = these.get(j);
          choices.add(c);
          futures.add(fs.get(j));
          // waited on below: it completes only after the choice has recorded the result
          finished.add(fs.get(j).whenComplete(c::finish));
        }
      }
      if (req.stream()) {
        stream(call, req, id, created, choices, events, deadline);
      } else {
        respond(call, req, id, created, choices, finished, deadline);
      }
    } finally {
      for (CompletableFuture<Result> f : futures) {
        f.cancel(false); // no-op when done; frees the slot when the client went away
      }
    }
  }

  private List<CompletableFuture<Result>> submit(int[] prompt, CompletionRequest req,
      List<Choice> choices) throws ApiError {
    List<GenerationConfig> gcs = new ArrayList<>();
    List<InferenceSession.DetailedTokenListener> listeners = new ArrayList<>();
    for (int j = 0; j < choices.size(); j++) {
      gcs.add(req.configOf(j));
      listeners.add(choices.get(j)::onToken);
    }
    try {
      return session.submitAll(prompt, gcs, req.logprobs(), listeners);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid(req.chat() ? "messages" : "prompt", e.getMessage());
    } catch (RejectedExecutionException e) {
      throw draining.getAsBoolean() ? ApiError.unavailable(e.getMessage(), 5)
          : ApiError.busy(e.getMessage());
    }
  }

  private void respond(HttpCall call, CompletionRequest req, String id, long created,
      List<Choice> choices, List<CompletableFuture<Result>> futures, long deadline)
      throws ApiError, IOException {
    for (CompletableFuture<Result> f : futures) {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        throw timeLimit();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw ApiError.unavailable("interrupted", 1);
      } catch (java.util.concurrent.ExecutionException e) {
        throw new ApiError(500, "server_error", null, "generation failed: " + e.getCause());
      }
    }
    ObjectNode resp = header(id, created, req.chat() ? "chat.completion" : "text_completion");
    ArrayNode out = resp.putArray("choices");
    for (Choice c : choices) {
      ObjectNode ch = out.addObject();
      ch.put("index", c.index);
      if (req.chat()) {
        ch.putObject("message").put("role", "assistant").put("content", c.text());
      } else {
        ch.put("text", c.text());
      }
      putLogprobs(ch, req, c.logprobs());
      ch.put("finish_reason", c.finishReason());
    }
    resp.set("usage", usage(req, choices));
    call.sendJson(200, resp);
  }

  private void stream(HttpCall call, CompletionRequest req, String id, long created,
      List<Choice> choices, LinkedBlockingQueue<Choice.Event> events, long deadline)
      throws IOException {
    String object = req.chat() ? "chat.completion.chunk" : "text_completion";
    call.startEvents();
    if (req.chat()) {
      for (Choice c : choices) {
        ObjectNode n = header(id, created, object);
        ObjectNode ch = n.putArray("choices").addObject();
        ch.put("index", c.index);
        ch.putObject("delta").put("role", "assistant").put("content", "");
        ch.putNull("logprobs");
        ch.putNull("finish_reason");
        usageNull(n, req);
        call.event(n);
      }
    }
    int open = choices.size();
    while (open > 0) {
      Choice.Event e;
      try {
        e = events.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        return;
      }
      if (e == null) {
        call.event(timeLimit().json());
        break;
      }
      if (e.error() != null) {
        LOG.warn("streamed generation failed: {}", String.valueOf(e.error()));
        call.event(new ApiError(500, "server_error", null, "generation failed: " + e.error())
            .json());
        break;
      }
      if (e.text().isEmpty() && e.logprobs() == null && e.finishReason() == null) {
        continue;
      }
      ObjectNode n = header(id, created, object);
      ObjectNode ch = n.putArray("choices").addObject();
      ch.put("index", e.choice().index);
      if (req.chat()) {
        ObjectNode delta = ch.putObject("delta");
        if (!e.text().isEmpty() || e.finishReason() == null) {
          delta.put("content", e.text());
        }
      } else {
        ch.put("text", e.text());
      }
      putLogprobs(ch, req, e.logprobs());
      if (e.finishReason() == null) {
        ch.putNull("finish_reason");
      } else {
        ch.put("finish_reason", e.finishReason());
        open--;
      }
      usageNull(n, req);
      call.event(n);
    }
    if (open == 0 && req.includeUsage()) {
      ObjectNode n = header(id, created, object);
      n.putArray("choices");
      n.set("usage", usage(req, choices));
      call.event(n);
    }
    call.done();
  }

  private ApiError timeLimit() {
    return new ApiError(504, "server_error", null, "timeout", 0, "the request ran past the"
        + " server's time limit of " + timeLimitMillis / 1000.0 + " s and was cancelled");
  }

  private static void usageNull(ObjectNode n, CompletionRequest req) {
    if (req.includeUsage()) {
      n.putNull("usage");
    }
  }

  private ObjectNode header(String id, long created, String object) {
    ObjectNode n = HttpCall.JSON.createObjectNode();
    n.put("id", id);
    n.put("object", object);
    n.put("created", created);
    n.put("model", modelName);
    return n;
  }

  private static ObjectNode usage(CompletionRequest req, List<Choice> choices) {
    int prompt = 0;
    int completion = 0;
    for (int i = 0; i < choices.size(); i++) {
      Choice c = choices.get(i);
      prompt += i % req.n() == 0 ? c.promptTokens : 0; // a prompt counts once, whatever n is
      completion += c.result() == null ? 0 : c.result().ids().length;
    }
    ObjectNode u = HttpCall.JSON.createObjectNode();
    u.put("prompt_tokens", prompt);
    u.put("completion_tokens", completion);
    u.put("total_tokens", prompt + completion);
    return u;
  }

  /** OpenAI's legacy completions format, or the chat format ({@code content: [...]}). */
  private static void putLogprobs(ObjectNode ch, CompletionRequest req,
      List<Choice.TokenLogprob> lps) {
    if (req.logprobs() < 0 || lps == null) {
      ch.putNull("logprobs");
      return;
    }
    ObjectNode n = ch.putObject("logprobs");
    if (req.chat()) {
      ArrayNode content = n.putArray("content");
      for (Choice.TokenLogprob t : lps) {
        ObjectNode e = chatEntry(content.addObject(), t);
        ArrayNode top = e.putArray("top_logprobs");
        for (Choice.TokenLogprob a : t.top()) {
          chatEntry(top.addObject(), a);
        }
      }
      return;
    }
    ArrayNode tokens = n.putArray("tokens");
    ArrayNode tokenLogprobs = n.putArray("token_logprobs");
    ArrayNode top = n.putArray("top_logprobs");
    ArrayNode offsets = n.putArray("text_offset");
    for (Choice.TokenLogprob t : lps) {
      tokens.add(t.token());
      tokenLogprobs.add(t.logprob());
      ObjectNode alts = top.addObject();
      for (Choice.TokenLogprob a : t.top()) {
        alts.put(a.token(), a.logprob());
      }
      offsets.add(t.textOffset());
    }
  }

  private static ObjectNode chatEntry(ObjectNode e, Choice.TokenLogprob t) {
    e.put("token", t.token());
    e.put("logprob", t.logprob());
    ArrayNode bytes = e.putArray("bytes");
    for (byte b : t.bytes()) {
      bytes.add(b & 0xff);
    }
    return e;
  }
}
