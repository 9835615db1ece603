package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.SyntheticModels.Shape;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticModelsTest {
  @TempDir Path models;

  @Test
  void tinyShapeLoadsAndRuns() throws Exception {
    Shape shape = Shape.TINY;
    LlamaConfig c = shape.config();
    Path folder = SyntheticModels.write(models, "tiny", shape, 7, null);
    String cfg = Files.readString(folder.resolve("config.json"));
    assertTrue(cfg.contains("\"vocab_size\": 1000") && cfg.contains("\"num_key_value_heads\": 2"), cfg);

    // batch 2, 3 new tokens after an empty past: every output has the contract's shape
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(folder.resolve("model.onnx").toString())) {
      Map<String, OnnxTensor> in = new HashMap<>();
      in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {1, 300, 301, 1, 5, 999}),
          new long[] {2, 3}));
      in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {1, 1, 1, 1, 1, 1}),
          new long[] {2, 3}));
      in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {0, 1, 2, 0, 1, 2}),
          new long[] {2, 3}));
      for (int l = 0; l < c.nLayers(); l++) {
        for (String kv : new String[] {"key", "value"}) {
          in.put("past_key_values." + l + "." + kv, OnnxTensor.createTensor(env,
              FloatBuffer.allocate(0), new long[] {2, c.nKvHeads(), 0, c.headDim()}));
        }
      }
      try (OrtSession.Result r = s.run(in)) {
        OnnxTensor logits = (OnnxTensor) r.get("logits").get();
        assertArrayEquals(new long[] {2, 3, c.vocabSize()}, logits.getInfo().getShape());
        float[] v = new float[2 * 3 * c.vocabSize()];
        logits.getFloatBuffer().get(v);
        for (float x : v) assertTrue(Float.isFinite(x));
        OnnxTensor present = (OnnxTensor) r.get("present.1.value").get();
        assertArrayEquals(new long[] {2, c.nKvHeads(), 3, c.headDim()}, present.getInfo().getShape());
      } finally {
        in.values().forEach(OnnxTensor::close);
      }
    }

    // cached decoding equals recomputation on random weights too
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      long[] prompt = {1, 400, 500, 600, 700, 800, 900, 42};
      float[][] full = d.forward(prompt);
      d.reset();
      for (int i = 0; i < prompt.length; i++) {
        float[] step = d.forward(prompt[i])[0];
        assertTrue(Llama2cImportTest.maxAbsDiff(full[i], step) < 1e-4f);
      }
    }

    // the made-up tokenizer works and stays inside the vocabulary
    try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(folder.resolve("tokenizer.json"))) {
      String text = "The quick brown fox jumps over the lazy dog. Ünïcode 🙂 and 12345!";
      long[] ids = tok.encode(text).getIds();
      assertEquals(1, ids[0]);
      for (long id : ids) assertTrue(id >= 0 && id < c.vocabSize(), "id " + id);
      assertEquals(text, tok.decode(ids, true));
    }
    assertEquals(c.vocabSize(), SyntheticModels.fillerTokenizer(c.vocabSize()).vocabSize());
  }

  /** Weights in model.onnx_data (the path big models take): same logits, and quantizable. */
  @Test
  void externalDataGivesTheSameModel() throws Exception {
    LlamaConfig c = Shape.TINY.config();
    Path inline = SyntheticModels.write(models, "inline", Shape.TINY, 11, false, null);
    Path external = SyntheticModels.write(models, "external", Shape.TINY, 11, true, null);
    assertTrue(Files.size(external.resolve("model.onnx_data")) > 4 * c.parameterCount() * 9 / 10);
    assertTrue(Files.size(external.resolve("model.onnx")) < 100_000);
    assertTrue(!Files.exists(inline.resolve("model.onnx_data")));
    long[] prompt = {1, 300, 400, 500, 600};
    float[] last;
    try (OnnxDecoder a = OnnxDecoder.open(inline, c); OnnxDecoder b = OnnxDecoder.open(external, c)) {
      float[][] la = a.forward(prompt);
      float[][] lb = b.forward(prompt);
      for (int i = 0; i < prompt.length; i++) assertArrayEquals(la[i], lb[i]);
      last = la[prompt.length - 1];
    }
    // the in-place cache decoder likewise, its weights in its own data file: same logits as model.onnx
    assertTrue(Files.size(external.resolve("model_inplace_kv.onnx_data")) > 4 * c.parameterCount() * 9 / 10);
    assertArrayEquals(inPlaceLastLogits(inline.resolve("model_inplace_kv.onnx"), c, prompt),
        inPlaceLastLogits(external.resolve("model_inplace_kv.onnx"), c, prompt));
    assertArrayEquals(last, inPlaceLastLogits(external.resolve("model_inplace_kv.onnx"), c, prompt), 1e-5f);
    Path qa = ModelQuantizer.quantize(inline, 4, null);
    Path qb = ModelQuantizer.quantize(external, 4, null);
    try (OnnxDecoder a = new OnnxDecoder(qa, c.nLayers(), c.nKvHeads(), c.headDim(), c.vocabSize());
        OnnxDecoder b = new OnnxDecoder(qb, c.nLayers(), c.nKvHeads(), c.headDim(), c.vocabSize())) {
      assertArrayEquals(a.greedy(20), b.greedy(20));
    }
  }

  /**
   * At SmolLM2's head size (64, where stories260K's is 8) and late positions, the in-place decoder (RoPE by
   * RotaryEmbedding from the exporter's tables) gives the logits model.onnx gives (RoPE computed in the graph).
   */
  @Test
  void inPlaceDecoderAgreesAtHeadSize64() throws Exception {
    LlamaConfig c = LlamaConfig.of(128, 256, 2, 2, 1, 1000, 256, true);
    assertEquals(64, c.headDim());
    Path folder = SyntheticModels.write(models, "head64", new Shape("head64", c), 5, null);
    long[] prompt = new long[200];
    prompt[0] = 1;
    for (int i = 1; i < prompt.length; i++) prompt[i] = 3 + (i * 37) % 990;
    float[] standard;
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      standard = d.forward(prompt)[prompt.length - 1];
    }
    assertArrayEquals(standard, inPlaceLastLogits(folder.resolve("model_inplace_kv.onnx"), c, prompt), 1e-4f);
  }

  /** The last position's logits of a prompt run through an in-place cache decoder (model_inplace_kv.onnx). */
  static float[] inPlaceLastLogits(Path file, LlamaConfig c, long[] prompt) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    int n = prompt.length;
    long[] pos = new long[n];
    for (int i = 0; i < n; i++) pos[i] = i;
    Map<String, OnnxTensor> in = new HashMap<>();
    Map<String, OnnxTensor> pinned = new HashMap<>();
    try (OrtSession s = env.createSession(file.toString(), new OrtSession.SessionOptions())) {
      in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(prompt), new long[] {1, n}));
      in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(pos), new long[] {1, n}));
      in.put("seqlens_k", OnnxTensor.createTensor(env, java.nio.IntBuffer.wrap(new int[] {n - 1}), new long[] {1}));
      in.put("total_sequence_length",
          OnnxTensor.createTensor(env, java.nio.IntBuffer.wrap(new int[] {n}), new long[] {1}));
      for (int l = 0; l < c.nLayers(); l++) {
        for (String kind : new String[] {"key", "value"}) {
          FloatBuffer buf = java.nio.ByteBuffer.allocateDirect(4 * c.nKvHeads() * n * c.headDim())
              .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
          OnnxTensor t = OnnxTensor.createTensor(env, buf, new long[] {1, c.nKvHeads(), n, c.headDim()});
          in.put("past_key_values." + l + "." + kind, t);
          pinned.put("present." + l + "." + kind, t);
        }
      }
      try (OrtSession.Result r = s.run(in, java.util.Set.of("logits"), pinned)) {
        FloatBuffer fb = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer();
        float[] out = new float[c.vocabSize()];
        fb.position((n - 1) * c.vocabSize());
        fb.get(out);
        return out;
      }
    } finally {
      for (OnnxTensor t : in.values()) t.close();
    }
  }

  @Test
  void sameSeedSameModel() throws Exception {
    Path a = SyntheticModels.write(models, "a", Shape.TINY, 3, null);
    Path b = SyntheticModels.write(models, "b", Shape.TINY, 3, null);
    Path other = SyntheticModels.write(models, "c", Shape.TINY, 4, null);
    assertEquals(-1, Files.mismatch(a.resolve("model.onnx"), b.resolve("model.onnx")));
    assertTrue(Files.mismatch(a.resolve("model.onnx"), other.resolve("model.onnx")) >= 0);
  }
}
