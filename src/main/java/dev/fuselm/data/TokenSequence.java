package dev.fuselm.data;

/**
 * A read-only sequence of token ids, in memory ({@link #of(int[])}) or memory-mapped from a {@link TokenFile}.
 * Indices are {@code long} so that a corpus larger than 2^31 tokens fits.
 */
public interface TokenSequence {

  long size();

  /** The id at {@code index}, {@code 0 <= index < size()}. */
  int get(long index);

  /** Copies {@code len} ids starting at {@code from} into {@code dst[off, off + len)}. */
  default void copy(long from, int[] dst, int off, int len) {
    if (from < 0 || len < 0 || from + len > size()) {
      throw new IndexOutOfBoundsException("ids [" + from + ", " + (from + len) + ") of a sequence of " + size());
    }
    for (int i = 0; i < len; i++) {
      dst[off + i] = get(from + i);
    }
  }

  /** A view of ids {@code [from, to)}. */
  default TokenSequence slice(long from, long to) {
    if (from < 0 || to < from || to > size()) {
      throw new IndexOutOfBoundsException("slice [" + from + ", " + to + ") of a sequence of " + size());
    }
    TokenSequence base = this;
    return new TokenSequence() {
      @Override
      public long size() {
        return to - from;
      }

      @Override
      public int get(long index) {
        if (index < 0 || index >= to - from) {
          throw new IndexOutOfBoundsException("id " + index + " of a sequence of " + (to - from));
        }
        return base.get(from + index);
      }

      @Override
      public void copy(long start, int[] dst, int off, int len) {
        if (start < 0 || len < 0 || start + len > to - from) {
          throw new IndexOutOfBoundsException("ids [" + start + ", " + (start + len) + ") of a sequence of " + (to - from));
        }
        base.copy(from + start, dst, off, len);
      }
    };
  }

  /** An in-memory sequence over {@code ids} (not copied). */
  static TokenSequence of(int[] ids) {
    return new TokenSequence() {
      @Override
      public long size() {
        return ids.length;
      }

      @Override
      public int get(long index) {
        return ids[Math.toIntExact(index)];
      }

      @Override
      public void copy(long from, int[] dst, int off, int len) {
        if (from < 0 || from + len > ids.length) {
          throw new IndexOutOfBoundsException("ids [" + from + ", " + (from + len) + ") of a sequence of " + ids.length);
        }
        System.arraycopy(ids, (int) from, dst, off, len);
      }
    };
  }

  /** The train and validation parts of a split. */
  record Split(TokenSequence train, TokenSequence validation) {
  }

  /**
   * Splits at {@code floor(trainRatio * size())}: the first part trains, the rest validates (the book's
   * chapter 5 split, on token ids instead of characters).
   */
  default Split split(double trainRatio) {
    if (!(trainRatio >= 0 && trainRatio <= 1)) {
      throw new IllegalArgumentException("train ratio must be in [0, 1], got " + trainRatio);
    }
    long cut = (long) Math.floor(trainRatio * size());
    return new Split(slice(0, cut), slice(cut, size()));
  }
}
