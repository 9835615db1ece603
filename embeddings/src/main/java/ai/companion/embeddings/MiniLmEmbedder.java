package ai.companion.embeddings;

import ai.companion.api.spi.Embedder;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * all-MiniLM-L6-v2 on ONNX Runtime: WordPiece tokens (truncated to {@value #MAX_TOKENS}), the six-layer encoder,
 * mean pooling over the attention mask and L2 normalisation, as sentence-transformers does it.
 *
 * <p>The ONNX graph and tokenizer come from the class path (the LangChain4j model jars; only their files are used).
 * Safe for concurrent {@link #embed} calls: ORT sessions allow concurrent {@code run} and the tokenizer is
 * stateless per call.
 */
public final class MiniLmEmbedder implements Embedder {
  private static final Logger LOG = LoggerFactory.getLogger(MiniLmEmbedder.class);

  public static final String MODEL = "all-MiniLM-L6-v2";
  public static final int DIMENSION = 384;
  /** sentence-transformers' max_seq_length for this model, special tokens included. */
  public static final int MAX_TOKENS = 256;
  /** Texts per ORT run; bounds the padded tensor (batch x longest x 384 floats). */
  public static final int DEFAULT_MAX_BATCH = 32;

  /** The two builds of the model. */
  public enum Variant {
    FP32("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json", false),
    /**
     * Dynamically quantised: each MatMul's input is quantised with one scale over the whole tensor, i.e. over every
     * text of the run and its padding. So a text's vector would depend on the texts run with it (cosine 0.985
     * between a question alone and in a run of 32, similarities moving by 0.03); each text runs alone instead,
     * which costs about 1.0 against 0.78 ms for a short question on one thread (fp32 in runs of 32: 2.0 ms),
     * except where the caller allows that noise ({@link #embedAllowingBatchNoise}).
     */
    INT8("all-minilm-l6-v2-q.onnx", "all-minilm-l6-v2-q-tokenizer.json", true);

    final String onnxResource;
    final String tokenizerResource;
    final boolean scalesPerRun;

    Variant(String onnxResource, String tokenizerResource, boolean scalesPerRun) {
      this.onnxResource = onnxResource;
      this.tokenizerResource = tokenizerResource;
      this.scalesPerRun = scalesPerRun;
    }

    public String label() { return name().toLowerCase(java.util.Locale.ROOT); }

    public static Variant parse(String s) {
      for (Variant v : values()) if (v.label().equalsIgnoreCase(s) || v.name().equalsIgnoreCase(s)) return v;
      throw new IllegalArgumentException("unknown embedding variant '" + s + "' (fp32 or int8)");
    }
  }

  private static final Map<Variant, MiniLmEmbedder> SHARED = new ConcurrentHashMap<>();

  static {
    // DJL's tokenizer library phones home (EC2 metadata, then a telemetry URL) unless told not to; a self-hosted
    // node must not, and its native library ships inside the jar, so nothing needs downloading either
    if (System.getProperty("OPT_OUT_TRACKING") == null) System.setProperty("OPT_OUT_TRACKING", "true");
    if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
  }

  private final Variant variant;
  private final OrtEnvironment env;
  private final OrtSession session;
  private final HuggingFaceTokenizer tokenizer;
  private final boolean wantsTokenTypes;
  private final int maxBatch;
  private final boolean shared;
  private volatile boolean closed;

  private MiniLmEmbedder(Variant variant, int intraOpThreads, int maxBatch, boolean shared) {
    this.variant = variant;
    this.maxBatch = maxBatch;
    this.shared = shared;
    long t0 = System.nanoTime();
    try {
      byte[] model = readResource(variant.onnxResource);
      env = OrtEnvironment.getEnvironment();
      try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
        so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (intraOpThreads > 0) so.setIntraOpNumThreads(intraOpThreads);
        session = env.createSession(model, so);
      }
      Set<String> inputs = session.getInputNames();
      if (!inputs.contains("input_ids") || !inputs.contains("attention_mask")) {
        throw new IllegalStateException(variant.onnxResource + " has inputs " + inputs
            + "; expected input_ids and attention_mask");
      }
      wantsTokenTypes = inputs.contains("token_type_ids");
      Map<String, String> opts = new HashMap<>();
      // the bundled tokenizer.json pads and truncates to a fixed 128; we want 256 and no padding (we pad per batch)
      opts.put("padding", "false");
      opts.put("truncation", "true");
      opts.put("maxLength", Integer.toString(MAX_TOKENS));
      try (InputStream in = resource(variant.tokenizerResource)) {
        tokenizer = HuggingFaceTokenizer.newInstance(in, opts);
      }
    } catch (OrtException e) {
      throw new IllegalStateException("cannot load " + variant.onnxResource + ": " + e.getMessage(), e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + variant.tokenizerResource, e);
    }
    LOG.info("Loaded {} ({}) in {} ms", MODEL, variant.label(), (System.nanoTime() - t0) / 1_000_000);
  }

  /** A new instance that the caller owns and closes. {@code intraOpThreads <= 0} lets ORT choose. */
  public static MiniLmEmbedder load(Variant variant, int intraOpThreads, int maxBatch) {
    if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1, got " + maxBatch);
    return new MiniLmEmbedder(variant, intraOpThreads, maxBatch, false);
  }

  public static MiniLmEmbedder load(Variant variant) {
    return load(variant, 0, DEFAULT_MAX_BATCH);
  }

  /**
   * One process-wide instance per variant, loaded on first use (blocking: call off the event loop). Every
   * verticle of a node that embeds shares it, so the model sits in memory once; {@link #close()} on it is a
   * no-op and it lives as long as the JVM.
   */
  public static MiniLmEmbedder shared(Variant variant) {
    return SHARED.computeIfAbsent(variant, v -> new MiniLmEmbedder(v, sharedThreads(Runtime.getRuntime()
        .availableProcessors()), DEFAULT_MAX_BATCH, true));
  }

  /**
   * Intra-op threads of the shared instance: half the cores, at least one. It shares them with the node's event
   * loops and decode threads, and ONNX Runtime's default (every core, spinning between operators) took CPU they
   * needed: with 2000 streaming clients on a 2-core node that logs every question with the knowledge role, one
   * thread instead of two cut node CPU per request by 25-30% and lifted tokens/s by 30-40% (two threads without
   * spinning got about half of that). Alone, one thread embeds a 17-token question in 5.7 ms against 3.3 ms.
   */
  static int sharedThreads(int cores) {
    return Math.max(1, cores / 2);
  }

  public Variant variant() { return variant; }

  @Override public String model() { return MODEL; }

  /** The model and its variant, e.g. {@code all-MiniLM-L6-v2/int8}. */
  @Override public String id() { return MODEL + "/" + variant.label(); }

  @Override public int dimension() { return DIMENSION; }

  /** Tokens the model would read for this text, [CLS] and [SEP] included, after truncation. */
  public int countTokens(String text) {
    return tokenizer.encode(text).getIds().length;
  }

  @Override
  public Result embedWithUsage(List<String> texts) {
    return embedInRuns(texts, variant.scalesPerRun ? 1 : maxBatch);
  }

  /**
   * Runs of up to the batch size for both variants. In the node, with the decode and the event loops on the same
   * cores, a logged question cost 1.15 ms of CPU this way against 2.0-2.4 ms run alone (int8) and 2.8 ms (fp32 in
   * runs of 32).
   */
  @Override
  public float[][] embedAllowingBatchNoise(List<String> texts) {
    return embedInRuns(texts, maxBatch).vectors();
  }

  private Result embedInRuns(List<String> texts, int perRun) {
    if (closed) throw new IllegalStateException("embedder closed");
    float[][] out = new float[texts.size()][];
    int tokens = 0;
    for (int from = 0; from < texts.size(); from += perRun) {
      List<String> part = texts.subList(from, Math.min(texts.size(), from + perRun));
      Encoding[] enc = new Encoding[part.size()];
      for (int i = 0; i < enc.length; i++) {
        String t = part.get(i);
        if (t == null) throw new IllegalArgumentException("text " + (from + i) + " is null");
        enc[i] = tokenizer.encode(t);
        tokens += enc[i].getIds().length;
      }
      float[][] vecs = run(enc);
      System.arraycopy(vecs, 0, out, from, vecs.length);
    }
    return new Result(out, tokens);
  }

  private float[][] run(Encoding[] enc) {
    int batch = enc.length;
    int len = 1;
    for (Encoding e : enc) len = Math.max(len, e.getIds().length);
    long[] ids = new long[batch * len];
    long[] mask = new long[batch * len];
    long[] types = new long[batch * len];
    for (int b = 0; b < batch; b++) {
      long[] ei = enc[b].getIds();
      long[] em = enc[b].getAttentionMask();
      long[] et = enc[b].getTypeIds();
      System.arraycopy(ei, 0, ids, b * len, ei.length);
      System.arraycopy(em, 0, mask, b * len, em.length);
      System.arraycopy(et, 0, types, b * len, et.length);
    }
    long[] shape = {batch, len};
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape));
      in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape));
      if (wantsTokenTypes) in.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape));
      try (OrtSession.Result r = session.run(in)) {
        OnnxValue hidden = r.get(0);
        float[][][] h = (float[][][]) hidden.getValue();   // [batch][len][384]: last_hidden_state
        return pool(h, mask, len);
      }
    } catch (OrtException e) {
      throw new IllegalStateException("embedding run failed: " + e.getMessage(), e);
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }

  /** Mean over the tokens the mask keeps, then L2 normalisation (clamped like sentence-transformers). */
  static float[][] pool(float[][][] hidden, long[] mask, int len) {
    float[][] out = new float[hidden.length][];
    for (int b = 0; b < hidden.length; b++) {
      int dim = hidden[b][0].length;
      double[] sum = new double[dim];
      int count = 0;
      for (int t = 0; t < len; t++) {
        if (mask[b * len + t] == 0) continue;
        count++;
        float[] row = hidden[b][t];
        for (int d = 0; d < dim; d++) sum[d] += row[d];
      }
      double norm = 0;
      for (int d = 0; d < dim; d++) {
        sum[d] /= Math.max(count, 1);
        norm += sum[d] * sum[d];
      }
      norm = Math.max(Math.sqrt(norm), 1e-12);
      float[] v = new float[dim];
      for (int d = 0; d < dim; d++) v[d] = (float) (sum[d] / norm);
      out[b] = v;
    }
    return out;
  }

  @Override
  public void close() {
    if (shared || closed) return;
    closed = true;
    try {
      session.close();
    } catch (OrtException e) {
      LOG.warn("closing the ORT session failed", e);
    }
    tokenizer.close();
  }

  private static InputStream resource(String name) throws IOException {
    InputStream in = MiniLmEmbedder.class.getClassLoader().getResourceAsStream(name);
    if (in == null) {
      throw new IOException(name + " not on the class path (it ships in dev.langchain4j:langchain4j-embeddings-"
          + "all-minilm-l6-v2[-q]; is that jar missing?)");
    }
    return in;
  }

  private static byte[] readResource(String name) {
    try (InputStream in = resource(name)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
