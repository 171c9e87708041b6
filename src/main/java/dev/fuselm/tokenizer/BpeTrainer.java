package dev.fuselm.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Learns a byte-level BPE vocabulary from text, GPT-2 style: the text is cut with GPT-2's pre-tokenizer,
 * each distinct piece becomes a word of byte tokens weighted by its count, and the most frequent adjacent
 * pair is merged until the vocabulary has the requested size.
 *
 * <p>Determinism: the pair with the highest count wins; ties go to the pair whose left token's bytes
 * are lexicographically smallest (unsigned), then the right token's. The first 256 ids are the bytes in
 * GPT-2's order, so a trained vocabulary has the same layout as GPT-2's; {@code <|endoftext|>} takes the
 * last id. The result saves in GPT-2's format ({@link Gpt2BpeTokenizer#save}) and reloads to the same ids.
 *
 * <p>Speed: pair counts are kept incrementally. Each pair remembers the words it occurs in; a merge
 * rewrites only those words and adjusts the counts of the pairs they lose and gain; a priority queue
 * with lazy deletion (stale entries are re-checked when they surface) gives the next best pair. 2 MB of
 * text trains to 4,096 tokens in a few seconds.
 */
public final class BpeTrainer {

  private BpeTrainer() {
  }

  /** Trains on {@code text} to {@code vocabSize} ids (256 bytes + merges + {@code <|endoftext|>}). */
  public static Gpt2BpeTokenizer train(String text, int vocabSize) {
    return train(text, vocabSize, List.of(Gpt2BpeTokenizer.END_OF_TEXT));
  }

  /**
   * Trains on {@code text} to {@code vocabSize} ids in all: 256 byte tokens, then merges, then the special
   * tokens in the given order. Stops early (smaller vocabulary) if no pair occurs any more.
   *
   * @throws IllegalArgumentException if {@code vocabSize} leaves no room for the bytes and special tokens
   */
  public static Gpt2BpeTokenizer train(String text, int vocabSize, List<String> specialTokens) {
    return trainCounting(text, vocabSize, specialTokens).tokenizer();
  }

  /** The trained tokenizer and the number of tokens the training text came out as at the end of training. */
  record Result(Gpt2BpeTokenizer tokenizer, long trainingTokens) {
  }

  static Result trainCounting(String text, int vocabSize, List<String> specialTokens) {
    int minSize = 256 + specialTokens.size();
    if (vocabSize < minSize) {
      throw new IllegalArgumentException("vocabulary size " + vocabSize + " is too small: a byte-level BPE needs "
          + "256 byte tokens + " + specialTokens.size() + " special token(s) = " + minSize + " at least");
    }
    Run run = new Run(text);
    Gpt2BpeTokenizer t = run.train(vocabSize - specialTokens.size(), specialTokens);
    long tokens = 0;
    for (int w = 0; w < run.words.length; w++) {
      tokens += run.wordLen[w] * run.freq[w];
    }
    return new Result(t, tokens);
  }

  private static final class Pair {
    final int left;
    final int right;
    long count;
    IntList words = new IntList(4);
    long countBefore;      // count when the current merge first touched this pair
    int touchedAt;         // the merge that did



    Pair(int left, int right) {
      this.left = left;
      this.right = right;
    }
  }

  private record QueueItem(long count, Pair pair) {
  }

  /** Open-addressing map from (left, right) to its {@link Pair}; java.util.HashMap with Long keys hashes a pair to left ^ right, which collides badly. */
  private static final class PairTable {
    long[] keys = new long[1 << 16];
    Pair[] values = new Pair[1 << 16];
    int size;

    PairTable() {
      Arrays.fill(keys, -1L);
    }

    Pair getOrCreate(int left, int right) {
      long k = PairRanks.key(left, right);
      int mask = keys.length - 1;
      long h = k * 0x9E3779B97F4A7C15L;
      int i = (int) (h ^ (h >>> 29)) & mask;
      while (keys[i] != -1L) {
        if (keys[i] == k) {
          return values[i];
        }
        i = (i + 1) & mask;
      }
      if ((size + 1) * 2 > keys.length) {
        grow();
        return getOrCreate(left, right);
      }
      keys[i] = k;
      Pair p = new Pair(left, right);
      values[i] = p;
      size++;
      return p;
    }

    private void grow() {
      long[] oldKeys = keys;
      Pair[] oldValues = values;
      keys = new long[oldKeys.length * 2];
      values = new Pair[oldKeys.length * 2];
      Arrays.fill(keys, -1L);
      int mask = keys.length - 1;
      for (int j = 0; j < oldKeys.length; j++) {
        if (oldKeys[j] != -1L) {
          long h = oldKeys[j] * 0x9E3779B97F4A7C15L;
          int i = (int) (h ^ (h >>> 29)) & mask;
          while (keys[i] != -1L) {
            i = (i + 1) & mask;
          }
          keys[i] = oldKeys[j];
          values[i] = oldValues[j];
        }
      }
    }
  }

  private static final class Run {
    final List<byte[]> tokenBytes = new ArrayList<>();
    final Map<String, Integer> tokenIds = new HashMap<>();   // byte-level string -> id
    final int[][] words;
    final int[] wordLen;
    final long[] freq;
    final PairTable pairs = new PairTable();
    final PriorityQueue<QueueItem> queue;
    final int[] wordStamp;

    Run(String text) {
      // Count distinct pieces.
      Map<String, long[]> counts = new HashMap<>();
      char[] s = text.toCharArray();
      Gpt2PreTokenizer.split(s, 0, s.length, (a, b) -> counts.computeIfAbsent(new String(s, a, b - a), k -> new long[1])[0]++);
      int[] byteToId = new int[256];
      for (int i = 0; i < 256; i++) {
        int b = ByteLevel.byteOfGpt2Id(i);
        tokenBytes.add(new byte[] {(byte) b});
        tokenIds.put(ByteLevel.encode(tokenBytes.get(i)), i);
        byteToId[b] = i;
      }
      // Sort the pieces so word order (and everything downstream) does not depend on hash order.
      List<String> pieces = new ArrayList<>(counts.keySet());
      pieces.sort(null);
      words = new int[pieces.size()][];
      wordLen = new int[pieces.size()];
      freq = new long[pieces.size()];
      wordStamp = new int[pieces.size()];
      for (int w = 0; w < pieces.size(); w++) {
        byte[] b = pieces.get(w).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int[] sym = new int[b.length];
        for (int i = 0; i < b.length; i++) {
          sym[i] = byteToId[b[i] & 0xFF];
        }
        words[w] = sym;
        wordLen[w] = sym.length;
        freq[w] = counts.get(pieces.get(w))[0];
        for (int i = 0; i + 1 < sym.length; i++) {
          Pair p = pair(sym[i], sym[i + 1]);
          p.count += freq[w];
          if (p.words.size == 0 || p.words.data[p.words.size - 1] != w) {
            p.words.add(w);
          }
        }
      }
      queue = new PriorityQueue<>(Math.max(16, pairs.size), this::compare);
      for (Pair p : pairs.values) {
        if (p != null) {
          queue.add(new QueueItem(p.count, p));
        }
      }
    }

    private Pair pair(int left, int right) {
      return pairs.getOrCreate(left, right);
    }

    /** Higher count first; ties by the bytes of the left token, then of the right token. */
    private int compare(QueueItem x, QueueItem y) {
      if (x.count != y.count) {
        return Long.compare(y.count, x.count);
      }
      int c = Arrays.compareUnsigned(tokenBytes.get(x.pair.left), tokenBytes.get(y.pair.left));
      return c != 0 ? c : Arrays.compareUnsigned(tokenBytes.get(x.pair.right), tokenBytes.get(y.pair.right));
    }

    Gpt2BpeTokenizer train(int mergedSize, List<String> specialTokens) {
      List<String[]> merges = new ArrayList<>();
      List<Pair> touched = new ArrayList<>();
      int stamp = 0;
      while (tokenBytes.size() < mergedSize && !queue.isEmpty()) {
        QueueItem top = queue.poll();
        Pair p = top.pair;
        if (top.count != p.count) {
          if (p.count > 0 && p.count < top.count) {
            queue.add(new QueueItem(p.count, p));   // count went down since: queue it again
          }
          continue;                                   // (went up: a fresher item is queued)
        }
        if (p.count <= 0) {
          continue;
        }
        int a = p.left;
        int b = p.right;
        byte[] ab = Arrays.copyOf(tokenBytes.get(a), tokenBytes.get(a).length + tokenBytes.get(b).length);
        System.arraycopy(tokenBytes.get(b), 0, ab, tokenBytes.get(a).length, tokenBytes.get(b).length);
        // Two different merges can spell the same bytes ("a"+"bc", "ab"+"c"); they share one id.
        Integer existing = tokenIds.putIfAbsent(ByteLevel.encode(ab), tokenBytes.size());
        int c = existing != null ? existing : tokenBytes.size();
        if (existing == null) {
          tokenBytes.add(ab);
        }
        merges.add(new String[] {ByteLevel.encode(tokenBytes.get(a)), ByteLevel.encode(tokenBytes.get(b))});

        stamp++;
        touched.clear();
        IntList affected = p.words;
        p.words = new IntList(1);
        for (int k = 0; k < affected.size; k++) {
          int w = affected.data[k];
          if (wordStamp[w] == stamp) {
            continue;
          }
          wordStamp[w] = stamp;
          mergeWord(w, a, b, c, stamp, touched);
        }
        for (Pair q : touched) {
          if (q.count > q.countBefore) {
            queue.add(new QueueItem(q.count, q));
          }
        }
      }
      Map<String, Integer> vocab = new LinkedHashMap<>();
      for (int id = 0; id < tokenBytes.size(); id++) {
        vocab.put(ByteLevel.encode(tokenBytes.get(id)), id);
      }
      Map<String, Integer> specials = new LinkedHashMap<>();
      for (String s : specialTokens) {
        if (vocab.putIfAbsent(s, vocab.size()) != null) {
          throw new IllegalArgumentException("special token " + s + " is also a learned token; choose another");
        }
        specials.put(s, vocab.get(s));
      }
      try {
        return new Gpt2BpeTokenizer(BpeVocab.build("trained vocabulary", vocab, merges, null, specials));
      } catch (IOException e) {
        throw new IllegalStateException("the trainer produced an inconsistent vocabulary", e);
      }
    }

    private static void touch(Pair q, int stamp, List<Pair> touched) {
      if (q.touchedAt != stamp) {
        q.touchedAt = stamp;
        q.countBefore = q.count;
        touched.add(q);
      }
    }

    /** Merges every (a, b) in word w, left to right, and moves the word's pair counts from old to new. */
    private void mergeWord(int w, int a, int b, int c, int stamp, List<Pair> touched) {
      int[] sym = words[w];
      int n = wordLen[w];
      boolean found = false;
      for (int i = 0; i + 1 < n; i++) {
        if (sym[i] == a && sym[i + 1] == b) {
          found = true;
          break;
        }
      }
      if (!found) {
        return;        // stale entry of the word list
      }
      long f = freq[w];
      for (int i = 0; i + 1 < n; i++) {
        Pair q = pairs.getOrCreate(sym[i], sym[i + 1]);
        touch(q, stamp, touched);
        q.count -= f;
      }
      int out = 0;
      for (int i = 0; i < n; ) {
        if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
          sym[out++] = c;
          i += 2;
        } else {
          sym[out++] = sym[i++];
        }
      }
      wordLen[w] = out;
      for (int i = 0; i + 1 < out; i++) {
        Pair q = pair(sym[i], sym[i + 1]);
        touch(q, stamp, touched);
        q.count += f;
        if ((sym[i] == c || sym[i + 1] == c) && (q.words.size == 0 || q.words.data[q.words.size - 1] != w)) {
          q.words.add(w);
        }
      }
    }
  }
}
