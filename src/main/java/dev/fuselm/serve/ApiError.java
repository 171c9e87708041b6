package dev.fuselm.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the server refuses: becomes an OpenAI-style error response, {@code {"error":
 * {"message", "type", "param", "code"}}}, with a {@code Retry-After} header when it says when to
 * come back (429, 503).
 */
final class ApiError extends Exception {
  private static final ObjectMapper JSON = new ObjectMapper();

  final int status;
  final String type;
  final String param;
  final String code; // OpenAI's string code; null: the HTTP status is reported
  final int retryAfterSeconds; // 0: no Retry-After header

  ApiError(int status, String type, String param, String code, int retryAfterSeconds,
      String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  ApiError(int status, String type, String param, String message) {
    this(status, type, param, null, 0, message);
  }

  static ApiError invalid(String param, String message) {
    return new ApiError(400, "invalid_request_error", param, message);
  }

  /** A field this server does not implement, named in the message. */
  static ApiError unsupported(String param, String why) {
    return invalid(param, param + " is not supported by this server" + (why.isEmpty() ? ""
        : " (" + why + ")"));
  }

  static ApiError busy(String message) {
    return new ApiError(429, "rate_limit_error", null, null, 1, message);
  }

  static ApiError unavailable(String message, int retryAfterSeconds) {
    return new ApiError(503, "server_error", null, null, retryAfterSeconds, message);
  }

  ObjectNode json() {
    ObjectNode n = JSON.createObjectNode();
    ObjectNode err = n.putObject("error");
    err.put("message", getMessage());
    err.put("type", type);
    if (param == null) {
      err.putNull("param");
    } else {
      err.put("param", param);
    }
    if (code == null) {
      err.put("code", status);
    } else {
      err.put("code", code);
    }
    return n;
  }
}
