package dev.fuselm.io;

import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.ops.Bf16Ops;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import dev.fuselm.tokenizer.Gpt2BpeTokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A GPT-2 GGUF file loaded straight into a {@link GptModel} (no model directory in between), in
 * the weight type decoding will use, one tensor at a time:
 *
 * <ul>
 *   <li>float32: every tensor widened (F16, BF16) or dequantized (Q8_0) to float32, as {@code
 *       fuselm import gguf} writes it;
 *   <li>bf16 ({@link GptModel#createWithBf16Matrices}): the block matrices rounded to bf16;
 *   <li>int8 ({@link GptModel#createWithInt8Matrices}): a Q8_0 block matrix's blocks go as stored
 *       into the decode kernel's packed layout ({@link Int8Ops#repack}), with no float32 copy; an
 *       F32/F16/BF16 block matrix is quantized from float32 one matrix at a time. Both give the
 *       bytes the float32 path's quantization gives (Q8_0 blocks requantize to themselves).
 * </ul>
 *
 * Embeddings, layer norms, biases and an untied head are float32 in every case.
 */
public final class GgufModel {
  private GgufModel() {}

  /** The GPT-2 config a GGUF file describes (its hyperparameters and tensor names checked). */
  public static GptConfig config(Path file) throws IOException {
    try (GgufFile g = GgufFile.open(file)) {
      return GgufGpt2.config(g);
    }
  }

  /**
   * Loads a GPT-2 GGUF file onto ctx with block matrices of type weights (FLOAT32, BFLOAT16 or
   * INT8; see the class comment). The caller owns (and closes) the model.
   */
  public static GptModel load(ComputeContext ctx, Path file, DType weights) throws IOException {
    if (weights != DType.FLOAT32 && weights != DType.BFLOAT16 && weights != DType.INT8) {
      throw new IllegalArgumentException("GGUF models load with float32, bfloat16 or int8"
          + " matrices, not " + weights);
    }
    try (GgufFile g = GgufFile.open(file)) {
      GptConfig c = GgufGpt2.config(g);
      GptModel m = weights == DType.INT8 ? GptModel.createWithInt8Matrices(ctx, c)
          : weights == DType.BFLOAT16 ? GptModel.createWithBf16Matrices(ctx, c)
          : GptModel.create(ctx, c);
      try {
        for (GgufGpt2.Mapping mp : GgufGpt2.mappings(c)) {
          fill(ctx, g, mp, m.parameter(mp.hf()));
        }
        m.weightsChanged();
        return m;
      } catch (IOException | RuntimeException | Error e) {
        m.close();
        throw e;
      }
    }
  }

  /** One parameter from its GGUF tensor, in the parameter's type. */
  private static void fill(ComputeContext ctx, GgufFile g, GgufGpt2.Mapping mp, Tensor p)
      throws IOException {
    GgufFile.TensorInfo t = g.tensor(mp.gguf());
    long[] hf = mp.hfShape();
    long[] stored = mp.transposed() ? new long[] {hf[1], hf[0]} : hf;
    if (!Arrays.equals(t.shape(), stored)) {
      throw new IOException(g.path() + ": tensor '" + mp.gguf() + "' has shape "
          + Arrays.toString(t.shape()) + ", the hyperparameters need " + Arrays.toString(stored));
    }
    if (p.dtype() == DType.INT8 && t.type() == GgufType.Q8_0) {
      // stored (out, in) as rows of Q8_0 blocks: exactly the blocks the repack takes
      ByteBuffer blocks = g.rawBytes(mp.gguf());
      requireFiniteScales(g, mp.gguf(), blocks);
      Int8Ops.repack(ctx, p, blocks, hf[0], hf[1]);
      return;
    }
    float[] v = g.floats(mp.gguf());
    for (float x : v) {
      if (!Float.isFinite(x)) {
        throw new IOException(g.path() + ": tensor '" + mp.gguf() + "' holds a non-finite value");
      }
    }
    if (p.dtype() == DType.INT8) {
      try (Tensor w = Tensor.of(ctx, v, stored)) { // (out, in): the rows the blocks run along
        Int8Ops.quantize(ctx, p, w, false);
      }
      return;
    }
    if (mp.transposed()) {
      v = GgufGpt2.transpose(v, (int) stored[0], (int) stored[1]);
    }
    if (p.dtype() == DType.BFLOAT16) {
      try (Tensor f32 = Tensor.of(ctx, v, hf)) {
        Bf16Ops.narrow(ctx, p, f32);
      }
    } else {
      p.copyFrom(v);
    }
  }

  /** Refuses Q8_0 blocks whose fp16 scale is infinite or NaN (exponent bits all ones). */
  private static void requireFiniteScales(GgufFile g, String name, ByteBuffer blocks)
      throws IOException {
    ByteBuffer b = blocks.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    for (int i = b.position(); i + Int8Ops.BLOCK_BYTES <= b.limit(); i += Int8Ops.BLOCK_BYTES) {
      if ((b.getShort(i) & 0x7c00) == 0x7c00) {
        throw new IOException(g.path() + ": tensor '" + name + "' holds a non-finite value");
      }
    }
  }

  /**
   * The GPT-2 tokenizer a GGUF file carries ({@code tokenizer.ggml.*}), or null when it has none.
   * Read through encoder.json + vocab.bpe written to a temporary directory, deleted before return.
   */
  public static Gpt2BpeTokenizer tokenizer(Path file) throws IOException {
    Path tmp = Files.createTempDirectory("fuselm-gguf-tokenizer-");
    try (GgufFile g = GgufFile.open(file)) {
      return GgufGpt2.writeTokenizer(g, tmp) == 0 ? null : Gpt2BpeTokenizer.fromDirectory(tmp);
    } finally {
      GgufGpt2.deleteTree(tmp);
    }
  }

  /** The file's Hugging Face chat template ({@code tokenizer.chat_template}), or null. */
  public static String chatTemplate(Path file) throws IOException {
    try (GgufFile g = GgufFile.open(file)) {
      GgufFile.Value v = g.metadata().get("tokenizer.chat_template");
      return v != null && v.value() instanceof String s ? s : null;
    }
  }
}
