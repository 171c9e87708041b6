package dev.fuselm.data;

import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * BERT's masked-language-model corruption of one sequence (Devlin et al. 2019, section 3.1 and
 * appendix A.1; the rules of google-research/bert {@code create_pretraining_data.py}).
 *
 * <p>Of the candidate positions (every token but {@code [PAD] [UNK] [CLS] [SEP] [MASK]}),
 * {@code max(1, round(n * selectProb))} are chosen at random; each chosen token is replaced by
 * {@code [MASK]} with probability 0.8, by a uniformly random non-special vocabulary id with
 * probability 0.1, and left unchanged otherwise. The label of a chosen position is its original id;
 * every other position gets {@link #IGNORE} (-100, as in Hugging Face), so the loss covers only the
 * chosen positions.
 *
 * <p>With whole-word masking, a word is a piece plus the {@code ##} continuation pieces after it;
 * words are chosen (in random order, skipping any that would overshoot the target count) and all of a
 * chosen word's pieces are selected. The 80/10/10 draw stays per token, as in BERT.
 *
 * <p>Everything is a function of the random source, so a seeded source gives the same masks again.
 */
public final class MlmMasking {
  /** The label of a position the loss ignores. */
  public static final int IGNORE = -100;

  private final int vocabSize;
  private final int maskId;
  private final boolean[] special;
  private final boolean[] continuation;
  private final boolean wholeWord;
  private final float selectProb;

  /**
   * @param special per vocabulary id: never chosen, never drawn as a random replacement
   * @param continuation per vocabulary id: a {@code ##} piece that continues the previous word
   */
  public MlmMasking(int maskId, boolean[] special, boolean[] continuation, boolean wholeWord,
      float selectProb) {
    if (special.length != continuation.length) {
      throw new IllegalArgumentException("special has " + special.length
          + " entries but continuation " + continuation.length);
    }
    if (maskId < 0 || maskId >= special.length) {
      throw new IllegalArgumentException("[MASK] id " + maskId + " is outside the vocabulary of "
          + special.length);
    }
    if (!(selectProb > 0 && selectProb < 1)) {
      throw new IllegalArgumentException("the masking probability must be in (0, 1), got "
          + selectProb);
    }
    this.vocabSize = special.length;
    this.maskId = maskId;
    this.special = special.clone();
    this.continuation = continuation.clone();
    this.wholeWord = wholeWord;
    this.selectProb = selectProb;
    int ordinary = 0;
    for (boolean s : special) {
      ordinary += s ? 0 : 1;
    }
    if (ordinary == 0) {
      throw new IllegalArgumentException("the vocabulary has no ordinary token");
    }
  }

  /** The standard setting (15%) for a BERT WordPiece vocabulary. */
  public static MlmMasking forTokenizer(WordPieceTokenizer tok, boolean wholeWord) {
    int v = tok.vocabSize();
    boolean[] special = new boolean[v];
    boolean[] cont = new boolean[v];
    for (int id : tok.specialTokens().values()) {
      special[id] = true;
    }
    for (int id = 0; id < v; id++) {
      String t = tok.idToToken(id);
      cont[id] = t != null && t.startsWith("##") && t.length() > 2;
    }
    int mask = tok.specialTokenId(WordPieceTokenizer.MASK).orElseThrow(
        () -> new IllegalArgumentException("the vocabulary has no " + WordPieceTokenizer.MASK
            + " token; MLM needs one"));
    return new MlmMasking(mask, special, cont, wholeWord, 0.15f);
  }

  public boolean wholeWord() {
    return wholeWord;
  }

  public int vocabSize() {
    return vocabSize;
  }

  public boolean isSpecial(int id) {
    return special[id];
  }

  /**
   * Masks ids[from, from + len) in place and writes labels[from, from + len) (original id at chosen
   * positions, {@link #IGNORE} elsewhere). Returns the number of chosen positions (0 only when there
   * is no candidate).
   */
  public int apply(int[] ids, int[] labels, int from, int len, SplittableRandom rng) {
    Arrays.fill(labels, from, from + len, IGNORE);
    // Group candidates into units: single tokens, or whole words.
    int[] unitStart = new int[len];
    int[] unitLen = new int[len];
    int units = 0;
    int candidates = 0;
    for (int i = from; i < from + len; i++) {
      int id = ids[i];
      if (id < 0 || id >= vocabSize) {
        throw new IllegalArgumentException("token id " + id + " at position " + (i - from)
            + " is outside the vocabulary of " + vocabSize);
      }
      if (special[id]) {
        continue;
      }
      candidates++;
      boolean continuesWord = wholeWord && continuation[id] && units > 0
          && unitStart[units - 1] + unitLen[units - 1] == i;
      if (continuesWord) {
        unitLen[units - 1]++;
      } else {
        unitStart[units] = i;
        unitLen[units] = 1;
        units++;
      }
    }
    if (candidates == 0) {
      return 0;
    }
    int target = Math.max(1, Math.round(candidates * selectProb));
    // Fisher-Yates over the units, then take them in that order.
    int[] order = new int[units];
    for (int u = 0; u < units; u++) {
      order[u] = u;
    }
    for (int u = units - 1; u > 0; u--) {
      int j = rng.nextInt(u + 1);
      int tmp = order[u];
      order[u] = order[j];
      order[j] = tmp;
    }
    int chosen = 0;
    for (int k = 0; k < units && chosen < target; k++) {
      int u = order[k];
      if (chosen + unitLen[u] > target) {
        continue; // a whole word that would overshoot is skipped, as in BERT
      }
      corrupt(ids, labels, unitStart[u], unitLen[u], rng);
      chosen += unitLen[u];
    }
    if (chosen == 0) {
      // Every word is longer than the target (a short sequence of long words): take one anyway, so
      // each sequence with a candidate carries at least one label.
      corrupt(ids, labels, unitStart[order[0]], unitLen[order[0]], rng);
      chosen = unitLen[order[0]];
    }
    return chosen;
  }

  /** Labels positions [start, start + n) and applies the 80/10/10 replacement to each. */
  private void corrupt(int[] ids, int[] labels, int start, int n, SplittableRandom rng) {
    for (int i = start; i < start + n; i++) {
      labels[i] = ids[i];
      double r = rng.nextDouble();
      if (r < 0.8) {
        ids[i] = maskId;
      } else if (r < 0.9) {
        ids[i] = randomOrdinary(rng);
      }
    }
  }

  private int randomOrdinary(SplittableRandom rng) {
    while (true) {
      int id = rng.nextInt(vocabSize);
      if (!special[id]) {
        return id;
      }
    }
  }
}
