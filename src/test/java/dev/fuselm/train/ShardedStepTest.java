package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.data.InstructionCollator;
import dev.fuselm.data.NerEncoding;
import dev.fuselm.data.PreferenceData;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.SequenceClassificationHead;
import dev.fuselm.model.SequenceClassifier;
import dev.fuselm.model.TokenClassificationHead;
import dev.fuselm.model.TokenClassifier;
import dev.fuselm.tensor.ComputeContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Data parallelism without MPI: N ranks simulated in one JVM, each a copy of the model whose task
 * takes its {@link BatchShare} of the first batch. The sum of the ranks' gradients and loss terms
 * (what the engine's all-reduces compute) equals the one-process step's gradient and loss, for
 * shares with different numbers of targets (prompts masked, rows of different lengths), uneven
 * shares and worlds larger than the batch (empty shares), for instruction tuning, sequence and token
 * classification and DPO. Tolerance: float rounding of sums taken
 * in another order, 1e-6 relative on the loss, 2e-6 absolute on gradients of magnitude ~1e-2.
 */
class ShardedStepTest {
  static final GptConfig TINY = GptConfig.of(31, 16, 16, 2, 2); // no dropout
  static ComputeContext ctx;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create();
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  /** Prompt/response pairs of random lengths: with the prompt masked, rows hold 1..9 targets. */
  static List<InstructionCollator.Encoded> examples(int n, long seed) {
    Random rnd = new Random(seed);
    List<InstructionCollator.Encoded> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 3 + rnd.nextInt(12);
      int[] t = new int[len];
      for (int j = 0; j < len; j++) {
        t[j] = rnd.nextInt(30);
      }
      out.add(new InstructionCollator.Encoded(t, 1 + rnd.nextInt(len - 1), false));
    }
    return out;
  }

  record Step(float loss, float[] grads) {}

  static Step instructionStep(BatchShare share, List<InstructionCollator.Encoded> train) {
    InstructionTrainer.Config cfg = new InstructionTrainer.Config(1, 5, 1e-3f, 0f, 0f, 0, true, 0,
        0, 7);
    try (GptModel m = GptModel.random(ctx, TINY, 42);
        InstructionTrainer t = new InstructionTrainer(m, train, List.of(), 30, cfg, n -> {})) {
      if (share.sharded()) {
        t.shard(share);
      }
      t.beginStep(1);
      assertTrue(t.microStep(1, 0, 1f));
      double[] terms = t.lossTerms(1);
      return new Step((float) terms[0], t.grads().flat().toFloatArray());
    }
  }

  static Step classifierStep(BatchShare share, ClassifierTrainer.Examples train) {
    ClassifierTrainer.Config cfg = new ClassifierTrainer.Config(1, 5, 1e-3f, 0f, 0f, true, 7);
    try (SequenceClassifier<GptModel> clf = SequenceClassifier.gpt(GptModel.random(ctx, TINY, 42),
        List.of("a", "b", "c"), 0, 3);
        ClassifierTrainer t = new ClassifierTrainer(clf, train, null, cfg, n -> {})) {
      if (share.sharded()) {
        t.shard(share);
      }
      t.beginStep(1);
      assertTrue(t.microStep(1, 0, 1f));
      return new Step((float) t.lossTerms(1)[0], t.grads().flat().toFloatArray());
    }
  }

  static void assertRanksSumToOne(Step one, List<Step> ranks, String what) {
    double loss = 0;
    float[] g = new float[one.grads().length];
    for (Step r : ranks) {
      loss += r.loss();
      for (int i = 0; i < g.length; i++) {
        g[i] += r.grads()[i];
      }
    }
    assertEquals(one.loss(), loss, 1e-6 * Math.abs(one.loss()), what + ": loss");
    double worst = 0, scale = 0;
    for (int i = 0; i < g.length; i++) {
      worst = Math.max(worst, Math.abs(g[i] - one.grads()[i]));
      scale = Math.max(scale, Math.abs(one.grads()[i]));
    }
    assertTrue(scale > 1e-4, what + ": the gradient is not trivially zero");
    assertTrue(worst <= 2e-6, what + ": gradients differ by " + worst + " (largest " + scale + ")");
  }

  @Test
  void instructionSharesWithDifferentTargetCountsSumToTheOneProcessStep() {
    List<InstructionCollator.Encoded> train = examples(12, 3);
    Step one = instructionStep(BatchShare.single(), train);
    for (int size : new int[] {2, 3, 7}) { // 5 rows: 3+2, 2+2+1, five of 1 and two empty
      List<Step> ranks = new ArrayList<>();
      for (int r = 0; r < size; r++) {
        ranks.add(instructionStep(new BatchShare(r, size), train));
      }
      assertRanksSumToOne(one, ranks, size + " ranks");
    }
  }

  @Test
  void classifierSharesSumToTheOneProcessStep() {
    Random rnd = new Random(5);
    List<int[]> seqs = new ArrayList<>();
    int[] labels = new int[9];
    for (int i = 0; i < 9; i++) {
      int[] s = new int[2 + rnd.nextInt(10)];
      for (int j = 0; j < s.length; j++) {
        s[j] = 1 + rnd.nextInt(29);
      }
      seqs.add(s);
      labels[i] = rnd.nextInt(3);
    }
    ClassifierTrainer.Examples train = ClassifierTrainer.Examples.ofTokens(seqs, labels);
    Step one = classifierStep(BatchShare.single(), train);
    for (int size : new int[] {2, 6}) { // 5 rows: 3+2; 1+1+1+1+1+0
      List<Step> ranks = new ArrayList<>();
      for (int r = 0; r < size; r++) {
        ranks.add(classifierStep(new BatchShare(r, size), train));
      }
      assertRanksSumToOne(one, ranks, size + " ranks");
    }
  }

  static Step tokenClassifierStep(BatchShare share, TokenClassifierTrainer.Examples train,
      float dropout) {
    TokenClassifierTrainer.Config cfg = new TokenClassifierTrainer.Config(1, 5, 1e-3f, 0f, 0f,
        true, 7, 0, false);
    // the head's dropout mask is drawn by global row: the shares drop what one process drops
    TokenClassificationHead head = new TokenClassificationHead(
        SequenceClassificationHead.initialWeight(3, TINY.dModel(), 3), new float[3], 3,
        TINY.dModel(), dropout);
    try (TokenClassifier<GptModel> clf = new TokenClassifier<>(GptModel.random(ctx, TINY, 42),
        head, List.of("O", "B-X", "I-X"), 0);
        TokenClassifierTrainer t = new TokenClassifierTrainer(clf, train, null, cfg, 16,
            n -> {})) {
      if (share.sharded()) {
        t.shard(share);
      }
      t.beginStep(1);
      assertTrue(t.microStep(1, 0, 1f));
      return new Step((float) t.lossTerms(1)[0], t.grads().flat().toFloatArray());
    }
  }

  @Test
  void tokenClassifierSharesWithDifferentLabelCountsSumToTheOneProcessStep() {
    tokenClassifierShares(0f);
  }

  /**
   * With the head's dropout (GPT-2 token classifiers' fixed 0.1) the ranks' masks are the rows of
   * the one-process mask (shares padded to fewer positions than the global batch included), so
   * the sums still equal the one-process step; the mask is not trivial (the loss moves).
   */
  @Test
  void tokenClassifierSharesWithHeadDropoutSumToTheOneProcessStep() {
    Step with = tokenClassifierShares(TokenClassifier.GPT_DROPOUT);
    Step without = tokenClassifierStep(BatchShare.single(), tokenExamples(), 0f);
    assertTrue(Math.abs(with.loss() - without.loss()) > 1e-6, "dropout changed the loss");
  }

  static TokenClassifierTrainer.Examples tokenExamples() {
    Random rnd = new Random(9);
    List<NerEncoding.Encoded> sentences = new ArrayList<>();
    List<int[]> words = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      int n = 2 + rnd.nextInt(10);
      int[] ids = new int[n];
      int[] labels = new int[n];
      for (int j = 0; j < n; j++) {
        ids[j] = 1 + rnd.nextInt(29);
        // sub-tokens after a word's first are ignored: shares hold different label counts
        labels[j] = rnd.nextInt(3) == 0 ? TokenClassificationHead.IGNORE : rnd.nextInt(3);
      }
      sentences.add(new NerEncoding.Encoded(ids, labels, new int[0]));
      words.add(new int[0]);
    }
    return new TokenClassifierTrainer.Examples(sentences, words, false);
  }

  static Step tokenClassifierShares(float dropout) {
    TokenClassifierTrainer.Examples train = tokenExamples();
    Step one = tokenClassifierStep(BatchShare.single(), train, dropout);
    for (int size : new int[] {2, 3, 6}) { // 5 rows: 3+2, 2+2+1, 1+1+1+1+1+0
      List<Step> ranks = new ArrayList<>();
      for (int r = 0; r < size; r++) {
        ranks.add(tokenClassifierStep(new BatchShare(r, size), train, dropout));
      }
      assertRanksSumToOne(one, ranks, size + " ranks, dropout " + dropout);
    }
    return one;
  }

  /** The DPO step: its loss sum over the pairs (the first loss term), gradients, and pairs. */
  static Step dpoStep(BatchShare share, List<PreferenceData.Encoded> train,
      DpoTrainer.Reference ref, double[] pairs) {
    DpoTrainer.Config cfg = new DpoTrainer.Config(1, 5, 1e-3f, 0f, 0f, 0, 0, 0, 7, false, 0.5,
        DpoLoss.Reduction.MEAN);
    try (GptModel m = GptModel.random(ctx, DPO_TINY, 42);
        DpoTrainer t = new DpoTrainer(m, train, ref, List.of(), new DpoTrainer.Reference(
            new double[0], new double[0]), DpoTrainerTest.EOT, cfg, n -> {})) {
      if (share.sharded()) {
        t.shard(share);
      }
      t.beginStep(1);
      assertTrue(t.microStep(1, 0, 1f));
      double[] terms = t.lossTerms(1);
      pairs[0] += terms[4];
      return new Step((float) terms[0], t.grads().flat().toFloatArray());
    }
  }

  static final GptConfig DPO_TINY = GptConfig.of(DpoTrainerTest.V, 16, 16, 2, 2);

  @Test
  void dpoSharesSumToTheOneProcessStep() {
    List<PreferenceData.Encoded> train = DpoTrainerTest.pairs(9, 4);
    DpoTrainer.Reference ref;
    try (GptModel reference = GptModel.random(ctx, DPO_TINY, 43)) {
      ref = DpoTrainer.referenceLogProbs(reference, train, 4, DpoTrainerTest.EOT, 0,
          DpoLoss.Reduction.MEAN);
    }
    double[] pairs = new double[1];
    Step one = dpoStep(BatchShare.single(), train, ref, pairs);
    assertEquals(5, pairs[0]);
    for (int size : new int[] {2, 3, 6}) { // 5 pairs: 3+2, 2+2+1, 1+1+1+1+1+0
      List<Step> ranks = new ArrayList<>();
      pairs[0] = 0;
      for (int r = 0; r < size; r++) {
        ranks.add(dpoStep(new BatchShare(r, size), train, ref, pairs));
      }
      assertEquals(5, pairs[0], size + " ranks: the pairs of the global batch");
      assertRanksSumToOne(one, ranks, size + " ranks");
    }
  }
}
