package dev.fuselm.serve;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.util.List;

/**
 * Jazzer target for the server's request parsing, from the body's bytes, without a server: the
 * JSON body, then the same body as a {@code /v1/completions}, a {@code /v1/chat/completions} and
 * a {@code /v1/embeddings} request. Each is either parsed into a request within the limits (n,
 * stops, prompt length, token budget) or refused with an ApiError: a 400 or 404 with a message.
 * Seeds: RequestParsingFuzzTestInputs/parseAnyBody/.
 */
class RequestParsingFuzzTest {
  static final int CONTEXT = 64;
  static final int MAX_TOKENS = 32;
  static final CompletionRequest.Model MODEL = new CompletionRequest.Model("tiny",
      Gpt2BpeTokenizer.gpt2(), 50256, CONTEXT, MAX_TOKENS, ChatTemplate.alpacaDefault());

  @FuzzTest(maxDuration = "30s")
  void parseAnyBody(byte[] data) {
    JsonNode body;
    try {
      body = InferenceServer.json(data);
    } catch (ApiError e) {
      checkRefusal(e);
      return;
    }
    for (boolean chat : new boolean[] {false, true}) {
      try {
        check(CompletionRequest.parse(body, chat, MODEL));
      } catch (ApiError e) {
        checkRefusal(e);
      }
    }
    try {
      String format = Embeddings.format(body, "tiny");
      List<String> inputs = Embeddings.inputs(body);
      if (!(format.equals("float") || format.equals("base64")) || inputs.isEmpty()) {
        throw new AssertionError("embeddings request accepted with " + format + ", " + inputs);
      }
    } catch (ApiError e) {
      checkRefusal(e);
    }
  }

  static void check(CompletionRequest r) {
    if (r.prompts().isEmpty() || r.n() < 1 || r.n() > CompletionRequest.MAX_N
        || r.stops().size() > CompletionRequest.MAX_STOPS || r.gc().maxNewTokens() > MAX_TOKENS
        || r.gc().maxNewTokens() < 0 || (r.stream() && !r.chat() && r.prompts().size() != 1)) {
      throw new AssertionError("accepted out of limits: " + r);
    }
    for (int[] p : r.prompts()) {
      if (p.length == 0 || p.length > CONTEXT) {
        throw new AssertionError("accepted a prompt of " + p.length + " tokens");
      }
    }
    for (String s : r.stops()) {
      if (s.isEmpty()) {
        throw new AssertionError("accepted an empty stop string");
      }
    }
  }

  static void checkRefusal(ApiError e) {
    if ((e.status != 400 && e.status != 404) || e.getMessage() == null
        || e.getMessage().isBlank()) {
      throw new AssertionError("refusal " + e.status + " without a message", e);
    }
  }
}
