package dev.fuselm.io;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.fuselm.io.onnx.OnnxProto.GraphProto;
import dev.fuselm.io.onnx.OnnxProto.ModelProto;
import dev.fuselm.io.onnx.OnnxProto.NodeProto;
import dev.fuselm.io.onnx.OnnxProto.TensorProto;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the ONNX importer refuses, on small graphs built with the generated ONNX classes. */
class OnnxRefusalTest {
  static NodeProto node(String name, String op, List<String> in, String out) {
    return NodeProto.newBuilder().setName(name).setOpType(op).addAllInput(in).addOutput(out)
        .build();
  }

  static TensorProto floats(String name, long... dims) {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(OnnxGraph.FLOAT);
    for (long d : dims) {
      t.addDims(d);
    }
    return t.setRawData(ByteString.copyFrom(new byte[(int) (4 * n)])).build();
  }

  static String refusal(List<TensorProto> inits, NodeProto... nodes) {
    GraphProto g = GraphProto.newBuilder().setName("g").addAllNode(List.of(nodes))
        .addAllInitializer(inits).build();
    byte[] bytes = ModelProto.newBuilder().setIrVersion(8).setGraph(g).build().toByteArray();
    return assertThrows(IOException.class,
        () -> OnnxImport.importGraph(OnnxGraph.parse("m.onnx", bytes))).getMessage();
  }

  static void assertContains(String message, String... parts) {
    for (String p : parts) {
      assertTrue(message.contains(p), "'" + p + "' not in: " + message);
    }
    assertTrue(message.startsWith("m.onnx: ") && !message.contains("\n"), message);
  }

  @Test
  void anotherArchitectureIsRefusedNamingItsFirstUnsupportedNode() {
    assertContains(refusal(List.of(), node("add0", "Add", List.of("x", "x"), "a"),
            node("conv0", "Conv", List.of("a", "w"), "y"), node("pool0", "MaxPool", List.of("y"),
            "z")),
        "node 'conv0' (Conv) is not part of a BERT encoder");
  }

  @Test
  void aQuantizedGraphIsRefusedAsSuch() {
    assertContains(refusal(List.of(), node("q0", "DynamicQuantizeLinear", List.of("x"), "xq"),
            node("mm0", "MatMulInteger", List.of("xq", "w"), "y")),
        "a quantized graph (node 'q0' (DynamicQuantizeLinear))");
    TensorProto int8 = TensorProto.newBuilder().setName("w_quantized").setDataType(3).addDims(4)
        .setRawData(ByteString.copyFrom(new byte[4])).build();
    assertContains(refusal(List.of(int8), node("g0", "Gather", List.of("w_quantized", "x"), "y")),
        "'w_quantized' is int8: a quantized graph");
  }

  @Test
  void fusedOnnxRuntimeOpsAreRefusedWithTheirDomain() {
    NodeProto attn = NodeProto.newBuilder().setName("attn0").setOpType("Attention")
        .setDomain("com.microsoft").addInput("x").addOutput("y").build();
    assertContains(refusal(List.of(), attn), "node 'attn0' (com.microsoft.Attention)");
  }

  @Test
  void aLinearWeightWithoutANamedBiasIsRefused() {
    assertContains(refusal(List.of(floats("onnx::MatMul_1", 4, 4)),
            node("mm0", "MatMul", List.of("x", "onnx::MatMul_1"), "y"),
            node("relu0", "Add", List.of("y", "y"), "z")),
        "node 'mm0' (MatMul): its weight 'onnx::MatMul_1' has no Add with a named <prefix>.bias");
  }

  @Test
  void aGraphWithoutBertsTensorsIsRefused() {
    assertContains(refusal(List.of(floats("decoder.weight", 4, 4)),
            node("g0", "Gather", List.of("decoder.weight", "x"), "y")),
        "no 2-d float tensor 'embeddings.word_embeddings.weight'", "decoder.weight");
  }

  @Test
  void bytesThatAreNotAModelAreRefused() {
    byte[] junk = "{\"not\": \"onnx\"}".getBytes();
    String m = assertThrows(IOException.class, () -> OnnxGraph.parse("m.onnx", junk))
        .getMessage();
    assertContains(m, "not an ONNX model");
  }
}
