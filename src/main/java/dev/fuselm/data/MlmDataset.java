package dev.fuselm.data;

import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Unmasked BERT pretraining inputs of a fixed length T cut from tokenized text (WordPiece ids, no
 * special tokens), in one of two layouts:
 *
 * <ul>
 *   <li>contiguous (MLM only): the sentences joined into one stream, cut into blocks of T - 2 ids,
 *       each {@code [CLS] block [SEP]} (all token types 0; a last partial block is dropped);
 *   <li>sentence pairs (MLM + NSP): the sentences are cut into chunks of consecutive sentences; a
 *       chunk's first sentences (about half the room) are segment A and the rest are the true next
 *       segment B. Each epoch, with probability 1/2 per example, B is instead taken from a random
 *       sentence outside the chunk (next-sentence label 1, "random"; 0 is "is next", as in Hugging
 *       Face). The input is {@code [CLS] A [SEP] B [SEP]} with token types 0 then 1, truncated from
 *       the end of the longer segment to fit, then padded with {@code [PAD]} (attention mask 0).
 * </ul>
 *
 * The pair choice of example i in epoch e is a function of (seed, e, i) only, so any example can be
 * rebuilt at any time (this is what makes resuming exact).
 */
public final class MlmDataset {
  /**
   * One model input of length T.
   *
   * @param length real tokens (the rest is padding)
   * @param nextSentenceLabel 0: B follows A, 1: B is random, -1: no pair (contiguous layout)
   * @param firstSentence index of A's first sentence (-1 in the contiguous layout)
   * @param secondSentence index of B's first sentence (-1 in the contiguous layout)
   */
  public record Example(int[] ids, int[] typeIds, int[] attentionMask, int length,
      int nextSentenceLabel, int firstSentence, int secondSentence) {}

  private final List<int[]> sentences;
  private final int[] stream;
  private final int t;
  private final boolean pairs;
  private final int cls, sep, pad;
  // Pair layout: chunk c is sentences [chunkStart[c], chunkEnd[c]), B starts at chunkSplit[c].
  private final int[] chunkStart, chunkSplit, chunkEnd;
  private final int size;

  private MlmDataset(List<int[]> sentences, int t, boolean pairs, int cls, int sep, int pad) {
    int minT = pairs ? 5 : 3;
    if (t < minT) {
      throw new IllegalArgumentException("--seq-len " + t + " is too short: it needs at least "
          + minT + " positions for the special tokens and some text");
    }
    this.sentences = List.copyOf(sentences);
    this.t = t;
    this.pairs = pairs;
    this.cls = cls;
    this.sep = sep;
    this.pad = pad;
    if (!pairs) {
      int n = 0;
      for (int[] s : sentences) {
        n += s.length;
      }
      stream = new int[n];
      int at = 0;
      for (int[] s : sentences) {
        System.arraycopy(s, 0, stream, at, s.length);
        at += s.length;
      }
      size = n / (t - 2);
      chunkStart = chunkSplit = chunkEnd = null;
    } else {
      stream = null;
      int room = t - 3;
      List<int[]> chunks = new ArrayList<>();
      int s = 0;
      while (s < sentences.size()) {
        int a = s, used = 0;
        do {
          used += sentences.get(a++).length;
        } while (a < sentences.size() && used + sentences.get(a).length <= room / 2);
        if (a == sentences.size()) {
          break; // no next sentence left for B
        }
        int e = a;
        do {
          used += sentences.get(e++).length;
        } while (e < sentences.size() && used < room);
        chunks.add(new int[] {s, a, e});
        s = e;
      }
      size = chunks.size();
      chunkStart = new int[size];
      chunkSplit = new int[size];
      chunkEnd = new int[size];
      for (int c = 0; c < size; c++) {
        chunkStart[c] = chunks.get(c)[0];
        chunkSplit[c] = chunks.get(c)[1];
        chunkEnd[c] = chunks.get(c)[2];
      }
      if (size < 2) {
        throw new IllegalArgumentException("the text has " + sentences.size() + " non-empty lines,"
            + " too few for next-sentence pairs (at least two chunks of consecutive lines needed)");
      }
    }
  }

  /** MLM-only inputs: the sentences as one stream, cut into {@code [CLS] block [SEP]}. */
  public static MlmDataset contiguous(List<int[]> sentences, int t, WordPieceTokenizer tok) {
    return new MlmDataset(sentences, t, false, id(tok, WordPieceTokenizer.CLS),
        id(tok, WordPieceTokenizer.SEP), id(tok, WordPieceTokenizer.PAD));
  }

  /** MLM + NSP inputs: sentence pairs, half of them (per epoch, at random) with a random B. */
  public static MlmDataset sentencePairs(List<int[]> sentences, int t, WordPieceTokenizer tok) {
    return new MlmDataset(sentences, t, true, id(tok, WordPieceTokenizer.CLS),
        id(tok, WordPieceTokenizer.SEP), id(tok, WordPieceTokenizer.PAD));
  }

  private static int id(WordPieceTokenizer tok, String special) {
    return tok.specialTokenId(special).orElseThrow(() -> new IllegalArgumentException(
        "the vocabulary has no " + special + " token; BERT pretraining needs one"));
  }

  /**
   * The sentences of a text: the WordPiece ids of each line (split on {@code \n}) that has any.
   */
  public static List<int[]> sentences(String text, WordPieceTokenizer tok) {
    List<int[]> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      int[] ids = tok.encode(line);
      if (ids.length > 0) {
        out.add(ids);
      }
    }
    return out;
  }

  public int size() {
    return size;
  }

  public int seqLen() {
    return t;
  }

  public boolean sentencePairs() {
    return pairs;
  }

  public List<int[]> sentenceList() {
    return sentences;
  }

  /** Ids that are not special tokens (the text the examples are cut from). */
  public long textTokens() {
    long n = 0;
    for (int[] s : sentences) {
      n += s.length;
    }
    return n;
  }

  /** {first sentence, first sentence of the true B, end} of pair chunk i (for tests). */
  int[] chunk(int i) {
    return new int[] {chunkStart[i], chunkSplit[i], chunkEnd[i]};
  }

  /** Example i as epoch e of a run with this seed builds it. */
  public Example example(int i, long epoch, long seed) {
    int[] ids = new int[t];
    int[] types = new int[t];
    int[] mask = new int[t];
    int[] info = fill(i, epoch, seed, ids, types, mask, 0);
    return new Example(ids, types, mask, info[0], info[1], info[2], info[3]);
  }

  /**
   * Writes example i of epoch e into row [off, off + T) of ids, types and mask; returns {length,
   * next-sentence label, first sentence, second sentence}.
   */
  int[] fill(int i, long epoch, long seed, int[] ids, int[] types, int[] mask, int off) {
    if (i < 0 || i >= size) {
      throw new IndexOutOfBoundsException("example " + i + " of " + size);
    }
    Arrays.fill(types, off, off + t, 0);
    Arrays.fill(mask, off, off + t, 1);
    if (!pairs) {
      ids[off] = cls;
      System.arraycopy(stream, i * (t - 2), ids, off + 1, t - 2);
      ids[off + t - 1] = sep;
      return new int[] {t, -1, -1, -1};
    }
    SplittableRandom rng = new SplittableRandom(mix(seed, epoch, i, 1));
    int aFirst = chunkStart[i];
    int bFirst = chunkSplit[i];
    int label = 0;
    if (rng.nextBoolean()) {
      // A random B from outside this chunk: uniform over the other sentences.
      int inside = chunkEnd[i] - chunkStart[i];
      int j = rng.nextInt(sentences.size() - inside);
      bFirst = j < chunkStart[i] ? j : j + inside;
      label = 1;
    }
    int room = t - 3;
    int[] a = concat(aFirst, chunkSplit[i], room);
    int[] b = concat(bFirst, label == 0 ? chunkEnd[i] : sentences.size(), room);
    int la = a.length, lb = b.length;
    while (la + lb > room) {
      if (la > lb) {
        la--;
      } else {
        lb--;
      }
    }
    int at = off;
    ids[at++] = cls;
    System.arraycopy(a, 0, ids, at, la);
    at += la;
    ids[at++] = sep;
    System.arraycopy(b, 0, ids, at, lb);
    Arrays.fill(types, at, at + lb + 1, 1);
    at += lb;
    ids[at++] = sep;
    int length = at - off;
    Arrays.fill(ids, at, off + t, pad);
    Arrays.fill(mask, at, off + t, 0);
    return new int[] {length, label, aFirst, bFirst};
  }

  /** Sentences [from, to) joined, stopping once at least max ids are collected. */
  private int[] concat(int from, int to, int max) {
    int n = 0;
    int end = from;
    while (end < to && n < max) {
      n += sentences.get(end++).length;
    }
    int[] out = new int[n];
    int at = 0;
    for (int s = from; s < end; s++) {
      int[] x = sentences.get(s);
      System.arraycopy(x, 0, out, at, x.length);
      at += x.length;
    }
    return out;
  }

  /** A 64-bit seed from (seed, epoch, index, purpose), via SplitMix64's finaliser. */
  static long mix(long seed, long epoch, long index, long purpose) {
    long z = seed;
    for (long v : new long[] {epoch, index, purpose}) {
      z = finish(z + 0x9E3779B97F4A7C15L * (v + 1));
    }
    return z;
  }

  private static long finish(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
