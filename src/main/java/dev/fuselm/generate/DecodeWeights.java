package dev.fuselm.generate;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.nn.Linear;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The matrices a decoding forward pass multiplies with, in one weight type: the four linear layers
 * of each block (Conv1D layout (in, out)) and the LM head (V, C). float32 reads the model's own
 * matrices; bfloat16 makes bf16 copies now, owned (and freed) by this object, and multiplies with
 * {@link GemmOps#sgemmBf16w} (float32 activations and sums). A model loaded with bf16 block
 * matrices ({@link GptModel#createWithBf16Matrices}) is read as it is: only its head (the tied
 * token embedding, float32 for the embedding lookup) gets a bf16 copy. Embeddings, layer norms and biases are
 * always the model's float32 ones. Shared by {@link Generator} and the serving session's decoder so
 * that both run the same arithmetic. The copies are not refreshed if the model's weights change.
 */
public final class DecodeWeights implements AutoCloseable {
  /** Index of the qkv projection in a layer's linears. */
  public static final int QKV = 0;
  /** Index of the attention output projection. */
  public static final int ATTN_PROJ = 1;
  /** Index of the MLP expansion. */
  public static final int FC = 2;
  /** Index of the MLP output projection. */
  public static final int MLP_PROJ = 3;

  /**
   * One linear layer as decoding runs it: weight (in, out) float32 or bf16, bias or null, and the
   * model's own module (for its LoRA adapter, which can be attached at any time).
   */
  private record DecodeLinear(Tensor weight, Tensor bias, Linear module) {}

  private final ComputeContext ctx;
  private final DType type;
  private final DecodeLinear[][] linears; // [layer][QKV, ATTN_PROJ, FC, MLP_PROJ]
  private final Tensor head;
  private final List<Tensor> owned = new ArrayList<>();

  /** The model's matrices ({@link DType#FLOAT32}) or bf16 copies of them ({@link DType#BFLOAT16}). */
  public DecodeWeights(GptModel model, DType type) {
    if (type != DType.FLOAT32 && type != DType.BFLOAT16) {
      throw new IllegalArgumentException("generation weights must be float32 or bfloat16, got "
          + type);
    }
    if (type == DType.FLOAT32 && model.hasBf16Matrices()) {
      throw new IllegalArgumentException("this model holds its block matrices in bf16: decode it"
          + " with bf16 weights");
    }
    this.ctx = model.context();
    this.type = type;
    GptConfig cfg = model.config();
    try {
      linears = new DecodeLinear[cfg.nLayer()][];
      for (int l = 0; l < linears.length; l++) {
        String p = GptModel.PREFIX + "h." + l + ".";
        TransformerBlock blk = model.block(l);
        linears[l] = new DecodeLinear[] {
            linear(model, p + "attn.c_attn", cfg.qkvBias(), blk.attn().cAttn()),
            linear(model, p + "attn.c_proj", true, blk.attn().cProj()),
            linear(model, p + "mlp.c_fc", true, blk.mlp().cFc()),
            linear(model, p + "mlp.c_proj", true, blk.mlp().cProj())};
      }
      head = weight(model.headWeight());
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  private DecodeLinear linear(GptModel model, String name, boolean hasBias, Linear module) {
    Tensor w = weight(model.parameter(name + ".weight"));
    return new DecodeLinear(w, hasBias ? model.params().get(name + ".bias") : null, module);
  }

  /** The matrix itself when it has the wanted type (the model's), else a bf16 copy owned here. */
  private Tensor weight(Tensor w) {
    if (w.dtype() == type) {
      return w;
    }
    Tensor t = Bf16Ops.toBf16(ctx, w);
    owned.add(t);
    return t;
  }

  /** The type of the matrices multiplied with. */
  public DType type() {
    return type;
  }

  /**
   * out (rows, out) = inp (rows, in) x weight + bias of linear {@code which} of layer {@code l}
   * (float32: plus the model's LoRA adapter's update, when one is attached).
   */
  public void linear(int l, int which, Tensor out, Tensor inp) {
    DecodeLinear lin = linears[l][which];
    if (type == DType.BFLOAT16) {
      if (lin.module().adapter() != null) {
        throw new IllegalStateException("LoRA adapters are attached: merge them into the model"
            + " (mergeLora) before decoding with bf16 weights");
      }
      GemmOps.sgemmBf16w(ctx, false, false, 1f, inp, lin.weight(), 0f, lin.bias(), out);
    } else {
      lin.module().forward(ctx, out, inp); // the same GEMM, plus the adapter
    }
  }

  /** logits (rows, V) = normed (rows, C) x head^T. */
  public void head(Tensor logits, Tensor normed) {
    if (type == DType.BFLOAT16) {
      GemmOps.sgemmBf16w(ctx, false, true, 1f, normed, head, 0f, null, logits);
    } else {
      GemmOps.sgemm(ctx, false, true, 1f, normed, head, 0f, logits);
    }
  }

  /**
   * Native bytes of the copies this object owns: 0 for float32, only the head's for a model with
   * bf16 matrices.
   */
  public long ownedBytes() {
    long n = 0;
    for (Tensor t : owned) {
      n += t.bytes();
    }
    return n;
  }

  /** Bytes of matrix weights read per decoded token: every linear layer's and the LM head's. */
  public long bytesPerToken() {
    long n = head.bytes();
    for (DecodeLinear[] layer : linears) {
      for (DecodeLinear lin : layer) {
        n += lin.weight().bytes();
      }
    }
    return n;
  }

  @Override
  public void close() {
    for (Tensor t : owned) {
      t.close();
    }
    owned.clear();
  }
}
