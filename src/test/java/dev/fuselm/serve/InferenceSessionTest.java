package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.generate.Generator.StopReason;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.KvCache;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.NativeBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

class InferenceSessionTest {
  // V = 97 and C = 48 are not multiples of the vector widths; T = 48 lets requests hit the end
  static final GptConfig CFG = GptConfig.of(97, 48, 48, 2, 4);
  static final int THREADS = 8;
  static final int PER_THREAD = 200;

  static GptModel model(ComputeContext ctx) {
    GptModel m = GptModel.random(ctx, CFG, 23);
    // larger embeddings than the init so that greedy choices are clear-cut and varied
    float[] w = m.tokenEmbedding().toFloatArray();
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30;
    }
    m.tokenEmbedding().copyFrom(w);
    return m;
  }

  record Spec(int[] prompt, GenerationConfig gc) {}

  /** Mixed prompts: lengths 1..40 and a few over the context (truncated), budgets 0..20, stops. */
  static Spec randomSpec(Random r) {
    int len = r.nextInt(10) == 0 ? CFG.contextLength() + 1 + r.nextInt(10) : 1 + r.nextInt(40);
    int[] p = new int[len];
    for (int i = 0; i < len; i++) {
      p[i] = r.nextInt(CFG.vocabSize());
    }
    int budget = r.nextInt(21);
    GenerationConfig gc = r.nextInt(5) == 0
        ? GenerationConfig.sampling(budget, 0.9f, r.nextInt(3) * 10, 0.95f, r.nextLong())
        : GenerationConfig.greedy(budget);
    if (r.nextBoolean()) {
      gc = gc.withStopToken(r.nextInt(CFG.vocabSize()));
    }
    return new Spec(p, gc.withTruncation(len > CFG.contextLength()));
  }

  @Test
  void bf16SessionGivesExactlyTheOneAtATimeBf16GeneratorOutputs() throws Exception {
    int threads = 4;
    int perThread = 30;
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx)) {
      Random r = new Random(9);
      Spec[][] specs = new Spec[threads][perThread];
      Result[][] expected = new Result[threads][perThread];
      long fp32MatrixBytes;
      try (Generator g = new Generator(m, 1, DType.BFLOAT16); Generator f = new Generator(m, 1)) {
        fp32MatrixBytes = f.matmulWeightBytesPerToken();
        for (int t = 0; t < threads; t++) {
          for (int i = 0; i < perThread; i++) {
            Spec sp = randomSpec(r);
            specs[t][i] = new Spec(sp.prompt(), GenerationConfig.greedy(sp.gc().maxNewTokens())
                .withStopToken(sp.gc().stopToken()).withTruncation(sp.gc().truncatePrompt()));
            expected[t][i] = g.generate(specs[t][i].prompt(), specs[t][i].gc(), null);
          }
        }
      }
      long baseline = NativeBuffer.liveBytes();
      // 6 slots with 4 clients of bursts: steps of varying row counts
      InferenceSession.Options opts = InferenceSession.Options.defaults().withSlots(6)
          .withMaxQueued(threads * perThread).withWeights(DType.BFLOAT16);
      try (InferenceSession s = InferenceSession.of(m, null, opts)) {
        // the session multiplies with its own bf16 copies: half the bytes of the fp32 matrices
        assertEquals(fp32MatrixBytes / 2, s.weightCopyBytes());
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          int thread = t;
          done.add(pool.submit(() -> {
            Random tr = new Random(thread);
            int i = 0;
            while (i < perThread) {
              int burst = Math.min(perThread - i, 1 + tr.nextInt(4));
              List<CompletableFuture<Result>> futures = new ArrayList<>();
              for (int k = 0; k < burst; k++) {
                Spec sp = specs[thread][i + k];
                futures.add(s.submit(sp.prompt(), sp.gc(), null));
              }
              for (int k = 0; k < burst; k++) {
                Result got = futures.get(k).get();
                Result want = expected[thread][i + k];
                String where = "thread " + thread + " request " + (i + k);
                assertArrayEquals(want.ids(), got.ids(), where);
                assertEquals(want.reason(), got.reason(), where);
              }
              i += burst;
            }
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get(5, TimeUnit.MINUTES);
        }
        pool.shutdown();
      }
      assertEquals(baseline, NativeBuffer.liveBytes());
    }
  }

  @Test
  void optionsRejectWeightTypesOtherThanFloat32AndBf16() {
    assertThrows(IllegalArgumentException.class,
        () -> InferenceSession.Options.defaults().withWeights(DType.INT32));
    assertEquals(DType.FLOAT32, InferenceSession.Options.defaults().weights());
  }

  @Test
  void concurrentRequestsGiveExactlyTheOneAtATimeOutputsAndMemoryReturnsToBaseline()
      throws Exception {
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx)) {
      Random r = new Random(5);
      Spec[][] specs = new Spec[THREADS][PER_THREAD];
      Result[][] expected = new Result[THREADS][PER_THREAD];
      Map<StopReason, Integer> reasons = new EnumMap<>(StopReason.class);
      try (Generator g = new Generator(m, 1)) {
        for (int t = 0; t < THREADS; t++) {
          for (int i = 0; i < PER_THREAD; i++) {
            specs[t][i] = randomSpec(r);
            expected[t][i] = g.generate(specs[t][i].prompt(), specs[t][i].gc(), null);
            reasons.merge(expected[t][i].reason(), 1, Integer::sum);
          }
        }
      }
      // the mix covers every way a request can end
      assertTrue(reasons.keySet().containsAll(
          List.of(StopReason.BUDGET, StopReason.STOP_TOKEN, StopReason.CONTEXT_FULL)), "" + reasons);

      long baseline = NativeBuffer.liveBytes();
      AtomicInteger badRejected = new AtomicInteger();
      AtomicInteger listenerFailures = new AtomicInteger();
      // 12 slots: decode steps of 8 + 4 rows, so the split into small-M steps is exercised too
      InferenceSession.Options opts = InferenceSession.Options.defaults().withSlots(12)
          .withMaxQueued(THREADS * PER_THREAD);
      try (InferenceSession s = InferenceSession.of(m, null, opts)) {
        assertTrue(NativeBuffer.liveBytes() > baseline);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
          int thread = t;
          done.add(pool.submit(() -> {
            Random tr = new Random(thread);
            int i = 0;
            while (i < PER_THREAD) {
              // a burst of 1..8 requests in flight from this thread, then wait for them
              int burst = Math.min(PER_THREAD - i, 1 + tr.nextInt(8));
              List<CompletableFuture<Result>> futures = new ArrayList<>();
              for (int k = 0; k < burst; k++) {
                Spec sp = specs[thread][i + k];
                futures.add(s.submit(sp.prompt(), sp.gc(), null));
                if (tr.nextInt(10) == 0) { // bad input between good requests: fails alone
                  int[] bad = {0, CFG.vocabSize() + tr.nextInt(5)};
                  assertThrows(IllegalArgumentException.class,
                      () -> s.submit(bad, GenerationConfig.greedy(5), null));
                  assertThrows(IllegalArgumentException.class,
                      () -> s.submit(new int[0], GenerationConfig.greedy(5), null));
                  badRejected.incrementAndGet();
                }
                if (tr.nextInt(20) == 0) { // a listener that throws fails its own request only
                  CompletableFuture<Result> f = s.submit(Arrays.copyOf(sp.prompt(), 5),
                      GenerationConfig.greedy(10), id -> {
                        throw new IllegalStateException("listener failure");
                      });
                  ExecutionException e = assertThrows(ExecutionException.class, f::get);
                  assertInstanceOf(IllegalStateException.class, e.getCause());
                  listenerFailures.incrementAndGet();
                }
              }
              for (int k = 0; k < burst; k++) {
                Result got = futures.get(k).get();
                Result want = expected[thread][i + k];
                String where = "thread " + thread + " request " + (i + k);
                assertArrayEquals(want.ids(), got.ids(), where);
                assertEquals(want.reason(), got.reason(), where);
              }
              i += burst;
            }
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get(5, TimeUnit.MINUTES);
        }
        pool.shutdown();
        InferenceSession.Stats st = s.stats();
        assertEquals(THREADS * PER_THREAD, st.completed());
        assertEquals(listenerFailures.get(), st.failed());
        for (int i = 0; i < 1000 && st.active() > 0; i++) { // the scheduler frees slots just after
          Thread.sleep(10);
          st = s.stats();
        }
        assertEquals(0, st.active());
        assertTrue(badRejected.get() > 0 && listenerFailures.get() > 0);
      }
      assertEquals(baseline, NativeBuffer.liveBytes(), "native bytes after close");
    }
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32", "BFLOAT16"})
  void aBatchedDecodeRowHasTheBitsOfTheSameRowDecodedAlone(DType weights) {
    // on the model's own init (near-uniform logits), where any change in the last bits shows
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = GptModel.random(ctx, CFG, 29);
        KvCache d = KvCache.create(m, KvCache.MAX_DECODE_ROWS, CFG.contextLength(), weights)) {
      Random r = new Random(7);
      int n = KvCache.MAX_DECODE_ROWS;
      int[] slots = new int[n];
      int[] positions = new int[n];
      int[] tokens = new int[n];
      for (int i = 0; i < n; i++) {
        int[] p = new int[1 + r.nextInt(30)];
        for (int k = 0; k < p.length; k++) {
          p[k] = r.nextInt(CFG.vocabSize());
        }
        m.forwardCached(d, new int[] {i}, new int[] {0}, p);
        slots[i] = i;
        positions[i] = p.length;
        tokens[i] = r.nextInt(CFG.vocabSize());
      }
      int v = CFG.vocabSize();
      for (int rows = 1; rows <= n; rows++) {
        float[] batched = m.forwardCached(d, Arrays.copyOf(slots, rows),
            Arrays.copyOf(positions, rows), Arrays.copyOf(tokens, rows)).toFloatArray();
        for (int i = 0; i < rows; i++) {
          // the same position again: the cache row is rewritten with the same values
          float[] alone = m.forwardCached(d, new int[] {slots[i]}, new int[] {positions[i]},
              new int[] {tokens[i]}).toFloatArray();
          assertArrayEquals(alone, Arrays.copyOfRange(batched, i * v, (i + 1) * v),
              "row " + i + " of " + rows);
        }
      }
    }
  }

  @Test
  void openLoadsADirectoryAndCloseFreesEverything(@TempDir Path dir) throws Exception {
    int[] prompt = {3, 1, 4, 1, 5};
    Result want;
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx);
        Generator g = new Generator(m, 1)) {
      Checkpoint.save(ModelFamily.GPT2, m, dir);
      want = g.generate(prompt, GenerationConfig.greedy(12), null);
    }
    long before = NativeBuffer.liveBytes();
    try (InferenceSession s = InferenceSession.open(dir, InferenceSession.Options.defaults())) {
      assertTrue(s.tokenizer().isEmpty(), "no tokenizer files and not GPT-2's vocabulary");
      List<Integer> streamed = new ArrayList<>();
      Result got = s.submit(prompt, GenerationConfig.greedy(12), id -> streamed.add(id)).get();
      assertArrayEquals(want.ids(), got.ids());
      assertEquals(got.ids().length, streamed.size());
      assertThrows(IllegalArgumentException.class, () -> s.generate(new int[CFG.contextLength()
          + 1], GenerationConfig.greedy(1)), "too long without truncation");
    }
    assertEquals(before, NativeBuffer.liveBytes());
  }

  @Test
  void cancelledRequestLeavesTheBatchAndCloseFinishesAcceptedWork() throws Exception {
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = model(ctx)) {
      InferenceSession s = InferenceSession.of(m, null, InferenceSession.Options.defaults());
      CountDownLatch first = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      // the long request's listener holds the scheduler until the test has cancelled it
      CompletableFuture<Result> longOne = s.submit(new int[] {1},
          GenerationConfig.greedy(40), id -> {
            first.countDown();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return true;
          });
      first.await();
      longOne.cancel(false);
      release.countDown();
      assertThrows(CancellationException.class, longOne::get);
      List<CompletableFuture<Result>> accepted = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        accepted.add(s.submit(new int[] {i + 1, 2}, GenerationConfig.greedy(8), null));
      }
      s.close(); // returns after every accepted request has finished
      for (CompletableFuture<Result> f : accepted) {
        assertTrue(f.isDone() && !f.isCompletedExceptionally());
        assertEquals(8, f.get().ids().length);
      }
      assertEquals(1, s.stats().cancelled());
      assertThrows(RejectedExecutionException.class,
          () -> s.submit(new int[] {1}, GenerationConfig.greedy(1), null));
      s.close(); // idempotent
    }
  }
}
