package dev.fuselm.model;

import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.Tensor;

/**
 * What a {@link BertModel} keeps for one (B, T): inputs, activations (per block for training, one
 * shared set for inference) and gradient scratch. One arena; closing it frees them all.
 */
final class BertActivations implements AutoCloseable {
  final int b, t;
  final boolean withGrads;
  final Arena pool;
  final Tensor ids, types, mask, cls, typeSum, embSum, embMean, embRstd, clsHidden, pooledPre,
      pooled, dHidden, dPooled, dEmb, dCls;
  final Tensor[] residual;
  final TransformerBlock.Activations[] layers;
  final TransformerBlock.Scratch scratch;

  BertActivations(ComputeContext ctx, BertConfig cfg, int b, int t, boolean withGrads) {
    this.b = b;
    this.t = t;
    this.withGrads = withGrads;
    long n = (long) b * t, c = cfg.hiddenSize(), inter = cfg.intermediateSize();
    pool = new Arena(ctx, 1 << 20);
    ids = pool.ints(b, t);
    types = pool.ints(b, t);
    mask = pool.ints(b, t);
    cls = pool.ints(1, b);
    int[] rows = new int[b];
    for (int i = 0; i < b; i++) {
      rows[i] = i * t;
    }
    cls.copyFrom(rows);
    typeSum = pool.zeros(b, t, c);
    embSum = pool.zeros(n, c);
    embMean = pool.zeros(n);
    embRstd = pool.zeros(n);
    residual = new Tensor[cfg.numLayers() + 1];
    layers = new TransformerBlock.Activations[cfg.numLayers()];
    residual[0] = pool.zeros(n, c);
    if (withGrads) {
      for (int l = 0; l < layers.length; l++) {
        layers[l] = TransformerBlock.Activations.postLn(pool, b, t, c, inter, cfg.numHeads(),
            true);
        residual[l + 1] = pool.zeros(n, c);
      }
    } else {
      // inference: the blocks take turns with one set of activations and two residual buffers
      TransformerBlock.Activations shared =
          TransformerBlock.Activations.postLn(pool, b, t, c, inter, cfg.numHeads(), false);
      Tensor other = pool.zeros(n, c);
      for (int l = 0; l < layers.length; l++) {
        layers[l] = shared;
        residual[l + 1] = l % 2 == 0 ? other : residual[0];
      }
    }
    clsHidden = pool.zeros(1, b, c);
    pooledPre = pool.zeros(b, c);
    pooled = pool.zeros(b, c);
    if (withGrads) {
      dHidden = pool.zeros(n, c);
      dPooled = pool.zeros(b, c);
      dEmb = pool.zeros(n, c);
      dCls = pool.zeros(b, c);
      scratch = TransformerBlock.Scratch.postLn(pool, b, t, c, inter);
    } else {
      dHidden = dPooled = dEmb = dCls = null;
      scratch = null;
    }
  }

  Tensor hidden() {
    return residual[residual.length - 1];
  }

  @Override
  public void close() {
    pool.close();
  }
}
