package dev.fuselm.model;

import java.util.Collections;
import java.util.Map;

/**
 * A model's {@code config.json} as the plain map io parsed it into (String, Number, Boolean, List,
 * Map or null values), read field by field with defaults. Model code reads it without depending
 * on a JSON library; errors are IllegalArgumentException naming the field.
 */
public final class ConfigMap {
  private final Map<String, Object> fields;

  public ConfigMap(Map<String, Object> fields) {
    this.fields = Collections.unmodifiableMap(fields);
  }

  public boolean has(String name) {
    return fields.containsKey(name);
  }

  /** The raw value, null when absent or JSON null. */
  public Object get(String name) {
    return fields.get(name);
  }

  /**
   * An integer field, or dflt when absent; anything but an int (null included) is an error naming
   * the field.
   */
  public int intField(String name, int dflt) {
    if (!fields.containsKey(name)) {
      return dflt;
    }
    Object v = fields.get(name);
    if (!(v instanceof Integer || v instanceof Short || v instanceof Byte)) {
      throw new IllegalArgumentException(name + " must be an integer, got " + asJson(v));
    }
    return ((Number) v).intValue();
  }

  /**
   * A number field, or dflt when absent or null; a value of another JSON type (a string, a
   * boolean, ...) or a non-finite number is an error naming the field.
   */
  public double number(String name, double dflt) {
    Object v = fields.get(name);
    if (v == null) {
      return dflt;
    }
    if (!(v instanceof Number n) || !Double.isFinite(n.doubleValue())) {
      throw new IllegalArgumentException(name + " must be a number, got " + asJson(v));
    }
    return n.doubleValue();
  }

  /** {@link #number} as a float; a value beyond float's range is an error naming the field. */
  public float floatField(String name, double dflt) {
    double d = number(name, dflt);
    float f = (float) d;
    if (!Float.isFinite(f)) {
      throw new IllegalArgumentException(name + " = " + d + " is out of float32 range");
    }
    return f;
  }

  /**
   * A boolean field (a number counts as true when nonzero), or dflt when absent or null; a string
   * or other JSON type is an error naming the field.
   */
  public boolean bool(String name, boolean dflt) {
    Object v = fields.get(name);
    if (v == null) {
      return dflt;
    }
    if (v instanceof Boolean b) {
      return b;
    }
    if (v instanceof Number n) {
      return n.doubleValue() != 0;
    }
    throw new IllegalArgumentException(name + " must be true or false, got " + asJson(v));
  }

  /**
   * A string field, or dflt when absent or null; another JSON type is an error naming the field.
   */
  public String text(String name, String dflt) {
    Object v = fields.get(name);
    if (v == null) {
      return dflt;
    }
    if (!(v instanceof String s)) {
      throw new IllegalArgumentException(name + " must be a string, got " + asJson(v));
    }
    return s;
  }

  /** How JSON writes a value, for error messages. */
  private static String asJson(Object v) {
    if (v instanceof String s) {
      return "\"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
    }
    if (v instanceof java.util.List<?> l) {
      return "an array of " + l.size();
    }
    return v instanceof java.util.Map<?, ?> ? "an object" : String.valueOf(v);
  }
}
