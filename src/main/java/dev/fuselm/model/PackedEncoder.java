package dev.fuselm.model;

import dev.fuselm.nn.LayerNorm;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * A {@link BertModel}'s inference forward over packed variable-length sequences: the sequences'
 * tokens are laid back to back as N = sum of lengths rows (no padding), so every linear layer, layer
 * norm and GELU runs over the real tokens only and attention over each sequence's own keys
 * ({@code fl_attention_forward_varlen}, offsets in a cumulative-lengths array). Token types are 0,
 * no dropout, nothing kept for a backward.
 *
 * <p>Each row's hidden state is bitwise the padded forward's for the same sequence on the CPU
 * backend at a given ISA and thread count (tested): the embedding sum is the same float add, and the
 * attention kernel adds exactly 0 for a masked key. Activations live in one arena, reset (not
 * freed) per call, so a steady stream of batches reuses one block of the largest N seen.
 */
final class PackedEncoder implements AutoCloseable {
  private final ComputeContext ctx;
  private final BertConfig config;
  private final Arena arena;

  PackedEncoder(ComputeContext ctx, BertConfig config) {
    this.ctx = ctx;
    this.config = config;
    this.arena = new Arena(ctx, 1 << 20);
  }

  /**
   * Runs the encoder on seqs (token ids, each 1..max_position_embeddings long, token type 0) and
   * returns the last hidden states (N, C), sequence s at rows cuSeqlens[s] ..: a view valid until
   * the next call. bf16Weights: the projections on their bf16 weight copies
   * ({@link BertModel#setInferencePrecision}).
   */
  Tensor forward(int[][] seqs, int[] cuSeqlens, Tensor wordEmb, Tensor posEmb, Tensor typeEmb,
      LayerNorm embLn, TransformerBlock[] layers, boolean bf16Weights) {
    int nseq = seqs.length;
    if (cuSeqlens.length != nseq + 1) {
      throw new IllegalArgumentException("cuSeqlens has " + cuSeqlens.length + " entries, need "
          + (nseq + 1));
    }
    cuSeqlens[0] = 0;
    for (int s = 0; s < nseq; s++) {
      int len = seqs[s].length;
      if (len <= 0 || len > config.maxPositions()) {
        throw new IllegalArgumentException("sequence " + s + " has " + len + " tokens; need 1.."
            + config.maxPositions() + " (max_position_embeddings)");
      }
      cuSeqlens[s + 1] = cuSeqlens[s] + len;
    }
    int n = cuSeqlens[nseq];
    int[] ids = new int[n];
    int[] positions = new int[n];
    for (int s = 0; s < nseq; s++) {
      System.arraycopy(seqs[s], 0, ids, cuSeqlens[s], seqs[s].length);
      for (int t = 0; t < seqs[s].length; t++) {
        positions[cuSeqlens[s] + t] = t;
      }
    }
    long c = config.hiddenSize();
    arena.reset();
    Tensor idT = arena.ints(1, n);
    Tensor posT = arena.ints(1, n);
    Tensor typeT = arena.ints(1, n); // zeroed below: token type 0
    Tensor cuT = arena.ints(nseq + 1);
    idT.copyFrom(ids);
    posT.copyFrom(positions);
    typeT.zero();
    Tensor word = arena.floats(1, n, c);
    Tensor pos = arena.floats(1, n, c);
    Tensor typeSum = arena.floats(1, n, c);
    Tensor mean = arena.floats(n);
    Tensor rstd = arena.floats(n);
    // as EmbeddingOps.forward(wte, wpe) does in one pass: word[id] + position[t], one float add
    EmbeddingOps.forward(ctx, word, idT, wordEmb, null);
    EmbeddingOps.forward(ctx, pos, posT, posEmb, null);
    EmbeddingOps.forward(ctx, typeSum, typeT, typeEmb, null);
    Tensor embSum = word.reshape(n, c);
    PointwiseOps.add(ctx, embSum, embSum, pos.reshape(n, c));
    Tensor[] res = {arena.floats(n, c), arena.floats(n, c)};
    embLn.residualForward(ctx, embSum, res[0], mean, rstd, embSum, typeSum.reshape(n, c));
    TransformerBlock.Activations a = TransformerBlock.Activations.postLnInference(arena, n, c,
        config.intermediateSize(), config.numHeads());
    for (int l = 0; l < layers.length; l++) {
      layers[l].forwardPacked(ctx, res[(l + 1) % 2], res[l % 2], cuSeqlens, cuT, a, bf16Weights);
    }
    return res[layers.length % 2];
  }

  /** Native bytes held (the largest batch's activations). */
  long bytes() {
    return arena.capacity();
  }

  @Override
  public void close() {
    arena.close();
  }
}
