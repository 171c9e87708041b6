package dev.fuselm.model;

import dev.fuselm.tensor.Arena;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.util.Arrays;

/**
 * A pool of KV-cache slots for {@link GptModel#forwardCached}: per slot and layer, the keys,
 * queries and values (T_max, 3C) of up to the context length, and each slot's length; plus the
 * scratch activations of one step of up to {@link #maxRows()} positions, and the type of the
 * matrices the step multiplies with ({@link DType#FLOAT32}: the model's own; {@link
 * DType#BFLOAT16}: the bf16 copies each layer of the model holds).
 *
 * <p>Not thread-safe. Close it before the model.
 */
public final class KvCache implements AutoCloseable {
  /**
   * Most rows per decode step whose results are bit-identical to the same rows run one at a time:
   * the native GEMM's small-M path (M &lt;= 8, gemm.cpp's kSmallM) is the one whose per-row
   * arithmetic does not depend on M; more rows switch to the packed path and change the last bits.
   */
  public static final int MAX_DECODE_ROWS = 8;

  private final GptModel model;
  private final DType weights;
  private final int slots;
  private final int maxRows;
  private final int maxSequences;
  private final int[] lengths;
  private long[] profileNs; // null unless profiling: see profile()
  private final Arena cachePool;
  private final Arena scratchPool;
  final Tensor[] layers; // [layer] (slots, T_max, 3C)
  final Tensor ids, x, x2, ln, qkv, y, attnOut, res2, h, hGelu, mlpOut, last, normed, logits;

  private KvCache(GptModel model, int slots, int maxRows, DType weights) {
    GptConfig cfg = model.config();
    this.model = model;
    this.weights = weights;
    this.slots = slots;
    this.maxRows = maxRows;
    this.maxSequences = Math.min(slots, maxRows);
    this.lengths = new int[slots];
    long c = cfg.dModel();
    long tmax = cfg.contextLength();
    cachePool = new Arena(model.context(), (long) cfg.nLayer() * slots * tmax * 3 * c * 4);
    Arena s = null;
    try {
      layers = new Tensor[cfg.nLayer()];
      for (int l = 0; l < layers.length; l++) {
        layers[l] = cachePool.floats(slots, tmax, 3 * c);
      }
      s = new Arena(model.context(), 1 << 20);
      long n = maxRows;
      ids = s.ints(n);
      x = s.floats(n * c);
      x2 = s.floats(n * c);
      ln = s.floats(n * c);
      qkv = s.floats(n * 3 * c);
      y = s.floats(n * c);
      attnOut = s.floats(n * c);
      res2 = s.floats(n * c);
      h = s.floats(n * 4 * c);
      hGelu = s.floats(n * 4 * c);
      mlpOut = s.floats(n * c);
      last = s.floats((long) maxSequences * c);
      normed = s.floats((long) maxSequences * c);
      logits = s.floats((long) maxSequences * cfg.vocabSize());
    } catch (RuntimeException | Error e) {
      cachePool.close();
      if (s != null) {
        s.close();
      }
      throw e;
    }
    scratchPool = s;
  }

  /**
   * A cache of {@code slots} slots for the model, whose steps run up to {@code maxRows} positions
   * (all rows of all slots of one call) and multiply with matrices of type {@code weights}.
   */
  public static KvCache create(GptModel model, int slots, int maxRows, DType weights) {
    if (slots < 1 || maxRows < 1) {
      throw new IllegalArgumentException("a KV cache needs at least one slot and one row per step,"
          + " got " + slots + " slots and " + maxRows + " rows");
    }
    if (weights != DType.FLOAT32 && weights != DType.BFLOAT16 && weights != DType.INT8) {
      throw new IllegalArgumentException("generation weights must be float32, bfloat16 or int8,"
          + " got " + weights);
    }
    if (weights == DType.INT8 && model.hasBf16Matrices()) {
      throw new IllegalArgumentException("this model holds its block matrices in bf16: int8"
          + " weights are quantized from float32 ones (load it in float32)");
    }
    if (weights != DType.INT8 && model.hasInt8Matrices()) {
      throw new IllegalArgumentException("this model holds its block matrices in int8: decode it"
          + " with int8 weights");
    }
    if (weights == DType.FLOAT32 && model.hasBf16Matrices()) {
      throw new IllegalArgumentException("this model holds its block matrices in bf16: decode it"
          + " with bf16 weights");
    }
    if (weights == DType.BFLOAT16) {
      // made now, so their memory shows before the first step; rounded from the current weights
      // on first use, as a new decoder always reads the weights as they are now
      model.prepareBf16Copies();
      model.weightsChanged();
    }
    if (weights == DType.INT8) {
      model.prepareInt8Copies(); // quantized from the current weights on first use
      model.weightsChanged();
    }
    return new KvCache(model, slots, maxRows, weights);
  }

  GptModel model() {
    return model;
  }

  /** The type of the matrices a step multiplies with. */
  public DType weights() {
    return weights;
  }

  public int slots() {
    return slots;
  }

  /** Most positions one step runs (all rows together). */
  public int maxRows() {
    return maxRows;
  }

  /** Most slots one step runs. */
  public int maxSequences() {
    return maxSequences;
  }

  /** Positions cached in a slot. */
  public int length(int slot) {
    return lengths[slot];
  }

  void setLength(int slot, int length) {
    lengths[slot] = length;
  }

  /**
   * Copies the first {@code n} cached positions of slot {@code from} into slot {@code to} (every
   * layer's keys, queries and values, bit for bit) and sets {@code to}'s length to {@code n}: a
   * prompt prefix computed once serves another slot.
   */
  public void copyPrefix(int from, int to, int n) {
    if (from < 0 || from >= slots || to < 0 || to >= slots) {
      throw new IllegalArgumentException("slots " + from + " and " + to + " must be in 0.."
          + (slots - 1));
    }
    if (n < 0 || n > lengths[from]) {
      throw new IllegalArgumentException("slot " + from + " holds " + lengths[from]
          + " positions, cannot copy " + n);
    }
    if (from != to && n > 0) {
      long width = 3L * model.config().dModel();
      long slotFloats = (long) model.config().contextLength() * width;
      for (Tensor layer : layers) {
        layer.view(to * slotFloats, n * width).copyFrom(layer.view(from * slotFloats, n * width));
      }
    }
    lengths[to] = n;
  }

  /** Components of a step that {@link #profile} times, in the order of {@link #profileNanos}. */
  public static final String[] PROFILE_PARTS = {"matrices", "lm_head", "attention", "rest"};

  /**
   * Starts (true) or stops timing the parts of every step ({@link #PROFILE_PARTS}: the block
   * matrix multiplies, the LM head, cached attention with its cache writes, everything else),
   * from zero. Costs a clock read per part; the CPU kernels are synchronous, so each time is the
   * part's own.
   */
  public void profile(boolean on) {
    profileNs = on ? new long[PROFILE_PARTS.length] : null;
  }

  /** Nanoseconds spent per part since {@link #profile}(true) (null when not profiling). */
  public long[] profileNanos() {
    return profileNs == null ? null : profileNs.clone();
  }

  long[] profileCounters() {
    return profileNs;
  }

  /** Forgets every slot's positions (the memory stays). */
  public void clear() {
    Arrays.fill(lengths, 0);
  }

  /** Native bytes of the caches and the step scratch. */
  public long bytes() {
    return cachePool.capacity() + scratchPool.capacity();
  }

  /**
   * Bytes of matrix weights a step reads per position: every block linear layer's and the LM
   * head's, in this cache's weight type.
   */
  public long weightBytesPerToken() {
    GptConfig cfg = model.config();
    long c = cfg.dModel();
    long params = 12 * c * c * cfg.nLayer() + (long) cfg.vocabSize() * c;
    if (weights == DType.INT8) { // Q8_0: 34 bytes per 32 weights
      return params / 32 * 34;
    }
    return params * (weights == DType.BFLOAT16 ? 2 : 4);
  }

  @Override
  public void close() {
    cachePool.close();
    scratchPool.close();
  }
}
