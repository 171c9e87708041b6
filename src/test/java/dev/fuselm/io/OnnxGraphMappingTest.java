package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.fuselm.io.onnx.OnnxProto.AttributeProto;
import dev.fuselm.io.onnx.OnnxProto.GraphProto;
import dev.fuselm.io.onnx.OnnxProto.ModelProto;
import dev.fuselm.io.onnx.OnnxProto.NodeProto;
import dev.fuselm.io.onnx.OnnxProto.TensorProto;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.BertModel;
import dev.fuselm.tensor.ComputeContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The importer on a graph shaped unlike MiniLM's: names with the {@code bert.} prefix, linear
 * layers as Gemm (transB = 1, weights stored (out, in) under their own names) except layer 0's
 * query (an unnamed (in, out) MatMul weight whose bias Add lists the bias second),
 * LayerNormalization nodes (epsilon 1e-5), the heads in a constant reshape initializer.
 */
class OnnxGraphMappingTest {
  static final int V = 30, C = 8, H = 2, I = 16, P = 16, L = 2;
  final Random rnd = new Random(7);
  final GraphProto.Builder g = GraphProto.newBuilder().setName("synthetic");
  final Map<String, float[]> values = new HashMap<>();

  String init(String name, long... dims) {
    int n = 1;
    for (long d : dims) {
      n *= (int) d;
    }
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = rnd.nextFloat() - 0.5f;
    }
    ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(OnnxGraph.FLOAT)
        .setRawData(ByteString.copyFrom(b.array()));
    for (long d : dims) {
      t.addDims(d);
    }
    g.addInitializer(t);
    values.put(name, v);
    return name;
  }

  NodeProto.Builder node(String op, String out, String... in) {
    NodeProto.Builder n = NodeProto.newBuilder().setName("/" + out).setOpType(op)
        .addAllInput(List.of(in)).addOutput(out);
    return n;
  }

  void add(NodeProto.Builder n) {
    g.addNode(n);
  }

  /** Gemm(x, W (out, in), b) with transB = 1; returns its output. */
  String gemm(String x, String prefix, int in, int out) {
    String w = init("bert." + prefix + ".weight", out, in);
    String b = init("bert." + prefix + ".bias", out);
    add(node("Gemm", prefix + "/out", x, w, b).addAttribute(
        AttributeProto.newBuilder().setName("transB").setI(1)
            .setType(AttributeProto.AttributeType.INT)));
    return prefix + "/out";
  }

  String layerNorm(String x, String prefix) {
    String w = init("bert." + prefix + ".weight", C);
    String b = init("bert." + prefix + ".bias", C);
    add(node("LayerNormalization", prefix + "/out", x, w, b).addAttribute(
        AttributeProto.newBuilder().setName("epsilon").setF(1e-5f)
            .setType(AttributeProto.AttributeType.FLOAT)));
    return prefix + "/out";
  }

  byte[] model() {
    init("bert.embeddings.word_embeddings.weight", V, C);
    init("bert.embeddings.position_embeddings.weight", P, C);
    init("bert.embeddings.token_type_embeddings.weight", 2, C);
    add(node("Gather", "we", "bert.embeddings.word_embeddings.weight", "input_ids"));
    add(node("Add", "e1", "we", "bert.embeddings.position_embeddings.weight"));
    add(node("Add", "e2", "e1", "bert.embeddings.token_type_embeddings.weight"));
    String x = layerNorm("e2", "embeddings.LayerNorm");
    g.addInitializer(TensorProto.newBuilder().setName("heads_shape").setDataType(OnnxGraph.INT64)
        .addDims(4).addAllInt64Data(List.of(0L, 0L, (long) H, (long) (C / H))));
    for (int l = 0; l < L; l++) {
      String p = "encoder.layer." + l + ".";
      String q;
      if (l == 0) {
        String w = init("onnx::MatMul_" + (100 + l), C, C); // (in, out), unnamed
        init("bert." + p + "attention.self.query.bias", C);
        add(node("MatMul", p + "q/mm", x, w));
        add(node("Add", p + "q/out", p + "q/mm", "bert." + p + "attention.self.query.bias"));
        q = p + "q/out";
      } else {
        q = gemm(x, p + "attention.self.query", C, C);
      }
      String k = gemm(x, p + "attention.self.key", C, C);
      String v = gemm(x, p + "attention.self.value", C, C);
      add(node("Reshape", p + "q4", q, "heads_shape"));
      add(node("MatMul", p + "scores", p + "q4", k));
      add(node("Softmax", p + "probs", p + "scores"));
      add(node("MatMul", p + "ctx", p + "probs", v));
      String o = gemm(p + "ctx", p + "attention.output.dense", C, C);
      add(node("Add", p + "res1", o, x));
      String a = layerNorm(p + "res1", p + "attention.output.LayerNorm");
      String i = gemm(a, p + "intermediate.dense", C, I);
      add(node("Div", p + "gelu/div", i, "sqrt2"));
      add(node("Erf", p + "gelu/erf", p + "gelu/div"));
      add(node("Mul", p + "gelu/out", i, p + "gelu/erf"));
      String d = gemm(p + "gelu/out", p + "output.dense", I, C);
      add(node("Add", p + "res2", d, a));
      x = layerNorm(p + "res2", p + "output.LayerNorm");
    }
    return ModelProto.newBuilder().setIrVersion(8).setGraph(g).build().toByteArray();
  }

  @Test
  void mapsGemmLayerNormalizationAndPrefixedNames() throws Exception {
    OnnxImport.Result r = OnnxImport.importGraph(OnnxGraph.parse("synthetic.onnx", model()));
    BertConfig c = r.config();
    assertEquals(List.of(V, C, L, H, I, P, 2), List.of(c.vocabSize(), c.hiddenSize(),
        c.numLayers(), c.numHeads(), c.intermediateSize(), c.maxPositions(), c.typeVocabSize()));
    assertEquals(1e-5f, c.layerNormEps(), 1e-12f);
    // Gemm (transB = 1) weights keep their (out, in) layout
    assertArrayEquals(values.get("bert.encoder.layer.1.intermediate.dense.weight"),
        r.weights().get("encoder.layer.1.intermediate.dense.weight"));
    // the unnamed MatMul weight is named by its bias and transposed to (out, in)
    float[] mm = values.get("onnx::MatMul_100");
    float[] q = r.weights().get("encoder.layer.0.attention.self.query.weight");
    for (int in = 0; in < C; in++) {
      for (int out = 0; out < C; out++) {
        assertEquals(mm[in * C + out], q[out * C + in]);
      }
    }
    try (ComputeContext ctx = ComputeContext.create(); BertModel m = OnnxImport.toModel(ctx, r)) {
      assertArrayEquals(q,
          m.params().get("bert.encoder.layer.0.attention.self.query.weight").toFloatArray());
    }
  }
}
