package dev.fuselm.model;

import java.util.Locale;

/**
 * How a sentence embedding is made from an encoder's last hidden states (B, T, C) over a text's
 * non-padding tokens, as sentence-transformers' Pooling module does.
 */
public enum Pooling {
  /** The mean over the tokens ([CLS] and [SEP] included). */
  MEAN,
  /** The first token's state ([CLS]). */
  CLS,
  /** The element-wise maximum over the tokens. */
  MAX;

  /** mean, cls or max (any case). */
  public static Pooling parse(String s) {
    for (Pooling p : values()) {
      if (p.name().equalsIgnoreCase(s)) {
        return p;
      }
    }
    throw new IllegalArgumentException("pooling '" + s + "' is not one of mean, cls, max");
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
