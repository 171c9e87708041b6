package dev.fuselm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.KvCache;
import dev.fuselm.serve.InferenceSession.DetailedTokenListener;
import dev.fuselm.serve.InferenceSession.Options;
import dev.fuselm.serve.InferenceSession.PrefillStats;
import dev.fuselm.serve.InferenceSession.TokenLogprobs;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Shared prefill for n choices, prompts of one round prefilled together, and the exact prefix
 * cache: every output (ids and log-probabilities) must have exactly the bits of the plain path, a
 * session of one slot without a prefix cache serving one request at a time.
 */
class PrefillSharingTest {
  // C = 128: at C = 48 the GEMM's small-M and packed paths happen to give the same bits, which
  // would hide a broken exactness rule (KvCachePrefixTest)
  static final GptConfig CFG = GptConfig.of(97, 48, 128, 2, 4);

  static GptModel model(ComputeContext ctx) {
    GptModel m = GptModel.random(ctx, CFG, 23);
    float[] w = m.tokenEmbedding().toFloatArray(); // clear-cut, varied greedy choices
    for (int i = 0; i < w.length; i++) {
      w[i] *= 30;
    }
    m.tokenEmbedding().copyFrom(w);
    return m;
  }

  /** One request's outputs: ids, and per token the logprob and the top-5 logprobs. */
  record Out(int[] ids, float[] logprobs, float[] top) {
    static Out of(Result r, List<TokenLogprobs> lps) {
      float[] lp = new float[lps.size()];
      float[] top = new float[lps.size() * 5];
      for (int i = 0; i < lps.size(); i++) {
        lp[i] = lps.get(i).logprob();
        System.arraycopy(lps.get(i).topLogprobs(), 0, top, i * 5, 5);
      }
      return new Out(r.ids(), lp, top);
    }

    void assertSame(Out o, String what) {
      assertArrayEquals(ids, o.ids, what + ": ids");
      assertArrayEquals(logprobs, o.logprobs, what + ": logprobs (bit for bit)");
      assertArrayEquals(top, o.top, what + ": top logprobs (bit for bit)");
    }
  }

  /** A request being collected: its future and its logprobs. */
  static final class Pending {
    final List<TokenLogprobs> lps = Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<Result> future;

    DetailedTokenListener listener() {
      return (id, lp) -> lps.add(lp);
    }

    Out get() throws Exception {
      return Out.of(future.get(60, TimeUnit.SECONDS), lps);
    }
  }

  static int[] prompt(Random r, int len) {
    int[] p = new int[len];
    for (int i = 0; i < len; i++) {
      p[i] = r.nextInt(CFG.vocabSize());
    }
    return p;
  }

  static GenerationConfig config(int j, int budget) {
    return j % 2 == 0 ? GenerationConfig.greedy(budget)
        : GenerationConfig.sampling(budget, 0.9f, 0, 0.95f, 1000 + j);
  }

  /** The plain path: one slot, no prefix cache, one request at a time. */
  static Out plain(InferenceSession ref, int[] prompt, GenerationConfig gc) throws Exception {
    Pending p = new Pending();
    p.future = ref.submit(prompt, gc, 5, p.listener());
    return p.get();
  }

  static InferenceSession reference(GptModel m, DType w) {
    return InferenceSession.of(m, null, new Options(1, 64, 2, w, 0));
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32", "BFLOAT16"})
  void nChoicesShareOnePrefillWithTheBitsOfSeparatePrefills(DType w) throws Exception {
    Random r = new Random(1);
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx)) {
      for (int len : new int[] {5, 30}) { // the GEMM's small-M and packed paths
        int[] prompt = prompt(r, len);
        List<GenerationConfig> gcs = new ArrayList<>();
        for (int j = 0; j < 8; j++) {
          gcs.add(config(j, 12));
        }
        List<Out> want = new ArrayList<>();
        try (InferenceSession ref = reference(m, w)) {
          for (GenerationConfig gc : gcs) {
            want.add(plain(ref, prompt, gc));
          }
        }
        try (InferenceSession s = InferenceSession.of(m, null, Options.defaults().withWeights(w)
            .withThreads(2))) {
          List<Pending> ps = new ArrayList<>();
          List<DetailedTokenListener> ls = new ArrayList<>();
          for (int j = 0; j < 8; j++) {
            ps.add(new Pending());
            ls.add(ps.get(j).listener());
          }
          List<CompletableFuture<Result>> fs = s.submitAll(prompt, gcs, 5, ls);
          for (int j = 0; j < 8; j++) {
            ps.get(j).future = fs.get(j);
            want.get(j).assertSame(ps.get(j).get(), "len " + len + " choice " + j);
          }
          PrefillStats st = s.prefillStats();
          assertEquals(7, st.sharedPrefills(), "7 of 8 choices copy the one prefill");
          assertEquals(1, st.passes());
          assertEquals(len, st.computedTokens());
        }
      }
    }
  }

  /** Holds the scheduler thread in a listener so that the next requests queue up into one round. */
  static CountDownLatch gate(InferenceSession s) throws InterruptedException {
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    s.submit(new int[] {1, 2, 3}, GenerationConfig.greedy(1), 0, (id, lp) -> {
      entered.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return true;
    });
    assertTrue(entered.await(60, TimeUnit.SECONDS));
    return release;
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32", "BFLOAT16"})
  void promptsOfOneRoundArePrefilledTogetherWithTheirOwnBits(DType w) throws Exception {
    Random r = new Random(2);
    // two short prompts (one small-M pass of 8 rows), one short that needs its own pass, and
    // packed prompts of 9.. rows: passes of up to 48 rows
    int[] lens = {3, 5, 7, 9, 12, 20, 40, 1};
    List<int[]> prompts = new ArrayList<>();
    for (int len : lens) {
      prompts.add(prompt(r, len));
    }
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx)) {
      List<Out> want = new ArrayList<>();
      try (InferenceSession ref = reference(m, w)) {
        for (int i = 0; i < lens.length; i++) {
          want.add(plain(ref, prompts.get(i), config(i, 10)));
        }
      }
      try (InferenceSession s = InferenceSession.of(m, null, new Options(9, 64, 2, w, 0))) {
        CountDownLatch release = gate(s);
        List<Pending> ps = new ArrayList<>();
        for (int i = 0; i < lens.length; i++) {
          Pending p = new Pending();
          p.future = s.submit(prompts.get(i), config(i, 10), 5, p.listener());
          ps.add(p);
        }
        long passesBefore = s.prefillStats().passes();
        release.countDown();
        for (int i = 0; i < lens.length; i++) {
          want.get(i).assertSame(ps.get(i).get(), "prompt of " + lens[i]);
        }
        // packed rows 9+12+20 | 40, short 3+5 | 7+1: four passes for eight prompts
        assertEquals(4, s.prefillStats().passes() - passesBefore);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"FLOAT32", "BFLOAT16"})
  void aRepeatedPrefixReusesItsEntriesWithTheBitsOfTheUncachedPath(DType w) throws Exception {
    Random r = new Random(3);
    int[] a = prompt(r, 40);
    int[] b = Arrays.copyOf(a, 36); // shares 30 tokens with a
    System.arraycopy(prompt(r, 6), 0, b, 30, 6);
    int[] c = Arrays.copyOf(a, 12); // shares 12 (reuses 12 - 9 = 3)
    int[] shortOne = Arrays.copyOf(a, 8); // small-M alone: never reuses
    List<int[]> order = List.of(a, b, a, c, shortOne, b);
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx)) {
      List<Out> want = new ArrayList<>();
      try (InferenceSession ref = reference(m, w)) {
        for (int i = 0; i < order.size(); i++) {
          want.add(plain(ref, order.get(i), config(i, 8)));
        }
      }
      try (InferenceSession s = InferenceSession.of(m, null, new Options(1, 64, 2, w, 2))) {
        for (int i = 0; i < order.size(); i++) {
          Pending p = new Pending();
          p.future = s.submit(order.get(i), config(i, 8), 5, p.listener());
          want.get(i).assertSame(p.get(), "request " + i);
        }
        PrefillStats st = s.prefillStats();
        // b: 27 of a's 30 (36 - 9), a: 31 (40 - 9), c: 3 (12 - 9), b again: 27 of a's 30
        assertEquals(4, st.prefixHits());
        assertEquals(27 + 31 + 3 + 27, st.prefixTokensReused());
        assertEquals(40 + 9 + 9 + 9 + 8 + 9, st.computedTokens());
      }
    }
  }

  @Test
  void theCacheEvictsTheLeastRecentlyUsedPromptBeyondItsBound() throws Exception {
    Random r = new Random(4);
    int[] x = prompt(r, 30);
    int[] y = prompt(r, 30);
    int[] z = prompt(r, 30);
    x[0] = 1;
    y[0] = 2;
    z[0] = 3;
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx)) {
      long slotBytes = 4L * CFG.nLayer() * CFG.contextLength() * 3 * CFG.dModel();
      long plainBytes;
      try (InferenceSession s = InferenceSession.of(m, null, new Options(1, 64, 2))) {
        plainBytes = s.cacheBytes();
      }
      try (InferenceSession s = InferenceSession.of(m, null, new Options(1, 64, 2,
          DType.FLOAT32, 2))) {
        // the bound: two more slots, nothing else
        assertEquals(plainBytes + 2 * slotBytes, s.cacheBytes());
        GenerationConfig gc = GenerationConfig.greedy(3);
        long[] hits = new long[6];
        int[][] order = {x, y, z, x, y, y};
        for (int i = 0; i < order.length; i++) {
          s.generate(order[i], gc);
          hits[i] = s.prefillStats().prefixHits();
          assertTrue(s.prefixCacheEntries() <= 2, "at most 2 entries");
        }
        // x, y, z miss; z evicted x (LRU of 2), so x misses again and evicts y; y misses, then hits
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 1}, hits);
        assertEquals(2, s.prefixCacheEntries());
      }
    }
  }

  @Test
  void aRequestCancelledAroundItsPrefillDoesNotPoisonTheCache() throws Exception {
    Random r = new Random(5);
    int[] first = prompt(r, 40);
    int[] victim = prompt(r, 44);
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx)) {
      Out want;
      try (InferenceSession ref = reference(m, DType.FLOAT32)) {
        want = plain(ref, victim, config(0, 10));
      }
      try (InferenceSession s = InferenceSession.of(m, null, new Options(4, 64, 2,
          DType.FLOAT32, 2))) {
        // one round: first and victim (40 + 44 rows do not fit one pass of 48: two passes); the
        // first's first token cancels the victim, whose pass has not run yet
        CountDownLatch release = gate(s);
        List<CompletableFuture<Result>> victimFuture = new ArrayList<>();
        s.submit(first, GenerationConfig.greedy(2), 0, (id, lp) -> {
          victimFuture.get(0).cancel(false);
          return true;
        });
        victimFuture.add(s.submit(victim, config(0, 10), 0, null));
        release.countDown();
        assertThrows(CancellationException.class, () -> victimFuture.get(0).get());
        // and one cancelled from another thread while it runs, whenever that lands
        CompletableFuture<Result> f = s.submit(victim, config(0, 10), null);
        while (s.stats().active() == 0 && !f.isDone()) {
          Thread.onSpinWait();
        }
        f.cancel(false);
        for (int i = 0; i < 3; i++) {
          Pending p = new Pending();
          p.future = s.submit(victim, config(0, 10), 5, p.listener());
          want.assertSame(p.get(), "after the cancellations, try " + i);
        }
        assertTrue(s.prefillStats().prefixHits() >= 2, "the victim's prompt was reused");
      }
    }
  }

  @Test
  void submitAllChecksItsArgumentsAndOptionsRefuseANegativeCache() throws Exception {
    assertThrows(IllegalArgumentException.class,
        () -> new Options(1, 1, 1, DType.FLOAT32, -1));
    try (ComputeContext ctx = ComputeContext.create();
        GptModel m = model(ctx);
        InferenceSession s = InferenceSession.of(m, null, new Options(1, 0, 2))) {
      assertThrows(IllegalArgumentException.class, () -> s.submitAll(new int[] {1},
          List.of(GenerationConfig.greedy(1)), -1, List.of()));
      // all or none: two choices do not fit a waiting room of one free slot
      assertThrows(java.util.concurrent.RejectedExecutionException.class,
          () -> s.submitAll(new int[] {1}, List.of(GenerationConfig.greedy(1),
              GenerationConfig.greedy(1)), -1, Arrays.asList(null, null)));
      assertEquals(0, s.stats().queued());
    }
    assertEquals(8, KvCache.MAX_DECODE_ROWS, "the exactness rules above assume the 8-row path");
  }
}
