package dev.fuselm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GeneratorTest {
  static ComputeContext ctx;
  static GptModel model;
  static final GptConfig C = GptConfig.of(41, 24, 32, 2, 4);

  @BeforeAll
  static void open() {
    ctx = ComputeContext.create();
    model = GptModel.random(ctx, C, 17);
    // larger weights than the init so that the logits differ clearly between tokens
    float[] w = model.tokenEmbedding().toFloatArray();
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30;
    }
    model.tokenEmbedding().copyFrom(w);
  }

  @AfterAll
  static void close() {
    model.close();
    ctx.close();
  }

  static float[] fullLogitsAt(int[] seq, int pos) {
    int t = pos + 1;
    model.forward(Arrays.copyOf(seq, t), null, 1, t);
    float[] all = model.logits().toFloatArray();
    return Arrays.copyOfRange(all, pos * C.vocabSize(), (pos + 1) * C.vocabSize());
  }

  @Test
  void cachedLogitsEqualTheFullForwardPass() {
    Random r = new Random(1);
    int[] seq = new int[20];
    for (int i = 0; i < seq.length; i++) {
      seq[i] = r.nextInt(C.vocabSize());
    }
    try (Generator g = new Generator(model, 1)) {
      float[][] cached = g.cachedLogits(seq, 7);
      for (int k = 0; k < cached.length; k++) {
        float[] full = fullLogitsAt(seq, 6 + k);
        for (int i = 0; i < full.length; i++) {
          assertEquals(full[i], cached[k][i], 1e-4 + 1e-4 * Math.abs(full[i]),
              "position " + (6 + k) + " logit " + i);
        }
      }
    }
  }

  @Test
  void greedyWithCacheEqualsGreedyByRecomputation() {
    int[] prompt = {3, 1, 4, 1, 5};
    int n = 12;
    int[] seq = Arrays.copyOf(prompt, prompt.length + n);
    for (int p = prompt.length; p < seq.length; p++) {
      seq[p] = Sampler.argmax(fullLogitsAt(seq, p - 1), 0, C.vocabSize());
    }
    try (Generator g = new Generator(model, 1)) {
      Generator.Result r = g.generate(prompt, GenerationConfig.greedy(n), null);
      assertArrayEquals(Arrays.copyOfRange(seq, prompt.length, seq.length), r.ids());
      assertEquals(Generator.StopReason.BUDGET, r.reason());
    }
  }

  @Test
  void samplingIsSeededAndTopKOneIsGreedy() {
    int[] prompt = {7, 8, 9};
    try (Generator g = new Generator(model, 1)) {
      int[] a = g.generate(prompt, GenerationConfig.sampling(15, 50f, 0, 1f, 5), null).ids();
      int[] b = g.generate(prompt, GenerationConfig.sampling(15, 50f, 0, 1f, 5), null).ids();
      int[] c = g.generate(prompt, GenerationConfig.sampling(15, 50f, 0, 1f, 6), null).ids();
      assertArrayEquals(a, b);
      assertNotEquals(Arrays.toString(a), Arrays.toString(c));
      int[] greedy = g.generate(prompt, GenerationConfig.greedy(15), null).ids();
      assertArrayEquals(greedy, g.generate(prompt, GenerationConfig.sampling(15, 2f, 1, 1f, 1), null).ids());
      assertArrayEquals(greedy, g.generate(prompt, GenerationConfig.sampling(15, 1f, 0, 1e-6f, 1), null).ids());
    }
  }

  @Test
  void topKAndTopPRestrictTheCandidates() {
    float[] logits = {0f, 5f, 4.9f, -3f, 4.8f};
    Sampler k2 = new Sampler(GenerationConfig.sampling(1, 1f, 2, 1f, 1));
    Sampler p = new Sampler(GenerationConfig.sampling(1, 1f, 0, 0.5f, 1));
    for (int i = 0; i < 200; i++) {
      int a = k2.next(logits, 0, 5);
      assertTrue(a == 1 || a == 2, "top-k 2 picked " + a);
      int b = p.next(logits, 0, 5);
      assertTrue(b == 1 || b == 2, "top-p 0.5 picked " + b);
    }
  }

  @Test
  void stopTokenContextAndPromptLimits() {
    try (Generator g = new Generator(model, 1)) {
      int[] greedy = g.generate(new int[] {1, 2}, GenerationConfig.greedy(10), null).ids();
      Generator.Result stopped = g.generate(new int[] {1, 2},
          GenerationConfig.greedy(10).withStopToken(greedy[2]), null);
      assertEquals(Generator.StopReason.STOP_TOKEN, stopped.reason());
      assertEquals(greedy[2], stopped.ids()[stopped.ids().length - 1]);
      // a budget past the context window stops when the window is full
      Generator.Result full = g.generate(new int[20], GenerationConfig.greedy(100), null);
      assertEquals(Generator.StopReason.CONTEXT_FULL, full.reason());
      assertEquals(24 - 20 + 1, full.ids().length);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> g.generate(new int[30], GenerationConfig.greedy(1), null));
      assertTrue(e.getMessage().contains("30 tokens") && e.getMessage().contains("context window of 24"),
          e.getMessage());
      int[] truncated = g.generate(new int[30], GenerationConfig.greedy(1).withTruncation(true), null).ids();
      assertEquals(1, truncated.length);
      List<Integer> streamed = new ArrayList<>();
      g.generate(new int[] {4}, GenerationConfig.greedy(5), (row, id) -> streamed.add(id));
      assertEquals(5, streamed.size());
    }
  }

  @Test
  void batchedGenerationEqualsOneByOne() {
    List<int[]> prompts = List.of(new int[] {1, 2, 3}, new int[] {4, 5, 6}, new int[] {7, 8});
    GenerationConfig gc = GenerationConfig.sampling(8, 0.8f, 10, 0.9f, 3);
    try (Generator g = new Generator(model, 3); Generator one = new Generator(model, 1)) {
      List<Generator.Result> batched = g.generate(prompts.subList(0, 2), gc, null);
      for (int i = 0; i < 2; i++) {
        GenerationConfig gi = GenerationConfig.sampling(8, 0.8f, 10, 0.9f, 3 + i);
        assertArrayEquals(one.generate(prompts.get(i), gi, null).ids(), batched.get(i).ids());
      }
      assertEquals(3, g.generate(prompts, gc, null).size()); // mixed lengths run one by one
    }
  }

  @Test
  void aSecondThreadIsRefusedInsteadOfCorruptingTheFirst() throws Exception {
    try (Generator g = new Generator(model, 1)) {
      int[] want = g.generate(new int[] {3, 1, 4}, GenerationConfig.greedy(6), null).ids();
      java.util.concurrent.atomic.AtomicReference<Throwable> thrown =
          new java.util.concurrent.atomic.AtomicReference<>();
      Thread other = new Thread(() -> {
        try {
          g.generate(new int[] {3, 1, 4}, GenerationConfig.greedy(6), null);
        } catch (Throwable t) {
          thrown.set(t);
        }
      }, "second-user");
      other.start();
      other.join();
      IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown.get());
      assertTrue(e.getMessage().contains("Generator"), e.getMessage());
      assertTrue(e.getMessage().contains(Thread.currentThread().getName()), e.getMessage());
      assertTrue(e.getMessage().contains("second-user"), e.getMessage());
      // the owner is unaffected
      assertArrayEquals(want, g.generate(new int[] {3, 1, 4}, GenerationConfig.greedy(6), null)
          .ids());
    }
  }

  @Test
  void theFirstUserOwnsAGeneratorBuiltOnAnotherThread() throws Exception {
    try (Generator g = new Generator(model, 1)) {
      int[][] got = new int[1][];
      Thread worker = new Thread(() -> {
        ctx.claim(); // the model (this class's, run by the test thread before) is handed over
        got[0] = g.generate(new int[] {2, 7}, GenerationConfig.greedy(4), null).ids();
      });
      worker.start();
      worker.join();
      ctx.claim(); // and handed back
      assertEquals(4, got[0].length);
      assertThrows(IllegalStateException.class,
          () -> g.generate(new int[] {2, 7}, GenerationConfig.greedy(4), null));
    }
  }
}
