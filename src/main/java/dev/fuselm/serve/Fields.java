package dev.fuselm.serve;

import com.fasterxml.jackson.databind.JsonNode;

/** Typed, range-checked fields of a JSON request body; null counts as absent. */
final class Fields {
  private Fields() {}

  static int integer(JsonNode body, String name, int dflt, int min, int max) throws ApiError {
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

  static double number(JsonNode body, String name, double dflt, double min, double max)
      throws ApiError {
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

  static boolean bool(JsonNode body, String name, boolean dflt) throws ApiError {
    JsonNode v = body.get(name);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw ApiError.invalid(name, name + " must be true or false, got " + v);
    }
    return v.asBoolean();
  }
}
