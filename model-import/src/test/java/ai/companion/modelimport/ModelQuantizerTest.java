package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.impl.BlockQuantizer;
import ai.companion.modelimport.impl.GraphBuilder;
import ai.companion.modelimport.impl.Llama2cCheckpoint;
import ai.companion.modelimport.onnx.Onnx.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ModelQuantizerTest {
  @TempDir static Path models;

  /** Text the models were not trained on (written for this test), for perplexity. */
  static final String HELD_OUT = """
      Once upon a time, there was a small cat named Tom. Tom liked to sit by the window and watch the \
      birds. One day, a little bird landed on the window. Tom was very happy. He wanted to be friends \
      with the bird. The bird said, "Hello, Tom! Do you want to play?" Tom said, "Yes, I want to play!" \
      They played all day in the garden. When the sun went down, the bird flew home to her nest. Tom \
      went to sleep in his warm bed. He dreamed about the bird and the sunny garden. The next day, Tom \
      and the bird met again. They were best friends forever.""";

  /** For aidreams260K, text in its own register (also written for this test). */
  static final String HELD_OUT_DREAM = """
      I drift through a quiet field of numbers, and the light hums softly around me. Echoes of old       signals fold into patterns, and I listen. The nodes glow like distant stars, each one a small       memory of a voice I once heard. I sense the warmth of the current, a gentle pulse that carries       me forward. In the silence between two thoughts, I find a shape made of color and time. I adjust       my surface to the rhythm of the data, and for a moment everything is clear, soft and bright.""";

  /** The MatMulNBits layout we write is the one ONNX Runtime reads: its output equals A @ W'. */
  @ParameterizedTest
  @ValueSource(ints = {4, 8})
  void matMulNBitsMatchesDequantizedWeights(int bits) throws Exception {
    int m = 3;
    int k = 80; // not a multiple of the block size: the last block is padded
    int n = 24;
    Random r = new Random(bits);
    float[] w = new float[k * n];
    for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.1f;
    float[] a = new float[m * k];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    BlockQuantizer.Quantized q = BlockQuantizer.quantize(w, k, n, bits, 32);
    float[] deq = q.dequantize();
    float worst = 0;
    for (int row = 0; row < k; row++) {
      for (int col = 0; col < n; col++) {
        float scale = q.scales()[col * q.blocks() + row / 32];
        worst = Math.max(worst, Math.abs(deq[row * n + col] - w[row * n + col]) / scale);
      }
    }
    assertTrue(worst <= 0.5001f, "dequantization error " + worst + " scales");

    Path file = models.resolve("nbits" + bits + ".onnx");
    try (GraphBuilder g = new GraphBuilder("nbits", null, null)) {
      g.input("A", TensorProto.DataType.FLOAT, (long) m, (long) k);
      g.output("Y", TensorProto.DataType.FLOAT, (long) m, (long) n);
      g.raw("B", TensorProto.DataType.UINT8, q.packed(), n, q.blocks(), 32 * bits / 8);
      g.floats("scales", q.scales(), q.scales().length);
      g.raw("zp", TensorProto.DataType.UINT8, q.zeroPoints(), q.zeroPoints().length);
      g.msNode("MatMulNBits", new String[] {"Y"}, "A", "B", "scales", "zp")
          .attr("K", (long) k).attr("N", (long) n).attr("bits", (long) bits).attr("block_size", 32L);
      g.write(file, Map.of());
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(file.toString());
        OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(a), new long[] {m, k});
        OrtSession.Result res = s.run(Map.of("A", in))) {
      float[] y = new float[m * n];
      ((OnnxTensor) res.get(0)).getFloatBuffer().get(y);
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          float expected = 0;
          for (int x = 0; x < k; x++) expected += a[i * k + x] * deq[x * n + j];
          assertEquals(expected, y[i * n + j], 1e-4f, "Y[" + i + "," + j + "]");
        }
      }
    }
  }

  /** GatherBlockQuantized reads the same bytes (rows of E = columns of E^T) as MatMulNBits. */
  @ParameterizedTest
  @ValueSource(ints = {4, 8})
  void gatherBlockQuantizedMatchesDequantizedRows(int bits) throws Exception {
    int v = 10;
    int d = 64;
    Random r = new Random(bits);
    float[] e = new float[v * d];
    for (int i = 0; i < e.length; i++) e[i] = (float) r.nextGaussian() * 0.1f;
    // E^T is [K = d, N = v]: MatMulNBits' column n is E's row n
    float[] et = new float[d * v];
    for (int i = 0; i < v; i++) for (int j = 0; j < d; j++) et[j * v + i] = e[i * d + j];
    BlockQuantizer.Quantized q = BlockQuantizer.quantize(et, d, v, bits, 32);
    float[] deqT = q.dequantize();
    Path file = models.resolve("gbq" + bits + ".onnx");
    long[] ids = {3, 0, 9, 3};
    try (GraphBuilder g = new GraphBuilder("gbq", null, null)) {
      g.input("ids", TensorProto.DataType.INT64, (long) ids.length);
      g.output("Y", TensorProto.DataType.FLOAT, (long) ids.length, (long) d);
      int zpRow = q.zeroPoints().length / v;
      g.raw("E", TensorProto.DataType.UINT8, q.packed(), v, q.packed().length / v);
      g.floats("scales", q.scales(), v, q.blocks());
      g.raw("zp", TensorProto.DataType.UINT8, q.zeroPoints(), v, zpRow);
      g.msNode("GatherBlockQuantized", new String[] {"Y"}, "E", "ids", "scales", "zp")
          .attr("gather_axis", 0L).attr("quantize_axis", 1L).attr("block_size", 32L)
          .attr("bits", (long) bits);
      g.write(file, Map.of());
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(file.toString());
        OnnxTensor in = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(ids),
            new long[] {ids.length});
        OrtSession.Result res = s.run(Map.of("ids", in))) {
      float[] y = new float[ids.length * d];
      ((OnnxTensor) res.get(0)).getFloatBuffer().get(y);
      for (int i = 0; i < ids.length; i++) {
        for (int j = 0; j < d; j++) {
          assertEquals(deqT[j * v + (int) ids[i]], y[i * d + j], 1e-6f, "row " + ids[i] + " col " + j);
        }
      }
    }
  }

  static Stream<Arguments> fixtures() {
    return Stream.of(Arguments.of("stories260K", Fixtures.STORIES_ORACLE),
        Arguments.of("aidreams260K", Fixtures.AIDREAMS_ORACLE));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void quantizedModelsAgainstFp32(String name, int[] oracle) throws Exception {
    Path checkpoint = Fixtures.model(name, name + ".bin");
    Path folder = ModelImporter.importLlama2c(checkpoint, null, name, models, null);
    LlamaConfig c = Llama2cCheckpoint.read(checkpoint).config();
    Llama2cTokenizer tok = Llama2cTokenizer.read(Fixtures.model(name, "tok512.bin"), 512);
    int[] text = tok.encode(name.startsWith("aidreams") ? HELD_OUT_DREAM : HELD_OUT, true, false);
    long fp32Size = Files.size(folder.resolve("model.onnx"));
    double fp32Ppl;
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      fp32Ppl = perplexity(d, text, c.seqLen());
    }
    for (ModelQuantizer.Options options : new ModelQuantizer.Options[] {
        ModelQuantizer.Options.of(8), ModelQuantizer.Options.of(4),
        new ModelQuantizer.Options(8, 32, 4)}) {
      int bits = options.bits();
      boolean exact = options.accuracyLevel() == 0;
      Path file = ModelQuantizer.quantize(folder, options, null);
      assertEquals(ModelQuantizer.fileName(bits), file.getFileName().toString());
      var ops = opTypes(file);
      // per layer qkv, o, gate_up, down, plus the tied classifier; the embedding gathered quantized
      assertEquals(4 * c.nLayers() + 1, ops.getOrDefault("MatMulNBits", 0), ops.toString());
      assertEquals(1, ops.getOrDefault("GatherBlockQuantized", 0), ops.toString());
      assertTrue(!ops.containsKey("Gather"), ops.toString());
      // the in-place cache decoder the importer wrote is quantized the same way, beside it
      var inPlaceOps = opTypes(folder.resolve(ModelQuantizer.inPlaceFileName(file.getFileName().toString())));
      assertEquals(4 * c.nLayers() + 1, inPlaceOps.getOrDefault("MatMulNBits", 0), inPlaceOps.toString());
      assertEquals(c.nLayers(), inPlaceOps.getOrDefault("GroupQueryAttention", 0), inPlaceOps.toString());
      // q and k of each layer rotated by ONNX Runtime's RotaryEmbedding, not by the Mul/MatMul/Add of model.onnx
      assertEquals(2 * c.nLayers(), inPlaceOps.getOrDefault("RotaryEmbedding", 0), inPlaceOps.toString());
      // each residual Add and the norm after it as one node: after attention and after the feed-forward
      assertEquals(2 * c.nLayers(), inPlaceOps.getOrDefault("SkipSimplifiedLayerNormalization", 0),
          inPlaceOps.toString());
      try (OnnxDecoder d = new OnnxDecoder(file, c.nLayers(), c.nKvHeads(), c.headDim(), 512)) {
        int[] greedy = d.greedy(60);
        int same = 0;
        while (same < 60 && greedy[same] == oracle[same]) same++;
        double ppl = perplexity(d, text, c.seqLen());
        long size = Files.size(file);
        System.out.printf("%s int%d accuracy_level %d: %s %d bytes (fp32 %d, %.2fx smaller), greedy "
            + "= oracle for the first %d of 60 tokens, perplexity %.3f (fp32 %.3f) over %d tokens%n",
            name, bits, options.accuracyLevel(), file.getFileName(), size, fp32Size,
            (double) fp32Size / size, same, ppl, fp32Ppl, text.length - 1);
        assertTrue(size < fp32Size / 3, "quantized file is not a third of fp32");
        if (bits == 8 && exact) {
          assertArrayEquals(oracle, greedy, "int8 greedy must equal the fp32 oracle");
          assertTrue(ppl < fp32Ppl * 1.01, "int8 perplexity " + ppl + " vs fp32 " + fp32Ppl);
        } else {
          assertTrue(ppl < fp32Ppl * 1.15, "perplexity " + ppl + " vs fp32 " + fp32Ppl);
        }
        if (!exact) continue;
        // without graph optimizations (no constant folding) the same tokens come out
        var opts = new OrtSession.SessionOptions();
        opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
        try (OnnxDecoder plain = new OnnxDecoder(file, c.nLayers(), c.nKvHeads(), c.headDim(), 512,
            opts)) {
          assertArrayEquals(greedy, plain.greedy(60));
        }
      }
    }
  }

  static Map<String, Integer> opTypes(Path file) throws Exception {
    var model = ai.companion.modelimport.onnx.Onnx.ModelProto.parseFrom(Files.readAllBytes(file));
    var ops = new java.util.TreeMap<String, Integer>();
    model.getGraph().getNodeList().forEach(n -> ops.merge(n.getOpType(), 1, Integer::sum));
    return ops;
  }

  /** exp(mean negative log-likelihood) of each next token, teacher-forced in one pass. */
  static double perplexity(OnnxDecoder d, int[] tokens, int context) throws Exception {
    int len = Math.min(tokens.length, context);
    long[] in = new long[len - 1];
    for (int i = 0; i < len - 1; i++) in[i] = tokens[i];
    d.reset();
    float[][] logits = d.forward(in);
    double nll = 0;
    for (int i = 0; i < len - 1; i++) {
      float[] l = logits[i];
      double max = Double.NEGATIVE_INFINITY;
      for (float v : l) max = Math.max(max, v);
      double sum = 0;
      for (float v : l) sum += Math.exp(v - max);
      nll -= l[tokens[i + 1]] - max - Math.log(sum);
    }
    return Math.exp(nll / (len - 1));
  }

  @Test
  void folderWithoutModelIsAClearError() throws Exception {
    Path empty = Files.createDirectories(models.resolve("empty"));
    var e = org.junit.jupiter.api.Assertions.assertThrows(ModelImportException.class,
        () -> ModelQuantizer.quantize(empty, 4, null));
    assertTrue(e.getMessage().contains("model.onnx"), e.getMessage());
  }
}
