package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.impl.Llama2cCheckpoint;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two sequences of different lengths in one batch, the shorter left-padded (as transformers.js and a
 * batching worker feed them): every real position gets the logits it gets alone, in prefill and in
 * the following cached steps.
 */
class BatchedDecodingTest {
  @TempDir Path models;

  @Test
  void leftPaddedBatchEqualsSingleSequences() throws Exception {
    Path bin = Fixtures.model("stories260K", "stories260K.bin");
    LlamaConfig c = Llama2cCheckpoint.read(bin).config();
    Path folder = ModelImporter.importLlama2c(bin, null, "stories260K", models, null);
    long[] a = {1, 403, 407, 261, 378, 432, 383};
    long[] b = {1, 410, 408, 419};
    int steps = 5;

    float[][] aloneA;
    float[][] aloneB;
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      aloneA = sequence(d, a, steps);
      aloneB = sequence(d, b, steps);
    }

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    int len = a.length;
    int pad = a.length - b.length;
    try (OrtSession s = env.createSession(folder.resolve("model.onnx").toString())) {
      long[] ids = new long[2 * len];
      long[] mask = new long[2 * len];
      long[] pos = new long[2 * len];
      for (int i = 0; i < len; i++) {
        ids[i] = a[i];
        mask[i] = 1;
        pos[i] = i;
        boolean padded = i < pad;
        ids[len + i] = padded ? 2 : b[i - pad];
        mask[len + i] = padded ? 0 : 1;
        pos[len + i] = padded ? 1 : i - pad; // cumsum(mask) - 1, pads set to 1
      }
      float[][] past = new float[2 * c.nLayers()][0];
      int pastLen = 0;
      long[] nextA = {0};
      long[] nextB = {0};
      for (int step = 0; step <= steps; step++) {
        int s1 = step == 0 ? len : 1;
        long[] stepIds = step == 0 ? ids : new long[] {nextA[0], nextB[0]};
        long[] stepPos = step == 0 ? pos
            : new long[] {a.length - 1 + step, b.length - 1 + step};
        long[] fullMask = new long[2 * (pastLen + s1)];
        for (int r = 0; r < 2; r++) {
          for (int j = 0; j < pastLen + s1; j++) {
            fullMask[r * (pastLen + s1) + j] = j < len ? mask[r * len + j] : 1;
          }
        }
        Map<String, OnnxTensor> in = new HashMap<>();
        in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(stepIds), new long[] {2, s1}));
        in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(fullMask),
            new long[] {2, pastLen + s1}));
        in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(stepPos),
            new long[] {2, s1}));
        for (int l = 0; l < c.nLayers(); l++) {
          long[] shape = {2, c.nKvHeads(), pastLen, c.headDim()};
          in.put("past_key_values." + l + ".key",
              OnnxTensor.createTensor(env, FloatBuffer.wrap(past[2 * l]), shape));
          in.put("past_key_values." + l + ".value",
              OnnxTensor.createTensor(env, FloatBuffer.wrap(past[2 * l + 1]), shape));
        }
        try (OrtSession.Result r = s.run(in)) {
          FloatBuffer logits = ((OnnxTensor) r.get("logits").get()).getFloatBuffer();
          int v = c.vocabSize();
          for (int row = 0; row < 2; row++) {
            for (int i = 0; i < s1; i++) {
              int absolute = step == 0 ? i : len - 1 + step;
              float[] got = new float[v];
              logits.position((row * s1 + i) * v);
              logits.get(got);
              if (row == 0) {
                assertClose(aloneA[absolute], got, "a at " + absolute);
              } else if (step > 0 || i >= pad) {
                assertClose(aloneB[absolute - pad], got, "b at " + (absolute - pad));
              }
              if (i == s1 - 1) (row == 0 ? nextA : nextB)[0] = OnnxDecoder.argmax(got);
            }
          }
          for (int l = 0; l < c.nLayers(); l++) {
            past[2 * l] = floats(r.get("present." + l + ".key").get());
            past[2 * l + 1] = floats(r.get("present." + l + ".value").get());
          }
        } finally {
          in.values().forEach(OnnxTensor::close);
        }
        pastLen += s1;
      }
    }
  }

  /** Prompt logits, then {@code steps} greedy steps with the cache: logits per absolute position. */
  private static float[][] sequence(OnnxDecoder d, long[] prompt, int steps) throws Exception {
    d.reset();
    float[][] out = new float[prompt.length + steps][];
    float[][] first = d.forward(prompt);
    System.arraycopy(first, 0, out, 0, prompt.length);
    for (int i = 0; i < steps; i++) {
      long next = OnnxDecoder.argmax(out[prompt.length - 1 + i]);
      out[prompt.length + i] = d.forward(next)[0];
    }
    return out;
  }

  private static void assertClose(float[] expected, float[] got, String where) {
    float diff = Llama2cImportTest.maxAbsDiff(expected, got);
    assertTrue(diff < 1e-4f, where + ": max logit difference " + diff);
    assertEquals(OnnxDecoder.argmax(expected), OnnxDecoder.argmax(got), where);
  }

  private static float[] floats(Object v) {
    FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }
}
