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
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Weight-only quantization of a model folder's {@code model.onnx}: every MatMul whose weight is a
 * float initializer [K, N] becomes ONNX Runtime's {@code com.microsoft.MatMulNBits} with 4- or 8-bit
 * codes in blocks of {@value #DEFAULT_BLOCK_SIZE} along K, a scale and a zero point per block. The
 * token embedding is quantized the same way (when its width is a multiple of the block size): its
 * Gather becomes {@code com.microsoft.GatherBlockQuantized}, and a tied classifier
 * (MatMul(x, Transpose(E))) a MatMulNBits over the same bytes. Activations and norms stay float32.
 *
 * <p>The result goes beside the fp32 model in the same folder, named as transformers.js names its
 * variants: {@code model_int8.onnx} (dtype "int8") and {@code model_q4.onnx} (dtype "q4"). Written to
 * a temporary file and renamed, so a reader never sees half a file.
 */
public final class ModelQuantizer {
  private static final Logger LOG = LoggerFactory.getLogger(ModelQuantizer.class);
  public static final int DEFAULT_BLOCK_SIZE = 32;

  private ModelQuantizer() {}

  /** The file a quantization with {@code bits} writes: model_int8.onnx or model_q4.onnx. */
  public static String fileName(int bits) {
    return switch (bits) {
      case 8 -> "model_int8.onnx";
      case 4 -> "model_q4.onnx";
      default -> throw new IllegalArgumentException("bits must be 8 or 4, got " + bits);
    };
  }

  /**
   * Quantizes {@code modelFolder/model.onnx} and writes {@link #fileName(int)} beside it (replacing an
   * older one).
   *
   * @param bits 8 or 4
   * @return the written file
   */
  public static Path quantize(Path modelFolder, int bits, ProgressListener progress)
      throws ModelImportException {
    return quantize(modelFolder, bits, DEFAULT_BLOCK_SIZE, 0, progress);
  }

  /**
   * @param accuracyLevel MatMulNBits' accuracy_level: 0 computes in float32; 4 lets the CPU kernel
   *     quantize activations to int8 per block (faster, less exact)
   */
  public static Path quantize(Path modelFolder, int bits, int blockSize, int accuracyLevel,
      ProgressListener progress) throws ModelImportException {
    String outName = fileName(bits);
    if (progress == null) progress = ProgressListener.NONE;
    Path source = modelFolder.resolve(ModelFolder.MODEL_FILE);
    if (!Files.isRegularFile(source)) {
      throw new ModelImportException(source, "no such model file (quantize works on a model folder)");
    }
    ModelProto model;
    try (InputStream in = Files.newInputStream(source)) {
      model = ModelProto.parseFrom(in);
    } catch (IOException e) {
      throw new ModelImportException(source, "cannot read the ONNX model: " + e, e);
    }
    GraphProto graph = model.getGraph();
    Map<String, TensorProto> initializers = new HashMap<>();
    for (TensorProto t : graph.getInitializerList()) initializers.put(t.getName(), t);

    // which MatMuls take a float [K, N] initializer as weight
    Map<String, Integer> uses = new HashMap<>();
    for (NodeProto n : graph.getNodeList()) for (String in : n.getInputList()) uses.merge(in, 1, Integer::sum);
    Set<String> targets = new HashSet<>();
    long totalBytes = 0;
    for (NodeProto n : graph.getNodeList()) {
      if (!n.getOpType().equals("MatMul") || !n.getDomain().isEmpty() || n.getInputCount() != 2) continue;
      TensorProto w = initializers.get(n.getInput(1));
      if (w == null || w.getDataType() != TensorProto.DataType.FLOAT.getNumber() || w.getDimsCount() != 2
          || uses.get(w.getName()) != 1) {
        continue;
      }
      targets.add(w.getName());
      totalBytes += 4 * w.getDims(0) * w.getDims(1);
    }
    // token embeddings: Gather(E, ids) and, when tied, MatMul(x, Transpose(E)); quantized once,
    // read by GatherBlockQuantized and MatMulNBits
    Map<String, String> transposeOf = new HashMap<>(); // Transpose output -> E
    Set<String> embeddings = new HashSet<>();
    for (NodeProto n : graph.getNodeList()) {
      if (!n.getOpType().equals("Gather") || !n.getDomain().isEmpty()) continue;
      TensorProto e = initializers.get(n.getInput(0));
      if (e == null || e.getDataType() != TensorProto.DataType.FLOAT.getNumber()
          || e.getDimsCount() != 2 || e.getDims(1) % blockSize != 0 || intAttr(n, "axis", 0) != 0) {
        continue;
      }
      embeddings.add(e.getName());
    }
    for (String e : Set.copyOf(embeddings)) {
      int gathers = 0;
      boolean other = false;
      for (NodeProto n : graph.getNodeList()) {
        if (!n.getInputList().contains(e)) continue;
        if (n.getOpType().equals("Gather") && n.getInput(0).equals(e)) {
          gathers++;
        } else if (n.getOpType().equals("Transpose") && n.getDomain().isEmpty()
            && isSwap(n) && onlyMatMulWeight(graph, n.getOutput(0))) {
          transposeOf.put(n.getOutput(0), e);
        } else {
          other = true;
        }
      }
      if (other || gathers == 0) {
        embeddings.remove(e);
        transposeOf.values().removeIf(e::equals);
      } else {
        TensorProto t = initializers.get(e);
        totalBytes += 4 * t.getDims(0) * t.getDims(1);
      }
    }
    if (targets.isEmpty() && embeddings.isEmpty()) {
      throw new ModelImportException(source, "has no MatMul with a float32 [K, N] weight to quantize");
    }
    progress.begin("Quantizing " + modelFolder.getFileName() + " to " + bits + " bits", totalBytes,
        targets.size() + embeddings.size());

    GraphProto.Builder g = graph.toBuilder().clearInitializer().clearNode();
    long done = 0;
    int tensors = 0;
    boolean ok = false;
    try {
      for (TensorProto t : graph.getInitializerList()) {
        if (!targets.contains(t.getName()) && !embeddings.contains(t.getName())) g.addInitializer(t);
      }
      Map<String, BlockQuantizer.Quantized> quantizedEmbeddings = new HashMap<>();
      for (String e : embeddings) {
        TensorProto t = initializers.get(e);
        int rows = Math.toIntExact(t.getDims(0));
        int cols = Math.toIntExact(t.getDims(1));
        // E [V, D] is the transpose of a MatMul weight [K = D, N = V]: its rows are the columns
        BlockQuantizer.Quantized q = BlockQuantizer.quantize(
            transpose(floats(modelFolder, t), rows, cols), cols, rows, bits, blockSize);
        quantizedEmbeddings.put(e, q);
        addNBitsInitializers(g, e + "_q" + bits, q);
        // GatherBlockQuantized reads the same bytes as rows: [V, D * bits / 8], [V, blocks], ...
        String base = e + "_q" + bits;
        String rowsShape = base + "_rows_shape";
        g.addInitializer(int64Tensor(rowsShape, rows, -1));
        for (String part : new String[] {"", "_scales", "_zero_points"}) {
          g.addNode(NodeProto.newBuilder().setName(base + part + "_rows").setOpType("Reshape")
              .addInput(base + part).addInput(rowsShape).addOutput(base + part + "_rows"));
        }
        done += 4L * rows * cols;
        progress.progress(done, ++tensors);
      }
      for (NodeProto n : graph.getNodeList()) {
        if (n.getOpType().equals("Gather") && embeddings.contains(n.getInput(0))) {
          String base = n.getInput(0) + "_q" + bits;
          g.addNode(NodeProto.newBuilder().setName(n.getName()).setOpType("GatherBlockQuantized")
              .setDomain(GraphBuilder.MS_DOMAIN)
              .addInput(base + "_rows").addInput(n.getInput(1)).addInput(base + "_scales_rows")
              .addInput(base + "_zero_points_rows").addOutput(n.getOutput(0))
              .addAttribute(intAttr("gather_axis", 0)).addAttribute(intAttr("quantize_axis", 1))
              .addAttribute(intAttr("block_size", blockSize)).addAttribute(intAttr("bits", bits)));
          continue;
        }
        if (n.getOpType().equals("Transpose") && transposeOf.containsKey(n.getOutput(0))) {
          continue; // its MatMul reads the quantized embedding directly
        }
        if (n.getOpType().equals("MatMul") && n.getInputCount() == 2
            && transposeOf.containsKey(n.getInput(1))) {
          String e = transposeOf.get(n.getInput(1));
          BlockQuantizer.Quantized q = quantizedEmbeddings.get(e);
          g.addNode(matMulNBits(n, e + "_q" + bits, q, accuracyLevel));
          continue;
        }
        String wName = n.getInputCount() == 2 ? n.getInput(1) : null;
        if (!n.getOpType().equals("MatMul") || !n.getDomain().isEmpty() || !targets.contains(wName)) {
          g.addNode(n);
          continue;
        }
        TensorProto w = initializers.get(wName);
        int k = Math.toIntExact(w.getDims(0));
        int nOut = Math.toIntExact(w.getDims(1));
        BlockQuantizer.Quantized q = BlockQuantizer.quantize(floats(modelFolder, w), k, nOut, bits,
            blockSize);
        String base = wName + "_q" + bits;
        addNBitsInitializers(g, base, q);
        g.addNode(matMulNBits(n, base, q, accuracyLevel));
        done += 4L * k * nOut;
        progress.progress(done, ++tensors);
      }
      ModelProto.Builder out = model.toBuilder().setGraph(g);
      if (out.getOpsetImportList().stream().noneMatch(o -> o.getDomain().equals(GraphBuilder.MS_DOMAIN))) {
        out.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1));
      }
      out.addMetadataProps(StringStringEntryProto.newBuilder().setKey("quantization")
          .setValue("MatMulNBits bits=" + bits + " block_size=" + blockSize + " asymmetric"));
      Path target = modelFolder.resolve(outName);
      writeAtomically(out.build(), target);
      ok = true;
      LOG.info("Quantized {} MatMul weights of {} to {} bits: {} ({} bytes, fp32 {} bytes)",
          tensors, modelFolder.getFileName(), bits, target.getFileName(), Files.size(target),
          Files.size(source));
      return target;
    } catch (IOException e) {
      throw new ModelImportException(modelFolder.resolve(outName), "cannot write: " + e, e);
    } finally {
      progress.end(ok);
    }
  }

  /** B [N, blocks, blob], scales [N * blocks], zero points [N * ceil(blocks * bits / 8)]. */
  private static void addNBitsInitializers(GraphProto.Builder g, String base,
      BlockQuantizer.Quantized q) {
    g.addInitializer(tensor(base, TensorProto.DataType.UINT8, q.packed(), q.n(), q.blocks(),
        q.blockSize() * q.bits() / 8));
    g.addInitializer(floatTensor(base + "_scales", q.scales()));
    g.addInitializer(tensor(base + "_zero_points", TensorProto.DataType.UINT8, q.zeroPoints(),
        q.zeroPoints().length));
  }

  private static NodeProto matMulNBits(NodeProto matMul, String base, BlockQuantizer.Quantized q,
      int accuracyLevel) {
    NodeProto.Builder nb = NodeProto.newBuilder()
        .setName(matMul.getName().isEmpty() ? base + "_matmul" : matMul.getName())
        .setOpType("MatMulNBits").setDomain(GraphBuilder.MS_DOMAIN)
        .addInput(matMul.getInput(0)).addInput(base).addInput(base + "_scales")
        .addInput(base + "_zero_points")
        .addOutput(matMul.getOutput(0))
        .addAttribute(intAttr("K", q.k())).addAttribute(intAttr("N", q.n()))
        .addAttribute(intAttr("bits", q.bits())).addAttribute(intAttr("block_size", q.blockSize()));
    if (accuracyLevel != 0) nb.addAttribute(intAttr("accuracy_level", accuracyLevel));
    return nb.build();
  }

  private static TensorProto int64Tensor(String name, long... values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    buf.asLongBuffer().put(values);
    return tensor(name, TensorProto.DataType.INT64, buf.array(), values.length);
  }

  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
    return t;
  }

  private static long intAttr(NodeProto n, String name, long dflt) {
    for (AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
    return dflt;
  }

  private static boolean isSwap(NodeProto transpose) {
    for (AttributeProto a : transpose.getAttributeList()) {
      if (a.getName().equals("perm")) return a.getIntsList().equals(java.util.List.of(1L, 0L));
    }
    return false; // default perm reverses the axes: for rank 2 also a swap, but be strict
  }

  /** The value feeds nothing but MatMul weight inputs (and is no graph output). */
  private static boolean onlyMatMulWeight(GraphProto graph, String value) {
    if (graph.getOutputList().stream().anyMatch(o -> o.getName().equals(value))) return false;
    boolean any = false;
    for (NodeProto n : graph.getNodeList()) {
      for (int i = 0; i < n.getInputCount(); i++) {
        if (!n.getInput(i).equals(value)) continue;
        if (!n.getOpType().equals("MatMul") || !n.getDomain().isEmpty() || i != 1) return false;
        any = true;
      }
    }
    return any;
  }

  private static void writeAtomically(ModelProto model, Path target) throws IOException {
    Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
    try {
      try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
        model.writeTo(os);
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
    long count = 1;
    for (long d : t.getDimsList()) count *= d;
    float[] out = new float[Math.toIntExact(count)];
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      Map<String, String> ext = new HashMap<>();
      for (StringStringEntryProto e : t.getExternalDataList()) ext.put(e.getKey(), e.getValue());
      Path file = folder.resolve(ext.get("location")).normalize();
      if (!file.startsWith(folder.normalize())) throw new IOException("external data outside " + folder);
      long offset = Long.parseLong(ext.getOrDefault("offset", "0"));
      byte[] bytes = new byte[out.length * 4];
      try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
        f.seek(offset);
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

  private static TensorProto tensor(String name, TensorProto.DataType type, byte[] data, long... dims) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber())
        .setRawData(UnsafeByteOperations.unsafeWrap(data));
    for (long d : dims) t.addDims(d);
    return t.build();
  }

  private static TensorProto floatTensor(String name, float[] values) {
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    return tensor(name, TensorProto.DataType.FLOAT, buf.array(), values.length);
  }

  private static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v)
        .build();
  }
}
