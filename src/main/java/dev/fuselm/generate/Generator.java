package dev.fuselm.generate;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.KvCache;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new token
 * costs one position through every layer plus attention over the cached keys and values, so the
 * per-token cost does not grow with the prompt beyond attention itself. The model does the math
 * ({@link GptModel#forwardCached}); this class only schedules the rows and samples.
 *
 * <p>A generator owns its {@link KvCache} for a batch size (allocated once, reused by every call)
 * and reads the model's weights. It is confined to one thread: the first thread that generates
 * with it owns it (it may be built on another), and any other thread that then calls
 * {@link #generate} or {@link #cachedLogits} gets an {@link IllegalStateException} naming both
 * threads instead of silently wrong results. The model is confined likewise (its {@link
 * dev.fuselm.tensor.ComputeContext}), so two generators on one model are for one thread too.
 * Close it before the model. For many threads sharing one model, use the thread-safe {@code
 * serve.InferenceSession}.
 *
 * <p>Weights: float32 multiplies with the model's own matrices. bfloat16 multiplies with the bf16
 * copy each layer of the model holds of its matrix (the four linear layers of each block and the
 * LM head; embeddings, layer norms and biases stay float32), made when the generator is built and
 * rounded again after {@link GptModel#weightsChanged()}: half the bytes to read per token, which
 * is what bounds decoding speed. The copies stay with the model (it frees them on close).
 */
public final class Generator implements AutoCloseable {
  /** Receives each generated token of sequence {@code row}; return false to stop that sequence. */
  @FunctionalInterface
  public interface TokenListener {
    boolean onToken(int row, int id);
  }

  /** Why generation ended. */
  public enum StopReason { BUDGET, STOP_TOKEN, CONTEXT_FULL, LISTENER }

  /** One sequence's generated ids (prompt excluded) and why it stopped. */
  public record Result(int[] ids, StopReason reason) {}

  private final GptModel model;
  private final GptConfig cfg;
  private final int batch;
  private final int tmax;
  private final KvCache cache;
  private Tensor logits; // of the last step: (rows, V)
  private volatile Thread owner; // the first thread that generated; null until then

  /** A generator for up to {@code batch} sequences of the model's full context (float32 weights). */
  public Generator(GptModel model, int batch) {
    this(model, batch, DType.FLOAT32);
  }

  /**
   * A generator for up to {@code batch} sequences that multiplies with weights of type {@code
   * weights}: {@link DType#FLOAT32} (the model's own), {@link DType#BFLOAT16} (the model's bf16
   * copies, made now if it has none) or {@link DType#INT8} (its Q8_0 copies, likewise).
   */
  public Generator(GptModel model, int batch, DType weights) {
    this.model = model;
    this.cfg = model.config();
    this.batch = batch;
    this.tmax = cfg.contextLength();
    this.cache = KvCache.create(model, batch, batch * tmax, weights);
  }

  /** The type of the matrices this generator multiplies with. */
  public DType weightType() {
    return cache.weights();
  }

  /** Native bytes of the KV cache and scratch. */
  public long bytes() {
    return cache.bytes();
  }

  /**
   * Native bytes of the bf16 weight copies this generator multiplies with (held by the model; 0
   * for float32 weights, only the head's for a model loaded with bf16 matrices).
   */
  public long weightBytes() {
    if (cache.weights() == DType.INT8) {
      return model.int8WeightBytes();
    }
    return cache.weights() == DType.BFLOAT16 ? model.bf16WeightBytes() : 0;
  }

  /** Bytes of matrix weights read per decoded token: every linear layer's and the LM head's. */
  public long matmulWeightBytesPerToken() {
    return cache.weightBytesPerToken();
  }

  /**
   * Runs positions start..start+tq-1 of rows 0..b-1 (their ids in tokens, row-major (B, tq))
   * through the model, filling the cache, and keeps the logits of each row's last position.
   */
  private void step(int b, int[] tokens, int start, int tq) {
    checkThread();
    int[] slots = new int[b];
    int[] positions = new int[b];
    for (int i = 0; i < b; i++) {
      slots[i] = i;
      positions[i] = start;
    }
    logits = model.forwardCached(cache, slots, positions, tokens);
  }

  /**
   * Claims this generator for the calling thread on first use; afterwards, fails fast on any other
   * thread (the KV cache and logits are per-generator state, so two threads would corrupt each
   * other's sequences).
   */
  private void checkThread() {
    Thread me = Thread.currentThread();
    Thread o = owner;
    if (o == null) {
      synchronized (this) {
        if (owner == null) {
          owner = me;
        }
        o = owner;
      }
    }
    if (o != me) {
      throw new IllegalStateException("Generator is confined to thread '" + o.getName()
          + "', which first used it; thread '" + me.getName() + "' may not use it (give each"
          + " thread its own model and Generator, or share an InferenceSession, which is"
          + " thread-safe)");
    }
  }

  /** Generates from one prompt. */
  public Result generate(int[] prompt, GenerationConfig gc, TokenListener listener) {
    return generate(List.of(prompt), gc, listener).get(0);
  }

  /**
   * Generates from several prompts. Prompts of equal length run as one batch; others run one after
   * another (the cached attention kernel has no padding mask). Each row samples with seed
   * {@code seed + row}.
   */
  public List<Result> generate(List<int[]> prompts, GenerationConfig gc, TokenListener listener) {
    checkThread();
    if (prompts.isEmpty()) {
      return List.of();
    }
    List<int[]> fitted = new ArrayList<>();
    for (int[] p : prompts) {
      fitted.add(fit(p, gc));
    }
    boolean sameLength = fitted.stream().allMatch(p -> p.length == fitted.get(0).length);
    if (sameLength && fitted.size() <= batch) {
      return run(fitted, gc, listener, 0);
    }
    List<Result> out = new ArrayList<>();
    for (int i = 0; i < fitted.size(); i++) {
      out.addAll(run(List.of(fitted.get(i)), gc, listener, i));
    }
    return out;
  }

  private int[] fit(int[] prompt, GenerationConfig gc) {
    return fitPrompt(prompt, gc, cfg.vocabSize(), tmax);
  }

  /** {@link StopRules#fitPrompt} (kept here for existing callers). */
  public static int[] fitPrompt(int[] prompt, GenerationConfig gc, int vocabSize, int tmax) {
    return StopRules.fitPrompt(prompt, gc, vocabSize, tmax);
  }

  private List<Result> run(List<int[]> prompts, GenerationConfig gc, TokenListener listener,
      int rowOffset) {
    int b = prompts.size();
    int t0 = prompts.get(0).length;
    int[] flat = new int[b * t0];
    for (int i = 0; i < b; i++) {
      System.arraycopy(prompts.get(i), 0, flat, i * t0, t0);
    }
    Sampler[] samplers = new Sampler[b];
    for (int i = 0; i < b; i++) {
      samplers[i] = new Sampler(gc.withSeed(gc.seed() + rowOffset + i));
    }
    int v = cfg.vocabSize();
    int[][] outIds = new int[b][gc.maxNewTokens()];
    int[] counts = new int[b];
    StopReason[] reasons = new StopReason[b];
    int alive = b;
    int pos = t0;
    if (gc.maxNewTokens() == 0) {
      Arrays.fill(reasons, StopReason.BUDGET);
      alive = 0;
    } else {
      step(b, flat, 0, t0);
    }
    int[] nextIds = new int[b];
    while (alive > 0) {
      float[] lg = logits.toFloatArray();
      for (int i = 0; i < b; i++) {
        if (reasons[i] != null) {
          nextIds[i] = 0; // a finished row keeps running (batched) but its tokens are dropped
          continue;
        }
        int id = samplers[i].next(lg, i * v, v);
        nextIds[i] = id;
        outIds[i][counts[i]++] = id;
        boolean keep = listener == null || listener.onToken(rowOffset + i, id);
        reasons[i] = StopRules.after(id, keep, counts[i], pos, gc, tmax);
        if (reasons[i] != null) {
          alive--;
        }
      }
      if (alive == 0) {
        break;
      }
      step(b, nextIds, pos, 1);
      pos++;
    }
    List<Result> out = new ArrayList<>();
    for (int i = 0; i < b; i++) {
      out.add(new Result(Arrays.copyOf(outIds[i], counts[i]), reasons[i]));
    }
    return out;
  }

  /**
   * The logits (V) of every position of one sequence computed through the cache, one token at a
   * time after the first: for tests against the full forward pass.
   */
  public float[][] cachedLogits(int[] tokens, int prefill) {
    checkThread();
    float[][] out = new float[tokens.length - prefill + 1][];
    step(1, Arrays.copyOf(tokens, prefill), 0, prefill);
    out[0] = logits.toFloatArray();
    for (int p = prefill; p < tokens.length; p++) {
      step(1, new int[] {tokens[p]}, p, 1);
      out[p - prefill + 1] = logits.toFloatArray();
    }
    return out;
  }

  /**
   * Starts (true) or stops timing the parts of each decode step ({@link KvCache#profile}; bench
   * only).
   */
  public void profile(boolean on) {
    cache.profile(on);
  }

  /** Nanoseconds per part of the steps since {@link #profile}(true) ({@link KvCache#PROFILE_PARTS}). */
  public long[] profileNanos() {
    return cache.profileNanos();
  }

  @Override
  public void close() {
    cache.close();
  }
}
