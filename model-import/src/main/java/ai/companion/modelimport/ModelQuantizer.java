package ai.companion.modelimport;

import ai.companion.modelimport.impl.BlockQuantizer;
import ai.companion.modelimport.impl.GraphBuilder;
import ai.companion.modelimport.impl.ModelFolder;
import ai.companion.modelimport.onnx.Onnx.AttributeProto;
import ai.companion.modelimport.onnx.Onnx.GraphProto;
import ai.companion.modelimport.onnx.Onnx.ModelProto;
import ai.companion.modelimport.onnx.Onnx.NodeProto;
import ai.companion.modelimport.onnx.Onnx.OperatorSetIdProto;
import ai.companion.modelimport.onnx.Onnx.StringStringEntryProto;
import ai.companion.modelimport.onnx.Onnx.TensorProto;
import com.google.protobuf.UnsafeByteOperations;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Weight-only quantization of a model folder's {@code model.onnx} with ONNX Runtime's block formats:
 *
 * <ul>
 *   <li>every MatMul whose weight is a float initializer [K, N] becomes {@code com.microsoft
 *       .MatMulNBits}: 4- or 8-bit codes in blocks of {@value #DEFAULT_BLOCK_SIZE} along K, a float
 *       scale and a zero point per block;
 *   <li>the token embedding E [V, D] (when D is a multiple of the block size) is quantized once the
 *       same way: its Gather becomes {@code com.microsoft.GatherBlockQuantized}, and a tied classifier
 *       MatMul(x, Transpose(E)) a MatMulNBits over the same bytes.
 * </ul>
 *
 * Activations, norms and everything else stay float32. The result goes beside the fp32 model, named as
 * transformers.js names its variants: {@code model_int8.onnx} (dtype "int8") and {@code model_q4.onnx}
 * (dtype "q4"). It is written to a temporary file and renamed, so no reader sees half a file.
 */
public final class ModelQuantizer {
  private static final Logger LOG = LoggerFactory.getLogger(ModelQuantizer.class);
  public static final int DEFAULT_BLOCK_SIZE = 32;

  private ModelQuantizer() {}

  /**
   * @param accuracyLevel MatMulNBits' {@code accuracy_level}: 0 keeps float32 arithmetic (exact to the
   *     quantized weights); 4 lets ONNX Runtime's CPU kernels quantize activations to int8 per block,
   *     much faster for 8 bits (ORT 1.23 has no fast float path for 8-bit codes) but less exact
   */
  public record Options(int bits, int blockSize, int accuracyLevel) {
    public Options {
      if (bits != 4 && bits != 8) throw new IllegalArgumentException("bits must be 8 or 4, got " + bits);
      if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
        throw new IllegalArgumentException("block size must be a power of two >= 16, got " + blockSize);
      }
      if (accuracyLevel < 0 || accuracyLevel > 4) {
        throw new IllegalArgumentException("accuracy level must be 0..4, got " + accuracyLevel);
      }
    }

    /** Block size 32, float32 arithmetic. */
    public static Options of(int bits) {
      return new Options(bits, DEFAULT_BLOCK_SIZE, 0);
    }
  }

  /** The file a quantization with {@code bits} writes: model_int8.onnx or model_q4.onnx. */
  public static String fileName(int bits) {
    return switch (bits) {
      case 8 -> "model_int8.onnx";
      case 4 -> "model_q4.onnx";
      default -> throw new IllegalArgumentException("bits must be 8 or 4, got " + bits);
    };
  }

  /**
   * Quantizes {@code modelFolder/model.onnx} with {@link Options#of(int)} and writes
   * {@link #fileName(int)} beside it, replacing an older one; the in-place cache decoder
   * ({@code model_inplace_kv.onnx}), where the folder has one, likewise into
   * {@link #inPlaceFileName(String) its sibling} (model_q4_inplace_kv.onnx).
   *
   * @return the written file (the standard one)
   */
  public static Path quantize(Path modelFolder, int bits, ProgressListener progress)
      throws ModelImportException {
    return quantize(modelFolder, Options.of(bits), progress);
  }

  public static Path quantize(Path modelFolder, Options options, ProgressListener progress)
      throws ModelImportException {
    ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
    Path source = modelFolder.resolve(ModelFolder.MODEL_FILE);
    if (!Files.isRegularFile(source)) {
      throw new ModelImportException(source, "no such model file (quantize works on a model folder)");
    }
    Path target = quantize(modelFolder, source, fileName(options.bits()), options, listener);
    Path inPlace = modelFolder.resolve(ModelFolder.IN_PLACE_MODEL_FILE);
    if (Files.isRegularFile(inPlace)) {
      quantize(modelFolder, inPlace, inPlaceFileName(fileName(options.bits())), options, listener);
    }
    return target;
  }

  /** The in-place cache decoder's file for a variant's file: model_q4.onnx gives model_q4_inplace_kv.onnx. */
  public static String inPlaceFileName(String modelFile) {
    return ModelFolder.inPlaceFileName(modelFile);
  }

  private static Path quantize(Path modelFolder, Path source, String targetName, Options options,
      ProgressListener listener) throws ModelImportException {
    Path target = modelFolder.resolve(targetName);
    ModelProto model;
    try (InputStream in = Files.newInputStream(source)) {
      model = ModelProto.parseFrom(in);
    } catch (IOException e) {
      throw new ModelImportException(source, "cannot read the ONNX model: " + e, e);
    }
    Plan plan = Plan.of(model.getGraph(), options.blockSize());
    if (plan.isEmpty()) {
      throw new ModelImportException(source, "has no float32 MatMul weight or embedding to quantize");
    }
    listener.begin("Quantizing " + modelFolder.getFileName() + " to " + options.bits() + " bits ("
            + source.getFileName() + ")",
        plan.bytes(), plan.matMulWeights.size() + plan.embeddings.size());
    boolean ok = false;
    try {
      ModelProto out = new Rewriter(modelFolder, model.getGraph(), plan, options, listener).run(model);
      writeAtomically(out, target, source);
      ok = true;
      LOG.info("Quantized {} to {} bits: {} is {} bytes, {} {} bytes", modelFolder, options.bits(),
          target.getFileName(), Files.size(target), source.getFileName(), Files.size(source));
      return target;
    } catch (IOException e) {
      throw new ModelImportException(target, "cannot write: " + e, e);
    } finally {
      listener.end(ok);
    }
  }

  /** What to quantize: MatMul weights, embeddings and the Transposes of tied classifiers. */
  private record Plan(Map<String, TensorProto> initializers, Set<String> matMulWeights,
      Set<String> embeddings, Map<String, String> tiedTransposes) {

    boolean isEmpty() {
      return matMulWeights.isEmpty() && embeddings.isEmpty();
    }

    long bytes() {
      long b = 0;
      for (String name : matMulWeights) b += 4 * elements(initializers.get(name));
      for (String name : embeddings) b += 4 * elements(initializers.get(name));
      return b;
    }

    static Plan of(GraphProto graph, int blockSize) {
      Map<String, TensorProto> inits = new HashMap<>();
      for (TensorProto t : graph.getInitializerList()) inits.put(t.getName(), t);
      Map<String, List<NodeProto>> consumers = new HashMap<>();
      for (NodeProto n : graph.getNodeList()) {
        for (String in : new LinkedHashSet<>(n.getInputList())) {
          consumers.computeIfAbsent(in, k -> new java.util.ArrayList<>()).add(n);
        }
      }
      Set<String> graphOutputs = new HashSet<>();
      graph.getOutputList().forEach(o -> graphOutputs.add(o.getName()));

      Set<String> matMul = new LinkedHashSet<>();
      Set<String> embeddings = new LinkedHashSet<>();
      Map<String, String> tied = new HashMap<>();
      for (TensorProto t : graph.getInitializerList()) {
        if (t.getDataType() != TensorProto.DataType.FLOAT.getNumber() || t.getDimsCount() != 2) continue;
        List<NodeProto> users = consumers.getOrDefault(t.getName(), List.of());
        if (users.size() == 1 && isMatMulWeight(users.get(0), t.getName())) {
          matMul.add(t.getName());
          continue;
        }
        if (t.getDims(1) % blockSize != 0 || users.isEmpty()) continue;
        Map<String, String> transposes = new HashMap<>();
        boolean embedding = true;
        for (NodeProto n : users) {
          boolean gather = n.getOpType().equals("Gather") && n.getDomain().isEmpty()
              && n.getInput(0).equals(t.getName()) && !n.getInput(1).equals(t.getName())
              && intAttr(n, "axis", 0) == 0;
          boolean classifier = n.getOpType().equals("Transpose") && n.getDomain().isEmpty()
              && isSwap(n) && !graphOutputs.contains(n.getOutput(0))
              && consumers.getOrDefault(n.getOutput(0), List.of()).stream()
                  .allMatch(m -> isMatMulWeight(m, n.getOutput(0)))
              && consumers.containsKey(n.getOutput(0));
          if (classifier) transposes.put(n.getOutput(0), t.getName());
          embedding &= gather || classifier;
        }
        if (embedding && transposes.size() < users.size()) {
          embeddings.add(t.getName());
          tied.putAll(transposes);
        }
      }
      return new Plan(inits, matMul, embeddings, tied);
    }

    private static boolean isMatMulWeight(NodeProto n, String value) {
      return n.getOpType().equals("MatMul") && n.getDomain().isEmpty() && n.getInputCount() == 2
          && n.getInput(1).equals(value) && !n.getInput(0).equals(value);
    }
  }

  /** Builds the quantized graph from the plan. */
  private static final class Rewriter {
    private final Path folder;
    private final GraphProto graph;
    private final Plan plan;
    private final Options o;
    private final ProgressListener progress;
    private final GraphProto.Builder g;
    private final Map<String, BlockQuantizer.Quantized> quantized = new HashMap<>();
    private long bytes;
    private int tensors;

    Rewriter(Path folder, GraphProto graph, Plan plan, Options o, ProgressListener progress) {
      this.folder = folder;
      this.graph = graph;
      this.plan = plan;
      this.o = o;
      this.progress = progress;
      this.g = graph.toBuilder().clearInitializer().clearNode();
    }

    ModelProto run(ModelProto model) throws IOException {
      for (TensorProto t : graph.getInitializerList()) {
        String name = t.getName();
        if (plan.matMulWeights.contains(name)) {
          int k = Math.toIntExact(t.getDims(0));
          int n = Math.toIntExact(t.getDims(1));
          add(name, BlockQuantizer.quantize(floats(folder, t), k, n, o.bits(), o.blockSize()));
        } else if (plan.embeddings.contains(name)) {
          // E [V, D] is the transpose of a MatMul weight [K = D, N = V]: its rows are the columns
          int v = Math.toIntExact(t.getDims(0));
          int d = Math.toIntExact(t.getDims(1));
          add(name, BlockQuantizer.quantize(transpose(floats(folder, t), v, d), d, v, o.bits(),
              o.blockSize()));
          // GatherBlockQuantized reads the same bytes as rows: [V, D*bits/8], [V, blocks], ...
          String rowsShape = q(name) + "_rows_shape";
          g.addInitializer(int64s(rowsShape, v, -1));
          for (String part : new String[] {"", "_scales", "_zero_points"}) {
            g.addNode(NodeProto.newBuilder().setName(q(name) + part + "_rows").setOpType("Reshape")
                .addInput(q(name) + part).addInput(rowsShape).addOutput(q(name) + part + "_rows"));
          }
        } else {
          g.addInitializer(t);
        }
      }
      for (NodeProto n : graph.getNodeList()) {
        if (n.getOpType().equals("Gather") && plan.embeddings.contains(n.getInput(0))) {
          String e = q(n.getInput(0));
          g.addNode(NodeProto.newBuilder().setName(n.getName()).setOpType("GatherBlockQuantized")
              .setDomain(GraphBuilder.MS_DOMAIN)
              .addInput(e + "_rows").addInput(n.getInput(1)).addInput(e + "_scales_rows")
              .addInput(e + "_zero_points_rows").addOutput(n.getOutput(0))
              .addAttribute(intAttr("gather_axis", 0)).addAttribute(intAttr("quantize_axis", 1))
              .addAttribute(intAttr("block_size", o.blockSize())).addAttribute(intAttr("bits", o.bits())));
        } else if (n.getOpType().equals("Transpose") && plan.tiedTransposes.containsKey(n.getOutput(0))) {
          continue; // its MatMuls read the quantized embedding directly
        } else if (n.getOpType().equals("MatMul") && n.getInputCount() == 2
            && plan.tiedTransposes.containsKey(n.getInput(1))) {
          g.addNode(matMulNBits(n, plan.tiedTransposes.get(n.getInput(1))));
        } else if (n.getOpType().equals("MatMul") && n.getInputCount() == 2
            && plan.matMulWeights.contains(n.getInput(1))) {
          g.addNode(matMulNBits(n, n.getInput(1)));
        } else {
          g.addNode(n);
        }
      }
      ModelProto.Builder out = model.toBuilder().setGraph(g);
      if (out.getOpsetImportList().stream().noneMatch(x -> x.getDomain().equals(GraphBuilder.MS_DOMAIN))) {
        out.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1));
      }
      out.addMetadataProps(StringStringEntryProto.newBuilder().setKey("quantization")
          .setValue("weight-only, " + o.bits() + " bits, block " + o.blockSize()
              + ", asymmetric, accuracy_level " + o.accuracyLevel()));
      return out.build();
    }

    private String q(String weight) {
      return weight + "_q" + o.bits();
    }

    /** B [N, blocks, blob], scales [N * blocks], zero points [N * ceil(blocks * bits / 8)]. */
    private void add(String weight, BlockQuantizer.Quantized qt) {
      quantized.put(weight, qt);
      String base = q(weight);
      g.addInitializer(tensor(base, TensorProto.DataType.UINT8, qt.packed(), qt.n(), qt.blocks(),
          qt.blockSize() * qt.bits() / 8));
      g.addInitializer(floats(base + "_scales", qt.scales()));
      g.addInitializer(tensor(base + "_zero_points", TensorProto.DataType.UINT8, qt.zeroPoints(),
          qt.zeroPoints().length));
      bytes += 4L * qt.k() * qt.n();
      progress.progress(bytes, ++tensors);
    }

    private NodeProto matMulNBits(NodeProto matMul, String weight) {
      BlockQuantizer.Quantized qt = quantized.get(weight);
      String base = q(weight);
      NodeProto.Builder nb = NodeProto.newBuilder()
          .setName(matMul.getName().isEmpty() ? base + "_matmul" : matMul.getName())
          .setOpType("MatMulNBits").setDomain(GraphBuilder.MS_DOMAIN)
          .addInput(matMul.getInput(0)).addInput(base).addInput(base + "_scales")
          .addInput(base + "_zero_points").addOutput(matMul.getOutput(0))
          .addAttribute(intAttr("K", qt.k())).addAttribute(intAttr("N", qt.n()))
          .addAttribute(intAttr("bits", qt.bits())).addAttribute(intAttr("block_size", qt.blockSize()));
      if (o.accuracyLevel() != 0) nb.addAttribute(intAttr("accuracy_level", o.accuracyLevel()));
      return nb.build();
    }
  }

  /** Writes beside the target under a temporary name, then renames over it. */
  private static void writeAtomically(ModelProto model, Path target, Path permissionsFrom)
      throws IOException {
    Path tmp = target.resolveSibling("." + target.getFileName() + "."
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    try {
      try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp,
          java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE), 1 << 20)) {
        model.writeTo(os);
      }
      try {
        Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(permissionsFrom));
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: keep the defaults
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** The float values of an initializer: raw_data, float_data or external data. */
  static float[] floats(Path folder, TensorProto t) throws IOException {
    float[] out = new float[Math.toIntExact(elements(t))];
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      Map<String, String> ext = new HashMap<>();
      for (StringStringEntryProto e : t.getExternalDataList()) ext.put(e.getKey(), e.getValue());
      Path file = folder.resolve(ext.getOrDefault("location", "")).normalize();
      if (!file.startsWith(folder.normalize())) {
        throw new IOException(t.getName() + ": external data outside the model folder");
      }
      byte[] bytes = new byte[out.length * 4];
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
        f.seek(Long.parseLong(ext.getOrDefault("offset", "0")));
        f.readFully(bytes);
      }
      ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    } else if (t.hasRawData()) {
      t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    } else {
      for (int i = 0; i < out.length; i++) out[i] = t.getFloatData(i);
    }
    return out;
  }

  private static long elements(TensorProto t) {
    long count = 1;
    for (long d : t.getDimsList()) count *= d;
    return count;
  }

  private static TensorProto tensor(String name, TensorProto.DataType type, byte[] data, long... dims) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber())
        .setRawData(UnsafeByteOperations.unsafeWrap(data));
    for (long d : dims) t.addDims(d);
    return t.build();
  }

  private static TensorProto floats(String name, float[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    return tensor(name, TensorProto.DataType.FLOAT, buf.array(), values.length);
  }

  private static TensorProto int64s(String name, long... values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.asLongBuffer().put(values);
    return tensor(name, TensorProto.DataType.INT64, buf.array(), values.length);
  }

  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
    return t;
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v)
        .build();
  }

  private static long intAttr(NodeProto n, String name, long dflt) {
    for (AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
    return dflt;
  }

  private static boolean isSwap(NodeProto transpose) {
    for (AttributeProto a : transpose.getAttributeList()) {
      if (a.getName().equals("perm")) return a.getIntsList().equals(List.of(1L, 0L));
    }
    return false;
  }
}
