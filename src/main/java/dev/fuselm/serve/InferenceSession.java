package dev.fuselm.serve;

import dev.fuselm.io.Checkpoint;
import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.GgufModel;
import dev.fuselm.io.CheckpointDirectory;
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
 * at a time, so one scheduler thread owns all model work (it {@linkplain ComputeContext#claim()
 * claims} the model's context when the session opens, and the context is released again when it
 * closes; meanwhile no other thread may run the model): callers {@link #submit} requests into a
 * bounded queue and get a future. The scheduler gives each admitted request a slot (its own KV
 * cache, from a fixed pool of {@link Options#slots()}), runs the prompts admitted at the same step
 * together ({@link Prefill}: identical prompts once, prompt prefixes other slots hold copied when
 * the {@linkplain Options#withPrefixCache prefix cache} is on), then decodes all active
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
  public record Options(int slots, int maxQueued, int threads, DType weights, int prefixCache) {
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
      if (prefixCache < 0) {
        throw new IllegalArgumentException("prefixCache must be >= 0, got " + prefixCache);
      }
    }

    /** No prefix cache. */
    public Options(int slots, int maxQueued, int threads, DType weights) {
      this(slots, maxQueued, threads, weights, 0);
    }

    /** Float32 weights, no prefix cache. */
    public Options(int slots, int maxQueued, int threads) {
      this(slots, maxQueued, threads, DType.FLOAT32);
    }

    /**
     * 8 slots (one full decode step), 256 waiting requests, all cores, float32 weights, no prefix
     * cache.
     */
    public static Options defaults() {
      return new Options(KvCache.MAX_DECODE_ROWS, 256, 0, DType.FLOAT32);
    }

    public Options withSlots(int n) {
      return new Options(n, maxQueued, threads, weights, prefixCache);
    }

    public Options withMaxQueued(int n) {
      return new Options(slots, n, threads, weights, prefixCache);
    }

    public Options withThreads(int n) {
      return new Options(slots, maxQueued, n, weights, prefixCache);
    }

    public Options withWeights(DType type) {
      return new Options(slots, maxQueued, threads, type, prefixCache);
    }

    /**
     * Keeps the prompts of up to {@code n} finished requests in {@code n} extra KV-cache slots
     * (each the size of one slot, {@link InferenceSession#cacheBytes} includes them), so a later
     * prompt that starts with the same tokens copies their keys and values instead of computing
     * them again; also lets a prompt reuse a running request's prompt. 0 turns it off.
     */
    public Options withPrefixCache(int n) {
      return new Options(slots, maxQueued, threads, weights, n);
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

  /**
   * Prompt work saved since the session opened: requests whose prompt started with tokens another
   * slot held (and those tokens), and choices that copied the whole prefill of an identical
   * prompt admitted with them (the {@code n} choices of one request); prefill passes run (one pass
   * may prefill several prompts) and the prompt positions they computed.
   */
  public record PrefillStats(long prefixHits, long prefixTokensReused, long sharedPrefills,
      long passes, long computedTokens) {}

  /** Counters since the session opened, and the current load. */
  public record Stats(int active, int queued, long completed, long cancelled, long failed,
      long generatedTokens) {}

  static final class Request {
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
  static final class Active {
    final Request req;
    final int slot;
    final Sampler sampler;
    final int[] out;
    int count;
    int pos; // positions in the slot's cache
    int next; // the token to feed at pos
    StopReason reason;
    int start; // prompt positions copied from another slot before the prefill
    Active twin; // an identical prompt admitted with this one: its prefill is copied

    Active(Request req, int slot) {
      this.req = req;
      this.slot = slot;
      this.sampler = new Sampler(req.gc);
      this.out = new int[req.gc.maxNewTokens()];
      this.pos = req.prompt.length;
    }
  }

  final GptModel model;
  private final ComputeContext ownedContext;
  private final boolean ownsModel;
  private final Tokenizer tokenizer;
  private final Options options;
  final KvCache cache;
  private final Thread scheduler;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<Request> queue = new ArrayDeque<>();
  private boolean closing;
  private boolean cacheClosed;
  private volatile int activeCount;
  private volatile int cachedEntries;
  private final AtomicLong completed = new AtomicLong();
  private final AtomicLong cancelled = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final AtomicLong generatedTokens = new AtomicLong();
  final AtomicLong prefixHits = new AtomicLong();
  final AtomicLong prefixTokens = new AtomicLong();
  final AtomicLong sharedPrefills = new AtomicLong();
  final AtomicLong prefillPasses = new AtomicLong();
  final AtomicLong prefillTokens = new AtomicLong();
  final SlotPool pool;

  private InferenceSession(GptModel model, ComputeContext ownedContext, boolean ownsModel,
      Tokenizer tokenizer, Options options) {
    this.model = model;
    this.ownedContext = ownedContext;
    this.ownsModel = ownsModel;
    this.tokenizer = tokenizer;
    this.options = options;
    // a prefill runs up to the whole context of one slot, a decode step up to MAX_DECODE_ROWS
    int maxRows = Math.max(model.config().contextLength(), KvCache.MAX_DECODE_ROWS);
    // the prefix cache's entries live in slots of their own, so caching never costs concurrency
    int slotCount = options.slots() + options.prefixCache();
    this.cache = KvCache.create(model, slotCount, maxRows, options.weights());
    this.pool = new SlotPool(slotCount, options.prefixCache());
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
    if (GgufGpt2.isGguf(modelDir)) {
      return openGguf(modelDir, options);
    }
    modelDir = CheckpointDirectory.resolve(modelDir); // a training output directory: its latest checkpoint
    GptConfig cfg = Checkpoint.readConfig(modelDir, ModelFamily.GPT2);
    Tokenizer tok = Tokenizers.present(modelDir) || cfg.vocabSize() == 50257
        ? Tokenizers.forModel(modelDir, cfg.vocabSize()) : null;
    Path dir = modelDir;
    return OwnedModel.open(ctx -> {
      ctx.threads(options.threads());
      // decoding with bf16 weights never needs the float32 block matrices: load them as bf16
      return options.weights() == DType.BFLOAT16 ? Checkpoint.loadBf16Matrices(ctx, dir)
          : options.weights() == DType.INT8 ? Checkpoint.loadInt8Matrices(ctx, dir)
          : Checkpoint.load(ctx, dir, ModelFamily.GPT2);
    }, (ctx, model) -> new InferenceSession(model, ctx, true, tok, options));
  }

  /**
   * A GPT-2 GGUF file loaded straight in the session's weight type ({@link GgufModel#load}: with
   * int8 weights a Q8_0 file's blocks are used as stored), with the tokenizer of its metadata.
   */
  private static InferenceSession openGguf(Path file, Options options) throws IOException {
    Tokenizer tok = GgufModel.tokenizer(file);
    return OwnedModel.open(ctx -> {
      ctx.threads(options.threads());
      return GgufModel.load(ctx, file, options.weights());
    }, (ctx, model) -> new InferenceSession(model, ctx, true,
        // no tokenizer in the file: GPT-2's, as for a directory
        tok == null && model.config().vocabSize() == 50257 ? Gpt2BpeTokenizer.gpt2() : tok,
        options));
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
    return submitAll(prompt, List.of(gc), topLogprobs, Arrays.asList(listener)).get(0);
  }

  /**
   * Queues one request per config for the same prompt (the {@code n} choices of a completion), all
   * or none: admitted together when slots are free, the prompt is prefilled once and its keys and
   * values copied into the other choices' slots (bit for bit what each would compute alone).
   * Listeners pair with configs (a null listener: none).
   *
   * @throws IllegalArgumentException for a bad prompt (checked here, before it is queued)
   * @throws RejectedExecutionException when the queue cannot take them all or the session is
   *     closing
   */
  public List<CompletableFuture<Result>> submitAll(int[] prompt, List<GenerationConfig> gcs,
      int topLogprobs, List<DetailedTokenListener> listeners) {
    GptConfig cfg = model.config();
    if (topLogprobs > cfg.vocabSize()) {
      throw new IllegalArgumentException("topLogprobs must be at most the vocabulary size "
          + cfg.vocabSize() + ", got " + topLogprobs);
    }
    if (gcs.isEmpty() || listeners.size() != gcs.size()) {
      throw new IllegalArgumentException("one listener per config, and at least one config: got "
          + gcs.size() + " configs and " + listeners.size() + " listeners");
    }
    List<Request> rs = new ArrayList<>();
    for (int i = 0; i < gcs.size(); i++) {
      GenerationConfig gc = gcs.get(i);
      int[] fitted = StopRules.fitPrompt(prompt, gc, cfg.vocabSize(), cfg.contextLength()).clone();
      rs.add(new Request(fitted, gc, listeners.get(i), topLogprobs));
    }
    lock.lock();
    try {
      if (closing) {
        throw new RejectedExecutionException("the inference session is closing");
      }
      // the waiting room: maxQueued, plus the slots that are free right now (the scheduler takes
      // those requests at its next step)
      if (queue.size() + rs.size() - 1
          >= options.maxQueued() + Math.max(0, options.slots() - activeCount)) {
        throw new RejectedExecutionException("the inference session is busy: " + queue.size()
            + " requests are waiting (at most " + options.maxQueued() + ")");
      }
      queue.addAll(rs);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    List<CompletableFuture<Result>> out = new ArrayList<>();
    for (Request r : rs) {
      out.add(r.future);
    }
    return out;
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

  /** Prompt work saved and done since the session opened. */
  public PrefillStats prefillStats() {
    return new PrefillStats(prefixHits.get(), prefixTokens.get(), sharedPrefills.get(),
        prefillPasses.get(), prefillTokens.get());
  }

  /** Free slots holding a finished request's prompt for reuse now (at most the prefix cache). */
  public int prefixCacheEntries() {
    return cachedEntries; // written by the scheduler
  }

  // ---- the scheduler thread ----------------------------------------------------------------------

  private void schedule() {
    model.context().claim(); // the hand-over: the model and its context are this thread's now
    List<Active> active = new ArrayList<>();
    while (true) {
      // admit waiting requests into free slots (blocking only when nothing is generating), all of
      // this round's prompts prefilled together
      List<Request> round = new ArrayList<>();
      while (active.size() + round.size() < options.slots()) {
        Request r = take(active.isEmpty() && round.isEmpty());
        if (r == null) {
          break;
        }
        if (r.future.isDone()) { // cancelled while waiting
          cancelled.incrementAndGet();
          continue;
        }
        round.add(r);
      }
      if (!round.isEmpty()) {
        activeCount = active.size() + round.size();
        for (Active a : Prefill.admit(this, round)) {
          if (!leaves(a)) {
            active.add(a);
          }
        }
        activeCount = active.size();
        cachedEntries = pool.cachedEntries();
      }
      if (active.isEmpty()) {
        if (isClosedAndDrained()) {
          return;
        }
        continue;
      }
      // drop cancelled requests, then one decode step for the rest, at most MAX_DECODE_ROWS at once
      active.removeIf(this::leaves);
      for (int from = 0; from < active.size(); from += KvCache.MAX_DECODE_ROWS) {
        decodeStep(active.subList(from, Math.min(active.size(), from + KvCache.MAX_DECODE_ROWS)));
      }
      active.removeIf(this::leaves);
      activeCount = active.size();
      cachedEntries = pool.cachedEntries();
    }
  }

  /** True (and a's slot freed) when a has stopped, failed or was cancelled. */
  private boolean leaves(Active a) {
    if (a.reason == null && !a.req.future.isDone()) {
      return false;
    }
    if (a.req.future.isCancelled()) {
      cancelled.incrementAndGet();
    }
    if (a.slot >= 0) {
      pool.release(a.slot);
    }
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
  void accept(Active a, float[] logits, int offset) {
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

  void finish(Active a) {
    completed.incrementAndGet(); // before completing, so a caller that got the result sees it
    if (!a.req.future.complete(new Result(Arrays.copyOf(a.out, a.count), a.reason))) {
      completed.decrementAndGet(); // it was cancelled first
    }
  }

  /** Fails one request; it leaves the batch (its future is done). */
  void fail(Active a, Throwable e) {
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
    model.context().release(); // whoever runs the model next (e.g. the caller again) owns it
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
