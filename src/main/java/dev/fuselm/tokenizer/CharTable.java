package dev.fuselm.tokenizer;

import java.util.Arrays;
import java.util.Map;

/**
 * A read-only map from strings to ids that is queried with a range of a char sequence, so a lookup
 * allocates nothing (WordPiece tries many substrings of every word). Open addressing over one pooled
 * char array; thread-safe once built.
 */
final class CharTable {

  private final int[] slotKey;     // offset into pool, -1 when free
  private final int[] slotLen;
  private final int[] slotHash;
  private final int[] slotValue;
  private final char[] pool;
  private final int mask;

  /** Entries of {@code map} whose key starts with {@code prefix}, keyed without it. */
  CharTable(Map<String, Integer> map, String prefix) {
    int n = 0;
    int chars = 0;
    for (String k : map.keySet()) {
      if (k.startsWith(prefix)) {
        n++;
        chars += k.length() - prefix.length();
      }
    }
    int cap = Integer.highestOneBit(Math.max(16, n * 2 - 1)) << 1;
    slotKey = new int[cap];
    slotLen = new int[cap];
    slotHash = new int[cap];
    slotValue = new int[cap];
    Arrays.fill(slotKey, -1);
    pool = new char[chars];
    mask = cap - 1;
    int at = 0;
    for (Map.Entry<String, Integer> e : map.entrySet()) {
      String k = e.getKey();
      if (!k.startsWith(prefix)) {
        continue;
      }
      int len = k.length() - prefix.length();
      k.getChars(prefix.length(), k.length(), pool, at);
      int h = hash(pool, at, at + len);
      int slot = h & mask;
      while (slotKey[slot] >= 0) {
        slot = (slot + 1) & mask;
      }
      slotKey[slot] = at;
      slotLen[slot] = len;
      slotHash[slot] = h;
      slotValue[slot] = e.getValue();
      at += len;
    }
  }

  private static int hash(char[] s, int from, int to) {
    int h = 0;
    for (int i = from; i < to; i++) {
      h = 31 * h + s[i];
    }
    return mix(h);
  }

  private static int hash(String s, int from, int to) {
    int h = 0;
    for (int i = from; i < to; i++) {
      h = 31 * h + s.charAt(i);
    }
    return mix(h);
  }

  private static int mix(int h) {
    h ^= h >>> 16;
    h *= 0x45d9f3b;
    return h ^ (h >>> 16);
  }

  private boolean same(String s, int from, int k, int len) {
    for (int i = 0; i < len; i++) {
      if (s.charAt(from + i) != pool[k + i]) {
        return false;
      }
    }
    return true;
  }

  /** The id of {@code s[from, to)}, or -1. */
  int get(String s, int from, int to) {
    int len = to - from;
    int h = hash(s, from, to);
    int slot = h & mask;
    while (true) {
      int k = slotKey[slot];
      if (k < 0) {
        return -1;
      }
      if (slotHash[slot] == h && slotLen[slot] == len && same(s, from, k, len)) {
        return slotValue[slot];
      }
      slot = (slot + 1) & mask;
    }
  }
}
