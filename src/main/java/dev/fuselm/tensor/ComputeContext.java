package dev.fuselm.tensor;

import dev.fuselm.nativeapi.FuselmNative;
import dev.fuselm.nativeapi.FuselmNativeException;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A native compute context: one backend and device, its thread pool and its instruction-set level.
 * Every op runs on a context; every tensor is allocated on one. Close it after every tensor
 * allocated on it has been closed.
 *
 * <p>A context is not thread-safe: use one per thread (they share nothing). It is <b>confined</b> to
 * the first thread that runs a model on it (a model's forward and backward passes, {@link
 * #synchronize()}): from then on any other thread that does so, or that reconfigures the context,
 * gets an {@link IllegalStateException} naming both threads instead of corrupted results. Building a
 * context and loading a model onto it claim nothing, so a model may be loaded on one thread and run
 * on another. To hand a context (and every model on it) to another thread, that thread calls {@link
 * #claim()} once the previous one has stopped using it (after a join, a {@code Future.get()}, or
 * under the lock that serialises the users), or the owner calls {@link #release()}. The check is one
 * thread compare per model call, not per op.
 */
public final class ComputeContext implements AutoCloseable {
  private final Backend backend;
  private long handle;
  private volatile Thread owner; // the thread that first ran a model on this context, or null

  private ComputeContext(Backend backend, long handle) {
    this.backend = backend;
    this.handle = handle;
  }

  /** A context on the default backend ({@link Backend#defaultBackend()}). */
  public static ComputeContext create() {
    return create(Backend.defaultBackend());
  }

  public static ComputeContext create(Backend backend) {
    FuselmNative.load();
    try (PointerPointer<?> out = new PointerPointer<>(1)) {
      FuselmNativeException.check(
          FuselmNative.fl_context_create(backend.code, 0, out), "fl_context_create");
      ComputeContext ctx = new ComputeContext(backend, out.get(0).address());
      String cap = System.getenv("FUSELM_ISA");
      if (cap != null && !cap.isEmpty() && backend == Backend.CPU) {
        ctx.capIsa(cap);
      }
      return ctx;
    }
  }

  public Backend backend() {
    return backend;
  }

  /** The native handle; valid until {@link #close()}. */
  public long handle() {
    if (handle == 0) {
      throw new IllegalStateException("this ComputeContext is closed");
    }
    return handle;
  }

  /**
   * Fails unless the calling thread may run work on this context: {@code user} (e.g. "GptModel")
   * names what is being used in the message. An unowned context becomes the caller's. Models call
   * this once per forward or backward pass.
   *
   * @throws IllegalStateException when another thread owns this context
   */
  public void checkThread(String user) {
    Thread me = Thread.currentThread();
    Thread o = owner;
    if (o == me) {
      return;
    }
    if (o == null) {
      synchronized (this) {
        if (owner == null) {
          owner = me;
        }
        o = owner;
      }
      if (o == me) {
        return;
      }
    }
    throw confined(user, o, me);
  }

  /**
   * Fails when another thread owns this context; claims nothing (an unowned context stays
   * unowned, so loading on one thread and running on another still works). The ops ({@code
   * dev.fuselm.ops}) call it for every tensor they check, so an op called directly from a second
   * thread fails like a model would: one volatile read and one compare.
   *
   * @throws IllegalStateException when another thread owns this context
   */
  public void checkOpCaller(String op) {
    Thread o = owner;
    if (o != null && o != Thread.currentThread()) {
      throw confined("the op " + op + " on this context", o, Thread.currentThread());
    }
  }

  /** Like {@link #checkThread} without claiming an unowned context (configuration calls). */
  private void checkNotOwnedElsewhere() {
    Thread me = Thread.currentThread();
    Thread o = owner;
    if (o != null && o != me) {
      throw confined("ComputeContext", o, me);
    }
  }

  private static IllegalStateException confined(String user, Thread o, Thread me) {
    return new IllegalStateException(user + " is confined to thread '" + o.getName()
        + "', which first ran it (its ComputeContext is not thread-safe); thread '" + me.getName()
        + "' may not use it: give each thread its own context and model, share a thread-safe"
        + " entry point (serve.InferenceSession, serve.TextClassifier, serve.TextEmbedder), or hand"
        + " it over with ComputeContext.claim() once the first thread is done with it");
  }

  /**
   * Makes the calling thread this context's owner, and so of every model on it: a hand-over,
   * for when the previous owner has stopped using it (the caller makes sure of that, e.g. by
   * joining it or by holding the lock that serialises the users).
   */
  public ComputeContext claim() {
    owner = Thread.currentThread();
    return this;
  }

  /** Gives up ownership: the next thread to run a model on this context owns it. */
  public ComputeContext release() {
    owner = null;
    return this;
  }

  /** The thread that owns this context, or null when none does yet. */
  public Thread owner() {
    return owner;
  }

  /** Sets the number of CPU threads kernels use; {@code threads <= 0} means all available cores. */
  public ComputeContext threads(int threads) {
    checkNotOwnedElsewhere();
    FuselmNativeException.check(
        FuselmNative.fl_context_set_threads(handle(), threads), "fl_context_set_threads");
    return this;
  }

  public int threads() {
    int[] out = new int[1];
    FuselmNativeException.check(FuselmNative.fl_context_threads(handle(), out), "fl_context_threads");
    return out[0];
  }

  /** Lowers the instruction-set level kernels use (FL_ISA_*); tests use it to cover every path. */
  public ComputeContext isa(int isa) {
    checkNotOwnedElsewhere();
    FuselmNativeException.check(FuselmNative.fl_context_set_isa(handle(), isa), "fl_context_set_isa");
    return this;
  }

  public int isa() {
    int[] out = new int[1];
    FuselmNativeException.check(FuselmNative.fl_context_isa(handle(), out), "fl_context_isa");
    return out[0];
  }

  // FUSELM_ISA=generic|avx2|avx512|avx512_bf16 caps the level of every context: the replay check
  // (benchmarks/replay) uses it to get the same bits on every machine of this kind.
  private void capIsa(String name) {
    int cap = -1;
    for (int level = FuselmNative.FL_ISA_GENERIC; level <= FuselmNative.FL_ISA_AVX512_BF16; level++) {
      if (isaName(level).equals(name)) {
        cap = level;
      }
    }
    if (cap < 0) {
      close();
      throw new IllegalArgumentException(
          "FUSELM_ISA=" + name + " is not an instruction-set level: use generic, avx2, avx512 or avx512_bf16");
    }
    if (cap < isa()) {
      isa(cap);
    }
  }

  /** The best instruction-set level this CPU and build support. */
  public static int bestIsa() {
    FuselmNative.load();
    int[] out = new int[1];
    FuselmNativeException.check(FuselmNative.fl_cpu_best_isa(out), "fl_cpu_best_isa");
    return out[0];
  }

  public static String isaName(int isa) {
    switch (isa) {
      case FuselmNative.FL_ISA_AVX512_BF16:
        return "avx512_bf16";
      case FuselmNative.FL_ISA_AVX512:
        return "avx512";
      case FuselmNative.FL_ISA_AVX2:
        return "avx2";
      default:
        return "generic";
    }
  }

  public void synchronize() {
    checkThread("ComputeContext");
    FuselmNativeException.check(FuselmNative.fl_context_synchronize(handle()), "fl_context_synchronize");
  }

  @Override
  public void close() {
    if (handle != 0) {
      FuselmNative.fl_context_destroy(handle);
      handle = 0;
    }
  }

  @Override
  public String toString() {
    return handle == 0
        ? "ComputeContext[closed]"
        : "ComputeContext[" + backend + ", threads=" + threads() + ", isa=" + isaName(isa()) + "]";
  }
}
