package dev.fuselm.model;

import dev.fuselm.nn.CausalSelfAttention;
import dev.fuselm.nn.Dense;
import dev.fuselm.nn.Dropout;
import dev.fuselm.nn.FeedForward;
import dev.fuselm.nn.LayerNorm;
import dev.fuselm.nn.TransformerBlock;
import dev.fuselm.ops.EmbeddingOps;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.NativeMemory;
import dev.fuselm.tensor.ParameterSlab;
import dev.fuselm.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A BERT encoder as published (Devlin et al. 2018; Hugging Face {@code BertForPreTraining}) with
 * explicit forward and backward passes through the native ops: word + position + token-type
 * embeddings with layer norm, post-LN {@link TransformerBlock}s (bidirectional attention with a
 * padding mask, exact erf GELU), optionally the pooler (dense + tanh on [CLS]) and, optionally, the
 * pre-training heads as modules over its outputs: {@link MlmHead} (its decoder tied to the word
 * embeddings) and {@link NspHead}. The heads' tensors live in this model's slab because the MLM
 * decoder shares the word embeddings and checkpoints store them together.
 *
 * <p>Parameters live in one {@link ParameterSlab} under Hugging Face names and {@code nn.Linear}
 * (out, in) layouts, in Hugging Face order except that each block's query, key and value weights
 * (and biases) sit back to back, so the three projections are one (3C, C) GEMM. Gradients live in
 * a second slab of the same layout once {@link #enableGradients()} was called. Activations for one
 * (B, T) are allocated on the first pass of that shape and reused; without gradients the blocks
 * share one set of activations, so inference memory does not grow with depth.
 *
 * <p>Use: {@link #forwardHidden} (hidden states), then any of {@link #pooled}, the losses of
 * {@link #mlmHead()} and {@link #nspHead()}, then {@link #backward} with the weights of the two
 * losses and optional
 * gradients of the hidden states or pooled output from a task head of one's own.
 *
 * <p>Not thread-safe, and confined to one thread: the thread that first runs it owns it (with its
 * context), and another thread that runs it gets an {@link IllegalStateException}; see {@link
 * ComputeContext} for handing it over ({@link ComputeContext#claim()}).
 */
public final class BertModel implements Backbone {
  /** Prefix of every encoder and pooler parameter; the heads are {@code cls.*}. */
  public static final String PREFIX = "bert.";

  private final ComputeContext ctx;
  private final BertConfig config;
  private final boolean hasPooler;
  private final boolean hasHeads;
  private final ParameterSlab params;
  private ParameterSlab grads;

  private Tensor wordEmb, posEmb, typeEmb, dWordEmb, dPosEmb, dTypeEmb;
  private LayerNorm embLn;
  private TransformerBlock[] layers;
  private Dense pooler;
  private MlmHead mlmHead;
  private NspHead nspHead;

  private boolean training;
  private long dropoutSeed;
  private Precision inferencePrecision = Precision.FP32;
  private final List<Dense> blockDenses = new ArrayList<>(); // their bf16 copies are freed here

  private BertActivations acts;
  private PackedEncoder packed;
  private State state = State.NONE;
  private boolean pooledDone;
  private boolean padded;

  private enum State { NONE, FORWARD }

  private BertModel(ComputeContext ctx, BertConfig config, boolean hasPooler, boolean hasHeads) {
    if (hasHeads && !hasPooler) {
      throw new IllegalArgumentException("the NSP head needs the pooler");
    }
    long bytes;
    try {
      bytes = Math.multiplyExact(config.parameterCount(hasPooler, hasHeads), 4L);
    } catch (ArithmeticException e) {
      bytes = Long.MAX_VALUE;
    }
    NativeMemory.require(ctx.backend(), bytes,
        () -> "the parameters of a BERT model with " + config.sizes() + " (float32)");
    this.ctx = ctx;
    this.config = config;
    this.hasPooler = hasPooler;
    this.hasHeads = hasHeads;
    this.params = layout(config, hasPooler, hasHeads).build(ctx);
    wire();
  }

  /**
   * A model with zero parameters (call {@link #initialize} or load weights into {@link #params}).
   * hasPooler: {@code bert.pooler.*}; hasHeads: the MLM and NSP heads ({@code cls.*}).
   */
  public static BertModel create(
      ComputeContext ctx, BertConfig config, boolean hasPooler, boolean hasHeads) {
    return new BertModel(ctx, config, hasPooler, hasHeads);
  }

  /** A full pre-training model (pooler and heads) with BERT's random initialisation. */
  public static BertModel random(ComputeContext ctx, BertConfig config, long seed) {
    BertModel m = new BertModel(ctx, config, true, true);
    m.initialize(seed);
    return m;
  }

  /** The parameter names, shapes and decay flags, in slab order (see the class comment). */
  public static ParameterSlab.Builder layout(BertConfig c, boolean hasPooler, boolean hasHeads) {
    long C = c.hiddenSize(), I = c.intermediateSize();
    ParameterSlab.Builder b = ParameterSlab.builder();
    String e = PREFIX + "embeddings.";
    b.add(e + "word_embeddings.weight", true, c.vocabSize(), C);
    b.add(e + "position_embeddings.weight", true, c.maxPositions(), C);
    b.add(e + "token_type_embeddings.weight", true, c.typeVocabSize(), C);
    b.add(e + "LayerNorm.weight", false, C);
    b.add(e + "LayerNorm.bias", false, C);
    for (int l = 0; l < c.numLayers(); l++) {
      String p = layerPrefix(l);
      for (String n : new String[] {"query", "key", "value"}) {
        b.add(p + "attention.self." + n + ".weight", true, C, C);
      }
      for (String n : new String[] {"query", "key", "value"}) {
        b.add(p + "attention.self." + n + ".bias", false, C);
      }
      b.add(p + "attention.output.dense.weight", true, C, C);
      b.add(p + "attention.output.dense.bias", false, C);
      b.add(p + "attention.output.LayerNorm.weight", false, C);
      b.add(p + "attention.output.LayerNorm.bias", false, C);
      b.add(p + "intermediate.dense.weight", true, I, C);
      b.add(p + "intermediate.dense.bias", false, I);
      b.add(p + "output.dense.weight", true, C, I);
      b.add(p + "output.dense.bias", false, C);
      b.add(p + "output.LayerNorm.weight", false, C);
      b.add(p + "output.LayerNorm.bias", false, C);
    }
    if (hasPooler) {
      b.add(PREFIX + "pooler.dense.weight", true, C, C);
      b.add(PREFIX + "pooler.dense.bias", false, C);
    }
    if (hasHeads) {
      b.add("cls.predictions.bias", false, c.vocabSize());
      b.add("cls.predictions.transform.dense.weight", true, C, C);
      b.add("cls.predictions.transform.dense.bias", false, C);
      b.add("cls.predictions.transform.LayerNorm.weight", false, C);
      b.add("cls.predictions.transform.LayerNorm.bias", false, C);
      b.add("cls.seq_relationship.weight", true, 2, C);
      b.add("cls.seq_relationship.bias", false, 2);
    }
    return b;
  }

  static String layerPrefix(int l) {
    return PREFIX + "encoder.layer." + l + ".";
  }

  private Tensor grad(String name) {
    return grads == null ? null : grads.get(name);
  }

  /** (Re)builds the modules over the parameter (and gradient) views. */
  private void wire() {
    String e = PREFIX + "embeddings.";
    wordEmb = params.get(e + "word_embeddings.weight");
    posEmb = params.get(e + "position_embeddings.weight");
    typeEmb = params.get(e + "token_type_embeddings.weight");
    dWordEmb = grad(e + "word_embeddings.weight");
    dPosEmb = grad(e + "position_embeddings.weight");
    dTypeEmb = grad(e + "token_type_embeddings.weight");
    embLn = layerNorm(e + "LayerNorm");
    long C = config.hiddenSize();
    layers = new TransformerBlock[config.numLayers()];
    releaseBf16Copies();
    blockDenses.clear();
    for (int l = 0; l < layers.length; l++) {
      String p = layerPrefix(l);
      String q = p + "attention.self.query.";
      // query, key and value weights (and biases) are adjacent in the slab: one (3C, C) view
      Dense qkv = new Dense(adjacent(params, q + "weight", 3 * C, C),
          adjacent(params, q + "bias", 3 * C),
          grads == null ? null : adjacent(grads, q + "weight", 3 * C, C),
          grads == null ? null : adjacent(grads, q + "bias", 3 * C));
      CausalSelfAttention attention = CausalSelfAttention.bidirectional(qkv,
          dense(p + "attention.output.dense"), config.numHeads());
      FeedForward mlp = FeedForward.bert(dense(p + "intermediate.dense"), dense(p + "output.dense"));
      blockDenses.add(qkv);
      layers[l] = new TransformerBlock(l, TransformerBlock.Norm.POST,
          layerNorm(p + "attention.output.LayerNorm"), attention, layerNorm(p + "output.LayerNorm"),
          mlp);
    }
    pooler = hasPooler ? dense(PREFIX + "pooler.dense") : null;
    closeHeads();
    if (hasHeads) {
      mlmHead = new MlmHead(ctx, dense("cls.predictions.transform.dense"),
          layerNorm("cls.predictions.transform.LayerNorm"), wordEmb, dWordEmb,
          params.get("cls.predictions.bias"), grad("cls.predictions.bias"));
      nspHead = new NspHead(ctx, dense("cls.seq_relationship"));
    }
  }

  private void closeHeads() {
    if (mlmHead != null) {
      mlmHead.close();
      nspHead.close();
      mlmHead = null;
      nspHead = null;
    }
  }

  /** A view of the slab starting at parameter first and spanning shape (several adjacent tensors). */
  private static Tensor adjacent(ParameterSlab slab, String first, long... shape) {
    long offset = (slab.get(first).address() - slab.flat().address()) / Float.BYTES;
    return slab.flat().view(offset, shape);
  }

  private Dense dense(String p) {
    Dense d = new Dense(params.get(p + ".weight"), params.get(p + ".bias"), grad(p + ".weight"),
        grad(p + ".bias"));
    if (p.startsWith(PREFIX + "encoder.")) {
      blockDenses.add(d);
    }
    return d;
  }

  private void releaseBf16Copies() {
    for (Dense d : blockDenses) {
      d.releaseBf16Copy();
    }
  }

  /**
   * The precision of {@link #forwardPacked}'s encoder projections: FP32 (the default) or BF16:
   * each projection multiplies a bf16 copy of its weight (rounded from the float32 master once, on
   * first use: half the bytes, and AVX512_BF16's vdpbf16ps where the CPU has it) by its input rounded
   * to bf16 inside the GEMM, summing in float32; embeddings, layer norms, attention and residuals
   * stay float32. The float32 weights are kept (training, checkpoints); FP32 frees the copies.
   */
  public BertModel setInferencePrecision(Precision p) {
    inferencePrecision = p;
    for (Dense d : blockDenses) {
      d.weightChanged(); // rounded again on the next bf16 use (the weights may have been loaded)
    }
    if (p == Precision.FP32) {
      releaseBf16Copies();
    }
    return this;
  }

  public Precision inferencePrecision() {
    return inferencePrecision;
  }

  /** Native bytes of the encoder's bf16 weight copies (0 without any). */
  public long bf16CopyBytes() {
    long n = 0;
    for (Dense d : blockDenses) {
      n += d.bf16CopyBytes();
    }
    return n;
  }

  private LayerNorm layerNorm(String p) {
    return new LayerNorm(params.get(p + ".weight"), params.get(p + ".bias"), grad(p + ".weight"),
        grad(p + ".bias"), config.layerNormEps());
  }

  /**
   * BERT's initialisation (Hugging Face {@code BertPreTrainedModel._init_weights}): dense weights
   * and embeddings N(0, 0.02), biases 0, layer norms weight 1 and bias 0. Deterministic in seed.
   */
  public void initialize(long seed) {
    List<String> names = params.names();
    for (int i = 0; i < names.size(); i++) {
      String name = names.get(i);
      Tensor t = params.get(name);
      float[] v = new float[Math.toIntExact(t.numel())];
      if (name.endsWith("LayerNorm.weight")) {
        Arrays.fill(v, 1f);
      } else if (!name.endsWith("bias")) {
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + i);
        for (int j = 0; j < v.length; j++) {
          v[j] = (float) (r.nextGaussian() * 0.02);
        }
      }
      t.copyFrom(v);
    }
  }

  /** Allocates the gradient slab (zeroed) so that {@link #backward} can run. Idempotent. */
  @Override
  public BertModel enableGradients() {
    if (grads == null) {
      grads = params.sameLayout(ctx);
      wire();
      releaseActivations(); // inference activations are shared between blocks
    }
    return this;
  }

  @Override
  public ComputeContext context() {
    return ctx;
  }

  public BertConfig config() {
    return config;
  }

  @Override
  public int hiddenSize() {
    return config.hiddenSize();
  }

  public boolean hasPooler() {
    return hasPooler;
  }

  /** Whether the MLM and NSP heads are present. */
  public boolean hasHeads() {
    return hasHeads;
  }

  /** The masked-LM head over {@link #hidden()} ({@code cls.predictions.*}). */
  public MlmHead mlmHead() {
    requireHeads();
    return mlmHead;
  }

  /** The next-sentence head over {@link #pooled()} ({@code cls.seq_relationship.*}). */
  public NspHead nspHead() {
    requireHeads();
    return nspHead;
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
    return params.size();
  }

  /** Names of the parameters, in slab order. */
  public List<String> parameterNames() {
    return new ArrayList<>(params.names());
  }

  /** The word embeddings (V, C), also the MLM decoder weight. */
  public Tensor wordEmbeddings() {
    return wordEmb;
  }

  /**
   * Training mode applies hidden and attention-probability dropout (if the config has any);
   * evaluation mode never does.
   */
  @Override
  public void setTraining(boolean training) {
    this.training = training;
    if (training) {
      for (Dense d : blockDenses) {
        d.weightChanged(); // training writes the float32 weights: bf16 copies go stale
      }
    }
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

  @Override
  public void zeroGrad() {
    if (grads != null) {
      grads.flat().zero();
    }
  }

  private float dropout() {
    return training ? config.hiddenDropout() : 0f;
  }

  private float attentionDropout() {
    return training ? config.attentionDropout() : 0f;
  }

  private BertActivations acts(int b, int t) {
    if (b <= 0 || t <= 0) {
      throw new IllegalArgumentException("batch and sequence length must be positive, got B=" + b
          + " T=" + t);
    }
    if (t > config.maxPositions()) {
      throw new IllegalArgumentException("sequence length " + t + " is longer than the model's "
          + config.maxPositions() + " positions (max_position_embeddings)");
    }
    boolean wantGrads = grads != null;
    if (acts == null || acts.b != b || acts.t != t || acts.withGrads != wantGrads) {
      releaseActivations();
      acts = new BertActivations(ctx, config, b, t, wantGrads);
    }
    return acts;
  }

  /** Native bytes held by activations (0 before the first forward). */
  public long activationBytes() {
    return (acts == null ? 0 : acts.pool.highWater()) + (packed == null ? 0 : packed.bytes());
  }

  /**
   * Runs the encoder on batch (token types: segment ids in [0, type_vocab_size), null for all 0;
   * padding positions still get hidden states, attending to the real tokens) and returns the
   * hidden states (B*T, C) of the last block: a view that the next forward overwrites.
   */
  @Override
  public Tensor forwardHidden(TokenBatch batch) {
    ctx.checkThread("BertModel");
    return encode(batch.ids(), batch.tokenTypes(), batch.attentionMask(), batch.b(), batch.t());
  }


  private Tensor encode(int[] ids, int[] tokenTypes, int[] attentionMask, int b, int t) {
    BertActivations a = acts(b, t);
    long n = (long) b * t;
    length("ids", ids, n);
    a.ids.copyFrom(ids);
    if (tokenTypes == null) {
      a.types.zero();
    } else {
      length("tokenTypes", tokenTypes, n);
      a.types.copyFrom(tokenTypes);
    }
    boolean padded = false;
    if (attentionMask != null) {
      length("attentionMask", attentionMask, n);
      for (int v : attentionMask) {
        if (v != 0 && v != 1) {
          throw new IllegalArgumentException("attentionMask holds " + v + "; only 0 (padding) and"
              + " 1 (token) are allowed");
        }
        padded |= v == 0;
      }
      a.mask.copyFrom(attentionMask);
    }
    Tensor keyMask = padded ? a.mask : null;
    this.padded = padded;
    state = State.NONE;
    resetHeads();
    pooledDone = false;
    long c = config.hiddenSize();
    float p = dropout();
    EmbeddingOps.forward(ctx, a.embSum.reshape(b, t, c), a.ids, wordEmb, posEmb);
    EmbeddingOps.forward(ctx, a.typeSum, a.types, typeEmb, null);
    embLn.residualForward(ctx, a.embSum, a.residual[0], a.embMean, a.embRstd, a.embSum,
        a.typeSum.reshape(n, c));
    if (p > 0) {
      Dropout.apply(a.residual[0], p, dropoutSeed, -1);
    }
    for (int l = 0; l < layers.length; l++) {
      layers[l].forward(ctx, a.residual[l + 1], a.residual[l], keyMask, a.layers[l], p,
          attentionDropout(), dropoutSeed);
    }
    if (a.withGrads) {
      a.dHidden.zero();
      a.dPooled.zero();
    }
    state = State.FORWARD;
    return a.hidden();
  }

  /** Whether {@link #forwardPacked} runs on this model's backend (CPU and reference, not CUDA). */
  public boolean supportsPacked() {
    return ctx.backend().supports("attention_forward_varlen");
  }

  /**
   * Inference over packed variable-length sequences (token types 0, evaluation mode): the encoder
   * runs on the real tokens of seqs laid back to back, no padding, and returns their last hidden
   * states (N, C), N = the sum of the lengths; cuSeqlens (seqs.length + 1 entries) receives where
   * each sequence starts (and N at the end). Each sequence's rows equal those of
   * {@link #forwardHidden} on a padded batch holding it. The view is valid until the next forward.
   */
  public Tensor forwardPacked(int[][] seqs, int[] cuSeqlens) {
    ctx.checkThread("BertModel");
    if (training) {
      throw new IllegalStateException("forwardPacked() is inference only: call setTraining(false)");
    }
    if (!supportsPacked()) {
      throw new IllegalStateException("forwardPacked() has no " + ctx.backend() + " kernel");
    }
    if (packed == null) {
      packed = new PackedEncoder(ctx, config);
    }
    state = State.NONE; // hidden(), pooled() and backward() refer to forwardHidden()
    resetHeads();
    pooledDone = false;
    return packed.forward(seqs, cuSeqlens, wordEmb, posEmb, typeEmb, embLn, layers,
        inferencePrecision == Precision.BF16);
  }

  private void resetHeads() {
    if (mlmHead != null) {
      mlmHead.reset();
      nspHead.reset();
    }
  }

  private static void length(String what, int[] v, long n) {
    if (v.length != n) {
      throw new IllegalArgumentException(what + " has " + v.length + " entries, expected B*T = "
          + n);
    }
  }

  private BertActivations requireForward(String what) {
    if (state != State.FORWARD) {
      throw new IllegalStateException(what + " needs a forward() first");
    }
    return acts;
  }

  /** The hidden states (B*T, C) of the last forward. */
  public Tensor hidden() {
    return requireForward("hidden()").hidden();
  }

  /** The pooler output tanh(dense(hidden[:, 0])) (B, C) of the last forward (computed once). */
  public Tensor pooled() {
    BertActivations a = requireForward("pooled()");
    if (!hasPooler) {
      throw new IllegalStateException("this model has no pooler (bert.pooler.* was not loaded)");
    }
    if (!pooledDone) {
      long c = config.hiddenSize();
      EmbeddingOps.forward(ctx, a.clsHidden, a.cls, a.hidden(), null);
      pooler.forward(ctx, a.pooledPre, a.clsHidden.reshape(a.b, c));
      // tanh of (B, C) values on the host: small next to the encoder, and no native tanh op
      float[] v = a.pooledPre.toFloatArray();
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) Math.tanh(v[i]);
      }
      a.pooled.copyFrom(v);
      pooledDone = true;
    }
    return a.pooled;
  }

  private void requireHeads() {
    if (!hasHeads) {
      throw new IllegalStateException("this model has no MLM/NSP heads (cls.* was not loaded)");
    }
  }





  /**
   * The pre-training backward: adds into the gradient slab the gradients of {@code dMlm * MLM loss
   * + dNsp * NSP loss} (the last losses of {@link #mlmHead()} and {@link #nspHead()}) plus those of
   * any task loss whose gradient with respect to the hidden states (B*T*C) or the pooled output
   * (B*C) of the last forward is given (null: none). A loss weight must be 0 unless that loss was
   * computed since the forward. The MLM logits are overwritten. One backward per forward.
   */
  public void backward(float dMlm, float dNsp, float[] dHidden, float[] dPooled) {
    ctx.checkThread("BertModel");
    requireGradients("backward()");
    BertActivations a = requireForward("backward()");
    if (dMlm != 0 && (mlmHead == null || !mlmHead.hasLoss())) {
      throw new IllegalStateException(
          "backward() with an MLM weight needs mlmHead().loss() first");
    }
    if (dNsp != 0 && (nspHead == null || !nspHead.hasLoss())) {
      throw new IllegalStateException(
          "backward() with an NSP weight needs nspHead().loss() first");
    }
    if (dHidden != null) {
      if (dHidden.length != a.dHidden.numel()) {
        throw new IllegalArgumentException("dHidden has " + dHidden.length + " entries, expected"
            + " B*T*C = " + a.dHidden.numel());
      }
      a.dHidden.copyFrom(dHidden);
    }
    if (dPooled != null) {
      if (!hasPooler) {
        throw new IllegalStateException("this model has no pooler");
      }
      if (dPooled.length != a.dPooled.numel()) {
        throw new IllegalArgumentException("dPooled has " + dPooled.length + " entries, expected"
            + " B*C = " + a.dPooled.numel());
      }
      a.dPooled.copyFrom(dPooled);
    }
    if ((dNsp != 0 || dPooled != null) && !pooledDone) {
      throw new IllegalStateException("backward() with a pooled-output gradient needs pooled()");
    }
    state = State.NONE;
    if (dMlm != 0) {
      mlmHead.backward(dMlm, a.hidden(), a.dHidden);
    }
    if (dNsp != 0) {
      nspHead.backward(dNsp, a.pooled, a.dPooled);
    }
    resetHeads();
    if (dNsp != 0 || dPooled != null) {
      poolerBackward(a);
    }
    encoderBackward(a, 0);
  }

  /**
   * The gradient (B*T*C) of the hidden states of the last forward implied by dPooled (B*C), a
   * gradient of its {@link #pooled()} output (nonzero only at each [CLS] row); adds the pooler's
   * parameter gradients. Pass the result, plus any other gradient of the hidden states, to
   * {@link #backwardHidden}.
   */
  public float[] pooledBackward(float[] dPooled) {
    ctx.checkThread("BertModel");
    requireGradients("pooledBackward()");
    BertActivations a = requireForward("pooledBackward()");
    if (!pooledDone) {
      throw new IllegalStateException("pooledBackward() needs pooled() first");
    }
    if (dPooled.length != a.dPooled.numel()) {
      throw new IllegalArgumentException("dPooled has " + dPooled.length + " entries, expected"
          + " B*C = " + a.dPooled.numel());
    }
    a.dPooled.copyFrom(dPooled);
    a.dHidden.zero();
    poolerBackward(a);
    return a.dHidden.toFloatArray();
  }

  /** a.dHidden += the gradient through the pooler of a.dPooled (which it overwrites). */
  private void poolerBackward(BertActivations a) {
    long c = config.hiddenSize();
    // pooled = tanh(pre): dpre = dpooled * (1 - pooled^2), on the host like the forward
    float[] y = a.pooled.toFloatArray();
    float[] d = a.dPooled.toFloatArray();
    for (int i = 0; i < d.length; i++) {
      d[i] *= 1f - y[i] * y[i];
    }
    a.dPooled.copyFrom(d);
    pooler.backward(ctx, a.dCls, a.dPooled, a.clsHidden.reshape(a.b, c), false);
    EmbeddingOps.backward(ctx, a.dHidden, null, a.dCls.reshape(1, a.b, c), a.cls, a.hidden(),
        null);
  }

  @Override
  public void backwardHidden(float[] dHidden, int fromBlock) {
    ctx.checkThread("BertModel");
    requireGradients("backwardHidden()");
    BertActivations a = requireForward("backwardHidden()");
    if (fromBlock < 0 || fromBlock > layers.length) {
      throw new IllegalArgumentException("fromBlock " + fromBlock + " is outside 0.."
          + layers.length);
    }
    if (dHidden.length != a.dHidden.numel()) {
      throw new IllegalArgumentException("dHidden has " + dHidden.length + " entries, expected"
          + " B*T*C = " + a.dHidden.numel());
    }
    a.dHidden.copyFrom(dHidden);
    state = State.NONE;
    resetHeads();
    encoderBackward(a, fromBlock);
  }

  private void requireGradients(String what) {
    if (grads == null) {
      throw new IllegalStateException("call enableGradients() before " + what);
    }
  }

  private void encoderBackward(BertActivations a, int fromBlock) {
    long c = config.hiddenSize();
    float p = dropout();
    Tensor keyMask = padded ? a.mask : null;
    Tensor dres = a.dHidden;
    for (int l = layers.length - 1; l >= fromBlock; l--) {
      layers[l].backward(ctx, dres, a.residual[l], keyMask, a.layers[l], a.scratch, p,
          attentionDropout(), dropoutSeed);
    }
    if (fromBlock > 0) {
      return;
    }
    if (p > 0) {
      Dropout.apply(dres, p, dropoutSeed, -1);
    }
    a.dEmb.zero();
    embLn.backward(ctx, a.dEmb, dres, a.embSum, a.embMean, a.embRstd);
    Tensor dEmb = a.dEmb.reshape(a.b, a.t, c);
    EmbeddingOps.backward(ctx, dWordEmb, dPosEmb, dEmb, a.ids, wordEmb, posEmb);
    EmbeddingOps.backward(ctx, dTypeEmb, null, dEmb, a.types, typeEmb, null);
  }

  /** Frees the activations (they are rebuilt on the next forward). */
  public void releaseActivations() {
    if (packed != null) {
      packed.close();
      packed = null;
    }
    if (acts != null) {
      acts.close();
      acts = null;
    }
    state = State.NONE;
    resetHeads();
  }

  @Override
  public void close() {
    releaseActivations();
    releaseBf16Copies();
    closeHeads();
    if (grads != null) {
      grads.close();
      grads = null;
    }
    params.close();
  }
}
