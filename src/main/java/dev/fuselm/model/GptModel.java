package dev.fuselm.model;

import dev.fuselm.nn.CausalSelfAttention;
import dev.fuselm.nn.FeedForward;
import dev.fuselm.nn.LayerNorm;
import dev.fuselm.nn.Linear;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.NativeMemory;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A GPT-2 language model with explicit forward and backward passes through the native ops.
 *
 * <p>Parameters live in one {@link ParameterSlab} under Hugging Face GPT-2 names and layouts
 * ({@code transformer.h.0.attn.c_attn.weight} is (C, 3C), Conv1D style; see {@link GptLayout}),
 * gradients in a second slab of the same layout (only once {@link #enableGradients()} was
 * called). The full-sequence passes live in {@link GptPasses} (their activations, reused per batch
 * shape, in {@link GptActivations}); the decoding pass over a {@link KvCache} in {@link
 * CachedForward}.
 *
 * <p>Weight precision is owned by the layers: each block {@link Linear} and the {@link LmHead}
 * hold the float32 master and, on demand, a bf16 copy that is rounded again after {@link
 * #weightsChanged()}. {@link #setPrecision} switches the full-sequence passes to bf16 mixed
 * precision (see {@link Precision}); a {@link KvCache} of bf16 weights decodes with the same copies.
 *
 * <p>As a {@link Backbone} it takes right-padded {@link TokenBatch}es without token types.
 *
 * <p>Not thread-safe, and confined to one thread: the thread that first runs it owns it (with its
 * context), and another thread that runs it gets an {@link IllegalStateException}; see {@link
 * ComputeContext} for handing it over ({@link ComputeContext#claim()}).
 */
public final class GptModel implements Backbone {
  /** Prefix of every parameter except an untied {@code lm_head.weight}. */
  public static final String PREFIX = "transformer.";

  private final ComputeContext ctx;
  private final GptConfig config;
  private final ParameterSlab params;
  private ParameterSlab grads;
  // bf16-matrix models only (else null): every parameter's shape in file order, and the block
  // matrices, which live here in bf16 instead of in the slab
  private final Map<String, long[]> allShapes;
  private final Map<String, Tensor> bf16Matrices;
  // int8-matrix models only (else null): the block matrices in the decode kernel's packed Q8_0 form
  private final Map<String, Tensor> int8Matrices;

  private Tensor wte, wpe;
  private LmHead head;
  private TransformerBlock[] blocks;
  private LayerNorm lnf;
  private LoraAdapters lora;
  private boolean ownsLora;

  private boolean training;
  private long dropoutSeed;
  private Precision precision = Precision.FP32;
  private final GptPasses passes = new GptPasses(this);

  private GptModel(ComputeContext ctx, GptConfig config, Map<String, long[]> allShapes) {
    this(ctx, config, allShapes, allShapes == null ? DType.FLOAT32 : DType.BFLOAT16);
  }

  private GptModel(ComputeContext ctx, GptConfig config, Map<String, long[]> allShapes,
      DType matrices) {
    requireMemory(ctx, config, matrices);
    this.ctx = ctx;
    this.config = config;
    this.params = GptLayout.layout(config, allShapes == null, allShapes).build(ctx);
    this.allShapes = allShapes;
    this.bf16Matrices = matrices == DType.BFLOAT16 ? new LinkedHashMap<>() : null;
    this.int8Matrices = matrices == DType.INT8 ? new LinkedHashMap<>() : null;
    try {
      if (allShapes != null) {
        for (Map.Entry<String, long[]> e : allShapes.entrySet()) {
          if (isBlockMatrix(e.getKey()) && int8Matrices != null) {
            long[] kn = e.getValue();
            int8Matrices.put(e.getKey(), Tensor.zeros(ctx, DType.INT8,
                Int8Ops.packedBytes(kn[0], kn[1])));
          } else if (isBlockMatrix(e.getKey())) {
            bf16Matrices.put(e.getKey(), Tensor.zeros(ctx, DType.BFLOAT16, e.getValue()));
          }
        }
      }
      wire();
    } catch (RuntimeException | Error e) {
      close();
      throw e;
    }
  }

  /**
   * A model for decoding with bf16 matrices, zero-filled: the four linear-layer matrices of every
   * block are bfloat16 tensors of their own (load them with {@link
   * dev.fuselm.io.Checkpoint#loadBf16Matrices}); embeddings, layer norms, biases and an untied
   * head stay float32 in the slab. The block matrices then take half the memory and are never held
   * in float32 (their {@link Linear}s are bf16-only). Only a {@link KvCache} of bf16 weights can run
   * such a model: its full-sequence passes and gradients refuse.
   */
  public static GptModel createWithBf16Matrices(ComputeContext ctx, GptConfig config) {
    return new GptModel(ctx, config, new LinkedHashMap<>());
  }

  /**
   * A model for decoding with int8 matrices only, zero-filled: the four linear-layer matrices of
   * every block are held in the decode kernel's packed Q8_0 form ({@link #parameter} gives that
   * packed tensor; fill it with {@link Int8Ops}' repack, e.g. from a GGUF file's Q8_0 blocks, as
   * {@code dev.fuselm.io.GgufModel} does), never in float32; embeddings, layer norms, biases and an
   * untied head stay float32 in the slab. Only a {@link KvCache} of int8 weights can run it.
   */
  public static GptModel createWithInt8Matrices(ComputeContext ctx, GptConfig config) {
    return new GptModel(ctx, config, new LinkedHashMap<>(), DType.INT8);
  }

  /** True when the block matrices are int8 only (see {@link #createWithInt8Matrices}). */
  public boolean hasInt8Matrices() {
    return int8Matrices != null;
  }

  /**
   * A parameter's shape as the checkpoint stores it: for an int8-matrix model's block matrix its
   * (in, out), not the packed tensor's byte count.
   */
  public long[] parameterShape(String name) {
    if (int8Matrices != null && int8Matrices.containsKey(name)) {
      return allShapes.get(name).clone();
    }
    return parameter(name).shape();
  }

  /** True for the weight of a block's qkv, attention projection or MLP layer. */
  public static boolean isBlockMatrix(String name) {
    return GptLayout.isBlockMatrix(name);
  }

  /** True when the block matrices are bf16 (see {@link #createWithBf16Matrices}). */
  public boolean hasBf16Matrices() {
    return bf16Matrices != null;
  }

  /**
   * A parameter by name: a view into {@link #params()}, or for a bf16-matrix model's block matrix
   * its bfloat16 tensor.
   */
  public Tensor parameter(String name) {
    if (bf16Matrices != null && bf16Matrices.containsKey(name)) {
      return bf16Matrices.get(name);
    }
    if (int8Matrices != null && int8Matrices.containsKey(name)) {
      return int8Matrices.get(name);
    }
    return params.get(name);
  }

  private void requireFloat32Matrices(String what) {
    if (int8Matrices != null) {
      throw new IllegalStateException(what + " needs float32 weights, but this model holds its"
          + " block matrices in int8 (loaded for int8 decoding only)");
    }
    if (bf16Matrices != null) {
      throw new IllegalStateException(what + " needs float32 weights, but this model holds its"
          + " block matrices in bf16 (loaded for bf16 decoding only)");
    }
  }

  /**
   * Refuses, before anything is allocated, a config whose parameters do not fit under {@link
   * NativeMemory}'s limit (a {@link dev.fuselm.tensor.NativeMemoryException} naming the sizes).
   */
  static void requireMemory(ComputeContext ctx, GptConfig c, DType matrices) {
    long bytes;
    try {
      bytes = Math.multiplyExact(c.parameterCount(), 4L);
      if (matrices == DType.BFLOAT16) {
        bytes -= Math.multiplyExact(c.blockMatrixCount(), 2L);
      } else if (matrices == DType.INT8) { // 34 bytes per 32 values: 1.0625 of 4
        bytes -= Math.multiplyExact(c.blockMatrixCount(), 4L) - c.blockMatrixCount() / 32 * 34;
      }
    } catch (ArithmeticException e) {
      bytes = Long.MAX_VALUE;
    }
    NativeMemory.require(ctx.backend(), bytes, () -> "the parameters of a GPT model with "
        + c.sizes() + (matrices == DType.FLOAT32 ? " (float32)"
            : " (block matrices in " + (matrices == DType.INT8 ? "int8)" : "bf16)")));
  }

  /** A model with zero parameters (call {@link #initialize} or load weights into {@link #params}). */
  public static GptModel create(ComputeContext ctx, GptConfig config) {
    return new GptModel(ctx, config, null);
  }

  /** A model with GPT-2's random initialisation drawn from {@code seed}. */
  public static GptModel random(ComputeContext ctx, GptConfig config, long seed) {
    GptModel m = create(ctx, config);
    m.initialize(seed);
    return m;
  }

  /** The parameter names, shapes and decay flags of a config, in slab order. */
  public static ParameterSlab.Builder layout(GptConfig c) {
    return GptLayout.layout(c, true, null);
  }

  private Tensor grad(String name) {
    return grads == null ? null : grads.get(name);
  }

  /** (Re)builds the modules over the parameter (and gradient) views. */
  private void wire() {
    releaseBf16Copies(); // of the modules being replaced
    releaseInt8Copies();
    wte = params.get(PREFIX + "wte.weight");
    wpe = params.get(PREFIX + "wpe.weight");
    head = config.tiedHead() ? new LmHead(wte, grad(PREFIX + "wte.weight"))
        : new LmHead(params.get("lm_head.weight"), grad("lm_head.weight"));
    blocks = new TransformerBlock[config.nLayer()];
    for (int l = 0; l < blocks.length; l++) {
      String p = PREFIX + "h." + l + ".";
      FeedForward mlp = new FeedForward(linear(p + "mlp.c_fc"), linear(p + "mlp.c_proj"));
      blocks[l] = new TransformerBlock(l, norm(p + "ln_1"), new CausalSelfAttention(
          linear(p + "attn.c_attn"), linear(p + "attn.c_proj"), config.nHead()), norm(p + "ln_2"),
          mlp);
    }
    lnf = norm(PREFIX + "ln_f");
    attachLora();
    if (precision == Precision.BF16) {
      prepareBf16Copies();
    }
  }

  private LayerNorm norm(String p) {
    return new LayerNorm(params.get(p + ".weight"), params.get(p + ".bias"), grad(p + ".weight"),
        grad(p + ".bias"), config.layerNormEps());
  }

  /** The layer over p.weight and p.bias (a qkv projection may have no bias). */
  private Linear linear(String p) {
    String b = p + ".bias";
    if (int8Matrices != null && int8Matrices.containsKey(p + ".weight")) {
      long[] kn = allShapes.get(p + ".weight");
      return Linear.int8Only(int8Matrices.get(p + ".weight"), kn[0], kn[1],
          params.contains(b) ? params.get(b) : null);
    }
    return new Linear(parameter(p + ".weight"), params.contains(b) ? params.get(b) : null,
        grad(p + ".weight"), params.contains(b) ? grad(b) : null);
  }

  /** The four linear layers of block l: qkv, attention projection, MLP expansion and projection. */
  private Linear[] linears(int l) {
    TransformerBlock blk = blocks[l];
    return new Linear[] {blk.attn().cAttn(), blk.attn().cProj(), blk.mlp().cFc(),
        blk.mlp().cProj()};
  }

  private void eachLinear(Consumer<Linear> f) {
    for (int l = 0; l < blocks.length; l++) {
      for (Linear lin : linears(l)) {
        f.accept(lin);
      }
    }
  }

  /** Allocates the bf16 copies of every block matrix and of the head (rounded on first use). */
  void prepareBf16Copies() {
    eachLinear(lin -> lin.allocateBf16Copy(ctx));
    head.allocateBf16Copy(ctx);
  }

  /** Allocates the int8 (Q8_0) copies of every block matrix and of the head (quantized on use). */
  void prepareInt8Copies() {
    if (int8Matrices == null) { // an int8-matrix model holds them already (the head aside)
      requireFloat32Matrices("int8 weights");
    }
    eachLinear(lin -> lin.allocateInt8Copy(ctx));
    head.allocateInt8Copy(ctx);
  }

  private void releaseInt8Copies() {
    if (blocks != null) {
      eachLinear(Linear::releaseInt8Copy);
      head.releaseInt8Copy();
    }
  }

  /** Bytes of the int8 weight copies the model made (for an int8 {@link KvCache}; else 0). */
  public long int8WeightBytes() {
    long[] n = {head.int8CopyBytes()};
    eachLinear(lin -> n[0] += lin.int8CopyBytes());
    return n[0];
  }

  private void releaseBf16Copies() {
    if (blocks != null) {
      eachLinear(Linear::releaseBf16Copy);
      head.releaseBf16Copy();
    }
  }

  /**
   * Sets the arithmetic of the forward and backward passes (float32 by default). BF16 allocates the
   * bfloat16 weight copies (half the bytes of the matrices), rounded from the current weights on
   * first use; FP32 frees them. Not for models with bf16 matrices or with LoRA adapters attached.
   */
  public GptModel setPrecision(Precision p) {
    if (p == precision) {
      return this;
    }
    if (p == Precision.BF16) {
      requireFloat32Matrices("bf16 mixed precision");
      if (lora != null) {
        throw new IllegalStateException("bf16 mixed precision is not supported with LoRA adapters"
            + " attached (fine-tuning runs in fp32)");
      }
      prepareBf16Copies();
    } else {
      releaseBf16Copies();
    }
    precision = p;
    releaseActivations(); // the activations of the other precision have other buffers
    return this;
  }

  public Precision precision() {
    return precision;
  }

  /**
   * Tells the model that its float32 weights were written (an optimizer step, a load): every bf16
   * copy (of bf16 training or bf16 decoding) is rounded again on its next use.
   */
  public void weightsChanged() {
    eachLinear(Linear::weightChanged);
    head.weightChanged();
  }

  /**
   * Bytes of the bf16 weight copies the model made (for bf16 precision or a bf16 {@link KvCache};
   * 0 in float32 precision before any bf16 decoding). The bf16 matrices of a model created with
   * them are not copies and do not count.
   */
  public long bf16WeightBytes() {
    long[] n = {head.bf16CopyBytes()};
    eachLinear(lin -> n[0] += lin.bf16CopyBytes());
    return n[0];
  }

  /** Hooks each block projection to its adapter in {@link #lora} (none when lora is null). */
  private void attachLora() {
    String[] names = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
    for (int l = 0; l < blocks.length; l++) {
      Linear[] ls = linears(l);
      for (int i = 0; i < ls.length; i++) {
        ls[i].setAdapter(lora == null ? null : lora.adapter(PREFIX + "h." + l + "." + names[i]));
      }
    }
  }

  /**
   * Adds LoRA adapters to the block projections (null removes them). The caller keeps ownership
   * (adapters the model owns, from {@link #adoptLora} or {@link #addLora}, are closed when
   * replaced). With trainable adapters, {@link #backward} and {@link #backwardHidden} work without
   * {@link #enableGradients()}: the base weights then get no gradient work at all (only input
   * gradients flow through them) and only the adapters' gradient slab is written.
   */
  public void setLora(LoraAdapters adapters) {
    if (adapters != null && precision != Precision.FP32) {
      throw new IllegalStateException("LoRA adapters are not supported in " + precision
          + " precision (fine-tuning runs in fp32)");
    }
    if (adapters != null) {
      for (LoraAdapters.Module m : adapters.modules()) {
        String w = m.name() + ".weight";
        if (!params.contains(w) || !Arrays.equals(params.get(w).shape(),
            new long[] {m.in(), m.out()})) {
          throw new IllegalArgumentException("LoRA adapter " + m.name() + " (" + m.in() + " -> "
              + m.out() + ") does not fit this model (" + config.nLayer() + " layers, d_model "
              + config.dModel() + ")");
        }
      }
    }
    if (ownsLora && lora != adapters) {
      lora.close();
    }
    ownsLora = false;
    this.lora = adapters;
    attachLora();
  }

  /** As {@link #setLora}, but the model owns adapters: closed when merged, replaced or closed. */
  public void adoptLora(LoraAdapters adapters) {
    setLora(adapters);
    ownsLora = adapters != null;
  }

  /**
   * Attaches new trainable adapters of options, owned by the model: A drawn from seed as PEFT
   * draws it, B = 0, so the model starts out computing what it computed before.
   */
  public GptModel addLora(LoraOptions options, long seed) {
    LoraAdapters adapters = LoraAdapters.create(ctx, options.adapterConfig(), config.nLayer(),
        config.dModel(), seed, true);
    try {
      adoptLora(adapters);
    } catch (RuntimeException e) {
      adapters.close();
      throw e;
    }
    return this;
  }

  /** The attached LoRA adapters, or null. */
  public LoraAdapters lora() {
    return lora;
  }

  /** Parameters of the attached LoRA adapters (0 without). */
  public long loraParameterCount() {
    return lora == null ? 0 : lora.params().size();
  }

  /** Native bytes of the attached adapters: weights, gradients and scratch (0 without). */
  public long loraBytes() {
    return lora == null ? 0 : lora.bytes();
  }

  /** Folds the attached adapters into the base weights and detaches them. */
  public void mergeLora() {
    if (lora == null) {
      throw new IllegalStateException("no LoRA adapters are attached");
    }
    lora.mergeInto(ctx, params);
    setLora(null);
    weightsChanged();
  }

  /** True when a backward pass has somewhere to put gradients. */
  boolean backwardable() {
    return grads != null || (lora != null && lora.trainable());
  }

  /**
   * GPT-2's initialisation (as Hugging Face's {@code _init_weights}): matrices and embeddings
   * N(0, 0.02), the residual projections ({@code c_proj}) N(0, 0.02 / sqrt(2 n_layer)), layer norms
   * weight 1 and bias 0, other biases 0. Deterministic in {@code seed}.
   */
  public void initialize(long seed) {
    GptLayout.initialize(params, config, seed);
    weightsChanged();
  }

  /** Allocates the gradient slab (zeroed) so that {@link #backward} can run. Idempotent. */
  @Override
  public GptModel enableGradients() {
    requireFloat32Matrices("training");
    if (grads == null) {
      grads = params.sameLayout(ctx);
      wire();
    }
    return this;
  }

  @Override
  public ComputeContext context() {
    return ctx;
  }

  public GptConfig config() {
    return config;
  }

  @Override
  public ParameterSlab params() {
    return params;
  }

  /** The gradient slab, or null before {@link #enableGradients()}. */
  @Override
  public ParameterSlab grads() {
    return grads;
  }

  public long parameterCount() {
    long n = params.size();
    if (bf16Matrices != null) {
      for (Tensor t : bf16Matrices.values()) {
        n += t.numel();
      }
    }
    if (int8Matrices != null) {
      for (String name : int8Matrices.keySet()) {
        long[] kn = allShapes.get(name);
        n += kn[0] * kn[1];
      }
    }
    return n;
  }

  public TransformerBlock block(int l) {
    return blocks[l];
  }

  public LayerNorm finalNorm() {
    return lnf;
  }

  public Tensor tokenEmbedding() {
    return wte;
  }

  public Tensor positionEmbedding() {
    return wpe;
  }

  /** The LM head weight (V, C): the token embedding when tied. */
  public Tensor headWeight() {
    return head.weight();
  }

  LmHead lmHead() {
    return head;
  }

  /** Training mode applies dropout (if the config has any); evaluation mode never does. */
  @Override
  public void setTraining(boolean training) {
    this.training = training;
  }

  @Override
  public boolean isTraining() {
    return training;
  }

  /** The seed of the dropout masks of the next forward/backward pair (the trainer sets it per step). */
  @Override
  public void setDropoutSeed(long seed) {
    this.dropoutSeed = seed;
  }

  long dropoutSeed() {
    return dropoutSeed;
  }

  @Override
  public void zeroGrad() {
    if (grads != null) {
      grads.flat().zero();
    }
  }

  /** Native bytes held by activations (0 before the first forward). */
  public long activationBytes() {
    return passes.activationBytes();
  }

  /**
   * Runs the model on ids (B*T, row-major). With targets (B*T ids, or {@link
   * SoftmaxOps#IGNORE_INDEX} to skip a position) returns the mean cross-entropy loss and keeps
   * what {@link #backward} needs; without (null) returns NaN and only computes logits.
   */
  public float forward(int[] ids, int[] targets, int b, int t) {
    ctx.checkThread("GptModel");
    requireFloat32Matrices("the model's forward pass");
    return passes.forward(ids, targets, b, t);
  }

  /**
   * Runs the model on ids (B*T, row-major) up to and including the final layer norm, without the
   * LM head, and returns those hidden states (B*T, C): a view that the next forward overwrites. Keeps
   * what {@link #backwardHidden} needs (for task heads such as classification).
   */
  public Tensor forwardHidden(int[] ids, int b, int t) {
    ctx.checkThread("GptModel");
    requireFloat32Matrices("the model's forward pass");
    return passes.forwardHidden(ids, b, t);
  }

  @Override
  public int hiddenSize() {
    return config.dModel();
  }

  /**
   * {@link #forwardHidden(int[], int, int)} of a batch: GPT-2 has no token types, and its attention
   * is causal, so right padding is invisible to the real tokens before it and needs no mask;
   * padding anywhere else cannot be honoured.
   */
  @Override
  public Tensor forwardHidden(TokenBatch batch) {
    if (batch.tokenTypes() != null) {
      throw new IllegalArgumentException("GPT-2 has no token types; pass none");
    }
    batch.lengths(); // checks that any padding is right padding
    return forwardHidden(batch.ids(), batch.b(), batch.t());
  }

  /**
   * Adds into the gradient slab the gradients of a loss whose gradient with respect to the hidden
   * states of the last {@link #forwardHidden} is dHidden (B*T*C, row-major). Backpropagates through
   * the final layer norm and blocks {@code fromBlock..nLayer-1} only (no gradient work is done for
   * the blocks below), and into the embeddings only when fromBlock is 0. The LM head gets nothing.
   */
  @Override
  public void backwardHidden(float[] dHidden, int fromBlock) {
    ctx.checkThread("GptModel");
    passes.backwardHidden(dHidden, fromBlock);
  }

  /** The number of non-ignored targets of the last forward. */
  public long lastTargetCount() {
    return passes.lastTargetCount();
  }

  /** Logits (B*T, V) of the last forward; overwritten by {@link #backward}. */
  public Tensor logits() {
    return passes.logits();
  }

  /**
   * Adds the gradients of {@code dloss * loss} (the loss of the last forward with targets) into
   * the gradient slab. dloss = 1 for one batch, 1/k for k accumulated micro-batches.
   */
  public void backward(float dloss) {
    ctx.checkThread("GptModel");
    passes.backward(dloss);
  }

  /**
   * {@link #forward(int[], int[], int, int)} with targets that also returns each row's loss (B*T:
   * -log p(target), 0 where the target is ignored), for losses that weight rows or sequences
   * differently (preference tuning); {@link #backwardRows} is its backward.
   */
  public float[] forwardRowLosses(int[] ids, int[] targets, int b, int t) {
    ctx.checkThread("GptModel");
    requireFloat32Matrices("the model's forward pass");
    return passes.forwardRowLosses(ids, targets, b, t);
  }

  /**
   * Adds into the gradient slab the gradients of {@code sum_r dloss[r] * loss_r}, loss_r the row
   * losses of the last forward with targets (B*T weights; ignored rows contribute nothing).
   */
  public void backwardRows(float[] dloss) {
    ctx.checkThread("GptModel");
    passes.backwardRows(dloss);
  }

  /** Frees the activations (they are rebuilt on the next forward). */
  public void releaseActivations() {
    passes.release();
  }

  /**
   * The decoding forward pass: row i runs tokens[i*tq .. (i+1)*tq-1] (tq = tokens.length /
   * slots.length) at positions positions[i].. of cache slot slots[i] (whose length becomes
   * positions[i] + tq) and returns the logits (slots.length, V) of each row's last position, a view
   * the cache's next step overwrites. A prefill (one slot's prompt) and a decode step (one token of
   * many slots) are the same call; no dropout; matrices in the cache's weight type. With at most
   * {@link KvCache#MAX_DECODE_ROWS} positions a row's bits do not depend on the other rows.
   */
  public Tensor forwardCached(KvCache cache, int[] slots, int[] positions, int[] tokens) {
    ctx.checkThread("GptModel");
    if (cache.model() != this) {
      throw new IllegalArgumentException("this KV cache belongs to another model");
    }
    return CachedForward.run(this, cache, slots, positions, tokens);
  }

  /**
   * {@link #forwardCached} where row i runs its own number of positions, counts[i] (tokens holds
   * row 0's ids, then row 1's, ...): the prompts of several requests prefilled in one pass. A row
   * has the bits of the same row run alone when both runs have at most {@link
   * KvCache#MAX_DECODE_ROWS} positions in all, or both more (the GEMM's two paths).
   */
  public Tensor forwardCached(KvCache cache, int[] slots, int[] positions, int[] counts,
      int[] tokens) {
    ctx.checkThread("GptModel");
    if (cache.model() != this) {
      throw new IllegalArgumentException("this KV cache belongs to another model");
    }
    return CachedForward.runRagged(this, cache, slots, positions, counts, tokens);
  }

  /** Names of the parameters, in slab order (for a bf16-matrix model, with its matrices). */
  public List<String> parameterNames() {
    return new ArrayList<>(allShapes != null ? allShapes.keySet() : params.names());
  }

  @Override
  public void close() {
    releaseActivations();
    releaseBf16Copies();
    releaseInt8Copies();
    if (ownsLora) {
      lora.close();
      lora = null;
      ownsLora = false;
    }
    if (grads != null) {
      grads.close();
      grads = null;
    }
    params.close();
    if (bf16Matrices != null) {
      for (Tensor t : bf16Matrices.values()) {
        t.close();
      }
    }
    if (int8Matrices != null) {
      for (Tensor t : int8Matrices.values()) {
        t.close();
      }
    }
  }
}
