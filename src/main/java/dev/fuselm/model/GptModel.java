package dev.fuselm.model;

import dev.fuselm.nn.CausalSelfAttention;
import dev.fuselm.nn.Dropout;
import dev.fuselm.nn.FeedForward;
import dev.fuselm.nn.LayerNorm;
import dev.fuselm.nn.Linear;
import dev.fuselm.nn.LoraAdapters;
import dev.fuselm.tensor.Arena;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.ops.GemmOps;
import dev.fuselm.ops.SoftmaxOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A GPT-2 language model with explicit forward and backward passes through the native ops.
 *
 * <p>Parameters live in one {@link ParameterSlab} under Hugging Face GPT-2 names and layouts
 * ({@code transformer.h.0.attn.c_attn.weight} is (C, 3C), Conv1D style), gradients in a second slab
 * of the same layout (only once {@link #enableGradients()} was called). Activations for a batch
 * shape (B, T) are allocated on the first step of that shape and reused by every later step, so a
 * training loop allocates no native memory per step.
 *
 * <p>{@link #setPrecision} switches the forward and backward passes to bf16 mixed precision (see
 * {@link Precision}): the block matrices and the LM head then also have bfloat16 copies, all in one
 * owned native tensor, refreshed from the float32 master weights on the first forward after {@link
 * #weightsChanged()} (the trainer calls it once per optimizer step).
 *
 * <p>Not thread-safe: one model, one context, one thread.
 */
public final class GptModel implements AutoCloseable {
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

  private Tensor wte, wpe, dwte, dwpe, head, dhead;
  private TransformerBlock[] blocks;
  private LayerNorm lnf;
  private LoraAdapters lora;

  private boolean training;
  private long dropoutSeed;

  private Precision precision = Precision.FP32;
  // bf16 precision only (else null): the bf16 copies of the GEMM matrices, in one tensor
  private Bf16Copies bf16;
  private Tensor headBf16;

  private Acts acts;
  private boolean haveLossState;
  private boolean haveHiddenState;
  private SoftmaxOps.Loss lastLoss;

  private GptModel(ComputeContext ctx, GptConfig config) {
    this.ctx = ctx;
    this.config = config;
    this.params = layout(config).build(ctx);
    this.allShapes = null;
    this.bf16Matrices = null;
    wire();
  }

  private GptModel(ComputeContext ctx, GptConfig config, Map<String, long[]> allShapes) {
    this.ctx = ctx;
    this.config = config;
    this.params = layout(config, false, allShapes).build(ctx);
    this.allShapes = allShapes;
    this.bf16Matrices = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, long[]> e : allShapes.entrySet()) {
        if (isBlockMatrix(e.getKey())) {
          bf16Matrices.put(e.getKey(), Tensor.zeros(ctx, DType.BFLOAT16, e.getValue()));
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
   * dev.fuselm.io.GptCheckpoint#loadBf16Matrices}); embeddings, layer norms, biases and an untied
   * head stay float32 in the slab. The block matrices then take half the memory and are never held
   * in float32. Only decoding through bf16 weights ({@code generate.DecodeWeights}) can run such a
   * model: its own forward pass and gradients refuse.
   */
  public static GptModel createWithBf16Matrices(ComputeContext ctx, GptConfig config) {
    return new GptModel(ctx, config, new LinkedHashMap<>());
  }

  /** True for the weight of a block's qkv, attention projection or MLP layer. */
  public static boolean isBlockMatrix(String name) {
    return name.startsWith(PREFIX + "h.") && (name.endsWith(".attn.c_attn.weight")
        || name.endsWith(".attn.c_proj.weight") || name.endsWith(".mlp.c_fc.weight")
        || name.endsWith(".mlp.c_proj.weight"));
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
    return params.get(name);
  }

  private void requireFloat32Matrices(String what) {
    if (bf16Matrices != null) {
      throw new IllegalStateException(what + " needs float32 weights, but this model holds its"
          + " block matrices in bf16 (loaded for bf16 decoding only)");
    }
  }

  /** A model with zero parameters (call {@link #initialize} or load weights into {@link #params}). */
  public static GptModel create(ComputeContext ctx, GptConfig config) {
    return new GptModel(ctx, config);
  }

  /** A model with GPT-2's random initialisation drawn from {@code seed}. */
  public static GptModel random(ComputeContext ctx, GptConfig config, long seed) {
    GptModel m = new GptModel(ctx, config);
    m.initialize(seed);
    return m;
  }

  /** The parameter names, shapes and decay flags of a config, in slab order. */
  public static ParameterSlab.Builder layout(GptConfig c) {
    return layout(c, true, null);
  }

  /**
   * The layout, with the block matrices left out of the slab unless blockMatrices; every name and
   * shape (matrices included) also goes into allShapes when it is not null.
   */
  private static ParameterSlab.Builder layout(GptConfig c, boolean blockMatrices,
      Map<String, long[]> allShapes) {
    long C = c.dModel();
    ParameterSlab.Builder slab = ParameterSlab.builder();
    // b.add(name, decay, shape) as below, filtered and recorded
    record Adder(ParameterSlab.Builder slab, boolean blockMatrices, Map<String, long[]> all) {
      Adder add(String name, boolean decay, long... shape) {
        if (all != null) {
          all.put(name, shape);
        }
        if (blockMatrices || !isBlockMatrix(name)) {
          slab.add(name, decay, shape);
        }
        return this;
      }
    }
    Adder b = new Adder(slab, blockMatrices, allShapes);
    b.add(PREFIX + "wte.weight", true, c.vocabSize(), C);
    b.add(PREFIX + "wpe.weight", true, c.contextLength(), C);
    for (int l = 0; l < c.nLayer(); l++) {
      String p = PREFIX + "h." + l + ".";
      b.add(p + "ln_1.weight", false, C);
      b.add(p + "ln_1.bias", false, C);
      b.add(p + "attn.c_attn.weight", true, C, 3 * C);
      if (c.qkvBias()) {
        b.add(p + "attn.c_attn.bias", false, 3 * C);
      }
      b.add(p + "attn.c_proj.weight", true, C, C);
      b.add(p + "attn.c_proj.bias", false, C);
      b.add(p + "ln_2.weight", false, C);
      b.add(p + "ln_2.bias", false, C);
      b.add(p + "mlp.c_fc.weight", true, C, 4 * C);
      b.add(p + "mlp.c_fc.bias", false, 4 * C);
      b.add(p + "mlp.c_proj.weight", true, 4 * C, C);
      b.add(p + "mlp.c_proj.bias", false, C);
    }
    b.add(PREFIX + "ln_f.weight", false, C);
    b.add(PREFIX + "ln_f.bias", false, C);
    if (!c.tiedHead()) {
      b.add("lm_head.weight", true, c.vocabSize(), C);
    }
    return slab;
  }

  private Tensor grad(String name) {
    return grads == null ? null : grads.get(name);
  }

  /** (Re)builds the modules over the parameter (and gradient) views. */
  private void wire() {
    wte = params.get(PREFIX + "wte.weight");
    wpe = params.get(PREFIX + "wpe.weight");
    dwte = grad(PREFIX + "wte.weight");
    dwpe = grad(PREFIX + "wpe.weight");
    head = config.tiedHead() ? wte : params.get("lm_head.weight");
    dhead = config.tiedHead() ? dwte : grad("lm_head.weight");
    float eps = config.layerNormEps();
    blocks = new TransformerBlock[config.nLayer()];
    for (int l = 0; l < blocks.length; l++) {
      String p = PREFIX + "h." + l + ".";
      LayerNorm ln1 = new LayerNorm(params.get(p + "ln_1.weight"), params.get(p + "ln_1.bias"),
          grad(p + "ln_1.weight"), grad(p + "ln_1.bias"), eps);
      String qb = p + "attn.c_attn.bias";
      Linear cAttn = new Linear(parameter(p + "attn.c_attn.weight"),
          config.qkvBias() ? params.get(qb) : null, grad(p + "attn.c_attn.weight"),
          config.qkvBias() ? grad(qb) : null);
      Linear aProj = linear(p + "attn.c_proj");
      LayerNorm ln2 = new LayerNorm(params.get(p + "ln_2.weight"), params.get(p + "ln_2.bias"),
          grad(p + "ln_2.weight"), grad(p + "ln_2.bias"), eps);
      FeedForward mlp = new FeedForward(linear(p + "mlp.c_fc"), linear(p + "mlp.c_proj"));
      blocks[l] = new TransformerBlock(l, ln1, new CausalSelfAttention(cAttn, aProj, config.nHead()),
          ln2, mlp);
    }
    lnf = new LayerNorm(params.get(PREFIX + "ln_f.weight"), params.get(PREFIX + "ln_f.bias"),
        grad(PREFIX + "ln_f.weight"), grad(PREFIX + "ln_f.bias"), eps);
    attachLora();
    attachBf16();
  }

  /**
   * The bfloat16 copies of the matrices the GEMMs read in bf16 precision: every block linear's
   * weight, then the LM head (the token embedding when tied), as views of one native tensor, so a
   * refresh is one rounding pass per matrix and nothing is allocated per step.
   */
  private static final class Bf16Copies implements AutoCloseable {
    final Tensor all;
    final Map<String, Tensor> copies = new LinkedHashMap<>(); // block matrix name -> its bf16 copy
    final Tensor head;
    private final ParameterSlab params;
    private final Tensor masterHead;
    boolean stale = true;

    Bf16Copies(ComputeContext ctx, ParameterSlab params, Tensor head) {
      this.params = params;
      this.masterHead = head;
      List<String> names = new ArrayList<>();
      long total = head.numel();
      for (String n : params.names()) {
        if (isBlockMatrix(n)) {
          names.add(n);
          total += params.get(n).numel();
        }
      }
      all = Tensor.zeros(ctx, DType.BFLOAT16, total);
      long off = 0;
      for (String n : names) {
        Tensor w = params.get(n);
        Tensor c = all.view(off, w.shape());
        copies.put(n, c);
        off += w.numel();
      }
      this.head = all.view(off, head.shape());
    }

    void refresh(ComputeContext ctx) {
      for (Map.Entry<String, Tensor> e : copies.entrySet()) {
        Bf16Ops.narrow(ctx, e.getValue(), params.get(e.getKey()));
      }
      Bf16Ops.narrow(ctx, head, masterHead);
      stale = false;
    }

    @Override
    public void close() {
      all.close();
    }
  }

  /** Hands each block linear its bf16 weight copy (none in float32 precision). */
  private void attachBf16() {
    headBf16 = bf16 == null ? null : bf16.head;
    for (int l = 0; l < blocks.length; l++) {
      String p = PREFIX + "h." + l + ".";
      TransformerBlock blk = blocks[l];
      Linear[] ls = {blk.attn().cAttn(), blk.attn().cProj(), blk.mlp().cFc(), blk.mlp().cProj()};
      String[] ns = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
      for (int i = 0; i < ls.length; i++) {
        ls[i].setBf16Weight(bf16 == null ? null : bf16.copies.get(p + ns[i] + ".weight"));
      }
    }
  }

  /**
   * Sets the arithmetic of the forward and backward passes (float32 by default). BF16 allocates the
   * bfloat16 weight copies (half the bytes of the matrices) and rounds the current weights into
   * them; FP32 frees them. Not for models with bf16 matrices or with LoRA adapters attached.
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
      bf16 = new Bf16Copies(ctx, params, head);
    } else {
      bf16.close();
      bf16 = null;
    }
    precision = p;
    releaseActivations(); // the activations of the other precision have other buffers
    attachBf16();
    return this;
  }

  public Precision precision() {
    return precision;
  }

  /**
   * Tells the model that its float32 weights were written (an optimizer step, a load): in bf16
   * precision the next forward rounds them into the bf16 copies again. A no-op in float32.
   */
  public void weightsChanged() {
    if (bf16 != null) {
      bf16.stale = true;
    }
  }

  /** Bytes of the bf16 weight copies (0 in float32 precision). */
  public long bf16WeightBytes() {
    return bf16 == null ? 0 : bf16.all.bytes();
  }

  /** Hooks each block projection to its adapter in {@link #lora} (none when lora is null). */
  private void attachLora() {
    for (int l = 0; l < blocks.length; l++) {
      String p = PREFIX + "h." + l + ".";
      TransformerBlock blk = blocks[l];
      blk.attn().cAttn().setAdapter(lora == null ? null : lora.adapter(p + "attn.c_attn"));
      blk.attn().cProj().setAdapter(lora == null ? null : lora.adapter(p + "attn.c_proj"));
      blk.mlp().cFc().setAdapter(lora == null ? null : lora.adapter(p + "mlp.c_fc"));
      blk.mlp().cProj().setAdapter(lora == null ? null : lora.adapter(p + "mlp.c_proj"));
    }
  }

  /**
   * Adds LoRA adapters to the block projections (null removes them). The caller keeps ownership.
   * With trainable adapters, {@link #backward} and {@link #backwardHidden} work without {@link
   * #enableGradients()}: the base weights then get no gradient work at all (only input gradients
   * flow through them) and only the adapters' gradient slab is written.
   */
  public void setLora(LoraAdapters adapters) {
    if (adapters != null && precision != Precision.FP32) {
      throw new IllegalStateException("LoRA adapters are not supported in " + precision
          + " precision (fine-tuning runs in fp32)");
    }
    if (adapters != null) {
      for (LoraAdapters.Module m : adapters.modules()) {
        String w = m.name() + ".weight";
        if (!params.contains(w) || !java.util.Arrays.equals(params.get(w).shape(),
            new long[] {m.in(), m.out()})) {
          throw new IllegalArgumentException("LoRA adapter " + m.name() + " (" + m.in() + " -> "
              + m.out() + ") does not fit this model (" + config.nLayer() + " layers, d_model "
              + config.dModel() + ")");
        }
      }
    }
    this.lora = adapters;
    attachLora();
  }

  /** The attached LoRA adapters, or null. */
  public LoraAdapters lora() {
    return lora;
  }

  /** Folds the attached adapters into the base weights and detaches them. */
  public void mergeLora() {
    if (lora == null) {
      throw new IllegalStateException("no LoRA adapters are attached");
    }
    lora.mergeInto(ctx, params);
    setLora(null);
  }

  /** True when a backward pass has somewhere to put gradients. */
  private boolean backwardable() {
    return grads != null || (lora != null && lora.trainable());
  }

  private Linear linear(String p) {
    return new Linear(parameter(p + ".weight"), params.get(p + ".bias"), grad(p + ".weight"),
        grad(p + ".bias"));
  }

  /**
   * GPT-2's initialisation (as Hugging Face's {@code _init_weights}): matrices and embeddings
   * N(0, 0.02), the residual projections ({@code c_proj}) N(0, 0.02 / sqrt(2 n_layer)), layer norms
   * weight 1 and bias 0, other biases 0. Deterministic in {@code seed}.
   */
  public void initialize(long seed) {
    List<String> names = params.names();
    double projStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      Tensor t = params.get(name);
      float[] v = new float[Math.toIntExact(t.numel())];
      if (name.endsWith(".bias")) {
        // zeros
      } else if (name.contains(".ln_")) {
        java.util.Arrays.fill(v, 1f);
      } else {
        double std = name.endsWith("c_proj.weight") ? projStd : 0.02;
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + i);
        for (int j = 0; j < v.length; j++) {
          v[j] = (float) (r.nextGaussian() * std);
        }
      }
      t.copyFrom(v);
    }
    weightsChanged();
  }

  /** Allocates the gradient slab (zeroed) so that {@link #backward} can run. Idempotent. */
  public GptModel enableGradients() {
    requireFloat32Matrices("training");
    if (grads == null) {
      grads = params.sameLayout(ctx);
      wire();
    }
    return this;
  }

  public ComputeContext context() {
    return ctx;
  }

  public GptConfig config() {
    return config;
  }

  public ParameterSlab params() {
    return params;
  }

  /** The gradient slab, or null before {@link #enableGradients()}. */
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
    return head;
  }

  /** Training mode applies dropout (if the config has any); evaluation mode never does. */
  public void setTraining(boolean training) {
    this.training = training;
  }

  public boolean isTraining() {
    return training;
  }

  /** The seed of the dropout masks of the next forward/backward pair (the trainer sets it per step). */
  public void setDropoutSeed(long seed) {
    this.dropoutSeed = seed;
  }

  public void zeroGrad() {
    if (grads != null) {
      grads.flat().zero();
    }
  }

  /** Activations, inputs and gradient scratch for one (B, T). */
  private static final class Acts implements AutoCloseable {
    final int b, t;
    final boolean bf16;
    final Arena pool;
    final Tensor ids, targets, encoded, lnf, lnfMean, lnfRstd, logits, lse, dres, dlnf;
    final Tensor lnfBf16, dlogitsBf16; // bf16 precision only: the LM head's GEMM operands
    final Tensor[] residual;
    final TransformerBlock.Activations[] blocks;
    final TransformerBlock.Scratch scratch;

    Acts(ComputeContext ctx, GptConfig cfg, int b, int t, boolean withGrads, boolean bf16) {
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

  private Acts acts(int b, int t) {
    if (b <= 0 || t <= 0) {
      throw new IllegalArgumentException("batch and sequence length must be positive, got B=" + b
          + " T=" + t);
    }
    if (t > config.contextLength()) {
      throw new IllegalArgumentException("sequence length " + t + " is longer than the model's"
          + " context window of " + config.contextLength() + " tokens");
    }
    boolean wantGrads = backwardable();
    boolean wantBf16 = bf16 != null;
    if (acts == null || acts.b != b || acts.t != t || (wantGrads && acts.dres == null)
        || acts.bf16 != wantBf16) {
      if (acts != null) {
        acts.close();
      }
      acts = new Acts(ctx, config, b, t, wantGrads, wantBf16);
    }
    if (wantBf16 && bf16.stale) {
      bf16.refresh(ctx);
    }
    return acts;
  }

  /** Native bytes held by activations (0 before the first forward). */
  public long activationBytes() {
    return acts == null ? 0 : acts.pool.highWater();
  }

  /**
   * Runs the model on ids (B*T, row-major). With targets (B*T ids, or {@link
   * SoftmaxOps#IGNORE_INDEX} to skip a position) returns the mean cross-entropy loss and keeps
   * what {@link #backward} needs; without (null) returns NaN and only computes logits.
   */
  public float forward(int[] ids, int[] targets, int b, int t) {
    requireFloat32Matrices("the model's forward pass");
    Acts a = acts(b, t);
    if (ids.length != b * t) {
      throw new IllegalArgumentException("ids has " + ids.length + " entries, expected B*T = "
          + (long) b * t);
    }
    encode(a, ids);
    if (a.bf16) {
      Bf16Ops.narrow(ctx, a.lnfBf16, a.lnf);
      GemmOps.gemmBf16(ctx, false, true, 1f, a.lnfBf16, headBf16, 0f, null, a.logits);
    } else {
      GemmOps.sgemm(ctx, false, true, 1f, a.lnf, head, 0f, a.logits);
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
    lastLoss = SoftmaxOps.crossEntropyForward(ctx, null, a.lse, a.logits, a.targets);
    haveLossState = true;
    return lastLoss.mean();
  }

  /** Embeddings, blocks and the final layer norm of ids into a.lnf (dropout as in training). */
  private void encode(Acts a, int[] ids) {
    a.ids.copyFrom(ids);
    haveHiddenState = false;
    boolean dropout = training && config.hasDropout();
    EmbeddingOps.forward(ctx, a.encoded, a.ids, wte, wpe);
    if (dropout && config.embdDropout() > 0) {
      Dropout.apply(a.encoded, config.embdDropout(), dropoutSeed, -1);
    }
    float pResid = dropout ? config.residDropout() : 0f;
    float pAttn = dropout ? config.attnDropout() : 0f;
    for (int l = 0; l < blocks.length; l++) {
      blocks[l].forward(ctx, a.residual[l + 1], a.residual[l], a.blocks[l], pResid, pAttn,
          dropoutSeed);
    }
    lnf.forward(ctx, a.lnf, a.lnfMean, a.lnfRstd, a.residual[blocks.length]);
  }

  /**
   * Runs the model on ids (B*T, row-major) up to and including the final layer norm, without the
   * LM head, and returns those hidden states (B*T, C): a view that the next forward overwrites. Keeps
   * what {@link #backwardHidden} needs (for task heads such as classification).
   */
  public Tensor forwardHidden(int[] ids, int b, int t) {
    requireFloat32Matrices("the model's forward pass");
    Acts a = acts(b, t);
    if (ids.length != b * t) {
      throw new IllegalArgumentException("ids has " + ids.length + " entries, expected B*T = "
          + (long) b * t);
    }
    haveLossState = false;
    encode(a, ids);
    haveHiddenState = true;
    return a.lnf;
  }

  /**
   * Adds into the gradient slab the gradients of a loss whose gradient with respect to the hidden
   * states of the last {@link #forwardHidden} is dHidden (B*T*C, row-major). Backpropagates through
   * the final layer norm and blocks {@code fromBlock..nLayer-1} only (no gradient work is done for
   * the blocks below), and into the embeddings only when fromBlock is 0. The LM head gets nothing.
   */
  public void backwardHidden(float[] dHidden, int fromBlock) {
    if (!backwardable()) {
      throw new IllegalStateException("call enableGradients() (or attach trainable LoRA adapters)"
          + " before backwardHidden()");
    }
    if (!haveHiddenState) {
      throw new IllegalStateException("backwardHidden() needs a forwardHidden() just before it");
    }
    if (fromBlock < 0 || fromBlock > blocks.length) {
      throw new IllegalArgumentException("fromBlock " + fromBlock + " is outside 0.."
          + blocks.length);
    }
    Acts a = acts;
    if (dHidden.length != a.dlnf.numel()) {
      throw new IllegalArgumentException("dHidden has " + dHidden.length + " entries, expected"
          + " B*T*C = " + a.dlnf.numel());
    }
    haveHiddenState = false;
    boolean dropout = training && config.hasDropout();
    a.dlnf.copyFrom(dHidden);
    a.dres.zero();
    lnf.backward(ctx, a.dres, a.dlnf, a.residual[blocks.length], a.lnfMean, a.lnfRstd);
    float pResid = dropout ? config.residDropout() : 0f;
    float pAttn = dropout ? config.attnDropout() : 0f;
    for (int l = blocks.length - 1; l >= fromBlock; l--) {
      blocks[l].backward(ctx, a.dres, a.residual[l], a.blocks[l], a.scratch, pResid, pAttn,
          dropoutSeed);
    }
    if (fromBlock == 0 && grads != null) {
      if (dropout && config.embdDropout() > 0) {
        Dropout.apply(a.dres, config.embdDropout(), dropoutSeed, -1);
      }
      EmbeddingOps.backward(ctx, dwte, dwpe, a.dres.reshape(a.b, a.t, config.dModel()), a.ids,
          wte, wpe);
    }
  }

  /** The number of non-ignored targets of the last forward. */
  public long lastTargetCount() {
    return lastLoss == null ? 0 : lastLoss.count();
  }

  /** Logits (B*T, V) of the last forward; overwritten by {@link #backward}. */
  public Tensor logits() {
    if (acts == null) {
      throw new IllegalStateException("no forward pass has run yet");
    }
    return acts.logits;
  }

  /**
   * Adds the gradients of {@code dloss * loss} (the loss of the last forward with targets) into
   * the gradient slab. dloss = 1 for one batch, 1/k for k accumulated micro-batches.
   */
  public void backward(float dloss) {
    if (!backwardable()) {
      throw new IllegalStateException("call enableGradients() (or attach trainable LoRA adapters)"
          + " before backward()");
    }
    if (!haveLossState) {
      throw new IllegalStateException("backward() needs a forward() with targets just before it");
    }
    haveLossState = false;
    haveHiddenState = false;
    Acts a = acts;
    boolean dropout = training && config.hasDropout();
    SoftmaxOps.crossEntropyBackward(ctx, a.logits, a.logits, a.lse, a.targets, dloss,
        lastLoss.count());
    if (a.bf16) {
      // the logits gradient rounded once, for both head GEMMs
      Bf16Ops.narrow(ctx, a.dlogitsBf16, a.logits);
      GemmOps.gemmBf16(ctx, false, false, 1f, a.dlogitsBf16, headBf16, 0f, null, a.dlnf);
      if (dhead != null) {
        GemmOps.gemmBf16(ctx, true, false, 1f, a.dlogitsBf16, a.lnfBf16, 1f, null, dhead);
      }
    } else {
      GemmOps.sgemm(ctx, false, false, 1f, a.logits, head, 0f, a.dlnf);
      if (dhead != null) {
        GemmOps.sgemm(ctx, true, false, 1f, a.logits, a.lnf, 1f, dhead);
      }
    }
    a.dres.zero();
    lnf.backward(ctx, a.dres, a.dlnf, a.residual[blocks.length], a.lnfMean, a.lnfRstd);
    float pResid = dropout ? config.residDropout() : 0f;
    float pAttn = dropout ? config.attnDropout() : 0f;
    for (int l = blocks.length - 1; l >= 0; l--) {
      blocks[l].backward(ctx, a.dres, a.residual[l], a.blocks[l], a.scratch, pResid, pAttn,
          dropoutSeed);
    }
    if (grads == null) {
      return; // frozen base (LoRA): nothing to add into the embeddings
    }
    if (dropout && config.embdDropout() > 0) {
      Dropout.apply(a.dres, config.embdDropout(), dropoutSeed, -1);
    }
    EmbeddingOps.backward(ctx, dwte, dwpe, a.dres.reshape(a.b, a.t, config.dModel()), a.ids, wte,
        wpe);
  }

  /** Frees the activations (they are rebuilt on the next forward). */
  public void releaseActivations() {
    if (acts != null) {
      acts.close();
      acts = null;
    }
    haveLossState = false;
    haveHiddenState = false;
  }

  /** Names of the parameters, in slab order (for a bf16-matrix model, with its matrices). */
  public List<String> parameterNames() {
    return new ArrayList<>(allShapes != null ? allShapes.keySet() : params.names());
  }

  @Override
  public void close() {
    releaseActivations();
    if (grads != null) {
      grads.close();
      grads = null;
    }
    params.close();
    if (bf16 != null) {
      bf16.close();
      bf16 = null;
    }
    if (bf16Matrices != null) {
      for (Tensor t : bf16Matrices.values()) {
        t.close();
      }
    }
  }
}
