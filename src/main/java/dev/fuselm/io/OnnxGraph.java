package dev.fuselm.io;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.fuselm.io.onnx.OnnxProto.AttributeProto;
import dev.fuselm.io.onnx.OnnxProto.GraphProto;
import dev.fuselm.io.onnx.OnnxProto.ModelProto;
import dev.fuselm.io.onnx.OnnxProto.NodeProto;
import dev.fuselm.io.onnx.OnnxProto.TensorProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX model's main graph, read with the classes generated from the published
 * {@code onnx.proto}, indexed for walking: which node produces a value, which nodes consume it,
 * the initializers by name, and constant folding of the few small int/float values an importer
 * needs (shapes, epsilons, scales). Weights must be stored inside the file (no external data).
 */
final class OnnxGraph {
  /** TensorProto.DataType values used here (onnx.proto). */
  static final int FLOAT = 1;
  static final int INT32 = 6;
  static final int INT64 = 7;
  static final int DOUBLE = 11;

  final String where;
  final GraphProto graph;
  final Map<String, TensorProto> initializers = new LinkedHashMap<>();
  private final Map<String, NodeProto> producer = new HashMap<>();
  private final Map<String, List<NodeProto>> consumers = new HashMap<>();

  private OnnxGraph(String where, ModelProto model) throws IOException {
    this.where = where;
    if (!model.hasGraph()) {
      throw new IOException(where + ": not an ONNX model (no graph)");
    }
    this.graph = model.getGraph();
    for (TensorProto t : graph.getInitializerList()) {
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        throw new IOException(where + ": initializer '" + t.getName() + "' is stored in an"
            + " external data file, which the importer does not read; save the model with its"
            + " weights inside the .onnx file");
      }
      initializers.put(t.getName(), t);
    }
    for (NodeProto n : graph.getNodeList()) {
      for (String o : n.getOutputList()) {
        producer.put(o, n);
      }
      for (String i : n.getInputList()) {
        consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
      }
    }
  }

  /** Parses an ONNX file's bytes; where names it in errors. */
  static OnnxGraph parse(String where, byte[] bytes) throws IOException {
    ModelProto model;
    try {
      CodedInputStream in = CodedInputStream.newInstance(bytes);
      in.setSizeLimit(Integer.MAX_VALUE);
      model = ModelProto.parseFrom(in);
    } catch (InvalidProtocolBufferException e) {
      throw new IOException(where + ": not an ONNX model (" + e.getMessage() + ")");
    }
    if (model.getIrVersion() <= 0 || !model.hasGraph() || model.getGraph().getNodeCount() == 0) {
      throw new IOException(where + ": not an ONNX model (no IR version or no graph nodes)");
    }
    return new OnnxGraph(where, model);
  }

  List<NodeProto> nodes() {
    return graph.getNodeList();
  }

  NodeProto producer(String value) {
    return producer.get(value);
  }

  List<NodeProto> consumers(String value) {
    return consumers.getOrDefault(value, List.of());
  }

  /** How a node is named in messages: its name (or first output) and op type. */
  static String describe(NodeProto n) {
    String name = n.getName().isEmpty() ? n.getOutput(0) : n.getName();
    String dom = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx") ? ""
        : n.getDomain() + ".";
    return "'" + name + "' (" + dom + n.getOpType() + ")";
  }

  static AttributeProto attribute(NodeProto n, String name) {
    for (AttributeProto a : n.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a;
      }
    }
    return null;
  }

  /** The float32 values of an initializer (raw_data little-endian, or float_data). */
  float[] floats(TensorProto t) throws IOException {
    if (t.getDataType() != FLOAT) {
      throw new IOException(where + ": initializer '" + t.getName() + "' has ONNX data type "
          + t.getDataType() + ", the importer reads float32 weights");
    }
    long n = elements(t);
    float[] out = new float[Math.toIntExact(n)];
    if (!t.getRawData().isEmpty()) {
      if (t.getRawData().size() != 4L * n) {
        throw new IOException(where + ": initializer '" + t.getName() + "' holds "
            + t.getRawData().size() + " bytes for " + n + " floats");
      }
      t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
          .get(out);
    } else if (t.getFloatDataCount() == n) {
      for (int i = 0; i < n; i++) {
        out[i] = t.getFloatData(i);
      }
    } else {
      throw new IOException(where + ": initializer '" + t.getName() + "' has "
          + t.getFloatDataCount() + " values for shape " + t.getDimsList());
    }
    return out;
  }

  static long elements(TensorProto t) {
    long n = 1;
    for (long d : t.getDimsList()) {
      n *= d;
    }
    return n;
  }

  static long[] shape(TensorProto t) {
    return t.getDimsList().stream().mapToLong(Long::longValue).toArray();
  }

  /**
   * The values of a small constant tensor (an initializer or a Constant node's value) as doubles,
   * or null when the value is not a constant of a numeric type read here.
   */
  double[] constant(String value) {
    TensorProto t = initializers.get(value);
    if (t == null) {
      NodeProto p = producer.get(value);
      if (p == null || !p.getOpType().equals("Constant")) {
        return null;
      }
      AttributeProto a = attribute(p, "value");
      if (a != null && a.hasT()) {
        t = a.getT();
      } else if ((a = attribute(p, "value_float")) != null) {
        return new double[] {a.getF()};
      } else if ((a = attribute(p, "value_int")) != null) {
        return new double[] {a.getI()};
      } else if ((a = attribute(p, "value_ints")) != null) {
        return a.getIntsList().stream().mapToDouble(Long::doubleValue).toArray();
      } else {
        return null;
      }
    }
    return values(t);
  }

  /** A numeric tensor's values as doubles (small tensors only), or null for other types. */
  static double[] values(TensorProto t) {
    long n = elements(t);
    if (n > 1 << 16) {
      return null;
    }
    int count = (int) n;
    double[] out = new double[count];
    ByteBuffer raw = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    boolean hasRaw = !t.getRawData().isEmpty();
    for (int i = 0; i < count; i++) {
      switch (t.getDataType()) {
        case FLOAT -> out[i] = hasRaw ? raw.getFloat(4 * i) : t.getFloatData(i);
        case DOUBLE -> out[i] = hasRaw ? raw.getDouble(8 * i) : t.getDoubleData(i);
        case INT64 -> out[i] = hasRaw ? raw.getLong(8 * i) : t.getInt64Data(i);
        case INT32 -> out[i] = hasRaw ? raw.getInt(4 * i) : t.getInt32Data(i);
        default -> {
          return null;
        }
      }
    }
    return out;
  }

  /**
   * The entries of a shape value as far as they are constant (null entries are computed at run
   * time): a constant, or a Concat of constants and run-time pieces (each one entry). Null when
   * the value is neither.
   */
  List<Double> shapeEntries(String value) {
    double[] c = constant(value);
    if (c != null) {
      List<Double> out = new ArrayList<>();
      for (double v : c) {
        out.add(v);
      }
      return out;
    }
    NodeProto p = producer.get(value);
    if (p == null || !p.getOpType().equals("Concat")) {
      return null;
    }
    List<Double> out = new ArrayList<>();
    for (String in : p.getInputList()) {
      double[] part = constant(in);
      if (part == null) {
        out.add(null);
      } else {
        for (double v : part) {
          out.add(v);
        }
      }
    }
    return out;
  }
}
