package dev.fuselm.model;

import dev.fuselm.nn.Linear;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.AttentionOps;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;

/**
 * The decoding forward pass of a {@link GptModel} over {@link KvCache} slots, each row at its own
 * position: the prefill of a prompt and the one-token steps of many slots alike. The one place
 * the GPT block is run for decoding ({@link GptModel#forwardCached} documents the contract).
 *
 * <p>The GEMMs, layer norms and GELU see all rows at once, while the embedding (each row has its
 * own positions) and attention (each row has its own cache length) run per row. Every op computes
 * a row independently of the other rows as long as a GEMM stays on the small-M path (at most
 * {@link KvCache#MAX_DECODE_ROWS} rows), so such a batched row has exactly the bits of the same
 * row run alone.
 */
final class CachedForward {
  private CachedForward() {}

  static Tensor run(GptModel model, KvCache cache, int[] slots, int[] positions, int[] tokens) {
    int tq = check(model.config(), cache, slots, positions, tokens);
    int[] counts = new int[slots.length];
    java.util.Arrays.fill(counts, tq);
    return runRows(model, cache, slots, positions, counts, tokens);
  }

  /**
   * Row i runs its own number of positions, counts[i] (the prompts of several requests in one
   * pass): tokens holds row 0's ids, then row 1's, and so on. Each GEMM sees all rows at once, so a
   * row has the bits of the same row run alone when both runs stay on the same GEMM path (at most
   * {@link KvCache#MAX_DECODE_ROWS} rows in all, or more than that in both).
   */
  static Tensor runRagged(GptModel model, KvCache cache, int[] slots, int[] positions,
      int[] counts, int[] tokens) {
    checkRagged(model.config(), cache, slots, positions, counts, tokens);
    return runRows(model, cache, slots, positions, counts, tokens);
  }

  private static Tensor runRows(GptModel model, KvCache cache, int[] slots, int[] positions,
      int[] counts, int[] tokens) {
    GptConfig cfg = model.config();
    ComputeContext ctx = model.context();
    int b = slots.length;
    long[] first = new long[b + 1]; // first row of each slot's positions
    for (int i = 0; i < b; i++) {
      first[i + 1] = first[i] + counts[i];
    }
    long c = cfg.dModel();
    long tmax = cfg.contextLength();
    long rows = first[b];
    DType w = cache.weights();
    long[] prof = cache.profileCounters(); // null unless profiling
    long clock = prof == null ? 0 : System.nanoTime();
    Tensor idv = cache.ids.view(0, rows);
    idv.copyFrom(tokens);
    Tensor xv = cache.x.view(0, rows, c);
    Tensor x2v = cache.x2.view(0, rows, c);
    Tensor wpe = model.positionEmbedding();
    for (int i = 0; i < b; i++) {
      int tq = counts[i];
      EmbeddingOps.forward(ctx, xv.view(first[i] * c, 1, tq, c), idv.view(first[i], 1, tq),
          model.tokenEmbedding(), wpe.view(positions[i] * c, tq, c));
    }
    Tensor lnv = cache.ln.view(0, rows, c);
    Tensor qkvv = cache.qkv.view(0, rows, 3 * c);
    Tensor yv = cache.y.view(0, rows, c);
    Tensor ao = cache.attnOut.view(0, rows, c);
    Tensor r2 = cache.res2.view(0, rows, c);
    Tensor hv = cache.h.view(0, rows, 4 * c);
    Tensor hg = cache.hGelu.view(0, rows, 4 * c);
    Tensor mo = cache.mlpOut.view(0, rows, c);
    for (int l = 0; l < cfg.nLayer(); l++) {
      TransformerBlock blk = model.block(l);
      Tensor layer = cache.layers[l];
      blk.ln1().forward(ctx, lnv, null, null, xv);
      clock = lap(prof, REST, clock);
      // q, k, v of the new positions into each row's slot, attention over it, projection
      linear(ctx, blk.attn().cAttn(), w, qkvv, lnv);
      clock = lap(prof, MATRICES, clock);
      for (int i = 0; i < b; i++) {
        int tq = counts[i];
        Tensor slot = layer.view(slots[i] * tmax * 3 * c, 1, tmax, 3 * c);
        slot.view(positions[i] * 3 * c, tq * 3 * c)
            .copyFrom(qkvv.view(first[i] * 3 * c, tq * 3 * c));
        AttentionOps.forwardCached(ctx, yv.view(first[i] * c, 1, tq, c), slot, positions[i] + tq,
            blk.attn().heads());
      }
      clock = lap(prof, ATTENTION, clock);
      linear(ctx, blk.attn().cProj(), w, ao, yv);
      clock = lap(prof, MATRICES, clock);
      blk.ln2().residualForward(ctx, r2, lnv, null, null, xv, ao);
      clock = lap(prof, REST, clock);
      linear(ctx, blk.mlp().cFc(), w, hv, lnv);
      clock = lap(prof, MATRICES, clock);
      PointwiseOps.geluForward(ctx, hg, hv);
      clock = lap(prof, REST, clock);
      linear(ctx, blk.mlp().cProj(), w, mo, hg);
      clock = lap(prof, MATRICES, clock);
      PointwiseOps.add(ctx, x2v, r2, mo);
      Tensor t = xv;
      xv = x2v;
      x2v = t;
    }
    for (int i = 0; i < b; i++) {
      cache.setLength(slots[i], positions[i] + counts[i]);
    }
    // final norm and head on the last position of each row only
    Tensor lastv = cache.last.view(0, b, c);
    for (int i = 0; i < b; i++) {
      lastv.view(i * c, c).copyFrom(xv.view((first[i + 1] - 1) * c, c));
    }
    Tensor normed = cache.normed.view(0, b, c);
    model.finalNorm().forward(ctx, normed, null, null, lastv);
    Tensor logits = cache.logits.view(0, b, cfg.vocabSize());
    clock = lap(prof, REST, clock);
    if (w == DType.BFLOAT16) {
      model.lmHead().forwardBf16Weight(ctx, logits, normed);
    } else if (w == DType.INT8) {
      model.lmHead().forwardInt8Weight(ctx, logits, normed);
    } else {
      model.lmHead().forward(ctx, logits, normed);
    }
    lap(prof, LM_HEAD, clock);
    return logits;
  }

  // indexes of KvCache.PROFILE_PARTS
  private static final int MATRICES = 0;
  private static final int LM_HEAD = 1;
  private static final int ATTENTION = 2;
  private static final int REST = 3;

  /** Adds the time since t to part (when profiling) and returns the new start. */
  private static long lap(long[] prof, int part, long t) {
    if (prof == null) {
      return 0;
    }
    long now = System.nanoTime();
    prof[part] += now - t;
    return now;
  }

  /**
   * float32: the layer's own forward (with its LoRA adapter); bf16: its bf16 weight; int8: its
   * Q8_0 weight.
   */
  private static void linear(ComputeContext ctx, Linear lin, DType w, Tensor out, Tensor inp) {
    if (w == DType.BFLOAT16) {
      lin.forwardBf16Weight(ctx, out, inp);
    } else if (w == DType.INT8) {
      lin.forwardInt8Weight(ctx, out, inp);
    } else {
      lin.forward(ctx, out, inp);
    }
  }

  /** Checks the arguments of {@link #runRagged}. */
  private static void checkRagged(GptConfig cfg, KvCache cache, int[] slots, int[] positions,
      int[] counts, int[] tokens) {
    int b = slots.length;
    if (b == 0 || positions.length != b || counts.length != b) {
      throw new IllegalArgumentException("a cached forward needs one position and one count per"
          + " slot, got " + b + " slots, " + positions.length + " positions and " + counts.length
          + " counts");
    }
    long rows = 0;
    for (int n : counts) {
      if (n < 1) {
        throw new IllegalArgumentException("every slot needs at least one position, got " + n);
      }
      rows += n;
    }
    if (rows != tokens.length) {
      throw new IllegalArgumentException("the counts add up to " + rows + " positions but "
          + tokens.length + " tokens were given");
    }
    if (rows > cache.maxRows() || b > cache.maxSequences()) {
      throw new IllegalArgumentException(b + " slots of " + rows + " positions in one step; this"
          + " KV cache runs at most " + cache.maxRows() + " positions of " + cache.maxSequences()
          + " slots per step");
    }
    for (int i = 0; i < b; i++) {
      checkSlot(cfg, cache, slots, positions, i, counts[i]);
    }
    checkIds(cfg, tokens);
  }

  /** Checks the arguments; returns the positions per row. */
  private static int check(GptConfig cfg, KvCache cache, int[] slots, int[] positions,
      int[] tokens) {
    int b = slots.length;
    if (b == 0 || positions.length != b || tokens.length == 0 || tokens.length % b != 0) {
      throw new IllegalArgumentException("a cached forward needs one position per slot and the"
          + " same number of tokens for every slot, got " + b + " slots, " + positions.length
          + " positions and " + tokens.length + " tokens");
    }
    int tq = tokens.length / b;
    if ((long) b * tq > cache.maxRows() || b > cache.maxSequences()) {
      throw new IllegalArgumentException(b + " slots of " + tq + " positions in one step; this"
          + " KV cache runs at most " + cache.maxRows() + " positions of " + cache.maxSequences()
          + " slots per step");
    }
    for (int i = 0; i < b; i++) {
      checkSlot(cfg, cache, slots, positions, i, tq);
    }
    checkIds(cfg, tokens);
    return tq;
  }

  private static void checkSlot(GptConfig cfg, KvCache cache, int[] slots, int[] positions, int i,
      int tq) {
    if (slots[i] < 0 || slots[i] >= cache.slots()) {
      throw new IllegalArgumentException("slot " + slots[i] + " is outside 0.."
          + (cache.slots() - 1));
    }
    for (int j = 0; j < i; j++) {
      if (slots[j] == slots[i]) {
        throw new IllegalArgumentException("slot " + slots[i] + " appears twice in one step");
      }
    }
    int start = positions[i];
    if (start < 0 || start > cache.length(slots[i])) {
      throw new IllegalArgumentException("position " + start + " of slot " + slots[i]
          + " leaves a gap: the slot holds " + cache.length(slots[i]) + " positions");
    }
    if (start + tq > cfg.contextLength()) {
      throw new IllegalArgumentException("KV cache of " + cfg.contextLength() + " positions is"
          + " full: cannot add " + tq + " after " + start);
    }
  }

  private static void checkIds(GptConfig cfg, int[] tokens) {
    for (int id : tokens) {
      if (id < 0 || id >= cfg.vocabSize()) {
        throw new IllegalArgumentException("token id " + id + " is outside the model's vocabulary"
            + " of " + cfg.vocabSize());
      }
    }
  }
}
