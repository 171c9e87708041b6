package dev.fuselm.tokenizer;

import java.util.Arrays;

/** A growable int array, to collect ids without boxing. */
final class IntList {

  int[] data;
  int size;

  IntList(int capacity) {
    data = new int[Math.max(4, capacity)];
  }

  void add(int v) {
    if (size == data.length) {
      data = Arrays.copyOf(data, data.length * 2);
    }
    data[size++] = v;
  }

  void addAll(int[] src, int from, int len) {
    ensure(size + len);
    System.arraycopy(src, from, data, size, len);
    size += len;
  }

  void ensure(int capacity) {
    if (capacity > data.length) {
      data = Arrays.copyOf(data, Math.max(capacity, data.length * 2));
    }
  }

  int[] toArray() {
    return Arrays.copyOf(data, size);
  }
}
