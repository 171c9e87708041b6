package dev.fuselm.model;

import dev.fuselm.tokenizer.BertEncoding;
import java.util.Arrays;
import java.util.List;

/**
 * The token inputs of one forward pass: B sequences of T tokens, row-major, right-padded.
 *
 * @param ids (B*T) token ids
 * @param tokenTypes (B*T) segment ids (BERT's sentence A = 0, B = 1), or null: the family has none,
 *     or all are 0
 * @param attentionMask (B*T) 1 for a real token, 0 for padding, or null: no padding
 */
public record TokenBatch(int[] ids, int[] tokenTypes, int[] attentionMask, int b, int t) {
  public TokenBatch {
    if (b <= 0 || t <= 0) {
      throw new IllegalArgumentException("batch and sequence length must be positive, got B=" + b
          + " T=" + t);
    }
    long n = (long) b * t;
    length("ids", ids, n);
    if (tokenTypes != null) {
      length("tokenTypes", tokenTypes, n);
    }
    if (attentionMask != null) {
      length("attentionMask", attentionMask, n);
      for (int v : attentionMask) {
        if (v != 0 && v != 1) {
          throw new IllegalArgumentException("attentionMask holds " + v + "; only 0 (padding) and"
              + " 1 (token) are allowed");
        }
      }
    }
  }

  private static void length(String what, int[] v, long n) {
    if (v == null || v.length != n) {
      throw new IllegalArgumentException(what + " has " + (v == null ? "no" : v.length)
          + " entries, expected B*T = " + n);
    }
  }

  /** B unpadded sequences of T tokens each, without token types. */
  public static TokenBatch of(int[] ids, int b, int t) {
    return new TokenBatch(ids, null, null, b, t);
  }

  /**
   * seqs right-padded with padId to padTo tokens (0: to the longest of them; else every sequence
   * must fit), with the attention mask of their lengths. Every sequence needs at least one token.
   */
  public static TokenBatch rightPadded(List<int[]> seqs, int padId, int padTo) {
    if (seqs.isEmpty()) {
      throw new IllegalArgumentException("an empty batch");
    }
    int t = 0;
    for (int[] s : seqs) {
      if (s.length == 0) {
        throw new IllegalArgumentException("a sequence with no tokens");
      }
      t = Math.max(t, s.length);
    }
    if (padTo > 0) {
      if (padTo < t) {
        throw new IllegalArgumentException("a sequence of " + t + " tokens does not fit the"
            + " fixed length " + padTo);
      }
      t = padTo;
    }
    int b = seqs.size();
    int[] ids = new int[b * t];
    int[] mask = new int[b * t];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      int[] s = seqs.get(i);
      System.arraycopy(s, 0, ids, i * t, s.length);
      Arrays.fill(mask, i * t, i * t + s.length, 1);
    }
    return new TokenBatch(ids, null, mask, b, t);
  }

  /** BERT encodings (ids, token types, mask) right-padded with padId (type 0, mask 0). */
  public static TokenBatch ofEncodings(List<BertEncoding> seqs, int padId) {
    if (seqs.isEmpty()) {
      throw new IllegalArgumentException("an empty batch");
    }
    int t = 0;
    for (BertEncoding e : seqs) {
      t = Math.max(t, e.length());
    }
    int b = seqs.size();
    int[] ids = new int[b * t];
    int[] types = new int[b * t];
    int[] mask = new int[b * t];
    Arrays.fill(ids, padId);
    for (int i = 0; i < b; i++) {
      BertEncoding e = seqs.get(i);
      System.arraycopy(e.ids(), 0, ids, i * t, e.length());
      System.arraycopy(e.typeIds(), 0, types, i * t, e.length());
      System.arraycopy(e.attentionMask(), 0, mask, i * t, e.length());
    }
    return new TokenBatch(ids, types, mask, b, t);
  }

  /** Whether some position is padding. */
  public boolean isPadded() {
    if (attentionMask != null) {
      for (int v : attentionMask) {
        if (v == 0) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Each row's number of real tokens, which must come first (right padding): T for every row
   * without a mask.
   */
  public int[] lengths() {
    int[] len = new int[b];
    for (int i = 0; i < b; i++) {
      int n = t;
      if (attentionMask != null) {
        n = 0;
        while (n < t && attentionMask[i * t + n] == 1) {
          n++;
        }
        for (int j = n; j < t; j++) {
          if (attentionMask[i * t + j] != 0) {
            throw new IllegalArgumentException("sequence " + i + " has a token after padding;"
                + " only right padding is supported here");
          }
        }
      }
      if (n == 0) {
        throw new IllegalArgumentException("sequence " + i + " has no tokens");
      }
      len[i] = n;
    }
    return len;
  }
}
