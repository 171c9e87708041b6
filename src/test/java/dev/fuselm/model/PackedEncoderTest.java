package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tokenizer.WordPieceTokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * BertModel.forwardPacked (sequences back to back, no padding) against the padded forward with a
 * key mask: bitwise on the CPU backend at AVX2 (the replay's level) and at the best ISA, with 1 and 2
 * threads; within 1e-5 on the reference backend; and SentenceEmbedder's packed and padded paths give
 * the same bits.
 */
class PackedEncoderTest {
  // MiniLM's head size (32) and a block-edge mix of lengths: 1, inside one 64-key block, 64, 65, two
  // blocks and more
  static final BertConfig CONFIG = new BertConfig(500, 64, 2, 2, 128, 160, 2, 1e-12f, 0.1f, 0.1f);
  static final int[] LENGTHS = {9, 1, 17, 64, 65, 130, 3, 24};

  static int[][] sequences(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    int[][] seqs = new int[LENGTHS.length][];
    for (int s = 0; s < seqs.length; s++) {
      seqs[s] = r.ints(LENGTHS[s], 0, CONFIG.vocabSize()).toArray();
    }
    return seqs;
  }

  /** The padded forward (T = longest rounded up to 8, pad id 0, masked), real rows back to back. */
  static float[] padded(BertModel m, int[][] seqs) {
    int longest = Arrays.stream(seqs).mapToInt(x -> x.length).max().orElse(1);
    int b = seqs.length, t = (longest + 7) / 8 * 8, c = CONFIG.hiddenSize();
    int[] ids = new int[b * t];
    int[] mask = new int[b * t];
    for (int s = 0; s < b; s++) {
      System.arraycopy(seqs[s], 0, ids, s * t, seqs[s].length);
      Arrays.fill(mask, s * t, s * t + seqs[s].length, 1);
    }
    float[] h = m.forwardHidden(new TokenBatch(ids, null, mask, b, t)).toFloatArray();
    int n = Arrays.stream(seqs).mapToInt(x -> x.length).sum();
    float[] out = new float[n * c];
    int row = 0;
    for (int s = 0; s < b; s++) {
      System.arraycopy(h, s * t * c, out, row * c, seqs[s].length * c);
      row += seqs[s].length;
    }
    return out;
  }

  static float[] packed(BertModel m, int[][] seqs) {
    int[] cu = new int[seqs.length + 1];
    float[] h = m.forwardPacked(seqs, cu).toFloatArray();
    int row = 0;
    for (int s = 0; s < seqs.length; s++) {
      assertEquals(row, cu[s]);
      row += seqs[s].length;
    }
    assertEquals(row, cu[seqs.length]);
    return h;
  }

  @Test
  void packedRowsAreBitwiseThePaddedRowsOnTheCpu() {
    int[][] seqs = sequences(3);
    for (int isa : new int[] {FuselmNative.FL_ISA_AVX2, ComputeContext.bestIsa()}) {
      if (isa > ComputeContext.bestIsa()) {
        continue;
      }
      for (int threads : new int[] {1, 2}) {
        try (ComputeContext ctx = ComputeContext.create().isa(isa).threads(threads);
            BertModel m = BertModelTest.model(ctx, CONFIG, 5)) {
          float[] want = padded(m, seqs);
          float[] got = packed(m, seqs);
          assertArrayEquals(want, got, "isa " + isa + ", " + threads + " threads");
          // a second packed batch of another size reuses the arena and still agrees
          int[][] two = {seqs[2], seqs[0]};
          assertArrayEquals(padded(m, two), packed(m, two));
        }
      }
    }
  }

  @Test
  void packedMatchesPaddedOnTheReferenceBackend() {
    int[][] seqs = sequences(4);
    try (ComputeContext ctx = ComputeContext.create(Backend.REFERENCE);
        BertModel m = BertModelTest.model(ctx, CONFIG, 6)) {
      float[] want = padded(m, seqs);
      float[] got = packed(m, seqs);
      for (int i = 0; i < want.length; i++) {
        assertEquals(want[i], got[i], 1e-5f * Math.max(1f, Math.abs(want[i])), "element " + i);
      }
    }
  }

  @Test
  void bf16EmbeddingsRefuseThePaddedPathInsteadOfRunningFloat32() {
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    try (ComputeContext ctx = ComputeContext.create().threads(2);
        BertModel m = BertModelTest.model(ctx,
            new BertConfig(30522, 32, 2, 2, 64, 64, 2, 1e-12f, 0.1f, 0.1f), 7)) {
      SentenceEmbedder e = new SentenceEmbedder(m, tok, 64, 3).precision(Precision.BF16);
      e.embed(List.of("packed is fine"), true);
      System.setProperty(SentenceEmbedder.PADDED_PROPERTY, "true");
      try {
        IllegalStateException x = assertThrows(IllegalStateException.class,
            () -> e.embed(List.of("padded is not"), true));
        assertTrue(x.getMessage().contains("packed path only"), x.getMessage());
      } finally {
        System.clearProperty(SentenceEmbedder.PADDED_PROPERTY);
      }
    }
  }

  @Test
  void sentenceEmbedderPackedAndPaddedPathsAgreeBitwise() {
    WordPieceTokenizer tok = WordPieceTokenizer.bertBaseUncased();
    List<String> texts = List.of("A short one.", "", "hello world",
        "The quick brown fox jumps over the lazy dog, twice, and then sleeps.",
        "Embeddings of sentences of different lengths share a batch.");
    try (ComputeContext ctx = ComputeContext.create().threads(2);
        BertModel m = BertModelTest.model(ctx,
            new BertConfig(30522, 32, 2, 2, 64, 64, 2, 1e-12f, 0.1f, 0.1f), 7)) {
      SentenceEmbedder e = new SentenceEmbedder(m, tok, 64, 3);
      float[][] packedOut = e.embed(texts, true);
      float[][] paddedOut;
      System.setProperty(SentenceEmbedder.PADDED_PROPERTY, "true");
      try {
        paddedOut = e.embed(texts, true);
      } finally {
        System.clearProperty(SentenceEmbedder.PADDED_PROPERTY);
      }
      for (int i = 0; i < texts.size(); i++) {
        assertArrayEquals(paddedOut[i], packedOut[i], "text " + i);
      }
      assertTrue(Math.abs(packedOut[0][0] - packedOut[2][0]) > 1e-4);
    }
  }

  @Test
  void refusesTrainingModeAndOverlongSequences() {
    try (ComputeContext ctx = ComputeContext.create();
        BertModel m = BertModelTest.model(ctx, CONFIG, 8)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> m.forwardPacked(new int[][] {new int[161]}, new int[2]));
      assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
      assertThrows(IllegalArgumentException.class,
          () -> m.forwardPacked(new int[][] {new int[0]}, new int[2]));
      m.setTraining(true);
      assertThrows(IllegalStateException.class,
          () -> m.forwardPacked(new int[][] {{1, 2}}, new int[2]));
    }
  }
}
