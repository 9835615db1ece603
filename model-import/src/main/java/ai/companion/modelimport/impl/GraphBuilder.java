package ai.companion.modelimport.impl;

import ai.companion.modelimport.ProgressListener;
import ai.companion.modelimport.onnx.Onnx.AttributeProto;
import ai.companion.modelimport.onnx.Onnx.GraphProto;
import ai.companion.modelimport.onnx.Onnx.ModelProto;
import ai.companion.modelimport.onnx.Onnx.NodeProto;
import ai.companion.modelimport.onnx.Onnx.OperatorSetIdProto;
import ai.companion.modelimport.onnx.Onnx.StringStringEntryProto;
import ai.companion.modelimport.onnx.Onnx.TensorProto;
import ai.companion.modelimport.onnx.Onnx.TensorShapeProto;
import ai.companion.modelimport.onnx.Onnx.TypeProto;
import ai.companion.modelimport.onnx.Onnx.ValueInfoProto;
import com.google.protobuf.UnsafeByteOperations;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Builds one ONNX graph: nodes with unique output names, initializers (inline, or in an external data
 * file once they pass a size threshold), typed inputs and outputs. Write it with {@link #write}.
 *
 * <p>Not thread-safe. Initializer bytes are converted at once so the caller's float arrays can go.
 */
public final class GraphBuilder implements AutoCloseable {
  public static final int OPSET = 17;
  public static final long IR_VERSION = 8;
  public static final String MS_DOMAIN = "com.microsoft";
  /** Tensors at least this big go to the external data file when one is used. */
  public static final long EXTERNAL_MIN_BYTES = 1024;
  public static final String PRODUCER = "ai-companion";

  private final GraphProto.Builder graph = GraphProto.newBuilder();
  private final Map<String, Integer> counters = new HashMap<>();
  private final Map<String, String> constants = new HashMap<>();
  private final ProgressListener progress;
  private boolean usesMsDomain;
  // external data: written straight to a file beside model.onnx
  private final Path externalFile;
  private FileChannel external;
  private long externalOffset;
  private long bytesDone;
  private boolean quiet; // small constants do not count as progress
  private int tensorsDone;

  /**
   * @param externalFile null keeps every initializer inside model.onnx; otherwise big initializers are
   *     appended to this file (the ONNX "external data" convention, location relative to model.onnx)
   */
  public GraphBuilder(String name, Path externalFile, ProgressListener progress) throws IOException {
    graph.setName(name);
    this.progress = progress == null ? ProgressListener.NONE : progress;
    this.externalFile = externalFile;
    if (externalFile != null) {
      external = FileChannel.open(externalFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    }
  }

  // ---- names -------------------------------------------------------------------------------

  /** A fresh value name with the given prefix. */
  public String fresh(String prefix) {
    int n = counters.merge(prefix, 1, Integer::sum);
    return n == 1 ? prefix : prefix + "_" + n;
  }

  // ---- inputs and outputs ------------------------------------------------------------------

  /** Dims: Long for a fixed size, String for a named (dynamic) axis. */
  public void input(String name, TensorProto.DataType type, Object... dims) {
    graph.addInput(valueInfo(name, type, dims));
  }

  public void output(String name, TensorProto.DataType type, Object... dims) {
    graph.addOutput(valueInfo(name, type, dims));
  }

  private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
      if (d instanceof String s) dim.setDimParam(s);
      else dim.setDimValue(((Number) d).longValue());
      shape.addDim(dim);
    }
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(TypeProto.newBuilder().setTensorType(
            TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape)))
        .build();
  }

  // ---- initializers ------------------------------------------------------------------------

  public String floats(String name, float[] data, long... dims) throws IOException {
    checkCount(name, data.length, dims);
    ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(data);
    return raw(name, TensorProto.DataType.FLOAT, buf.array(), dims);
  }

  public String int64s(String name, long[] data, long... dims) throws IOException {
    checkCount(name, data.length, dims);
    ByteBuffer buf = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.asLongBuffer().put(data);
    return raw(name, TensorProto.DataType.INT64, buf.array(), dims);
  }

  /** Raw little-endian bytes of the given type. */
  public String raw(String name, TensorProto.DataType type, byte[] bytes, long... dims)
      throws IOException {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
    for (long d : dims) t.addDims(d);
    if (external != null && bytes.length >= EXTERNAL_MIN_BYTES) {
      // align each tensor to 4096 so the runtime may map it
      long pad = (4096 - externalOffset % 4096) % 4096;
      if (pad > 0) {
        writeFully(ByteBuffer.allocate((int) pad));
        externalOffset += pad;
      }
      writeFully(ByteBuffer.wrap(bytes));
      t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
          .addExternalData(entry("location", externalFile.getFileName().toString()))
          .addExternalData(entry("offset", Long.toString(externalOffset)))
          .addExternalData(entry("length", Long.toString(bytes.length)));
      externalOffset += bytes.length;
    } else {
      t.setRawData(UnsafeByteOperations.unsafeWrap(bytes)); // bytes are ours, never changed
    }
    graph.addInitializer(t);
    if (!quiet) {
      bytesDone += bytes.length;
      tensorsDone++;
      progress.progress(bytesDone, tensorsDone);
    }
    return name;
  }

  private void writeFully(ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) external.write(buf);
  }

  private static StringStringEntryProto entry(String k, String v) {
    return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
  }

  private static void checkCount(String name, int n, long... dims) {
    long expected = 1;
    for (long d : dims) expected *= d;
    if (expected != n) {
      throw new IllegalArgumentException(name + ": " + n + " values for shape product " + expected);
    }
  }

  /** A small int64 constant, shared by every user of the same values. */
  public String constInts(long... values) throws IOException {
    String key = "i64" + java.util.Arrays.toString(values);
    String have = constants.get(key);
    if (have != null) return have;
    quiet = true;
    String name = int64s(fresh("const_i64"), values, values.length);
    quiet = false;
    constants.put(key, name);
    return name;
  }

  /** A scalar int64 constant (rank 0). */
  public String scalarInt(long value) throws IOException {
    String key = "i64s" + value;
    String have = constants.get(key);
    if (have != null) return have;
    quiet = true;
    String name = int64s(fresh("scalar_i64"), new long[] {value});
    quiet = false;
    constants.put(key, name);
    return name;
  }

  /** A scalar float constant (rank 0). */
  public String scalarFloat(float value) throws IOException {
    String key = "f32s" + Float.floatToIntBits(value);
    String have = constants.get(key);
    if (have != null) return have;
    quiet = true;
    String name = floats(fresh("scalar_f32"), new float[] {value});
    quiet = false;
    constants.put(key, name);
    return name;
  }

  // ---- nodes -------------------------------------------------------------------------------

  /** Adds a node with one output, named from the op type (or {@code out} when given). */
  public String op(String opType, String out, String... inputs) {
    return node(opType, new String[] {out == null ? fresh(opType.toLowerCase()) : out}, inputs)
        .outputs[0];
  }

  /** Adds a node; attributes are added through the returned handle. */
  public Node node(String opType, String[] outputs, String... inputs) {
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(fresh("n_" + opType));
    for (String in : inputs) n.addInput(in == null ? "" : in);
    for (String out : outputs) n.addOutput(out);
    graph.addNode(n);
    return new Node(graph.getNodeBuilder(graph.getNodeCount() - 1), outputs);
  }

  /** A node in the {@code com.microsoft} domain (contrib operators of ONNX Runtime). */
  public Node msNode(String opType, String[] outputs, String... inputs) {
    usesMsDomain = true;
    Node n = node(opType, outputs, inputs);
    n.proto.setDomain(MS_DOMAIN);
    return n;
  }

  /** Handle to set attributes on a node just added. */
  public static final class Node {
    private final NodeProto.Builder proto;
    public final String[] outputs;

    Node(NodeProto.Builder proto, String[] outputs) {
      this.proto = proto;
      this.outputs = outputs;
    }

    public String out() {
      return outputs[0];
    }

    public Node attr(String name, long value) {
      proto.addAttribute(AttributeProto.newBuilder().setName(name)
          .setType(AttributeProto.AttributeType.INT).setI(value));
      return this;
    }

    public Node attr(String name, float value) {
      proto.addAttribute(AttributeProto.newBuilder().setName(name)
          .setType(AttributeProto.AttributeType.FLOAT).setF(value));
      return this;
    }

    public Node attr(String name, long[] values) {
      AttributeProto.Builder a = AttributeProto.newBuilder().setName(name)
          .setType(AttributeProto.AttributeType.INTS);
      for (long v : values) a.addInts(v);
      proto.addAttribute(a);
      return this;
    }
  }

  // ---- output ------------------------------------------------------------------------------

  public long bytesWritten() {
    return bytesDone;
  }

  /** Writes the model file (and closes the external data file, if any). */
  public void write(Path modelFile, Map<String, String> metadata) throws IOException {
    ModelProto.Builder model = ModelProto.newBuilder()
        .setIrVersion(IR_VERSION)
        .setProducerName(PRODUCER)
        .setProducerVersion("0.1")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET));
    if (usesMsDomain) {
      model.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(MS_DOMAIN).setVersion(1));
    }
    metadata.forEach((k, v) -> model.addMetadataProps(entry(k, v)));
    model.setGraph(graph);
    close();
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(modelFile,
        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), 1 << 20)) {
      model.build().writeTo(out);
    }
  }

  @Override
  public void close() throws IOException {
    if (external != null) {
      external.force(false);
      external.close();
      external = null;
    }
  }
}
