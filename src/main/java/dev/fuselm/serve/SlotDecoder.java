package dev.fuselm.serve;

import dev.fuselm.generate.DecodeWeights;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * The model forward pass over KV-cache slots, each at its own position: the engine of continuous
 * batching. A fixed pool of slots each owns a KV cache of the full context (its own {@link Arena});
 * one scratch arena holds the activations of a step.
 *
 * <p>A step runs rows of several slots together: the GEMMs, layer norms and GELU see all rows at
 * once, while the embedding (each row has its own position) and attention (each row has its own
 * cache length) run per row. Every op involved computes a row independently of the other rows as
 * long as a GEMM stays on the small-M path (M &lt;= {@link #MAX_DECODE_ROWS}), so a row of a batched
 * decode step gives exactly the bits of the same row decoded alone with
 * {@link dev.fuselm.generate.Generator} (the session test checks this). A prefill runs one slot at
 * a time with all its prompt positions, the same computation as the Generator's batch-1 prefill.
 * The matrices are multiplied through {@link DecodeWeights} of the session's weight type, as the
 * Generator does, so this holds for float32 and bf16 weights alike.
 *
 * <p>Not thread-safe: only the session's scheduler thread calls it.
 */
final class SlotDecoder implements AutoCloseable {
  /**
   * Most rows per decode step: the native GEMM's small-M path (M &lt;= 8, gemm.cpp's kSmallM) is
   * the one whose per-row arithmetic does not depend on M; more rows would switch to the packed
   * path and change the last bits. Larger batches are split into steps of this size.
   */
  static final int MAX_DECODE_ROWS = 8;

  private final GptModel model;
  private final GptConfig cfg;
  private final int tmax;
  private final DecodeWeights weights;
  private final Arena[] slotArenas;
  private final Tensor[][] caches; // [slot][layer] (1, Tmax, 3C)
  private final Arena scratch;
  private final Tensor ids, x, x2, ln, qkv, y, attnOut, res2, h, hGelu, mlpOut, last, normed, logits;

  /** A decoder of {@code slots} slots multiplying with matrices of type {@code weightType}. */
  SlotDecoder(GptModel model, int slots, DType weightType) {
    this.model = model;
    this.cfg = model.config();
    this.tmax = cfg.contextLength();
    long c = cfg.dModel();
    slotArenas = new Arena[slots];
    caches = new Tensor[slots][cfg.nLayer()];
    weights = new DecodeWeights(model, weightType);
    try {
      for (int s = 0; s < slots; s++) {
        slotArenas[s] = new Arena(model.context(), (long) cfg.nLayer() * tmax * 3 * c * 4);
        for (int l = 0; l < cfg.nLayer(); l++) {
          caches[s][l] = slotArenas[s].floats(1, tmax, 3 * c);
        }
      }
      // a prefill has up to Tmax rows, a decode step up to MAX_DECODE_ROWS
      long n = Math.max(tmax, MAX_DECODE_ROWS);
      scratch = new Arena(model.context(), 1 << 20);
      ids = scratch.ints(n);
      x = scratch.floats(n * c);
      x2 = scratch.floats(n * c);
      ln = scratch.floats(n * c);
      qkv = scratch.floats(n * 3 * c);
      y = scratch.floats(n * c);
      attnOut = scratch.floats(n * c);
      res2 = scratch.floats(n * c);
      h = scratch.floats(n * 4 * c);
      hGelu = scratch.floats(n * 4 * c);
      mlpOut = scratch.floats(n * c);
      last = scratch.floats((long) MAX_DECODE_ROWS * c);
      normed = scratch.floats((long) MAX_DECODE_ROWS * c);
      logits = scratch.floats((long) MAX_DECODE_ROWS * cfg.vocabSize());
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  int slots() {
    return slotArenas.length;
  }

  /** Native bytes of the bf16 weight copies (0 for float32 weights). */
  long weightBytes() {
    return weights.ownedBytes();
  }

  /** Native bytes of the caches and the scratch. */
  long bytes() {
    long b = scratch == null ? 0 : scratch.capacity();
    for (Arena a : slotArenas) {
      b += a == null ? 0 : a.capacity();
    }
    return b;
  }

  /**
   * Runs a prompt (positions 0..prompt.length-1) through slot {@code slot}, filling its cache, and
   * returns the logits (V) of the last position.
   */
  float[] prefill(int slot, int[] prompt) {
    forward(new int[] {slot}, new int[] {0}, prompt, prompt.length);
    return logits.view(0, cfg.vocabSize()).toFloatArray();
  }

  /**
   * One new token for each of {@code rows} slots (at most {@link #MAX_DECODE_ROWS}): slot
   * slots[i] gets token tokens[i] at position positions[i]. Returns the logits (rows, V) row-major.
   */
  float[] decode(int[] slots, int[] positions, int[] tokens) {
    if (slots.length > MAX_DECODE_ROWS) {
      throw new IllegalArgumentException(slots.length + " rows in one decode step; at most "
          + MAX_DECODE_ROWS);
    }
    forward(slots, positions, tokens, 1);
    return logits.view(0, (long) slots.length * cfg.vocabSize()).toFloatArray();
  }

  /** rows = slots.length rows of tq positions each, row i starting at starts[i]. */
  private void forward(int[] slots, int[] starts, int[] tokens, int tq) {
    var ctx = model.context();
    long c = cfg.dModel();
    int b = slots.length;
    long rows = (long) b * tq;
    for (int i = 0; i < b; i++) {
      if (starts[i] < 0 || starts[i] + tq > tmax) {
        throw new IllegalArgumentException("KV cache of " + tmax + " positions is full: cannot add "
            + tq + " after " + starts[i]);
      }
    }
    Tensor idv = ids.view(0, b, tq);
    idv.copyFrom(tokens);
    Tensor xv = x.view(0, rows, c);
    Tensor x2v = x2.view(0, rows, c);
    Tensor wpe = model.positionEmbedding();
    for (int i = 0; i < b; i++) {
      EmbeddingOps.forward(ctx, xv.view(i * tq * c, 1, tq, c), idv.view((long) i * tq, 1, tq),
          model.tokenEmbedding(), wpe.view(starts[i] * c, tq, c));
    }
    Tensor lnv = ln.view(0, rows, c);
    Tensor qkvv = qkv.view(0, rows, 3 * c);
    Tensor ao = attnOut.view(0, rows, c);
    Tensor r2 = res2.view(0, rows, c);
    Tensor hv = h.view(0, rows, 4 * c);
    Tensor hg = hGelu.view(0, rows, 4 * c);
    Tensor mo = mlpOut.view(0, rows, c);
    Tensor yv = y.view(0, rows, c);
    for (int l = 0; l < cfg.nLayer(); l++) {
      TransformerBlock blk = model.block(l);
      blk.ln1().forward(ctx, lnv, null, null, xv);
      weights.linear(l, DecodeWeights.QKV, qkvv, lnv);
      for (int i = 0; i < b; i++) {
        Tensor cache = caches[slots[i]][l];
        cache.view(starts[i] * 3 * c, tq * 3 * c).copyFrom(qkvv.view(i * tq * 3 * c, tq * 3 * c));
        AttentionOps.forwardCached(ctx, yv.view(i * tq * c, 1, tq, c), cache, starts[i] + tq,
            blk.attn().heads());
      }
      weights.linear(l, DecodeWeights.ATTN_PROJ, ao, yv);
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
    Tensor normedv = normed.view(0, b, c);
    model.finalNorm().forward(ctx, normedv, null, null, lastv);
    weights.head(logits.view(0, b, cfg.vocabSize()), normedv);
  }

  @Override
  public void close() {
    for (Arena a : slotArenas) {
      if (a != null) {
        a.close();
      }
    }
    if (scratch != null) {
      scratch.close();
    }
    weights.close();
  }
}
