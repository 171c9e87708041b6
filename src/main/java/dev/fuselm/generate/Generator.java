package dev.fuselm.generate;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.Arena;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Autoregressive generation with a KV cache: the prompt is run once (prefill), then each new token
 * costs one position through every layer plus attention over the cached keys and values, so the
 * per-token cost does not grow with the prompt beyond attention itself.
 *
 * <p>A generator owns its cache and scratch for a batch size (allocated once, reused by every
 * call) and reads the model's weights; it is not thread-safe. Close it before the model.
 *
 * <p>Weights: float32 reads the model's own matrices. bfloat16 makes a bf16 copy of every matrix
 * multiplied per token (the four linear layers of each block and the LM head; embeddings, layer
 * norms and biases stay float32) when the generator is built, and multiplies with it
 * ({@link DecodeWeights}: float32 activations and sums): half the bytes to read per token,
 * which is what bounds decoding speed. The copy is not refreshed if the model's weights change later.
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
  private final DecodeWeights weights;
  private final ComputeContext ctx;
  private final GptConfig cfg;
  private final int batch;
  private final int tmax;
  private final Arena pool;
  private final Tensor[] caches;
  private final Tensor ids, x, x2, ln, qkvNew, y, attnOut, res2, h, hGelu, mlpOut, last, logits;

  /** A generator for up to {@code batch} sequences of the model's full context (float32 weights). */
  public Generator(GptModel model, int batch) {
    this(model, batch, DType.FLOAT32);
  }

  /**
   * A generator for up to {@code batch} sequences that multiplies with weights of type {@code
   * weights}: {@link DType#FLOAT32} (the model's own) or {@link DType#BFLOAT16} (a copy made now).
   */
  public Generator(GptModel model, int batch, DType weights) {
    this.model = model;
    this.ctx = model.context();
    this.cfg = model.config();
    this.batch = batch;
    this.tmax = cfg.contextLength();
    long c = cfg.dModel();
    long n = (long) batch * tmax;
    pool = new Arena(ctx, 1 << 20);
    caches = new Tensor[cfg.nLayer()];
    for (int l = 0; l < caches.length; l++) {
      caches[l] = pool.zeros(batch, tmax, 3 * c);
    }
    ids = pool.ints(n);
    x = pool.zeros(n * c);
    x2 = pool.zeros(n * c);
    ln = pool.zeros(n * c);
    qkvNew = pool.zeros(n * 3 * c);
    y = pool.zeros(n * c);
    attnOut = pool.zeros(n * c);
    res2 = pool.zeros(n * c);
    h = pool.zeros(n * 4 * c);
    hGelu = pool.zeros(n * 4 * c);
    mlpOut = pool.zeros(n * c);
    last = pool.zeros((long) batch * c);
    logits = pool.zeros((long) batch * cfg.vocabSize());
    try {
      this.weights = new DecodeWeights(model, weights);
    } catch (RuntimeException | Error e) {
      pool.close();
      throw e;
    }
  }

  /** The type of the matrices this generator multiplies with. */
  public DType weightType() {
    return weights.type();
  }

  /** Native bytes of the KV cache and scratch. */
  public long bytes() {
    return pool.highWater();
  }

  /** Native bytes of the weight copies this generator owns (0 for float32 weights). */
  public long weightBytes() {
    return weights.ownedBytes();
  }

  /** Bytes of matrix weights read per decoded token: every linear layer's and the LM head's. */
  public long matmulWeightBytesPerToken() {
    return weights.bytesPerToken();
  }

  /**
   * Runs positions start..start+tq-1 of every row (their ids in tokens, row-major (B, tq)) through
   * the model, filling the cache, and leaves the logits of the last position in {@link #logits}.
   */
  private void step(int b, int[] tokens, int start, int tq) {
    long c = cfg.dModel();
    long rows = (long) b * tq;
    Tensor idv = ids.view(0, b, tq);
    idv.copyFrom(tokens);
    Tensor xv = x.view(0, rows, c);
    Tensor x2v = x2.view(0, rows, c);
    // token embedding of the ids + position embedding rows start..start+tq-1
    Tensor wpe = model.positionEmbedding();
    Tensor wpeSlice = wpe.view(start * c, tq, c);
    EmbeddingOps.forward(ctx, xv.reshape(b, tq, c), idv, model.tokenEmbedding(), wpeSlice);
    Tensor lnv = ln.view(0, rows, c);
    Tensor qkv = qkvNew.view(0, rows, 3 * c);
    Tensor yv = y.view(0, b, tq, c);
    Tensor ao = attnOut.view(0, rows, c);
    Tensor r2 = res2.view(0, rows, c);
    Tensor hv = h.view(0, rows, 4 * c);
    Tensor hg = hGelu.view(0, rows, 4 * c);
    Tensor mo = mlpOut.view(0, rows, c);
    for (int l = 0; l < cfg.nLayer(); l++) {
      TransformerBlock blk = model.block(l);
      blk.ln1().forward(ctx, lnv, null, null, xv);
      Tensor cache = b == batch ? caches[l] : caches[l].view(0, b, tmax, 3 * c);
      // attention: q, k, v of the new positions into the cache, attend over it, project
      if (b == 1) {
        weights.linear(l, DecodeWeights.QKV, cache.view(start * 3 * c, tq, 3 * c), lnv);
      } else {
        weights.linear(l, DecodeWeights.QKV, qkv, lnv);
        for (long i = 0; i < b; i++) {
          cache.view((i * tmax + start) * 3 * c, tq * 3 * c)
              .copyFrom(qkv.view(i * tq * 3 * c, tq * 3 * c));
        }
      }
      AttentionOps.forwardCached(ctx, yv, cache, start + tq, blk.attn().heads());
      weights.linear(l, DecodeWeights.ATTN_PROJ, ao, yv.reshape(rows, c));
      blk.ln2().residualForward(ctx, r2, lnv, null, null, xv, ao);
      weights.linear(l, DecodeWeights.FC, hv, lnv);
      PointwiseOps.geluForward(ctx, hg, hv);
      weights.linear(l, DecodeWeights.MLP_PROJ, mo, hg);
      PointwiseOps.add(ctx, x2v, r2, mo);
      Tensor t = xv;
      xv = x2v;
      x2v = t;
    }
    // final norm and head on the last position of each row only
    Tensor lastv = last.view(0, b, c);
    for (int i = 0; i < b; i++) {
      lastv.view(i * c, c).copyFrom(xv.view(((long) i * tq + tq - 1) * c, c));
    }
    Tensor normed = ln.view(0, b, c);
    model.finalNorm().forward(ctx, normed, null, null, lastv);
    Tensor lg = logits.view(0, b, cfg.vocabSize());
    weights.head(lg, normed);
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

  /**
   * Checks a prompt for a model of vocabulary {@code vocabSize} and context {@code tmax}: non-empty,
   * every id in range, and no longer than the context (or, when the config allows truncation, its
   * last tmax ids). Throws IllegalArgumentException naming the problem.
   */
  public static int[] fitPrompt(int[] prompt, GenerationConfig gc, int vocabSize, int tmax) {
    if (prompt.length == 0) {
      throw new IllegalArgumentException("the prompt is empty: give at least one token");
    }
    for (int i = 0; i < prompt.length; i++) {
      if (prompt[i] < 0 || prompt[i] >= vocabSize) {
        throw new IllegalArgumentException("prompt token " + i + " has id " + prompt[i]
            + ", outside the model's vocabulary of " + vocabSize);
      }
    }
    if (prompt.length > tmax) {
      if (!gc.truncatePrompt()) {
        throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens, more than"
            + " the model's context window of " + tmax + " (shorten it, or allow truncation to keep"
            + " its last " + tmax + " tokens)");
      }
      return Arrays.copyOfRange(prompt, prompt.length - tmax, prompt.length);
    }
    return prompt;
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
      samplers[i] = new Sampler(new GenerationConfig(gc.maxNewTokens(), gc.temperature(), gc.topK(),
          gc.topP(), gc.seed() + rowOffset + i, gc.stopToken(), gc.truncatePrompt()));
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
      float[] lg = logits.view(0, (long) b * v).toFloatArray();
      for (int i = 0; i < b; i++) {
        if (reasons[i] != null) {
          nextIds[i] = 0; // a finished row keeps running (batched) but its tokens are dropped
          continue;
        }
        int id = samplers[i].next(lg, i * v, v);
        nextIds[i] = id;
        outIds[i][counts[i]++] = id;
        boolean keep = listener == null || listener.onToken(rowOffset + i, id);
        if (id == gc.stopToken()) {
          reasons[i] = StopReason.STOP_TOKEN;
        } else if (!keep) {
          reasons[i] = StopReason.LISTENER;
        } else if (counts[i] == gc.maxNewTokens()) {
          reasons[i] = StopReason.BUDGET;
        } else if (pos >= tmax) {
          reasons[i] = StopReason.CONTEXT_FULL;
        }
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
    int v = cfg.vocabSize();
    float[][] out = new float[tokens.length - prefill + 1][];
    step(1, Arrays.copyOf(tokens, prefill), 0, prefill);
    out[0] = logits.view(0, v).toFloatArray();
    for (int p = prefill; p < tokens.length; p++) {
      step(1, new int[] {tokens[p]}, p, 1);
      out[p - prefill + 1] = logits.view(0, v).toFloatArray();
    }
    return out;
  }

  @Override
  public void close() {
    pool.close();
    weights.close();
  }
}
