package dev.fuselm.tokenizer;

/**
 * Open-addressing map from a pair of token ids to a merge rank, with primitive keys so that the BPE inner
 * loop allocates nothing. Keys are {@code left << 32 | right}; ids are non-negative, so -1 marks a free slot.
 */
final class PairRanks {

  static final int NONE = Integer.MAX_VALUE;

  private long[] keys;
  private int[] values;
  private int size;
  private int mask;

  PairRanks(int expected) {
    int cap = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
    keys = new long[cap];
    values = new int[cap];
    java.util.Arrays.fill(keys, -1L);
    mask = cap - 1;
  }

  static long key(int left, int right) {
    return ((long) left << 32) | (right & 0xFFFFFFFFL);
  }

  private static int slot(long key, int mask) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 29)) & mask;
  }

  /** The rank of the pair, or {@link #NONE}. */
  int get(int left, int right) {
    long k = key(left, right);
    int i = slot(k, mask);
    while (true) {
      long stored = keys[i];
      if (stored == k) {
        return values[i];
      }
      if (stored == -1L) {
        return NONE;
      }
      i = (i + 1) & mask;
    }
  }

  /** Puts a pair; returns false (and changes nothing) if the pair is already present. */
  boolean putIfAbsent(int left, int right, int value) {
    if ((size + 1) * 2 > keys.length) {
      grow();
    }
    long k = key(left, right);
    int i = slot(k, mask);
    while (keys[i] != -1L) {
      if (keys[i] == k) {
        return false;
      }
      i = (i + 1) & mask;
    }
    keys[i] = k;
    values[i] = value;
    size++;
    return true;
  }

  int size() {
    return size;
  }

  private void grow() {
    long[] oldKeys = keys;
    int[] oldValues = values;
    keys = new long[oldKeys.length * 2];
    values = new int[oldKeys.length * 2];
    java.util.Arrays.fill(keys, -1L);
    mask = keys.length - 1;
    for (int j = 0; j < oldKeys.length; j++) {
      if (oldKeys[j] != -1L) {
        int i = slot(oldKeys[j], mask);
        while (keys[i] != -1L) {
          i = (i + 1) & mask;
        }
        keys[i] = oldKeys[j];
        values[i] = oldValues[j];
      }
    }
  }
}
