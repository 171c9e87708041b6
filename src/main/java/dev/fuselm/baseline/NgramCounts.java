package dev.fuselm.baseline;

import java.util.Arrays;

/**
 * The counts of every k-gram (k = 1..order) of a token stream, as a trie stored level by level in
 * primitive arrays: a k-gram is a node of level k, identified by a dense int id, whose parent is the
 * node of its first k-1 tokens. Level 1 is indexed by the token id itself; level k >= 2 finds a node
 * through a {@link LongIntHashMap} keyed by {@code (parent << 32) | token}. The empty context (the
 * root, level 0) is node 0 of level 0.
 *
 * <p>Per node: its raw count c(g) and its continuation count N1+(. g), the number of distinct tokens
 * seen immediately before g (Kneser and Ney's count of the lower orders; kept for levels below the
 * order). Per node as a context h of the next level: c(h .) = sum of c(h w) and the number of w with
 * c(h w) > 0, and the same two over continuation counts, N1+(. h .) and |{w : N1+(. h w) > 0}|.
 *
 * <p>The stream is one sequence with no sentence marks: the k-grams starting in its first k-1
 * positions are not counted (they would reach before the start), and a k-gram at the very start has
 * no left neighbour, so it adds no continuation count.
 */
final class NgramCounts {
  final int order;
  final int vocabSize;
  /** Tokens counted. */
  final int tokens;
  private final Level[] levels;

  /** Counts the k-grams (k = 1..order) of tokens[from, to); every id must be in [0, vocabSize). */
  NgramCounts(int order, int vocabSize, int[] stream, int from, int to) {
    if (order < 1) {
      throw new IllegalArgumentException("the n-gram order must be at least 1, got " + order);
    }
    if (vocabSize < 1) {
      throw new IllegalArgumentException("the vocabulary size must be at least 1, got " + vocabSize);
    }
    if (from < 0 || to > stream.length || from > to) {
      throw new IllegalArgumentException("token range [" + from + ", " + to + ") is outside the "
          + stream.length + " tokens");
    }
    this.order = order;
    this.vocabSize = vocabSize;
    this.tokens = to - from;
    levels = new Level[order + 1];
    levels[0] = new Level(1, false, false);
    levels[0].count[0] = tokens;
    levels[0].size = 1;
    levels[1] = new Level(vocabSize, false, order > 1);
    levels[1].size = vocabSize;
    for (int k = 2; k <= order; k++) {
      levels[k] = new Level(Math.min(tokens, 1 << 20), true, k < order);
    }
    count(stream, from, to);
    contextTotals();
  }

  private void count(int[] stream, int from, int to) {
    // prev[k] / cur[k]: the node of the k-gram ending at position i-1 / i (-1 before the start)
    int[] prev = new int[order + 1];
    int[] cur = new int[order + 1];
    Arrays.fill(prev, -1);
    Arrays.fill(cur, -1);
    Level l1 = levels[1];
    for (int i = from; i < to; i++) {
      int w = stream[i];
      if (w < 0 || w >= vocabSize) {
        throw new IllegalArgumentException("token " + (i - from) + " has id " + w
            + ", outside the vocabulary of " + vocabSize);
      }
      cur[1] = w;
      l1.count[w]++;
      int kMax = Math.min(order, i - from + 1);
      for (int k = 2; k <= kMax; k++) {
        Level l = levels[k];
        int fresh = l.size;
        int node = l.index.putIfAbsent(key(prev[k - 1], w), fresh);
        if (node < 0) {
          node = ~node;
          l.add(prev[k - 1], w);
          // a new k-gram type: one more distinct left neighbour for its suffix, the (k-1)-gram
          // ending here
          levels[k - 1].cont[cur[k - 1]]++;
        }
        l.count[node]++;
        cur[k] = node;
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
  }

  /** Fills each context's totals from the nodes of the level above it. */
  private void contextTotals() {
    for (int k = 1; k <= order; k++) {
      Level l = levels[k];
      Level parents = levels[k - 1];
      parents.followTotal = new long[parents.size];
      parents.followTypes = new int[parents.size];
      boolean cont = k < order;
      if (cont) {
        parents.contTotal = new long[parents.size];
        parents.contTypes = new int[parents.size];
      }
      for (int g = 0; g < l.size; g++) {
        int c = l.count[g];
        if (c == 0) {
          continue; // a level-1 token that never occurs
        }
        int p = k == 1 ? 0 : l.parent[g];
        parents.followTotal[p] += c;
        parents.followTypes[p]++;
        if (cont && l.cont[g] > 0) {
          parents.contTotal[p] += l.cont[g];
          parents.contTypes[p]++;
        }
      }
    }
  }

  static long key(int parent, int token) {
    return ((long) parent << 32) | token;
  }

  /** The node of the k-gram (node parent of level k-1, then token), or -1 when it never occurs. */
  int find(int k, int parent, int token) {
    if (parent < 0) {
      return -1;
    }
    if (k == 1) {
      return levels[1].count[token] > 0 ? token : -1;
    }
    return levels[k].index.get(key(parent, token));
  }

  /** Raw count c(g) of node g of level k. */
  int count(int k, int g) {
    return levels[k].count[g];
  }

  /** Continuation count N1+(. g) of node g of level k < order. */
  int continuation(int k, int g) {
    return levels[k].cont[g];
  }

  /** Distinct k-grams seen (level 1: distinct tokens). */
  int types(int k) {
    if (k == 1) {
      int n = 0;
      for (int c : levels[1].count) {
        n += c > 0 ? 1 : 0;
      }
      return n;
    }
    return levels[k].size;
  }

  /** c(h .): how often context h (node of level j; the root is node 0 of level 0) is followed. */
  long followTotal(int j, int h) {
    return levels[j].followTotal[h];
  }

  /** |{w : c(h w) > 0}|. */
  int followTypes(int j, int h) {
    return levels[j].followTypes[h];
  }

  /** N1+(. h .) = sum over w of N1+(. h w), for j + 1 < order. */
  long contTotal(int j, int h) {
    return levels[j].contTotal[h];
  }

  /** |{w : N1+(. h w) > 0}|, for j + 1 < order. */
  int contTypes(int j, int h) {
    return levels[j].contTypes[h];
  }

  /**
   * n1 and n2 of level k: how many k-grams have count exactly 1 and exactly 2, over raw counts when
   * raw, else over continuation counts.
   */
  long[] countOfCounts(int k, boolean raw) {
    Level l = levels[k];
    long n1 = 0, n2 = 0;
    for (int g = 0; g < l.size; g++) {
      int c = raw ? l.count[g] : l.cont[g];
      if (c == 1) {
        n1++;
      } else if (c == 2) {
        n2++;
      }
    }
    return new long[] {n1, n2};
  }

  /** One level of the trie: parallel primitive arrays over its node ids, grown by doubling. */
  private static final class Level {
    final LongIntHashMap index;
    int size;
    int[] parent;
    int[] token;
    int[] count;
    int[] cont;
    long[] followTotal;
    int[] followTypes;
    long[] contTotal;
    int[] contTypes;

    /** A level with room for capacity nodes; indexed (levels k >= 2) by (parent, token). */
    Level(int capacity, boolean indexed, boolean continuation) {
      capacity = Math.max(capacity, 16);
      index = indexed ? new LongIntHashMap(capacity) : null;
      parent = indexed ? new int[capacity] : null;
      token = indexed ? new int[capacity] : null;
      count = new int[capacity];
      cont = continuation ? new int[capacity] : null;
    }

    void add(int p, int w) {
      if (size == count.length) {
        int n = size * 2;
        parent = Arrays.copyOf(parent, n);
        token = Arrays.copyOf(token, n);
        count = Arrays.copyOf(count, n);
        if (cont != null) {
          cont = Arrays.copyOf(cont, n);
        }
      }
      parent[size] = p;
      token[size] = w;
      size++;
    }
  }
}
