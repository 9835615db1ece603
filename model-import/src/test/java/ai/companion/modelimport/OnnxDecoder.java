package ai.companion.modelimport;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Test driver for an exported decoder: batch 1, keeps the KV cache between calls. */
final class OnnxDecoder implements AutoCloseable {
  private final OrtEnvironment env = OrtEnvironment.getEnvironment();
  private final OrtSession session;
  final int layers;
  final int kvHeads;
  final int headDim;
  final int vocab;
  private float[][] keys;
  private float[][] values;
  private int past;

  OnnxDecoder(Path modelFile, int layers, int kvHeads, int headDim, int vocab) throws OrtException {
    this(modelFile, layers, kvHeads, headDim, vocab, new OrtSession.SessionOptions());
  }

  OnnxDecoder(Path modelFile, int layers, int kvHeads, int headDim, int vocab,
      OrtSession.SessionOptions opts) throws OrtException {
    opts.setIntraOpNumThreads(1);
    session = env.createSession(modelFile.toString(), opts);
    this.layers = layers;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.vocab = vocab;
    reset();
  }

  static OnnxDecoder open(Path folder, LlamaConfig c) throws OrtException {
    return new OnnxDecoder(folder.resolve("model.onnx"), c.nLayers(), c.nKvHeads(), c.headDim(),
        c.vocabSize());
  }

  OrtSession session() {
    return session;
  }

  void reset() {
    keys = new float[layers][0];
    values = new float[layers][0];
    past = 0;
  }

  int past() {
    return past;
  }

  /** Feeds tokens after the cached ones; returns logits [tokens.length][vocab]. */
  float[][] forward(long... tokens) throws OrtException {
    int s = tokens.length;
    int total = past + s;
    long[] mask = new long[total];
    java.util.Arrays.fill(mask, 1);
    long[] pos = new long[s];
    for (int i = 0; i < s; i++) pos[i] = past + i;
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(tokens), new long[] {1, s}));
      in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask),
          new long[] {1, total}));
      in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(pos), new long[] {1, s}));
      long[] cacheShape = {1, kvHeads, past, headDim};
      for (int l = 0; l < layers; l++) {
        in.put("past_key_values." + l + ".key",
            OnnxTensor.createTensor(env, FloatBuffer.wrap(keys[l]), cacheShape));
        in.put("past_key_values." + l + ".value",
            OnnxTensor.createTensor(env, FloatBuffer.wrap(values[l]), cacheShape));
      }
      try (OrtSession.Result r = session.run(in)) {
        float[] flat = floats(r.get("logits").get());
        float[][] logits = new float[s][vocab];
        for (int i = 0; i < s; i++) System.arraycopy(flat, i * vocab, logits[i], 0, vocab);
        for (int l = 0; l < layers; l++) {
          keys[l] = floats(r.get("present." + l + ".key").get());
          values[l] = floats(r.get("present." + l + ".value").get());
        }
        past = total;
        return logits;
      }
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }

  private static float[] floats(OnnxValue v) {
    FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }

  /** Greedy decoding from BOS, token by token with the cache. */
  int[] greedy(int steps) throws OrtException {
    reset();
    int[] out = new int[steps];
    long token = Llama2cTokenizer.BOS;
    for (int i = 0; i < steps; i++) {
      float[][] logits = forward(token);
      out[i] = argmax(logits[0]);
      token = out[i];
    }
    return out;
  }

  static int argmax(float[] v) {
    int best = 0;
    for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
    return best;
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }
}
