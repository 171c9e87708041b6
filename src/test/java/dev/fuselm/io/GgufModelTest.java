package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.generate.GenerationConfig;
import dev.fuselm.generate.Generator;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.GptModel;
import dev.fuselm.model.ModelFamily;
import dev.fuselm.ops.Int8Ops;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF files loaded straight into a model: float32 equal to the import's directory, and int8 from
 * a Q8_0 file's blocks as stored, bit-identical to quantizing the dequantized float32 (the path
 * that went through a float32 model first).
 */
class GgufModelTest {
  // d 64 and the MLP's 256: every matrix's input a multiple of 32, so Q8_0 covers them all
  static final GptConfig CFG = GptConfig.of(300, 32, 64, 2, 2).withDropout(0f);
  static final int[] PROMPT = {5, 17, 250, 3};

  @TempDir static Path tmp;
  static Path dir;
  static Path q8;
  static Path f32;

  @BeforeAll
  static void write() throws IOException {
    dir = tmp.resolve("gpt");
    try (ComputeContext c = ComputeContext.create(); GptModel m = GptModel.random(c, CFG, 11)) {
      float[] w = m.tokenEmbedding().toFloatArray();
      for (int i = 0; i < w.length; i++) {
        w[i] *= 20; // logits that differ clearly between tokens
      }
      m.tokenEmbedding().copyFrom(w);
      dev.fuselm.io.Checkpoint.save(ModelFamily.GPT2, m, dir);
    }
    q8 = tmp.resolve("m-q8.gguf");
    f32 = tmp.resolve("m-f32.gguf");
    try (ComputeContext c = ComputeContext.create()) {
      writeWithoutTokenizer(c, GgufType.Q8_0, q8);
      writeWithoutTokenizer(c, GgufType.F32, f32);
    }
  }

  /** The exporter's tensors for dir, with no tokenizer (the test vocabulary is not a BPE one). */
  static void writeWithoutTokenizer(ComputeContext c, GgufType type, Path out) throws IOException {
    GgufWriter w = new GgufWriter();
    w.putString("general.architecture", "gpt2")
        .putUint32("gpt2.context_length", CFG.contextLength())
        .putUint32("gpt2.embedding_length", CFG.dModel())
        .putUint32("gpt2.feed_forward_length", 4L * CFG.dModel())
        .putUint32("gpt2.block_count", CFG.nLayer())
        .putUint32("gpt2.attention.head_count", CFG.nHead())
        .putFloat32("gpt2.attention.layer_norm_epsilon", CFG.layerNormEps());
    try (GptModel m = Checkpoint.load(c, dir, ModelFamily.GPT2)) {
      for (GgufGpt2.Mapping mp : GgufGpt2.mappings(CFG)) {
        long[] shape = mp.hfShape();
        float[] v = mp.hf().endsWith("attn.c_attn.bias") && !CFG.qkvBias()
            ? new float[3 * CFG.dModel()] : m.parameter(mp.hf()).toFloatArray();
        if (mp.transposed()) {
          v = GgufGpt2.transpose(v, (int) shape[0], (int) shape[1]);
          shape = new long[] {shape[1], shape[0]};
        }
        w.tensor(mp.gguf(), shape, shape.length == 1 ? GgufType.F32 : type, v);
      }
    }
    w.write(out);
  }

  @Test
  void q8BlocksRepackToWhatQuantizingTheirFloat32Gives() throws IOException {
    int matrices = 0;
    try (ComputeContext c = ComputeContext.create(); GgufFile g = GgufFile.open(q8)) {
      for (GgufGpt2.Mapping mp : GgufGpt2.mappings(CFG)) {
        if (!GptModel.isBlockMatrix(mp.hf())) {
          continue;
        }
        assertEquals(GgufType.Q8_0, g.tensor(mp.gguf()).type(), mp.gguf());
        long k = mp.hfShape()[0];
        long n = mp.hfShape()[1];
        long bytes = Int8Ops.packedBytes(k, n);
        // the present path: dequantized to float32 in (in, out), then quantized and repacked
        float[] kn = GgufGpt2.transpose(g.floats(mp.gguf()), (int) n, (int) k);
        try (Tensor direct = Tensor.zeros(c, DType.INT8, bytes);
            Tensor viaF32 = Tensor.zeros(c, DType.INT8, bytes);
            Tensor master = Tensor.of(c, kn, k, n)) {
          Int8Ops.repack(c, direct, g.rawBytes(mp.gguf()), k, n);
          Int8Ops.quantize(c, viaF32, master, true);
          assertArrayEquals(Int8Ops.toBytes(c, viaF32), Int8Ops.toBytes(c, direct), mp.gguf());
        }
        matrices++;
      }
    }
    assertEquals(4 * CFG.nLayer(), matrices);
  }

  @Test
  void int8FromQ8BlocksDecodesAsTheFloat32ModelQuantizedAtLoad() throws IOException {
    Path imported = tmp.resolve("imported-q8");
    GgufGpt2.toDirectory(q8, imported); // what generate/serve did before: float32 in between
    GenerationConfig gc = GenerationConfig.greedy(20);
    int[] expected;
    long expectedInt8Bytes;
    try (ComputeContext c = ComputeContext.create();
        GptModel m = Checkpoint.load(c, imported, ModelFamily.GPT2);
        Generator g = new Generator(m, 1, DType.INT8)) {
      expected = g.generate(PROMPT, gc, null).ids();
      expectedInt8Bytes = m.int8WeightBytes();
    }
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GgufModel.load(c, q8, DType.INT8)) {
      assertTrue(m.hasInt8Matrices());
      // the slab holds no block matrix: the int8 model's float32 bytes are the rest only
      long matrixValues = 0;
      for (GgufGpt2.Mapping mp : GgufGpt2.mappings(CFG)) {
        if (GptModel.isBlockMatrix(mp.hf())) {
          matrixValues += mp.hfShape()[0] * mp.hfShape()[1];
        }
      }
      assertEquals(CFG.parameterCount() - matrixValues, m.params().size());
      assertEquals(CFG.parameterCount(), m.parameterCount());
      try (Generator g = new Generator(m, 1, DType.INT8)) {
        assertArrayEquals(expected, g.generate(PROMPT, gc, null).ids());
        assertEquals(expectedInt8Bytes, m.int8WeightBytes());
      }
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new Generator(m, 1, DType.FLOAT32));
      assertTrue(e.getMessage().contains("int8"), e.getMessage());
    }
  }

  @Test
  void int8FromFloat32FileQuantizesAsTheFloat32Model() throws IOException {
    GenerationConfig gc = GenerationConfig.greedy(20);
    int[] expected;
    try (ComputeContext c = ComputeContext.create();
        GptModel m = Checkpoint.load(c, dir, ModelFamily.GPT2);
        Generator g = new Generator(m, 1, DType.INT8)) {
      expected = g.generate(PROMPT, gc, null).ids();
    }
    try (ComputeContext c = ComputeContext.create();
        GptModel m = GgufModel.load(c, f32, DType.INT8);
        Generator g = new Generator(m, 1, DType.INT8)) {
      assertArrayEquals(expected, g.generate(PROMPT, gc, null).ids());
    }
  }

  @Test
  void float32LoadEqualsTheImportedDirectory() throws IOException {
    Path imported = tmp.resolve("imported-f32");
    GgufGpt2.toDirectory(q8, imported);
    try (ComputeContext c = ComputeContext.create();
        GptModel a = Checkpoint.load(c, imported, ModelFamily.GPT2);
        GptModel b = GgufModel.load(c, q8, DType.FLOAT32)) {
      for (String name : a.parameterNames()) {
        assertArrayEquals(a.parameter(name).toFloatArray(), b.parameter(name).toFloatArray(),
            name);
      }
    }
  }
}
