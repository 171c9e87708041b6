package dev.fuselm.baseline;

import java.util.Arrays;

/**
 * An open-addressing hash map from non-negative {@code long} keys to {@code int} values, with
 * linear probing and no boxing: the n-gram tables key a node by {@code (parent node << 32) | token}.
 * Negative keys are reserved (-1 marks an empty slot); there is no removal.
 */
final class LongIntHashMap {
  private static final long EMPTY = -1L;
  /** Resize when more than this fraction of the slots is used (short probe runs). */
  private static final double MAX_LOAD = 0.5;

  private long[] keys;
  private int[] values;
  private int size;
  private int shift;

  LongIntHashMap(int expected) {
    int cap = Integer.highestOneBit(Math.max(16, (int) Math.min(1 << 30, expected / MAX_LOAD)) - 1) << 1;
    allocate(cap);
  }

  int size() {
    return size;
  }

  /** The value of key, or -1 when absent. */
  int get(long key) {
    int mask = keys.length - 1;
    for (int i = slot(key); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        return values[i];
      }
      if (k == EMPTY) {
        return -1;
      }
    }
  }

  /**
   * The value already stored for key (>= 0); when key is absent, stores value and returns
   * {@code ~value} (negative), so the caller learns both the value and that it is new.
   */
  int putIfAbsent(long key, int value) {
    if (key < 0) {
      throw new IllegalArgumentException("negative key " + key);
    }
    int mask = keys.length - 1;
    for (int i = slot(key); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        return values[i];
      }
      if (k == EMPTY) {
        keys[i] = key;
        values[i] = value;
        if (++size > keys.length * MAX_LOAD) {
          grow();
        }
        return ~value;
      }
    }
  }

  private int slot(long key) {
    // Fibonacci hashing: the top bits of key * 2^64/phi spread packed (parent, token) keys well
    return (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
  }

  private void allocate(int capacity) {
    keys = new long[capacity];
    Arrays.fill(keys, EMPTY);
    values = new int[capacity];
    shift = 64 - Integer.numberOfTrailingZeros(capacity);
  }

  private void grow() {
    long[] oldKeys = keys;
    int[] oldValues = values;
    if (oldKeys.length >= 1 << 30) {
      throw new IllegalStateException("n-gram table is full (" + size + " entries)");
    }
    allocate(oldKeys.length * 2);
    int mask = keys.length - 1;
    for (int j = 0; j < oldKeys.length; j++) {
      long k = oldKeys[j];
      if (k != EMPTY) {
        int i = slot(k);
        while (keys[i] != EMPTY) {
          i = (i + 1) & mask;
        }
        keys[i] = k;
        values[i] = oldValues[j];
      }
    }
  }
}
