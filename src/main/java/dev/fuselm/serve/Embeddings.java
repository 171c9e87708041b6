package dev.fuselm.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * {@code POST /v1/embeddings}: {@code input} (a string or an array of strings), {@code model},
 * {@code encoding_format} ("float", or "base64": little-endian float32, as the openai clients ask
 * for by default), {@code dimensions} (only the model's own) and {@code user}.
 */
final class Embeddings {
  private static final Set<String> FIELDS = Set.of("input", "model", "encoding_format",
      "dimensions", "user");

  private Embeddings() {}

  static void respond(HttpCall call, JsonNode body, EmbeddingModel model, String servedName)
      throws ApiError, IOException {
    if (model == null) {
      throw new ApiError(501, "invalid_request_error", "model", "this server has no embedding"
          + " model loaded (it serves the GPT model " + servedName + "): start it with an"
          + " embedding model for /v1/embeddings");
    }
    String format = format(body, model.name());
    List<String> inputs = inputs(body);
    EmbeddingModel.Embeddings out;
    try {
      out = model.embed(inputs);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("input", e.getMessage());
    }
    int dims = out.vectors().length == 0 ? 0 : out.vectors()[0].length;
    if (body.hasNonNull("dimensions")
        && Fields.integer(body, "dimensions", dims, 1, Integer.MAX_VALUE) != dims) {
      throw ApiError.unsupported("dimensions", "only the model's own, " + dims);
    }
    ObjectNode resp = HttpCall.JSON.createObjectNode();
    resp.put("object", "list");
    ArrayNode data = resp.putArray("data");
    for (int i = 0; i < out.vectors().length; i++) {
      ObjectNode d = data.addObject();
      d.put("object", "embedding");
      d.put("index", i);
      float[] vec = out.vectors()[i];
      if (format.equals("base64")) {
        ByteBuffer b = ByteBuffer.allocate(4 * vec.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(vec);
        d.put("embedding", Base64.getEncoder().encodeToString(b.array()));
      } else {
        ArrayNode v = d.putArray("embedding");
        for (float x : vec) {
          v.add(x);
        }
      }
    }
    resp.put("model", model.name());
    ObjectNode usage = resp.putObject("usage");
    usage.put("prompt_tokens", out.promptTokens());
    usage.put("total_tokens", out.promptTokens());
    call.sendJson(200, resp);
  }

  /**
   * Checks the request's fields and model; returns its encoding_format, "float" or "base64".
   * Parsing needs no server and no model, so it is fuzzed on its own (RequestParsingFuzzTest).
   */
  static String format(JsonNode body, String modelName) throws ApiError {
    Iterator<String> it = body.fieldNames();
    while (it.hasNext()) {
      String f = it.next();
      if (!FIELDS.contains(f) && !body.get(f).isNull()) {
        throw ApiError.unsupported(f, "");
      }
    }
    CompletionRequest.checkModel(body, modelName);
    String format = body.path("encoding_format").asText("float");
    if (body.hasNonNull("encoding_format") && !format.equals("float")
        && !format.equals("base64")) {
      throw ApiError.invalid("encoding_format", "encoding_format must be \"float\" or"
          + " \"base64\", got " + body.get("encoding_format"));
    }
    return format;
  }

  /** The texts of {@code input}: a string or a non-empty array of strings. */
  static List<String> inputs(JsonNode body) throws ApiError {
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
    return inputs;
  }
}
