package dev.fuselm.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Ops called directly are checked against the context's owner like models are: a second thread
 * gets an IllegalStateException (and writes nothing), while an unowned context stays unowned (so
 * loading on one thread and running on another still works).
 */
class OpsThreadConfinementTest {
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

  @Test
  void anOpOnAnotherThreadsContextThrowsAndWritesNothing() throws Exception {
    try (ComputeContext ctx = ComputeContext.create();
        Tensor a = Tensor.of(ctx, new float[] {1, 2, 3}, 3);
        Tensor b = Tensor.of(ctx, new float[] {10, 20, 30}, 3);
        Tensor out = Tensor.zeros(ctx, 3)) {
      // an unowned context: any thread may run ops, and running them claims nothing
      assertNull(onThread("loader", () -> {
        PointwiseOps.add(ctx, out, a, b);
        return null;
      }));
      assertNull(ctx.owner());
      assertArrayEquals(new float[] {11, 22, 33}, out.toFloatArray());

      ctx.checkThread("test"); // this thread owns it now (as running a model would do)
      out.zero();
      Throwable t = onThread("intruder", () -> {
        PointwiseOps.add(ctx, out, a, b);
        return null;
      });
      IllegalStateException e = assertInstanceOf(IllegalStateException.class, t);
      assertTrue(e.getMessage().contains("add"), e.getMessage());
      assertTrue(e.getMessage().contains("'" + Thread.currentThread().getName() + "'"),
          e.getMessage());
      assertTrue(e.getMessage().contains("'intruder'"), e.getMessage());
      assertArrayEquals(new float[] {0, 0, 0}, out.toFloatArray());

      PointwiseOps.add(ctx, out, a, b); // the owner is unaffected
      assertArrayEquals(new float[] {11, 22, 33}, out.toFloatArray());

      // a hand-over: the new owner runs ops, the old one is refused
      assertNull(onThread("heir", () -> {
        ctx.claim();
        PointwiseOps.add(ctx, out, a, b);
        return null;
      }));
      assertSame(IllegalStateException.class, assertInstanceOf(IllegalStateException.class,
          onThread("intruder", () -> {
            PointwiseOps.add(ctx, out, a, b);
            return null;
          })).getClass());
      ctx.claim(); // back to this thread, which closes it
    }
  }
}
