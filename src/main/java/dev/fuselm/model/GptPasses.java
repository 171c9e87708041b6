package dev.fuselm.model;

import dev.fuselm.nn.Dropout;
import dev.fuselm.nn.LayerNorm;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.PointwiseOps;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;

/**
 * The full-sequence forward and backward passes of a {@link GptModel} (training, evaluation and
 * task heads), over the model's modules and one reused {@link GptActivations}. The model's public
 * methods of the same names document the contract.
 */
final class GptPasses {
  private final GptModel m;
  private GptActivations acts;
  private boolean haveLossState;
  private boolean haveHiddenState;
  private SoftmaxOps.Loss lastLoss;
  private Tensor rowLosses; // (B*T) per-row losses of forwardRowLosses; null until asked for

  GptPasses(GptModel m) {
    this.m = m;
  }

  private GptActivations acts(int b, int t) {
    GptConfig config = m.config();
    if (b <= 0 || t <= 0) {
      throw new IllegalArgumentException("batch and sequence length must be positive, got B=" + b
          + " T=" + t);
    }
    if (t > config.contextLength()) {
      throw new IllegalArgumentException("sequence length " + t + " is longer than the model's"
          + " context window of " + config.contextLength() + " tokens");
    }
    boolean wantGrads = m.backwardable();
    boolean wantBf16 = m.precision() == Precision.BF16;
    if (acts == null || acts.b != b || acts.t != t || (wantGrads && acts.dres == null)
        || acts.bf16 != wantBf16) {
      if (acts != null) {
        acts.close();
      }
      acts = new GptActivations(m.context(), config, b, t, wantGrads, wantBf16);
    }
    return acts;
  }

  long activationBytes() {
    return acts == null ? 0 : acts.pool.highWater();
  }

  float forward(int[] ids, int[] targets, int b, int t) {
    return forward(ids, targets, b, t, false);
  }

  /** forward with targets, also keeping each row's loss (0 where ignored) for rowLosses(). */
  float[] forwardRowLosses(int[] ids, int[] targets, int b, int t) {
    if (targets == null) {
      throw new IllegalArgumentException("per-row losses need targets");
    }
    forward(ids, targets, b, t, true);
    return rowLosses.toFloatArray();
  }

  private float forward(int[] ids, int[] targets, int b, int t, boolean keepRowLosses) {
    ComputeContext ctx = m.context();
    GptActivations a = acts(b, t);
    checkIds(ids, b, t);
    encode(a, ids);
    if (a.bf16) {
      m.lmHead().forwardBf16(ctx, a.logits, a.lnf, a.lnfBf16);
    } else {
      m.lmHead().forward(ctx, a.logits, a.lnf);
    }
    haveLossState = false;
    if (targets == null) {
      return Float.NaN;
    }
    if (targets.length != b * t) {
      throw new IllegalArgumentException("targets has " + targets.length + " entries, expected"
          + " B*T = " + (long) b * t);
    }
    a.targets.copyFrom(targets);
    Tensor losses = null;
    if (keepRowLosses) {
      if (rowLosses == null || rowLosses.numel() != (long) b * t) {
        if (rowLosses != null) {
          rowLosses.close();
        }
        rowLosses = Tensor.zeros(ctx, (long) b * t);
      }
      losses = rowLosses;
    }
    lastLoss = SoftmaxOps.crossEntropyForward(ctx, losses, a.lse, a.logits, a.targets);
    haveLossState = true;
    return lastLoss.mean();
  }

  private static void checkIds(int[] ids, int b, int t) {
    if (ids.length != b * t) {
      throw new IllegalArgumentException("ids has " + ids.length + " entries, expected B*T = "
          + (long) b * t);
    }
  }

  /** Embeddings, blocks and the final layer norm of ids into a.lnf (dropout as in training). */
  private void encode(GptActivations a, int[] ids) {
    ComputeContext ctx = m.context();
    GptConfig config = m.config();
    a.ids.copyFrom(ids);
    haveHiddenState = false;
    boolean dropout = m.isTraining() && config.hasDropout();
    long seed = m.dropoutSeed();
    EmbeddingOps.forward(ctx, a.encoded, a.ids, m.tokenEmbedding(), m.positionEmbedding());
    if (dropout && config.embdDropout() > 0) {
      Dropout.apply(a.encoded, config.embdDropout(), seed, -1);
    }
    float pResid = dropout ? config.residDropout() : 0f;
    float pAttn = dropout ? config.attnDropout() : 0f;
    int n = config.nLayer();
    // each block's last residual add also writes the next layer norm (the next block's ln_1, the
    // last block's: the final norm), one pass over the rows instead of two; bitwise the same
    for (int l = 0; l < n; l++) {
      TransformerBlock.NextNorm next = l + 1 < n
          ? TransformerBlock.NextNorm.of(m.block(l + 1), a.blocks[l + 1])
          : new TransformerBlock.NextNorm(m.finalNorm(), a.lnf, a.lnfMean, a.lnfRstd);
      m.block(l).forwardFusedNorm(ctx, a.residual[l + 1], a.residual[l], a.blocks[l], pResid,
          pAttn, seed, l > 0, next);
    }
  }

  Tensor forwardHidden(int[] ids, int b, int t) {
    GptActivations a = acts(b, t);
    checkIds(ids, b, t);
    haveLossState = false;
    encode(a, ids);
    haveHiddenState = true;
    return a.lnf;
  }

  void backwardHidden(float[] dHidden, int fromBlock) {
    int n = m.config().nLayer();
    if (!m.backwardable()) {
      throw new IllegalStateException("call enableGradients() (or attach trainable LoRA adapters)"
          + " before backwardHidden()");
    }
    if (!haveHiddenState) {
      throw new IllegalStateException("backwardHidden() needs a forwardHidden() just before it");
    }
    if (fromBlock < 0 || fromBlock > n) {
      throw new IllegalArgumentException("fromBlock " + fromBlock + " is outside 0.." + n);
    }
    GptActivations a = acts;
    if (dHidden.length != a.dlnf.numel()) {
      throw new IllegalArgumentException("dHidden has " + dHidden.length + " entries, expected"
          + " B*T*C = " + a.dlnf.numel());
    }
    haveHiddenState = false;
    a.dlnf.copyFrom(dHidden);
    backwardFromFinalNorm(a, fromBlock);
  }

  long lastTargetCount() {
    return lastLoss == null ? 0 : lastLoss.count();
  }

  Tensor logits() {
    if (acts == null) {
      throw new IllegalStateException("no forward pass has run yet");
    }
    return acts.logits;
  }

  void backward(float dloss) {
    if (!m.backwardable()) {
      throw new IllegalStateException("call enableGradients() (or attach trainable LoRA adapters)"
          + " before backward()");
    }
    if (!haveLossState) {
      throw new IllegalStateException("backward() needs a forward() with targets just before it");
    }
    haveLossState = false;
    haveHiddenState = false;
    ComputeContext ctx = m.context();
    GptActivations a = acts;
    SoftmaxOps.crossEntropyBackward(ctx, a.logits, a.logits, a.lse, a.targets, dloss,
        lastLoss.count());
    backwardFromLogits(a);
  }

  /**
   * The gradients of sum over rows r of dloss[r] * loss_r (loss_r the cross-entropy of row r of the
   * last forward with targets; ignored rows contribute nothing): (softmax - onehot) per row, each
   * run of rows with equal weight scaled by one native call, then the same path as backward.
   */
  void backwardRows(float[] dloss) {
    if (!m.backwardable()) {
      throw new IllegalStateException("call enableGradients() (or attach trainable LoRA adapters)"
          + " before backwardRows()");
    }
    if (!haveLossState) {
      throw new IllegalStateException("backwardRows() needs a forward with targets just before it");
    }
    GptActivations a = acts;
    long rows = (long) a.b * a.t;
    if (dloss.length != rows) {
      throw new IllegalArgumentException("dloss has " + dloss.length + " entries, expected B*T = "
          + rows);
    }
    haveLossState = false;
    haveHiddenState = false;
    ComputeContext ctx = m.context();
    SoftmaxOps.crossEntropyBackward(ctx, a.logits, a.logits, a.lse, a.targets, 1f, 1);
    long v = a.logits.dim(-1);
    for (int r = 0; r < rows; ) {
      int e = r + 1;
      while (e < rows && dloss[e] == dloss[r]) {
        e++;
      }
      if (dloss[r] != 1f) {
        PointwiseOps.scale(ctx, a.logits.view(r * v, (long) (e - r) * v), dloss[r]);
      }
      r = e;
    }
    backwardFromLogits(a);
  }

  /** From dlogits (in a.logits) through the LM head and down the model. */
  private void backwardFromLogits(GptActivations a) {
    ComputeContext ctx = m.context();
    if (a.bf16) {
      m.lmHead().backwardBf16(ctx, a.dlnf, a.logits, a.dlogitsBf16, a.lnf, a.lnfBf16);
    } else {
      m.lmHead().backward(ctx, a.dlnf, a.logits, a.lnf);
    }
    backwardFromFinalNorm(a, 0);
  }

  /**
   * From a.dlnf (the gradient of the final norm's output) down through the final norm and blocks
   * fromBlock..nLayer-1, and into the embeddings when fromBlock is 0 and the base has gradients.
   */
  private void backwardFromFinalNorm(GptActivations a, int fromBlock) {
    ComputeContext ctx = m.context();
    GptConfig config = m.config();
    int n = config.nLayer();
    boolean dropout = m.isTraining() && config.hasDropout();
    long seed = m.dropoutSeed();
    LayerNorm lnf = m.finalNorm();
    a.dres.zero();
    lnf.backward(ctx, a.dres, a.dlnf, a.residual[n], a.lnfMean, a.lnfRstd);
    float pResid = dropout ? config.residDropout() : 0f;
    float pAttn = dropout ? config.attnDropout() : 0f;
    for (int l = n - 1; l >= fromBlock; l--) {
      m.block(l).backward(ctx, a.dres, a.residual[l], a.blocks[l], a.scratch, pResid, pAttn, seed);
    }
    ParameterSlab grads = m.grads();
    if (fromBlock != 0 || grads == null) {
      return; // frozen base (LoRA), or blocks below fromBlock: nothing into the embeddings
    }
    if (dropout && config.embdDropout() > 0) {
      Dropout.apply(a.dres, config.embdDropout(), seed, -1);
    }
    EmbeddingOps.backward(ctx, grads.get(GptModel.PREFIX + "wte.weight"),
        grads.get(GptModel.PREFIX + "wpe.weight"),
        a.dres.reshape(a.b, a.t, config.dModel()), a.ids, m.tokenEmbedding(),
        m.positionEmbedding());
  }

  void release() {
    if (rowLosses != null) {
      rowLosses.close();
      rowLosses = null;
    }
    if (acts != null) {
      acts.close();
      acts = null;
    }
    haveLossState = false;
    haveHiddenState = false;
  }
}
