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

  /** An integer field, or dflt when absent; anything but an int is an error naming the field. */
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

  /** A number field, or dflt when absent, null or not a number. */
  public double number(String name, double dflt) {
    return fields.get(name) instanceof Number n ? n.doubleValue() : dflt;
  }

  /** A boolean field (a number counts as true when nonzero), or dflt when absent or null. */
  public boolean bool(String name, boolean dflt) {
    Object v = fields.get(name);
    if (v instanceof Boolean b) {
      return b;
    }
    if (v instanceof Number n) {
      return n.doubleValue() != 0;
    }
    return dflt;
  }

  /** A field as text, or dflt when absent or null. */
  public String text(String name, String dflt) {
    Object v = fields.get(name);
    return v == null ? dflt : String.valueOf(v);
  }

  /** How JSON writes a value, for error messages. */
  private static String asJson(Object v) {
    return v instanceof String s ? "\"" + s + "\"" : String.valueOf(v);
  }
}
