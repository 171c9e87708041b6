package dev.fuselm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Models and their compute contexts are confined to the thread that first runs them: a second
 * thread gets an IllegalStateException naming both, and an explicit claim() hands them over.
 */
class ThreadConfinementTest {
  static final GptConfig GPT = GptConfig.of(41, 16, 16, 1, 2);
  static final BertConfig BERT = new BertConfig(31, 16, 1, 2, 32, 16, 2, 1e-12f, 0f, 0f);
  static final int[] IDS = {3, 1, 4, 1, 5, 9};

  /** Runs body on a new thread of that name and returns what it threw (null when nothing). */
  static Throwable onThread(String name, Callable<?> body) throws InterruptedException {
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    Thread t = new Thread(() -> {
      try {
        body.call();
      } catch (Throwable e) {
        thrown.set(e);
      }
    }, name);
    t.start();
    t.join();
    return thrown.get();
  }

  static void assertRefused(Throwable t, String what) {
    assertRefused(t, what, Thread.currentThread().getName());
  }

  static void assertRefused(Throwable t, String what, String owner) {
    IllegalStateException e = assertInstanceOf(IllegalStateException.class, t);
    assertTrue(e.getMessage().contains(what), e.getMessage());
    assertTrue(e.getMessage().contains("'" + owner + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("'intruder'"), e.getMessage());
    assertTrue(e.getMessage().contains("claim()"), e.getMessage());
  }

  @Test
  void aGptModelUsedFromASecondThreadThrowsAndTheOwnerIsUnaffected() throws Exception {
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = GptModel.random(ctx, GPT, 5)) {
      m.forward(IDS, null, 1, IDS.length);
      float[] want = m.logits().toFloatArray();
      assertSame(Thread.currentThread(), ctx.owner());
      assertRefused(onThread("intruder", () -> m.forward(IDS, null, 1, IDS.length)), "GptModel");
      assertRefused(onThread("intruder", () -> m.forwardHidden(IDS, 1, IDS.length)), "GptModel");
      assertRefused(onThread("intruder", () -> {
        m.backward(1f);
        return null;
      }), "GptModel");
      assertRefused(onThread("intruder", () -> {
        ctx.synchronize();
        return null;
      }), "ComputeContext");
      assertRefused(onThread("intruder", () -> ctx.threads(1)), "ComputeContext");
      m.forward(IDS, null, 1, IDS.length);
      assertArrayEquals(want, m.logits().toFloatArray());
    }
  }

  @Test
  void aBertModelUsedFromASecondThreadThrows() throws Exception {
    try (ComputeContext ctx = ComputeContext.create();
        BertModel m = BertModel.random(ctx, BERT, 5)) {
      TokenBatch batch = new TokenBatch(IDS, null, null, 1, IDS.length);
      m.forwardHidden(batch);
      assertRefused(onThread("intruder", () -> m.forwardHidden(batch)), "BertModel");
      m.setTraining(false);
      int[] cu = {0, IDS.length};
      m.forwardPacked(new int[][] {IDS}, cu);
      assertRefused(onThread("intruder", () -> m.forwardPacked(new int[][] {IDS}, cu)), "BertModel");
    }
  }

  @Test
  void builtOnOneThreadRunOnAnotherAndHandedBackWithClaim() throws Exception {
    try (ComputeContext ctx = ComputeContext.create(); GptModel m = GptModel.random(ctx, GPT, 5)) {
      ctx.threads(1); // configuring claims nothing
      assertNull(ctx.owner());
      float[][] got = new float[1][];
      assertNull(onThread("worker", () -> {
        m.forward(IDS, null, 1, IDS.length); // the first runner owns it
        return got[0] = m.logits().toFloatArray();
      }));
      assertRefused(onThread("intruder", () -> m.forward(IDS, null, 1, IDS.length)), "GptModel",
          "worker");
      ctx.claim(); // the worker is done (joined): hand it to this thread
      m.forward(IDS, null, 1, IDS.length);
      assertArrayEquals(got[0], m.logits().toFloatArray());
      ctx.release(); // and let whoever runs it next have it
      assertNull(onThread("next", () -> m.forward(IDS, null, 1, IDS.length)));
    }
  }
}
