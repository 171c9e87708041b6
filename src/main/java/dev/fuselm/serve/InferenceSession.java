package dev.fuselm.serve;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.tokenizer.Tokenizers;
import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.generate.Generator.Result;
import dev.fuselm.generate.Generator.StopReason;
import dev.fuselm.generate.Sampler;
import dev.fuselm.generate.StopRules;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.KvCache;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import dev.fuselm.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One loaded GPT model serving generation requests from any number of threads.
 *
 * <p><b>Thread-safe</b>: {@link #submit}, {@link #complete} and {@link #close} may be called from
 * any thread at the same time. This is the entry point to share; a {@link Generator} is confined to
 * one thread.
 *
 * <p>The weights are loaded once and only read. A native compute context may be used by one thread
 * at a time, so one scheduler thread owns all model work: callers {@link #submit} requests into a
 * bounded queue and get a future. The scheduler gives each admitted request a slot (its own KV
 * cache, from a fixed pool of {@link Options#slots()}), runs its prompt, then decodes all active
 * requests together, one token each per step (continuous batching: a request joins at the next step
 * after a slot frees, and leaves as soon as it stops). With greedy decoding (or the same seed) a
 * request gets exactly the tokens {@link Generator} produces for it alone: the model's cached
 * forward gives a row of a decode step of at most {@link KvCache#MAX_DECODE_ROWS} rows the bits of
 * that row run alone, and a prefill is the same computation as the Generator's batch-1 prefill.
 * This class only schedules and samples; {@link GptModel#forwardCached} does the math.
 *
 * <p>Bad input (empty prompt, ids outside the vocabulary, a prompt longer than the context without
 * truncation) is rejected by {@link #submit} on the caller's thread and never reaches the batch. A
 * listener that throws fails its own request only. {@link #close()} stops accepting requests,
 * finishes the accepted ones, then frees every native buffer the session allocated (and the model
 * and context when the session loaded them).
 */
public final class InferenceSession implements AutoCloseable {
  /**
   * @param slots requests generating at once (each holds a KV cache of the full context)
   * @param maxQueued requests waiting for a slot before {@link #submit} refuses more
   * @param threads kernel threads when the session creates the context (0: all cores)
   * @param weights type of the matrices decoding multiplies with: {@link DType#FLOAT32} (the
   *     model's own) or {@link DType#BFLOAT16} (the bf16 copies the model's layers hold, made when
   *     the session opens; about 1.3x faster per token on CPU, with bf16 rounding of the weights)
   *     or {@link DType#INT8} (Q8_0 copies, quantized when the session opens)
   */
  public record Options(int slots, int maxQueued, int threads, DType weights) {
    public Options {
      if (slots < 1) {
        throw new IllegalArgumentException("slots must be >= 1, got " + slots);
      }
      if (maxQueued < 0) {
        throw new IllegalArgumentException("maxQueued must be >= 0, got " + maxQueued);
      }
      if (weights != DType.FLOAT32 && weights != DType.BFLOAT16 && weights != DType.INT8) {
        throw new IllegalArgumentException("weights must be float32, bfloat16 or int8, got "
            + weights);
      }
    }

    /** Float32 weights. */
    public Options(int slots, int maxQueued, int threads) {
      this(slots, maxQueued, threads, DType.FLOAT32);
    }

    /** 8 slots (one full decode step), 256 waiting requests, all cores, float32 weights. */
    public static Options defaults() {
      return new Options(KvCache.MAX_DECODE_ROWS, 256, 0, DType.FLOAT32);
    }

    public Options withSlots(int n) {
      return new Options(n, maxQueued, threads, weights);
    }

    public Options withMaxQueued(int n) {
      return new Options(slots, n, threads, weights);
    }

    public Options withThreads(int n) {
      return new Options(slots, maxQueued, n, weights);
    }

    public Options withWeights(DType type) {
      return new Options(slots, maxQueued, threads, type);
    }
  }

  /** Receives each generated token on the scheduler thread (keep it short); false stops. */
  @FunctionalInterface
  public interface TokenListener {
    boolean onToken(int id);
  }

  /**
   * The log-probabilities of a sampled token under the model's raw distribution (log-softmax of
   * the logits, before temperature, top-k or top-p, as OpenAI and vLLM report them).
   *
   * @param logprob the sampled token's
   * @param topIds the most likely ids, most likely first (as many as the request asked for)
   * @param topLogprobs their log-probabilities
   */
  public record TokenLogprobs(float logprob, int[] topIds, float[] topLogprobs) {}

  /** Receives each generated token and, when asked for, its log-probabilities (else null). */
  @FunctionalInterface
  public interface DetailedTokenListener {
    boolean onToken(int id, TokenLogprobs logprobs);
  }

  /** Counters since the session opened, and the current load. */
  public record Stats(int active, int queued, long completed, long cancelled, long failed,
      long generatedTokens) {}

  private static final class Request {
    final int[] prompt;
    final GenerationConfig gc;
    final DetailedTokenListener listener;
    final int topLogprobs;
    final CompletableFuture<Result> future = new CompletableFuture<>();

    Request(int[] prompt, GenerationConfig gc, DetailedTokenListener listener, int topLogprobs) {
      this.prompt = prompt;
      this.gc = gc;
      this.listener = listener;
      this.topLogprobs = topLogprobs;
    }
  }

  /** A request holding a slot. */
  private static final class Active {
    final Request req;
    final int slot;
    final Sampler sampler;
    final int[] out;
    int count;
    int pos; // positions in the slot's cache
    int next; // the token to feed at pos
    StopReason reason;

    Active(Request req, int slot) {
      this.req = req;
      this.slot = slot;
      this.sampler = new Sampler(req.gc);
      this.out = new int[req.gc.maxNewTokens()];
      this.pos = req.prompt.length;
    }
  }

  private final GptModel model;
  private final ComputeContext ownedContext;
  private final boolean ownsModel;
  private final Tokenizer tokenizer;
  private final Options options;
  private final KvCache cache;
  private final Thread scheduler;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<Request> queue = new ArrayDeque<>();
  private boolean closing;
  private boolean cacheClosed;
  private volatile int activeCount;
  private final AtomicLong completed = new AtomicLong();
  private final AtomicLong cancelled = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong generatedTokens = new AtomicLong();

  private InferenceSession(GptModel model, ComputeContext ownedContext, boolean ownsModel,
      Tokenizer tokenizer, Options options) {
    this.model = model;
    this.ownedContext = ownedContext;
    this.ownsModel = ownsModel;
    this.tokenizer = tokenizer;
    this.options = options;
    // a prefill runs up to the whole context of one slot, a decode step up to MAX_DECODE_ROWS
    int maxRows = Math.max(model.config().contextLength(), KvCache.MAX_DECODE_ROWS);
    this.cache = KvCache.create(model, options.slots(), maxRows, options.weights());
    this.scheduler = new Thread(this::schedule, "fuselm-session-scheduler");
    scheduler.setDaemon(true);
    scheduler.start();
  }

  /**
   * Loads a model directory (config.json + model.safetensors, and its tokenizer when present) on a
   * new context of the default backend; the session owns both and frees them on close. With bf16
   * weights the block matrices are loaded straight to bf16 ({@link
   * dev.fuselm.io.Checkpoint#loadBf16Matrices}), so no float32 copy of them stays resident.
   */
  public static InferenceSession open(Path modelDir, Options options) throws IOException {
    GptConfig cfg = Checkpoint.readConfig(modelDir, ModelFamily.GPT2);
    Tokenizer tok = Tokenizers.present(modelDir) || cfg.vocabSize() == 50257
        ? Tokenizers.forModel(modelDir, cfg.vocabSize()) : null;
    ComputeContext ctx = ComputeContext.create();
    GptModel model = null;
    try {
      ctx.threads(options.threads());
      // decoding with bf16 weights never needs the float32 block matrices: load them as bf16
      model = options.weights() == DType.BFLOAT16 ? Checkpoint.loadBf16Matrices(ctx, modelDir)
          : Checkpoint.load(ctx, modelDir, ModelFamily.GPT2);
      return new InferenceSession(model, ctx, true, tok, options);
    } catch (IOException | RuntimeException | Error e) {
      if (model != null) {
        model.close();
      }
      ctx.close();
      throw e;
    }
  }

  /**
   * A session over a model the caller owns (close the session first). From now until close, only
   * the session may run work on the model's context.
   */
  public static InferenceSession of(GptModel model, Tokenizer tokenizer, Options options) {
    return new InferenceSession(model, null, false, tokenizer, options);
  }

  public GptConfig config() {
    return model.config();
  }

  /** The model's tokenizer, if its directory had one. */
  public Optional<Tokenizer> tokenizer() {
    return Optional.ofNullable(tokenizer);
  }

  public Options options() {
    return options;
  }

  /** Native bytes of the KV-cache slots and scratch (the weights not included). */
  public long cacheBytes() {
    return cache.bytes();
  }

  /**
   * Native bytes of the bf16 weight copies the session decodes with (held by the model): 0 with
   * float32 weights; with bf16, every matrix's copy for a caller's float32 model, only the head's
   * for a directory {@link #open} loaded with bf16 matrices.
   */
  public long weightCopyBytes() {
    if (options.weights() == DType.INT8) {
      return model.int8WeightBytes();
    }
    return options.weights() == DType.BFLOAT16 ? model.bf16WeightBytes() : 0;
  }

  /**
   * Queues a request. The future completes with the generated ids and the stop reason, fails with
   * the cause if generation failed, and can be cancelled (the request leaves the batch at the next
   * step). The listener (may be null) sees each token on the scheduler thread.
   *
   * @throws IllegalArgumentException for a bad prompt (checked here, before it is queued)
   * @throws RejectedExecutionException when the queue is full or the session is closing
   */
  public CompletableFuture<Result> submit(int[] prompt, GenerationConfig gc,
      TokenListener listener) {
    return submit(prompt, gc, -1, listener == null ? null : (id, lp) -> listener.onToken(id));
  }

  /**
   * {@link #submit(int[], GenerationConfig, TokenListener)} with log-probabilities: when {@code
   * topLogprobs >= 0} the listener gets each token's {@link TokenLogprobs} with that many
   * alternatives (computed on the scheduler thread from the logits the sampler used).
   */
  public CompletableFuture<Result> submit(int[] prompt, GenerationConfig gc, int topLogprobs,
      DetailedTokenListener listener) {
    GptConfig cfg = model.config();
    if (topLogprobs > cfg.vocabSize()) {
      throw new IllegalArgumentException("topLogprobs must be at most the vocabulary size "
          + cfg.vocabSize() + ", got " + topLogprobs);
    }
    int[] fitted = StopRules.fitPrompt(prompt, gc, cfg.vocabSize(), cfg.contextLength()).clone();
    Request r = new Request(fitted, gc, listener, topLogprobs);
    lock.lock();
    try {
      if (closing) {
        throw new RejectedExecutionException("the inference session is closing");
      }
      // the waiting room: maxQueued, plus the slots that are free right now (the scheduler takes
      // those requests at its next step)
      if (queue.size() >= options.maxQueued() + Math.max(0, options.slots() - activeCount)) {
        throw new RejectedExecutionException("the inference session is busy: " + queue.size()
            + " requests are waiting (at most " + options.maxQueued() + ")");
      }
      queue.add(r);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    return r.future;
  }

  /** Generates and waits (the calling thread blocks; others keep being served). */
  public Result generate(int[] prompt, GenerationConfig gc) {
    try {
      return submit(prompt, gc, null).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CancellationException("interrupted while waiting for generation");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof RuntimeException re) {
        throw re;
      }
      if (c instanceof Error er) {
        throw er;
      }
      throw new IllegalStateException(c);
    }
  }

  /**
   * Encodes the prompt with the model's tokenizer, generates, and decodes the new tokens. A config
   * that {@linkplain GenerationConfig#stopAtEndOfText() stops at end-of-text} (what {@link
   * GenerationConfig#builder()} makes) stops at the tokenizer's {@code <|endoftext|>}.
   */
  public String complete(String prompt, GenerationConfig gc) {
    Tokenizer tok = tokenizer().orElseThrow(() -> new IllegalStateException(
        "this model has no tokenizer: submit token ids instead"));
    gc = gc.withEndOfText(tok.specialTokenId(Gpt2BpeTokenizer.END_OF_TEXT).orElse(-1));
    int[] ids = generate(tok.encode(prompt), gc).ids();
    if (gc.stopToken() >= 0 && ids.length > 0 && ids[ids.length - 1] == gc.stopToken()) {
      ids = Arrays.copyOf(ids, ids.length - 1);
    }
    return tok.decode(ids);
  }

  public Stats stats() {
    lock.lock();
    try {
      return new Stats(activeCount, queue.size(), completed.get(), cancelled.get(), failed.get(),
          generatedTokens.get());
    } finally {
      lock.unlock();
    }
  }

  // ---- the scheduler thread ----------------------------------------------------------------------

  private void schedule() {
    List<Active> active = new ArrayList<>();
    ArrayDeque<Integer> freeSlots = new ArrayDeque<>();
    for (int s = 0; s < options.slots(); s++) {
      freeSlots.add(s);
    }
    while (true) {
      // admit waiting requests into free slots (blocking only when nothing is generating)
      while (!freeSlots.isEmpty()) {
        Request r = take(active.isEmpty());
        if (r == null) {
          break;
        }
        if (r.future.isDone()) { // cancelled while waiting
          cancelled.incrementAndGet();
          continue;
        }
        Active a = new Active(r, freeSlots.poll());
        activeCount = active.size() + 1;
        admit(a);
        if (!leaves(a, freeSlots)) {
          active.add(a);
        }
        activeCount = active.size();
      }
      if (active.isEmpty()) {
        if (isClosedAndDrained()) {
          return;
        }
        continue;
      }
      // drop cancelled requests, then one decode step for the rest, at most MAX_DECODE_ROWS at once
      active.removeIf(a -> leaves(a, freeSlots));
      for (int from = 0; from < active.size(); from += KvCache.MAX_DECODE_ROWS) {
        decodeStep(active.subList(from, Math.min(active.size(), from + KvCache.MAX_DECODE_ROWS)));
      }
      active.removeIf(a -> leaves(a, freeSlots));
      activeCount = active.size();
    }
  }

  /** True (and a's slot freed) when a has stopped, failed or was cancelled. */
  private boolean leaves(Active a, ArrayDeque<Integer> freeSlots) {
    if (a.reason == null && !a.req.future.isDone()) {
      return false;
    }
    if (a.req.future.isCancelled()) {
      cancelled.incrementAndGet();
    }
    freeSlots.add(a.slot);
    return true;
  }

  /** The next waiting request; waits for one when {@code block}; null when none (or closed). */
  private Request take(boolean block) {
    lock.lock();
    try {
      while (block && queue.isEmpty() && !closing) {
        changed.awaitUninterruptibly();
      }
      return queue.poll();
    } finally {
      lock.unlock();
    }
  }

  private boolean isClosedAndDrained() {
    lock.lock();
    try {
      return closing && queue.isEmpty();
    } finally {
      lock.unlock();
    }
  }

  /** Prefill and the first token; a failure fails this request only. */
  private void admit(Active a) {
    if (a.req.gc.maxNewTokens() == 0) {
      a.reason = StopReason.BUDGET;
      finish(a);
      return;
    }
    try {
      float[] logits = model.forwardCached(cache, new int[] {a.slot}, new int[] {0}, a.req.prompt)
          .toFloatArray();
      accept(a, logits, 0);
    } catch (RuntimeException | Error e) {
      fail(a, e);
    }
  }

  private void decodeStep(List<Active> rows) {
    int n = rows.size();
    int[] slots = new int[n];
    int[] positions = new int[n];
    int[] tokens = new int[n];
    for (int i = 0; i < n; i++) {
      Active a = rows.get(i);
      slots[i] = a.slot;
      positions[i] = a.pos;
      tokens[i] = a.next;
    }
    float[] logits;
    try {
      logits = model.forwardCached(cache, slots, positions, tokens).toFloatArray();
    } catch (RuntimeException | Error e) {
      for (Active a : rows) { // a native failure cannot be attributed to one row
        fail(a, e);
      }
      return;
    }
    int v = model.config().vocabSize();
    for (int i = 0; i < n; i++) {
      Active a = rows.get(i);
      a.pos++;
      try {
        accept(a, logits, i * v);
      } catch (RuntimeException | Error e) {
        fail(a, e);
      }
    }
  }

  /** Samples the next token from logits[offset..], delivers it, decides whether a stops. */
  private void accept(Active a, float[] logits, int offset) {
    GenerationConfig gc = a.req.gc;
    int v = model.config().vocabSize();
    int id = a.sampler.next(logits, offset, v);
    a.out[a.count++] = id;
    generatedTokens.incrementAndGet();
    TokenLogprobs lp = a.req.topLogprobs >= 0
        ? logprobs(logits, offset, v, id, a.req.topLogprobs) : null;
    boolean keep = a.req.listener == null || a.req.listener.onToken(id, lp);
    a.reason = StopRules.after(id, keep, a.count, a.pos, gc, model.config().contextLength());
    a.next = id;
    if (a.reason != null) {
      finish(a);
    }
  }

  /** Log-softmax of logits[offset, offset + v) at id, and the k most likely ids. */
  static TokenLogprobs logprobs(float[] logits, int offset, int v, int id, int k) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < v; i++) {
      max = Math.max(max, logits[offset + i]);
    }
    double sum = 0;
    for (int i = 0; i < v; i++) {
      sum += Math.exp(logits[offset + i] - max);
    }
    double logZ = max + Math.log(sum);
    // the k largest by insertion into a small sorted array (k <= 20 from the server)
    int[] top = new int[k];
    int n = 0;
    for (int i = 0; i < v && k > 0; i++) {
      float l = logits[offset + i];
      if (n == k && l <= logits[offset + top[k - 1]]) {
        continue;
      }
      int j = n < k ? n++ : k - 1;
      while (j > 0 && logits[offset + top[j - 1]] < l) {
        top[j] = top[j - 1];
        j--;
      }
      top[j] = i;
    }
    float[] topLp = new float[n];
    for (int i = 0; i < n; i++) {
      topLp[i] = (float) (logits[offset + top[i]] - logZ);
    }
    return new TokenLogprobs((float) (logits[offset + id] - logZ), Arrays.copyOf(top, n), topLp);
  }

  private void finish(Active a) {
    completed.incrementAndGet(); // before completing, so a caller that got the result sees it
    if (!a.req.future.complete(new Result(Arrays.copyOf(a.out, a.count), a.reason))) {
      completed.decrementAndGet(); // it was cancelled first
    }
  }

  /** Fails one request; it leaves the batch (its future is done). */
  private void fail(Active a, Throwable e) {
    failed.incrementAndGet();
    if (!a.req.future.completeExceptionally(e)) {
      failed.decrementAndGet();
    }
  }

  /**
   * Stops accepting requests, waits for the accepted ones to finish, and frees the KV caches and
   * scratch (and the model and its context when {@link #open} loaded them). Idempotent.
   */
  @Override
  public void close() {
    lock.lock();
    try {
      closing = true;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    boolean interrupted = false;
    while (scheduler.isAlive()) {
      try {
        scheduler.join();
      } catch (InterruptedException e) {
        interrupted = true; // the native memory must not be freed under a running step
      }
    }
    synchronized (this) {
      if (!cacheClosed) {
        cacheClosed = true;
        cache.close();
        if (ownsModel) {
          model.close();
        }
        if (ownedContext != null) {
          ownedContext.close();
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
