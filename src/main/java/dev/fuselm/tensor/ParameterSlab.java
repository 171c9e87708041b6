package dev.fuselm.tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;

/**
 * Many named parameter tensors in one contiguous native allocation, so the optimizer, the gradient
 * norm and checkpoint I/O are single passes. Gradients and optimizer moments are further slabs with
 * the same layout ({@link #sameLayout}).
 *
 * <p>Each tensor is a segment with a weight-decay flag (matrices decay, biases and norms do not);
 * the segment table lives in host memory for {@code fl_adamw_step}.
 */
public final class ParameterSlab implements AutoCloseable {
  private final Layout layout;
  private final Tensor all;
  private final Map<String, Tensor> views = new LinkedHashMap<>();

  private ParameterSlab(ComputeContext ctx, Layout layout) {
    this.layout = layout;
    this.all = Tensor.zeros(ctx, () -> "a slab of " + layout.total + " float32 parameters (a"
        + " model's weights, their gradients or optimizer moments)", DType.FLOAT32, layout.total);
    for (Layout.Entry e : layout.entries) {
      views.put(e.name, all.view(e.offset, e.shape));
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A new zero-filled slab with this slab's names, shapes and segments (for gradients, moments). */
  public ParameterSlab sameLayout(ComputeContext ctx) {
    return new ParameterSlab(ctx, layout);
  }

  public Tensor get(String name) {
    Tensor t = views.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no parameter named '" + name + "'");
    }
    return t;
  }

  public boolean contains(String name) {
    return views.containsKey(name);
  }

  public List<String> names() {
    return Collections.unmodifiableList(new ArrayList<>(views.keySet()));
  }

  /** The whole slab as one flat tensor. */
  public Tensor flat() {
    return all;
  }

  public long size() {
    return layout.total;
  }

  public boolean decays(String name) {
    for (Layout.Entry e : layout.entries) {
      if (e.name.equals(name)) {
        return e.decay;
      }
    }
    throw new IllegalArgumentException("no parameter named '" + name + "'");
  }

  /** Host int64[nseg + 1] segment offsets, for fl_adamw_step. */
  public long segmentOffsetsAddress() {
    return layout.segOffsets.address();
  }

  /** Host uint8[nseg] decay flags, for fl_adamw_step. */
  public long segmentDecayAddress() {
    return layout.segDecay.address();
  }

  public int segmentCount() {
    return layout.entries.size();
  }

  /** Closes this slab's memory. The shared segment table is freed with the slab that built it. */
  @Override
  public void close() {
    all.close();
    if (layout.owner == this) {
      layout.segOffsets.close();
      layout.segDecay.close();
    }
  }

  /** Collects named shapes in order, then allocates them as one slab. */
  public static final class Builder {
    private final List<Layout.Entry> entries = new ArrayList<>();
    private final Map<String, Boolean> seen = new LinkedHashMap<>();
    private long total;

    public Builder add(String name, boolean decay, long... shape) {
      if (seen.put(name, Boolean.TRUE) != null) {
        throw new IllegalArgumentException("parameter '" + name + "' is added twice");
      }
      long n = Tensor.numel(shape);
      entries.add(new Layout.Entry(name, shape.clone(), total, n, decay));
      total = Math.addExact(total, n);
      return this;
    }

    public ParameterSlab build(ComputeContext ctx) {
      Layout layout = new Layout(entries, total);
      ParameterSlab slab;
      try {
        slab = new ParameterSlab(ctx, layout);
      } catch (RuntimeException e) {
        layout.segOffsets.close();
        layout.segDecay.close();
        throw e;
      }
      layout.owner = slab;
      return slab;
    }
  }

  private static final class Layout {
    record Entry(String name, long[] shape, long offset, long numel, boolean decay) {}

    final List<Entry> entries;
    final long total;
    final LongPointer segOffsets;
    final BytePointer segDecay;
    ParameterSlab owner;

    Layout(List<Entry> entries, long total) {
      this.entries = List.copyOf(entries);
      this.total = total;
      this.segOffsets = new LongPointer(entries.size() + 1);
      this.segDecay = new BytePointer(Math.max(1, entries.size()));
      for (int i = 0; i < entries.size(); i++) {
        segOffsets.put(i, entries.get(i).offset);
        segDecay.put(i, (byte) (entries.get(i).decay ? 1 : 0));
      }
      segOffsets.put(entries.size(), total);
    }
  }
}
