package ai.companion.modelimport;

import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_ATT;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FFN;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FINAL;
import static ai.companion.modelimport.LlamaWeights.Tensor.TOKEN_EMBEDDING;
import static ai.companion.modelimport.LlamaWeights.Tensor.W1;
import static ai.companion.modelimport.LlamaWeights.Tensor.W2;
import static ai.companion.modelimport.LlamaWeights.Tensor.W3;
import static ai.companion.modelimport.LlamaWeights.Tensor.WK;
import static ai.companion.modelimport.LlamaWeights.Tensor.WO;
import static ai.companion.modelimport.LlamaWeights.Tensor.WQ;
import static ai.companion.modelimport.LlamaWeights.Tensor.WV;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.LlamaWeights.Tensor;
import ai.companion.modelimport.impl.Llama2cCheckpoint;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The other llama2.c layouts, written here from stories260K's weights the way run.c and export.py lay
 * them out: an unshared classifier (negative vocab_size in version 0, a separate wcls), the version 1
 * fp32 export, and a version 2 int8 export with another group size.
 */
class Llama2cLayoutsTest {
  @TempDir Path tmp;

  static final List<Tensor> MATRICES = List.of(WQ, WK, WV, WO, W1, W2, W3);

  private Llama2cCheckpoint stories() throws Exception {
    return Llama2cCheckpoint.read(Fixtures.model("stories260K", "stories260K.bin"));
  }

  @Test
  void version0WithUnsharedClassifier() throws Exception {
    Llama2cCheckpoint w = stories();
    LlamaConfig c = w.config();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ints(out, c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), -c.vocabSize(), c.seqLen());
    floats(out, w.tensor(TOKEN_EMBEDDING, 0));
    for (Tensor t : List.of(RMS_ATT, WQ, WK, WV, WO, RMS_FFN, W1, W2, W3)) perLayer(out, w, t);
    floats(out, w.tensor(RMS_FINAL, 0));
    floats(out, new float[c.seqLen() * c.headDim()]); // the legacy RoPE tables, unused
    floats(out, w.tensor(TOKEN_EMBEDDING, 0)); // wcls: same values, stored separately
    Path bin = tmp.resolve("unshared.bin");
    Files.write(bin, out.toByteArray());

    Llama2cCheckpoint read = Llama2cCheckpoint.read(bin);
    assertFalse(read.config().sharedClassifier());
    Path folder = importAndCheckOracle(bin, "unshared");
    assertTrue(Files.readString(folder.resolve("config.json")).contains("\"tie_word_embeddings\": false"));
  }

  @Test
  void version1Export() throws Exception {
    Llama2cCheckpoint w = stories();
    LlamaConfig c = w.config();
    ByteArrayOutputStream out = exportHeader(c, 1, true, 0);
    for (Tensor t : List.of(RMS_ATT, RMS_FFN)) perLayer(out, w, t);
    floats(out, w.tensor(RMS_FINAL, 0));
    floats(out, w.tensor(TOKEN_EMBEDDING, 0));
    for (Tensor t : MATRICES) perLayer(out, w, t);
    Path bin = tmp.resolve("v1.bin");
    Files.write(bin, out.toByteArray());
    assertEquals(1, Llama2cCheckpoint.read(bin).version());
    importAndCheckOracle(bin, "v1");
  }

  @Test
  void version2ExportWithGroupSize32() throws Exception {
    Llama2cCheckpoint w = stories();
    LlamaConfig c = w.config();
    int gs = 32;
    ByteArrayOutputStream out = exportHeader(c, 2, true, gs);
    for (Tensor t : List.of(RMS_ATT, RMS_FFN)) perLayer(out, w, t);
    floats(out, w.tensor(RMS_FINAL, 0));
    q80(out, w.tensor(TOKEN_EMBEDDING, 0), gs);
    for (Tensor t : MATRICES) {
      for (int l = 0; l < c.nLayers(); l++) q80(out, w.tensor(t, l), gs);
    }
    Path bin = tmp.resolve("v2.bin");
    Files.write(bin, out.toByteArray());
    Llama2cCheckpoint read = Llama2cCheckpoint.read(bin);
    assertEquals(2, read.version());
    assertEquals("int8", read.variant());
    // dequantized values are within half a step of the originals
    float[] orig = w.tensor(W2, 3);
    float[] deq = read.tensor(W2, 3);
    for (int g = 0; g < orig.length / gs; g++) {
      float max = 0;
      for (int i = g * gs; i < (g + 1) * gs; i++) max = Math.max(max, Math.abs(orig[i]));
      for (int i = g * gs; i < (g + 1) * gs; i++) {
        assertTrue(Math.abs(orig[i] - deq[i]) <= max / 127f / 2 * 1.001f, "W2 value " + i);
      }
    }
    Path folder = ModelImporter.importLlama2c(bin, Fixtures.model("stories260K", "tok512.bin"), "v2",
        tmp.resolve("models"), null);
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      int[] greedy = d.greedy(60);
      int same = 0;
      while (same < 60 && greedy[same] == Fixtures.STORIES_ORACLE[same]) same++;
      System.out.println("version 2, group size 32: greedy = oracle for the first " + same + " of 60");
      assertTrue(same >= 20, "only " + same + " tokens agree");
    }
  }

  private Path importAndCheckOracle(Path bin, String name) throws Exception {
    Path folder = ModelImporter.importLlama2c(bin, Fixtures.model("stories260K", "tok512.bin"), name,
        tmp.resolve("models"), null);
    try (OnnxDecoder d = OnnxDecoder.open(folder, Llama2cCheckpoint.read(bin).config())) {
      assertArrayEquals(Fixtures.STORIES_ORACLE, d.greedy(60));
    }
    return folder;
  }

  /** export.py's header: magic, version, 7 ints, shared flag, [group size], zeros up to 256. */
  private static ByteArrayOutputStream exportHeader(LlamaConfig c, int version, boolean shared, int gs) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ints(out, Llama2cCheckpoint.MAGIC, version, c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(),
        c.nKvHeads(), c.vocabSize(), c.seqLen());
    out.write(shared ? 1 : 0);
    if (version == 2) ints(out, gs);
    out.writeBytes(new byte[256 - out.size()]);
    return out;
  }

  /** export.py's quantize_q80: symmetric int8 per group, then the fp32 scales. */
  private static void q80(ByteArrayOutputStream out, float[] w, int gs) {
    byte[] q = new byte[w.length];
    float[] scales = new float[w.length / gs];
    for (int g = 0; g < scales.length; g++) {
      float max = 0;
      for (int i = g * gs; i < (g + 1) * gs; i++) max = Math.max(max, Math.abs(w[i]));
      scales[g] = max / 127f;
      for (int i = g * gs; i < (g + 1) * gs; i++) {
        q[i] = (byte) Math.round(scales[g] == 0 ? 0 : w[i] / scales[g]);
      }
    }
    out.writeBytes(q);
    floats(out, scales);
  }

  private static void perLayer(ByteArrayOutputStream out, LlamaWeights w, Tensor t) throws Exception {
    for (int l = 0; l < w.config().nLayers(); l++) floats(out, w.tensor(t, l));
  }

  private static void ints(ByteArrayOutputStream out, int... v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (int x : v) b.putInt(x);
    out.writeBytes(b.array());
  }

  private static void floats(ByteArrayOutputStream out, float[] v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    out.writeBytes(b.array());
  }
}
