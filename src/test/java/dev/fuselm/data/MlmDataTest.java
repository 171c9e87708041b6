package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** MLM masking statistics, special-token exclusion, whole words, NSP pairs and resumable order. */
class MlmDataTest {
  static final WordPieceTokenizer TOK = WordPieceTokenizer.bertBaseUncased();
  static final int MASK = TOK.specialTokenId("[MASK]").getAsInt();
  static final int CLS = TOK.specialTokenId("[CLS]").getAsInt();
  static final int SEP = TOK.specialTokenId("[SEP]").getAsInt();
  static final int PAD = TOK.specialTokenId("[PAD]").getAsInt();
  static List<int[]> shakespeare;

  @BeforeAll
  static void load() throws IOException {
    String text = Files.readString(DataPipelineTest.data("tinyshakespeare.txt"));
    shakespeare = MlmDataset.sentences(text.substring(0, 400_000), TOK);
  }

  /** Counts over every batch of an epoch: {candidates, chosen, [MASK], unchanged, random}. */
  static long[] stats(MlmBatches batches, MlmDataset ds, long seed) {
    long[] c = new long[5];
    MlmBatches.Batch b = batches.newBatch();
    int t = ds.seqLen();
    for (int k = 0; k < batches.batchesPerEpoch(); k++) {
      batches.next(b);
      for (int r = 0; r < b.b; r++) {
        for (int p = 0; p < t; p++) {
          int i = r * t + p;
          int y = b.labels[i];
          if (y == MlmMasking.IGNORE) {
            if (b.attentionMask[i] == 1 && !isSpecial(b.ids[i])) {
              c[0]++;
            }
            continue;
          }
          c[0]++;
          c[1]++;
          assertFalse(isSpecial(y), "a special token was chosen");
          if (b.ids[i] == MASK) {
            c[2]++;
          } else if (b.ids[i] == y) {
            c[3]++;
          } else {
            c[4]++;
            assertFalse(isSpecial(b.ids[i]), "a special token was drawn as the random replacement");
          }
        }
      }
    }
    return c;
  }

  static boolean isSpecial(int id) {
    return TOK.specialTokens().containsValue(id);
  }

  @Test
  void maskingFractionsOverAHundredThousandTokens() {
    MlmDataset ds = MlmDataset.contiguous(shakespeare, 128, TOK);
    assertTrue(ds.size() * 126L >= 100_000, "only " + ds.size() * 126L + " tokens");
    MlmBatches batches = new MlmBatches(ds, MlmMasking.forTokenizer(TOK, false), 8, true, 42);
    long[] c = stats(batches, ds, 42);
    double chosen = (double) c[1] / c[0];
    // Exactly round(0.15 * 126) = 19 of 126 candidates per sequence (a few [UNK] lower the count).
    assertEquals(0.15, chosen, 0.003, "chosen share");
    // Binomial over ~15k chosen tokens: sd of a 10% share is 0.0025; the tolerance is 4 sd.
    assertEquals(0.8, (double) c[2] / c[1], 0.01, "[MASK] share");
    assertEquals(0.1, (double) c[3] / c[1], 0.01, "unchanged share");
    assertEquals(0.1, (double) c[4] / c[1], 0.01, "random share");
    assertTrue(c[1] > 14_000, "chosen " + c[1]);
  }

  @Test
  void specialTokensAndPaddingAreNeverChosen() {
    MlmDataset ds = MlmDataset.sentencePairs(shakespeare, 64, TOK);
    MlmBatches batches = new MlmBatches(ds, MlmMasking.forTokenizer(TOK, false), 4, true, 7);
    MlmBatches.Batch b = batches.newBatch();
    int padded = 0;
    for (int k = 0; k < 200; k++) {
      batches.next(b);
      for (int r = 0; r < b.b; r++) {
        int seps = 0;
        for (int p = 0; p < 64; p++) {
          int i = r * 64 + p;
          if (p == 0) {
            assertEquals(CLS, b.ids[i]);
          }
          if (b.ids[i] == SEP || b.ids[i] == CLS || b.ids[i] == PAD) {
            assertEquals(MlmMasking.IGNORE, b.labels[i], "label on a special token");
          }
          if (b.attentionMask[i] == 0) {
            padded++;
            assertEquals(PAD, b.ids[i]);
            assertEquals(MlmMasking.IGNORE, b.labels[i]);
            assertEquals(0, b.typeIds[i]);
          }
          seps += b.ids[i] == SEP && b.labels[i] == MlmMasking.IGNORE ? 1 : 0;
        }
        assertTrue(seps >= 2, "both [SEP] survive");
      }
    }
    assertTrue(padded > 0, "some pairs are padded");
  }

  @Test
  void wholeWordMaskingTakesEveryPieceOfAWord() {
    MlmDataset ds = MlmDataset.contiguous(shakespeare, 128, TOK);
    MlmMasking m = MlmMasking.forTokenizer(TOK, true);
    MlmBatches batches = new MlmBatches(ds, m, 1, false, 5);
    MlmBatches.Batch b = batches.newBatch();
    long chosen = 0, candidates = 0, multiPieceWordsChosen = 0;
    for (int k = 0; k < 400; k++) {
      batches.next(b);
      int[] orig = ds.example(k, 0, 5).ids();
      // Positions grouped by word: a piece starting with ## continues the previous position's word.
      int p = 1;
      while (p < 127) {
        int end = p + 1;
        while (end < 127 && TOK.idToToken(orig[end]).startsWith("##")) {
          end++;
        }
        int labelled = 0;
        for (int q = p; q < end; q++) {
          if (b.labels[q] != MlmMasking.IGNORE) {
            assertEquals(orig[q], b.labels[q], "the label is the original id");
            labelled++;
          }
          candidates += isSpecial(orig[q]) ? 0 : 1;
        }
        assertTrue(labelled == 0 || labelled == end - p,
            "word at " + p + ".." + end + " partly chosen (" + labelled + ")");
        if (labelled > 1) {
          multiPieceWordsChosen++;
        }
        chosen += labelled;
        p = end;
      }
    }
    assertTrue(multiPieceWordsChosen > 100, "multi-piece words chosen: " + multiPieceWordsChosen);
    // Whole words never overshoot the per-sequence target of round(0.15 n), so the share is at most
    // 0.15 and (with mostly one-piece words) close to it.
    double share = (double) chosen / candidates;
    assertTrue(share <= 0.151 && share > 0.14, "chosen share " + share);
  }

  @Test
  void nextSentencePairsAreHalfTrueAndTrueOnesFollow() {
    MlmDataset ds = MlmDataset.sentencePairs(shakespeare, 64, TOK);
    int isNext = 0;
    long seed = 11;
    for (int i = 0; i < ds.size(); i++) {
      MlmDataset.Example e = ds.example(i, 3, seed);
      int[] chunk = ds.chunk(i);
      assertEquals(chunk[0], e.firstSentence());
      // Rebuild A and B from the type ids and compare with the sentences they came from.
      int sep1 = 1;
      while (e.ids()[sep1] != SEP) {
        sep1++;
      }
      int[] a = Arrays.copyOfRange(e.ids(), 1, sep1);
      int[] b = Arrays.copyOfRange(e.ids(), sep1 + 1, e.length() - 1);
      for (int p = 0; p < e.length(); p++) {
        assertEquals(p > sep1 ? 1 : 0, e.typeIds()[p], "type id at " + p);
      }
      assertArrayEquals(prefix(joined(chunk[0], chunk[1]), a.length), a, "A is its sentences");
      if (e.nextSentenceLabel() == 0) {
        isNext++;
        assertEquals(chunk[1], e.secondSentence(), "a true B starts right after A");
        assertArrayEquals(prefix(joined(chunk[1], chunk[2]), b.length), b, "B is what follows A");
      } else {
        assertEquals(1, e.nextSentenceLabel());
        int s = e.secondSentence();
        assertTrue(s < chunk[0] || s >= chunk[2], "random B " + s + " inside its own chunk");
        assertArrayEquals(prefix(joined(s, shakespeare.size()), b.length), b);
      }
      assertTrue(a.length > 0 && b.length > 0);
    }
    double share = (double) isNext / ds.size();
    // ~2,000 pairs: sd of the share is 0.011; the tolerance is 4 sd.
    assertTrue(ds.size() > 1500, "pairs: " + ds.size());
    assertEquals(0.5, share, 0.045, "share of true next sentences");
    // Another epoch draws the pairs again.
    int same = 0;
    for (int i = 0; i < ds.size(); i++) {
      same += ds.example(i, 3, seed).nextSentenceLabel() == ds.example(i, 4, seed)
          .nextSentenceLabel() ? 1 : 0;
    }
    assertTrue(same < ds.size() * 0.6, "epochs 3 and 4 agree on " + same + " of " + ds.size());
  }

  private static int[] joined(int from, int to) {
    return shakespeare.subList(from, to).stream().flatMapToInt(Arrays::stream).toArray();
  }

  private static int[] prefix(int[] x, int n) {
    return Arrays.copyOf(x, Math.min(n, x.length));
  }

  @Test
  void contiguousExamplesAreClsBlockSep() {
    MlmDataset ds = MlmDataset.contiguous(shakespeare, 32, TOK);
    int[] stream = joined(0, shakespeare.size());
    assertEquals(stream.length / 30, ds.size());
    MlmDataset.Example e = ds.example(5, 0, 1);
    assertEquals(CLS, e.ids()[0]);
    assertEquals(SEP, e.ids()[31]);
    assertArrayEquals(Arrays.copyOfRange(stream, 150, 180), Arrays.copyOfRange(e.ids(), 1, 31));
    assertEquals(-1, e.nextSentenceLabel());
  }

  @Test
  void positionRestoresTheSameBatchesAndEpochsDiffer() {
    MlmDataset ds = MlmDataset.sentencePairs(shakespeare, 48, TOK);
    MlmMasking m = MlmMasking.forTokenizer(TOK, true);
    MlmBatches a = new MlmBatches(ds, m, 16, true, 99);
    MlmBatches.Batch x = a.newBatch();
    int total = a.batchesPerEpoch() + 5;
    for (int k = 0; k < total - 3; k++) {
      a.next(x);
    }
    long[] pos = a.position();
    assertEquals(1, pos[0]);
    MlmBatches b = new MlmBatches(ds, m, 16, true, 99);
    b.seek(pos[0], pos[1]);
    MlmBatches.Batch y = b.newBatch();
    for (int k = 0; k < 3; k++) {
      a.next(x);
      b.next(y);
      assertArrayEquals(x.ids, y.ids);
      assertArrayEquals(x.labels, y.labels);
      assertArrayEquals(x.typeIds, y.typeIds);
      assertArrayEquals(x.nextSentenceLabels, y.nextSentenceLabels);
    }
    // Epoch 0 and epoch 1 mask the same example differently.
    MlmBatches c = new MlmBatches(ds, m, 16, false, 99);
    MlmBatches.Batch e0 = c.newBatch();
    c.next(e0);
    c.seek(1, 0);
    MlmBatches.Batch e1 = c.newBatch();
    c.next(e1);
    assertNotEquals(Arrays.toString(e0.labels), Arrays.toString(e1.labels));
    // Fixed (validation) batches do not depend on the position.
    MlmBatches.Batch f0 = c.newBatch(), f1 = c.newBatch();
    c.fixed(f0, 2);
    c.next(e1);
    c.fixed(f1, 2);
    assertArrayEquals(f0.ids, f1.ids);
    assertArrayEquals(f0.labels, f1.labels);
  }

  @Test
  void everySequenceGetsALabelAndBadInputIsRefused() {
    MlmMasking m = MlmMasking.forTokenizer(TOK, true);
    int[] ids = {CLS, TOK.encode("unbelievably")[0], SEP};
    int[] labels = new int[3];
    assertEquals(1, m.apply(ids, labels, 0, 3, new SplittableRandom(1)));
    int[] onlySpecial = {CLS, SEP, PAD};
    assertEquals(0, m.apply(onlySpecial, labels, 0, 3, new SplittableRandom(1)));
    assertArrayEquals(new int[] {CLS, SEP, PAD}, onlySpecial);
    assertThrows(IllegalArgumentException.class,
        () -> m.apply(new int[] {CLS, 40_000}, new int[2], 0, 2, new SplittableRandom(1)));
    assertThrows(IllegalArgumentException.class, () -> MlmDataset.contiguous(shakespeare, 2, TOK));
    assertThrows(IllegalArgumentException.class,
        () -> MlmDataset.sentencePairs(shakespeare.subList(0, 2), 64, TOK));
    assertThrows(IllegalArgumentException.class,
        () -> new MlmBatches(MlmDataset.contiguous(shakespeare.subList(0, 3), 16, TOK),
            m, 1000, false, 1));
  }
}
