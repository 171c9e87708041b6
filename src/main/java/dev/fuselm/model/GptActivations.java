package dev.fuselm.model;

import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * The activations, inputs and gradient scratch of {@link GptModel}'s forward and backward for one
 * batch shape (B, T), in one arena: allocated on the first step of that shape and reused by every
 * later one, so a training step allocates nothing.
 */
final class GptActivations implements AutoCloseable {
  final int b, t;
  final boolean bf16;
  final Arena pool;
  final Tensor ids, targets, encoded, lnf, lnfMean, lnfRstd, logits, lse, dres, dlnf;
  final Tensor lnfBf16, dlogitsBf16; // bf16 precision only: the LM head's GEMM operands
  final Tensor[] residual;
  final TransformerBlock.Activations[] blocks;
  final TransformerBlock.Scratch scratch;

  GptActivations(ComputeContext ctx, GptConfig cfg, int b, int t, boolean withGrads,
      boolean bf16) {
    this.b = b;
    this.t = t;
    this.bf16 = bf16;
    long n = (long) b * t, c = cfg.dModel();
    pool = new Arena(ctx, 1 << 20);
    ids = pool.ints(b, t);
    targets = pool.ints(b, t);
    encoded = pool.zeros(b, t, c);
    residual = new Tensor[cfg.nLayer() + 1];
    residual[0] = encoded.reshape(n, c);
    blocks = new TransformerBlock.Activations[cfg.nLayer()];
    for (int l = 0; l < cfg.nLayer(); l++) {
      blocks[l] = new TransformerBlock.Activations(pool, b, t, c, cfg.nHead(), bf16);
      residual[l + 1] = pool.zeros(n, c);
    }
    lnf = pool.zeros(n, c);
    lnfMean = pool.zeros(n);
    lnfRstd = pool.zeros(n);
    logits = pool.zeros(n, cfg.vocabSize());
    lse = pool.zeros(n);
    lnfBf16 = bf16 ? pool.bf16(n, c) : null;
    if (withGrads) {
      dres = pool.zeros(n, c);
      dlnf = pool.zeros(n, c);
      scratch = new TransformerBlock.Scratch(pool, b, t, c, bf16);
      dlogitsBf16 = bf16 ? pool.bf16(n, cfg.vocabSize()) : null;
    } else {
      dres = null;
      dlnf = null;
      scratch = null;
      dlogitsBf16 = null;
    }
  }

  @Override
  public void close() {
    pool.close();
  }
}
