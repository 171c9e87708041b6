package dev.fuselm.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A parsed {@code /v1/completions} or {@code /v1/chat/completions} request. Every field the
 * OpenAI API defines either works or is refused with a 400 that names it; a field set to null
 * counts as absent (the openai clients send some that way).
 *
 * @param chat whether it came from the chat endpoint
 * @param prompts the token ids of each prompt
 * @param n choices per prompt (choice j of a prompt samples with seed + j)
 * @param gc sampling, the token budget, the end-of-text stop token and the base seed
 * @param stream server-sent events
 * @param includeUsage a last streamed chunk with the usage ({@code stream_options.include_usage})
 * @param stops stop strings, matched on the decoded text
 * @param logprobs alternatives per token to report; -1: no log-probabilities
 */
record CompletionRequest(boolean chat, List<int[]> prompts, int n, GenerationConfig gc,
    boolean stream, boolean includeUsage, List<String> stops, int logprobs) {

  static final int MAX_N = 8;
  static final int MAX_STOPS = 4;

  private static final Set<String> COMMON = Set.of("model", "max_tokens", "temperature", "top_p",
      "top_k", "n", "stream", "stream_options", "stop", "seed", "presence_penalty",
      "frequency_penalty", "logit_bias", "user", "logprobs");
  private static final Set<String> COMPLETIONS = Set.of("prompt", "echo", "best_of", "suffix");
  private static final Set<String> CHAT = Set.of("messages", "max_completion_tokens",
      "top_logprobs", "response_format");

  /** What parsing needs to know about the model being served. */
  record Model(String name, Tokenizer tokenizer, int endOfText, int contextLength, int maxTokens,
      ChatTemplate chat) {}

  static CompletionRequest parse(JsonNode body, boolean chat, Model m) throws ApiError {
    checkFields(body, chat ? CHAT : COMPLETIONS);
    checkModel(body, m.name());
    int maxTokens = chat && body.hasNonNull("max_completion_tokens")
        ? Fields.integer(body, "max_completion_tokens", 0, 0, m.maxTokens())
        : Fields.integer(body, "max_tokens", chat ? m.maxTokens() : 16, 0, m.maxTokens());
    float temperature = (float) Fields.number(body, "temperature", 1.0, 0, 2);
    // the smallest float above 0: a smaller positive double would round to a top_p of 0
    float topP = (float) Fields.number(body, "top_p", 1.0, Float.MIN_VALUE, 1);
    int topK = Fields.integer(body, "top_k", 0, 0, Integer.MAX_VALUE);
    long seed = body.hasNonNull("seed")
        ? (long) Fields.number(body, "seed", 0, -Math.pow(2, 63), Math.pow(2, 63))
        : ThreadLocalRandom.current().nextLong();
    int n = Fields.integer(body, "n", 1, 1, MAX_N);
    boolean stream = Fields.bool(body, "stream", false);
    boolean includeUsage = streamOptions(body, stream);
    for (String p : new String[] {"presence_penalty", "frequency_penalty"}) {
      if (body.hasNonNull(p) && body.get(p).asDouble() != 0) {
        throw ApiError.unsupported(p, "only 0");
      }
    }
    JsonNode bias = body.get("logit_bias");
    if (bias != null && !bias.isNull() && !(bias.isObject() && bias.isEmpty())) {
      throw ApiError.unsupported("logit_bias", "only an empty map");
    }
    List<String> stops = stops(body.get("stop"));
    int logprobs;
    List<int[]> prompts = new ArrayList<>();
    if (chat) {
      logprobs = chatLogprobs(body);
      JsonNode rf = body.get("response_format");
      if (rf != null && !rf.isNull() && !"text".equals(rf.path("type").asText())) {
        throw ApiError.unsupported("response_format", "only {\"type\": \"text\"}");
      }
      prompts.add(encode(m, m.chat().render(body.get("messages")), "messages"));
    } else {
      logprobs = body.hasNonNull("logprobs") ? Fields.integer(body, "logprobs", 0, 0, 5) : -1;
      if (Fields.bool(body, "echo", false)) {
        throw ApiError.unsupported("echo", "");
      }
      if (body.hasNonNull("suffix") && !body.get("suffix").asText().isEmpty()) {
        throw ApiError.unsupported("suffix", "");
      }
      if (body.hasNonNull("best_of") && Fields.integer(body, "best_of", n, 1, MAX_N) != n) {
        throw ApiError.unsupported("best_of", "only equal to n: choices are not ranked");
      }
      prompts.addAll(prompts(body.get("prompt"), m));
      if (stream && prompts.size() != 1) {
        throw ApiError.invalid("prompt", "streaming takes exactly one prompt, got "
            + prompts.size());
      }
    }
    for (int[] p : prompts) {
      checkLength(p, m.contextLength(), chat ? "messages" : "prompt");
    }
    GenerationConfig gc = new GenerationConfig(maxTokens, temperature, topK, topP, seed,
        m.endOfText(), false);
    return new CompletionRequest(chat, prompts, n, gc, stream, includeUsage, stops, logprobs);
  }

  /** The config of choice j: the request's, with seed + j. */
  GenerationConfig configOf(int j) {
    return gc.withSeed(gc.seed() + j).withTruncation(false);
  }

  private static void checkFields(JsonNode body, Set<String> endpoint) throws ApiError {
    Iterator<String> it = body.fieldNames();
    while (it.hasNext()) {
      String f = it.next();
      if (!COMMON.contains(f) && !endpoint.contains(f) && !body.get(f).isNull()) {
        throw ApiError.unsupported(f, "");
      }
    }
  }

  static void checkModel(JsonNode body, String... served) throws ApiError {
    JsonNode m = body.get("model");
    if (m == null || m.isNull()) {
      return;
    }
    for (String s : served) {
      if (s != null && s.equals(m.asText())) {
        return;
      }
    }
    throw new ApiError(404, "invalid_request_error", "model", "model_not_found", 0,
        "the model '" + m.asText() + "' does not exist: this server serves "
            + String.join(", ", java.util.Arrays.stream(served).filter(s -> s != null)
                .map(s -> "'" + s + "'").toList()) + " (see GET /v1/models)");
  }

  private static boolean streamOptions(JsonNode body, boolean stream) throws ApiError {
    JsonNode so = body.get("stream_options");
    if (so == null || so.isNull()) {
      return false;
    }
    if (!stream) {
      throw ApiError.invalid("stream_options", "stream_options is only allowed with stream: true");
    }
    if (!so.isObject()) {
      throw ApiError.invalid("stream_options", "stream_options must be an object");
    }
    Iterator<String> it = so.fieldNames();
    while (it.hasNext()) {
      String f = it.next();
      if (!f.equals("include_usage") && !so.get(f).isNull()) {
        throw ApiError.unsupported("stream_options." + f, "");
      }
    }
    return Fields.bool(so, "include_usage", false);
  }

  private static int chatLogprobs(JsonNode body) throws ApiError {
    boolean on = Fields.bool(body, "logprobs", false);
    if (!body.hasNonNull("top_logprobs")) {
      return on ? 0 : -1;
    }
    int k = Fields.integer(body, "top_logprobs", 0, 0, 20);
    if (!on) {
      throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
    }
    return k;
  }

  private static List<String> stops(JsonNode s) throws ApiError {
    List<String> out = new ArrayList<>();
    if (s == null || s.isNull()) {
      return out;
    }
    if (s.isTextual()) {
      out.add(s.asText());
    } else if (s.isArray() && s.size() <= MAX_STOPS) {
      for (JsonNode e : s) {
        if (!e.isTextual()) {
          throw ApiError.invalid("stop", "stop must be a string or an array of strings");
        }
        out.add(e.asText());
      }
    } else {
      throw ApiError.invalid("stop", "stop must be a string or an array of at most " + MAX_STOPS
          + " strings");
    }
    if (out.stream().anyMatch(String::isEmpty)) {
      throw ApiError.invalid("stop", "a stop string must not be empty");
    }
    return out;
  }

  /** A string, an array of strings, an array of token ids, or an array of arrays of ids. */
  private static List<int[]> prompts(JsonNode p, Model m) throws ApiError {
    if (p == null || p.isNull()) {
      throw ApiError.invalid("prompt", "prompt is required");
    }
    List<int[]> out = new ArrayList<>();
    if (p.isTextual()) {
      out.add(encode(m, p.asText(), "prompt"));
    } else if (p.isArray() && p.size() > 0 && p.get(0).isIntegralNumber()) {
      out.add(ids(p));
    } else if (p.isArray() && p.size() > 0) {
      for (JsonNode e : p) {
        if (e.isTextual()) {
          out.add(encode(m, e.asText(), "prompt"));
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

  private static int[] encode(Model m, String text, String param) throws ApiError {
    if (m.tokenizer() == null) {
      throw ApiError.invalid(param, "this model has no tokenizer: send the prompt as an array of"
          + " token ids");
    }
    return m.tokenizer().encode(text);
  }

  private static void checkLength(int[] prompt, int contextLength, String param) throws ApiError {
    if (prompt.length == 0) {
      throw ApiError.invalid(param, "the prompt is empty: give at least one token");
    }
    if (prompt.length > contextLength) {
      throw new ApiError(400, "invalid_request_error", param, "context_length_exceeded", 0,
          "the prompt has " + prompt.length + " tokens, more than the model's context window of "
              + contextLength + " tokens: shorten it");
    }
  }
}
