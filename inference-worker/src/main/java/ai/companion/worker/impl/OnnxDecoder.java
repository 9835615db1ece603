package ai.companion.worker.impl;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ONNX decoder session (Hugging Face / optimum layout: {@code input_ids}, {@code attention_mask},
 * {@code position_ids}, {@code past_key_values.N.key|value} in; {@code logits}, {@code present.N.key|value} out,
 * cache layout [batch, kv_heads, past, head_dim]), or the same decoder with the cache updated in place
 * ({@code model_inplace_kv.onnx}: {@code seqlens_k} and {@code total_sequence_length} instead of the mask, past and
 * present the same buffers [batch, kv_heads, capacity, head_dim], each row's tokens from position 0). The in-place
 * graph is used when the folder has it and the settings allow; otherwise, or when it fails to load, the standard one
 * (logged).
 *
 * <p>Not thread-safe: one decode thread drives it (ordered: one session step at a time, see {@link DecodeScheduler}).
 * Several decode lanes of one model each drive their own {@link #sibling} over the same session (ONNX Runtime runs
 * one session from several threads at once).
 */
public final class OnnxDecoder implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OnnxDecoder.class);
  private final OrtEnvironment env;
  private final OrtSession session;
  private final ModelConfig config;
  private final String device;
  private final int threads;                  // intra-op threads of the session
  private final Path file;                    // the graph this session runs
  private final boolean inPlace;
  private final boolean ownsSession;          // false for a sibling: the session is its origin's
  private final String[] pastNames;
  private final String[] presentNames;
  private final boolean hasPositionIds;
  private final Set<String> prefillOutputs;
  private final Set<String> prefillOthers;   // every output but the presents (which a prefill may pin)
  private final OnnxTensor emptyPast;

  // pinned logits output for decode steps of the current batch size: no per-token allocation for logits
  private int pinnedBatch = -1;
  private OnnxTensor pinnedLogits;
  private FloatBuffer pinnedLogitsBuffer;
  private Map<String, OnnxTensor> pinnedOutputs;
  private final Map<String, OnnxTensor> decodeInputs = new HashMap<>();
  private final Map<String, OnnxTensor> pinnedAll = new HashMap<>();
  private final Set<String> presentSet;
  private LongBuffer idsBuf;
  private LongBuffer posBuf;
  private LongBuffer maskBuf;
  private IntBuffer seqlensBuf;
  // the in-place graph's total_sequence_length: one tensor over one int, rewritten before each decode step
  private final IntBuffer totalBuf = directInts(1);
  private OnnxTensor totalLength;
  private int prefillChunk;
  private boolean pinKv = true;
  private boolean pinKvVerified;
  private volatile long sharedPrefixTokens;   // prompt tokens a prefill did not run, for they were another row's
  private boolean shareLeadingTokens = true;
  private PromptCache promptCache;

  private OnnxDecoder(OrtEnvironment env, OrtSession session, ModelConfig config, String device, int threads,
                      Path file, boolean inPlace, boolean ownsSession) throws OrtException, IOException {
    this.env = env;
    this.threads = threads;
    this.ownsSession = ownsSession;
    this.session = session;
    this.config = config;
    this.device = device;
    this.file = file;
    this.inPlace = inPlace;
    int layers = config.layers();
    pastNames = new String[2 * layers];
    presentNames = new String[2 * layers];
    for (int i = 0; i < layers; i++) {
      pastNames[2 * i] = "past_key_values." + i + ".key";
      pastNames[2 * i + 1] = "past_key_values." + i + ".value";
      presentNames[2 * i] = "present." + i + ".key";
      presentNames[2 * i + 1] = "present." + i + ".value";
    }
    Map<String, NodeInfo> inputs = session.getInputInfo();
    Map<String, NodeInfo> outputs = session.getOutputInfo();
    requireLong(inputs, "input_ids");
    if (inPlace) {
      for (String name : new String[] {"seqlens_k", "total_sequence_length"}) {
        if (!inputs.containsKey(name)) throw new IOException(file + " has no input " + name);
      }
    } else {
      requireLong(inputs, "attention_mask");
    }
    hasPositionIds = inputs.containsKey("position_ids");
    if (hasPositionIds) requireLong(inputs, "position_ids");
    for (String n : pastNames) {
      if (!inputs.containsKey(n)) throw new IOException(file + " has no input " + n);
    }
    if (!outputs.containsKey("logits")) throw new IOException(file + " has no output logits");
    for (String n : presentNames) {
      if (!outputs.containsKey(n)) throw new IOException(file + " has no output " + n);
    }
    prefillOutputs = new java.util.HashSet<>(outputs.keySet());
    presentSet = Set.of(presentNames);
    prefillOthers = new java.util.HashSet<>(prefillOutputs);
    prefillOthers.removeAll(presentSet);
    prefillChunk = (int) Math.max(1, Math.min(8192, (128L << 20) / (4L * config.vocabSize())));
    if (inPlace) totalLength = OnnxTensor.createTensor(env, totalBuf, new long[] {1});
    emptyPast = OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
        new long[] {1, config.kvHeads(), 0, config.headDim()});
  }

  private void requireLong(Map<String, NodeInfo> inputs, String name) throws IOException {
    NodeInfo info = inputs.get(name);
    if (info == null) throw new IOException(file + " has no input " + name);
    if (!(info.getInfo() instanceof TensorInfo t) || t.type != OnnxJavaType.INT64) {
      throw new IOException(file + " input " + name + " must be an int64 tensor");
    }
  }

  public static OnnxDecoder open(OrtEnvironment env, ModelConfig config, SessionSettings settings)
      throws OrtException, IOException {
    if (settings.inPlaceCache() && config.inPlaceModelFile() != null) {
      try {
        return open(env, config, settings, true);
      } catch (OrtException | IOException | RuntimeException e) {
        LOG.warn("Model {}: the in-place cache decoder {} did not load ({}); serving {} (the cache is copied each "
            + "step)", config.id(), config.inPlaceModelFile().getFileName(), e.getMessage(),
            config.modelFile().getFileName());
      }
    } else if (settings.inPlaceCache()) {
      LOG.info("Model {}: no in-place cache decoder beside {} (importing or quantizing again writes one); the cache "
          + "is copied each step", config.id(), config.modelFile().getFileName());
    }
    return open(env, config, settings, false);
  }

  private static OnnxDecoder open(OrtEnvironment env, ModelConfig config, SessionSettings settings, boolean inPlace)
      throws OrtException, IOException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      String device = ExecutionProviders.configure(options, settings.provider());
      options.setOptimizationLevel(settings.optLevel());
      int threads = settings.intraOpThreads() > 0 ? settings.intraOpThreads() : autoThreads(config);
      options.setIntraOpNumThreads(threads);
      options.setInterOpNumThreads(1);
      Path file = inPlace ? config.inPlaceModelFile() : config.modelFile();
      OrtSession session = env.createSession(file.toString(), options);
      try {
        return new OnnxDecoder(env, session, config, device, threads, file, inPlace, true);
      } catch (OrtException | IOException | RuntimeException e) {
        session.close();
        throw e;
      }
    }
  }

  /**
   * A decoder over this one's session with its own buffers and bound tensors, for another decode thread; closing it
   * leaves the session open (its origin closes it, after every sibling).
   */
  public OnnxDecoder sibling() throws OrtException, IOException {
    return new OnnxDecoder(env, session, config, device, threads, file, inPlace, false);
  }

  /**
   * Execution provider, optimization level and intra-op threads of one session ({@code intraOpThreads} 0: sized
   * to the model and the cores, see {@link #autoThreads}), and the model variants (fp32, int8, int4) in order of
   * preference; {@code decodeLanes}: decode loops of the model, each with its own batch, stepping at the same time
   * (0: sized to the model and {@code laneCores}, see {@link #autoLanes}); {@code laneCores}: the cores those lanes
   * may take (0: every core; a node that serves HTTP too gives the worker half).
   */
  public record SessionSettings(String provider, OrtSession.SessionOptions.OptLevel optLevel, int intraOpThreads,
                                List<String> variants, boolean inPlaceCache, int decodeLanes, int laneCores) {
    public SessionSettings {
      if (decodeLanes < 0) throw new IllegalArgumentException("decodeLanes must be >= 0, got " + decodeLanes);
      if (laneCores < 0) throw new IllegalArgumentException("laneCores must be >= 0, got " + laneCores);
    }

    /** One decode lane. */
    public SessionSettings(String provider, OrtSession.SessionOptions.OptLevel optLevel, int intraOpThreads,
                           List<String> variants) {
      this(provider, optLevel, intraOpThreads, variants, true, 1, 0);
    }

    public SessionSettings(String provider, OrtSession.SessionOptions.OptLevel optLevel, int intraOpThreads) {
      this(provider, optLevel, intraOpThreads, List.of("fp32", "int8", "int4"));
    }

    /** The same settings, with or without the in-place cache decoder. */
    public SessionSettings withInPlaceCache(boolean on) {
      return new SessionSettings(provider, optLevel, intraOpThreads, variants, on, decodeLanes, laneCores);
    }

    /** The same settings with {@code n} decode lanes (0: auto). */
    public SessionSettings withDecodeLanes(int n) {
      return new SessionSettings(provider, optLevel, intraOpThreads, variants, inPlaceCache, n, laneCores);
    }
  }

  /** Parameters below which one intra-op thread beats several: the per-operator work is too small to split. */
  static final long SMALL_MODEL_PARAMETERS = 20_000_000L;

  /**
   * Every core for a real model; one thread for a tiny one, where splitting each small operator costs more in
   * synchronisation than it saves (stories260K on 2 cores: ~310 us per decode step with 1 thread, 790+ with 2, on the
   * standard graph). On the in-place graph 2 threads made the engine alone faster with many streams (400-token
   * streams, 16 of them: 26,000 tokens/s against 19,000-20,500), but on a node, where the gateway shares the cores,
   * ONNX Runtime's spinning threads took CPU from it (2000 streaming clients: 3.4-3.8 ms of node CPU per request
   * against 2.6-2.8, later first tokens); without spinning it was level with one thread. So one it stays.
   */
  static int autoThreads(ModelConfig config) {
    int cores = Runtime.getRuntime().availableProcessors();
    return config.parameters() < SMALL_MODEL_PARAMETERS ? 1 : cores;
  }

  /**
   * Decode lanes for a model when the settings leave it open: one per core it may take (at most 8) for a tiny model
   * on one intra-op thread, else one. A tiny model's step is mostly fixed per-operator cost that a second intra-op
   * thread cannot split (the threads synchronise per operator and spin), but two batches stepped side by side on the
   * same session each pay it on their own core: stories260K on 2 cores, 16 rows at context 64, made 5.7x one row's
   * tokens/s as two lanes of 8 against 3.4x on one lane and 4.6x with two intra-op threads, for 19% more CPU per
   * token than one lane against 45% ({@code ./companion bench step --lanes}). A real model's operators split well
   * across threads instead (SmolLM2-135M's shape: 16 rows on two intra-op threads 38 ms a step, as two lanes 45).
   * A second lane only wakes once the first holds several streams (see {@code LoadedModel}), so a few streams keep
   * to one core.
   */
  static int autoLanes(ModelConfig config, int threads, int cores) {
    return config.parameters() < SMALL_MODEL_PARAMETERS && threads == 1 ? Math.max(1, Math.min(8, cores)) : 1;
  }

  /** The decode lanes these settings give this decoder's model. */
  public int lanes(SessionSettings settings) {
    if (settings.decodeLanes() > 0) return settings.decodeLanes();
    int cores = settings.laneCores() > 0 ? settings.laneCores() : Runtime.getRuntime().availableProcessors();
    return autoLanes(config, threads, cores);
  }

  public String device() { return device; }

  public int threads() { return threads; }

  /** Whether this session runs the in-place cache decoder (see the class comment). */
  public boolean inPlace() { return inPlace; }

  public ModelConfig config() { return config; }

  /**
   * Runs the prompts (each with any resumed tokens) through the model with an empty cache, as one left-padded
   * batch: the padding is masked out and every row keeps its own positions, so each row computes what it would
   * alone.
   *
   * @param logitsOut receives one row of logits per prompt (its last position), prompt order
   * @return the cache of these rows, [B, kv, Lmax, d] per layer, row r left-padded by Lmax - prompts[r].length
   */
  public KvCache prefill(List<int[]> prompts, float[] logitsOut) throws OrtException {
    if (inPlace) return prefillInPlace(prompts, logitsOut);
    if (prompts.size() == 1 && prompts.get(0).length > prefillChunk) return prefillChunked(prompts.get(0), logitsOut);
    int b = prompts.size();
    int n = 0;
    for (int[] p : prompts) n = Math.max(n, p.length);
    LongBuffer ids = directLongs(b * n);
    LongBuffer mask = directLongs(b * n);
    LongBuffer pos = directLongs(b * n);
    for (int r = 0; r < b; r++) {
      int[] tokens = prompts.get(r);
      int pad = n - tokens.length;
      for (int c = 0; c < n; c++) {
        int i = r * n + c;
        boolean real = c >= pad;
        ids.put(i, real ? tokens[c - pad] : 0);
        mask.put(i, real ? 1 : 0);
        pos.put(i, real ? c - pad : 1);      // as transformers.js: cumsum(mask) - 1, padding at 1
      }
    }
    Map<String, OnnxTensor> in = new HashMap<>();
    OnnxTensor[] created = new OnnxTensor[4];
    OnnxTensor[] present = new OnnxTensor[presentNames.length];
    boolean ok = false;
    try {
      created[0] = OnnxTensor.createTensor(env, ids, new long[] {b, n});
      created[1] = OnnxTensor.createTensor(env, mask, new long[] {b, n});
      in.put("input_ids", created[0]);
      in.put("attention_mask", created[1]);
      if (hasPositionIds) {
        created[2] = OnnxTensor.createTensor(env, pos, new long[] {b, n});
        in.put("position_ids", created[2]);
      }
      OnnxTensor empty = emptyPast;
      if (b != 1) {
        created[3] = OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
            new long[] {b, config.kvHeads(), 0, config.headDim()});
        empty = created[3];
      }
      for (String name : pastNames) in.put(name, empty);
      FloatBuffer[] data = pinKv ? new FloatBuffer[presentNames.length] : null;
      OrtSession.Result result = data != null ? runIntoBuffers(in, b, n, present, data) : null;
      if (result == null) {
        data = null;
        result = session.run(in, prefillOutputs);
        for (int i = 0; i < presentNames.length; i++) {
          present[i] = (OnnxTensor) result.get(presentNames[i]).orElseThrow();
        }
      }
      // the result owns the outputs ONNX Runtime allocated (not the presents): we keep the presents, close the rest
      closeExtraOutputs(result);
      try (OnnxTensor logits = (OnnxTensor) result.get("logits").orElseThrow()) {
        FloatBuffer fb = logits.getFloatBuffer();
        int vocab = config.vocabSize();
        for (int r = 0; r < b; r++) {
          fb.position((r * n + n - 1) * vocab);
          fb.get(logitsOut, r * vocab, vocab);
        }
      }
      ok = true;
      return new KvCache(present, data, n, b, false);
    } finally {
      for (OnnxTensor t : created) if (t != null) t.close();
      if (!ok) for (OnnxTensor t : present) if (t != null) t.close();
    }
  }

  /**
   * Runs a prefill with its presents written into new direct buffers ([rows, kv, length, d] each, filled into
   * {@code present} and {@code data}), so that joining the batch later reads them in place instead of through
   * heap copies. Null when ONNX Runtime refuses preallocated outputs (then nothing is left open).
   */
  private OrtSession.Result runIntoBuffers(Map<String, OnnxTensor> in, int rows, int length, OnnxTensor[] present,
                                           FloatBuffer[] data) throws OrtException {
    Map<String, OnnxTensor> pinned = new HashMap<>();
    try {
      newCacheBuffers(rows, length, present, data);
      for (int i = 0; i < presentNames.length; i++) pinned.put(presentNames[i], present[i]);
      OrtSession.Result result = session.run(in, prefillOthers, pinned);
      pinKvVerified = true;
      return result;
    } catch (OrtException e) {
      for (int i = 0; i < present.length; i++) {
        if (present[i] != null) present[i].close();
        present[i] = null;
      }
      if (pinKvVerified) throw e;
      LOG.warn("Model {}: preallocated cache outputs refused by ONNX Runtime ({}); using its own allocations",
          config.id(), e.getMessage());
      pinKv = false;
      return null;
    }
  }

  /**
   * A prompt longer than {@link #prefillTokenLimit()} runs in chunks, each on the cache of the ones before: the
   * graph returns logits for every position, and a whole long prompt's logits (tokens x vocabulary floats) could
   * exhaust the heap.
   */
  private KvCache prefillChunked(int[] tokens, float[] logitsOut) throws OrtException {
    OnnxTensor[] past = null;
    int done = 0;
    boolean ok = false;
    try {
      while (done < tokens.length) {
        int c = Math.min(prefillChunk, tokens.length - done);
        LongBuffer ids = directLongs(c);
        LongBuffer mask = directLongs(done + c);
        LongBuffer pos = directLongs(c);
        for (int i = 0; i < c; i++) {
          ids.put(i, tokens[done + i]);
          pos.put(i, done + i);
        }
        for (int i = 0; i < done + c; i++) mask.put(i, 1);
        Map<String, OnnxTensor> in = new HashMap<>();
        OnnxTensor[] created = new OnnxTensor[3];
        try {
          created[0] = OnnxTensor.createTensor(env, ids, new long[] {1, c});
          created[1] = OnnxTensor.createTensor(env, mask, new long[] {1, done + c});
          in.put("input_ids", created[0]);
          in.put("attention_mask", created[1]);
          if (hasPositionIds) {
            created[2] = OnnxTensor.createTensor(env, pos, new long[] {1, c});
            in.put("position_ids", created[2]);
          }
          for (int i = 0; i < pastNames.length; i++) in.put(pastNames[i], past == null ? emptyPast : past[i]);
          OrtSession.Result result = session.run(in, prefillOutputs);
          OnnxTensor[] present = new OnnxTensor[presentNames.length];
          for (int i = 0; i < presentNames.length; i++) {
            present[i] = (OnnxTensor) result.get(presentNames[i]).orElseThrow();
          }
          closeExtraOutputs(result);
          if (past != null) for (OnnxTensor t : past) t.close();
          past = present;
          try (OnnxTensor logits = (OnnxTensor) result.get("logits").orElseThrow()) {
            if (done + c == tokens.length) {
              FloatBuffer fb = logits.getFloatBuffer();
              fb.position((c - 1) * config.vocabSize());
              fb.get(logitsOut, 0, config.vocabSize());
            }
          }
        } finally {
          for (OnnxTensor t : created) if (t != null) t.close();
        }
        done += c;
      }
      ok = true;
      return new KvCache(past, null, tokens.length, 1, false);
    } finally {
      if (!ok && past != null) for (OnnxTensor t : past) t.close();
    }
  }

  /**
   * {@link #prefill} on the in-place graph: the prompts right-padded into one batch, each row's keys and values
   * written into new direct buffers [B, kv, Lmax, d] from position 0 (ONNX Runtime writes them in place; the padding
   * positions get values nobody attends to, as every real query only sees keys at or before it). A prompt longer
   * than the prefill limit runs in chunks on the same buffers. With a {@link PromptCache}, a prompt alone first
   * copies its longest cached beginning and runs only the rest, and a group its shared beginning; both are kept for
   * later prompts.
   */
  private KvCache prefillInPlace(List<int[]> prompts, float[] logitsOut) throws OrtException {
    int b = prompts.size();
    boolean ok = false;
    if (b == 1) {
      // one prompt: in pieces of the prefill limit, one after the other
      PartialPrefill p = startPrefill(prompts.get(0));
      try {
        while (!continuePrefill(p, prefillChunk, logitsOut)) {
          // the next piece
        }
        ok = true;
        return p.cache();
      } finally {
        if (!ok) p.close();
      }
    }
    int n = 0;
    for (int[] p : prompts) n = Math.max(n, p.length);
    OnnxTensor[] cache = new OnnxTensor[presentNames.length];
    FloatBuffer[] data = new FloatBuffer[presentNames.length];
    try {
      newCacheBuffers(b, n, cache, data);
      int shared = shareLeadingTokens ? sharedPrefix(prompts, RUN_COST_TOKENS, STEP_ROW_EXTRA_TOKENS) : 0;
      if (shared > 0) {
        prefillSharingPrefix(prompts, shared, n, cache, data, logitsOut);
      } else {
        runInPlace(prompts, 0, cache, null, logitsOut);
      }
      ok = true;
      return new KvCache(cache, data, n, b, true);
    } finally {
      if (!ok) for (OnnxTensor t : cache) if (t != null) t.close();
    }
  }

  /**
   * One prompt's prefill on the in-place graph that runs a piece at a time ({@link #continuePrefill}), so that the
   * decode loop can step its running streams between the pieces of a long prompt. Owns its cache buffers until
   * {@link #cache} hands them over; {@link #close} frees them when it is given up.
   */
  public static final class PartialPrefill implements AutoCloseable {
    private final int[] tokens;
    private final OnnxTensor[] tensors;
    private final FloatBuffer[] data;
    private int done;
    private boolean handedOver;

    private PartialPrefill(int[] tokens, OnnxTensor[] tensors, FloatBuffer[] data) {
      this.tokens = tokens;
      this.tensors = tensors;
      this.data = data;
    }

    /** Prompt tokens in the cache so far (copied from the prompt cache or run). */
    public int done() { return done; }

    /** Prompt tokens still to run. */
    public int remaining() { return tokens.length - done; }

    /** The finished prompt's cache (one row); this prefill no longer closes it. */
    KvCache cache() {
      handedOver = true;
      return new KvCache(tensors, data, tokens.length, 1, true);
    }

    @Override public void close() {
      if (handedOver) return;
      handedOver = true;
      for (OnnxTensor t : tensors) if (t != null) t.close();
    }
  }

  /**
   * Begins one prompt's prefill (in-place graph only): new cache buffers, and its longest cached beginning copied in
   * (all but its last token at most: the logits come from a run).
   */
  PartialPrefill startPrefill(int[] tokens) throws OrtException {
    if (!inPlace) throw new IllegalStateException("a prefill in pieces needs the in-place cache graph");
    OnnxTensor[] tensors = new OnnxTensor[presentNames.length];
    FloatBuffer[] data = new FloatBuffer[presentNames.length];
    try {
      newCacheBuffers(1, tokens.length, tensors, data);
    } catch (OrtException | RuntimeException e) {
      for (OnnxTensor t : tensors) if (t != null) t.close();
      throw e;
    }
    PartialPrefill p = new PartialPrefill(tokens, tensors, data);
    if (promptCache != null) p.done = promptCache.restore(tokens, tokens.length - 1, data, tokens.length, 0);
    return p;
  }

  /**
   * Runs the next piece of a prompt, at most {@code maxTokens} (and the prefill limit); when that was its end, its
   * last logits go to {@code logitsOut}, the prompt goes to the prompt cache, and true returns.
   */
  boolean continuePrefill(PartialPrefill p, int maxTokens, float[] logitsOut) throws OrtException {
    int c = Math.max(1, Math.min(Math.min(maxTokens, prefillChunk), p.remaining()));
    boolean last = p.done + c == p.tokens.length;
    int[] piece = java.util.Arrays.copyOfRange(p.tokens, p.done, p.done + c);
    runInPlace(List.of(piece), p.done, p.tensors, null, last ? logitsOut : null);
    p.done += c;
    if (last && promptCache != null) promptCache.store(p.tokens, p.tokens.length, p.data, p.tokens.length, 0);
    return last;
  }

  /**
   * Prompts that begin alike (a chat template, a system prompt, a shared preamble): the tokens they share are run
   * once, in row 0, and copied into the other rows; then every row's own tokens run one position per step, all rows
   * together (ONNX Runtime's attention takes several new tokens per row after a past only for a single row). A row
   * whose own tokens ended runs padding at the positions after its end, which nobody attends and its next decode
   * step overwrites, as with the right padding of a whole prefill. Each row's logits are taken at its last token.
   * They equal its whole prompt's within float rounding, not bit for bit: a one-token step's attention sums in
   * another order than a prompt run's (a few units in the sixth digit, BatchingTest).
   */
  private void prefillSharingPrefix(List<int[]> prompts, int shared, int n, OnnxTensor[] cache, FloatBuffer[] data,
                                    float[] logitsOut) throws OrtException {
    int b = prompts.size();
    int kv = config.kvHeads();
    int d = config.headDim();
    OnnxTensor[] first = new OnnxTensor[cache.length];
    int[] beginning = java.util.Arrays.copyOf(prompts.get(0), shared);
    // the shared beginning may be cached already (the burst before began the same way): copied, the rest run
    int cached = promptCache == null ? 0 : promptCache.restore(beginning, shared, data, n, 0);
    if (cached < shared) {
      try {
        for (int i = 0; i < cache.length; i++) first[i] = view(data[i], kv * n * d, new long[] {1, kv, n, d});
        runInPlace(List.of(java.util.Arrays.copyOfRange(beginning, cached, shared)), cached, first, null, null);
      } finally {
        for (OnnxTensor t : first) if (t != null) t.close();
      }
    }
    if (promptCache != null) promptCache.store(beginning, shared, data, n, 0);
    // rows [b, kv, n, d]: row 0's first `shared` positions of each head into every other row
    for (FloatBuffer buf : data) {
      for (int r = 1; r < b; r++) {
        for (int h = 0; h < kv; h++) buf.put(((r * kv + h) * n) * d, buf, h * n * d, shared * d);
      }
    }
    sharedPrefixTokens += (long) (b - 1) * shared;
    boolean[] ends = new boolean[b];
    for (int t = shared; t < n; t++) {
      List<int[]> step = new java.util.ArrayList<>(b);
      for (int r = 0; r < b; r++) {
        int[] p = prompts.get(r);
        step.add(new int[] {t < p.length ? p[t] : 0});
        ends[r] = t == p.length - 1;
      }
      runInPlace(step, t, cache, ends, logitsOut);
    }
  }

  /**
   * How many leading tokens every prompt of a group shares, when running them once pays: each prompt keeps at least
   * one token of its own (its logits come from it), and the rows' own tokens then run one position per run. Costs
   * in prompt tokens of a plain prefill: the tokens saved, {@code (rows - 1) x shared}, must outweigh, for each
   * extra run, {@code runCost} plus {@code stepRowExtra} per row (a row of a one-token run costs more than a
   * token of a prompt run: its attention is a call of its own). 0 when it does not pay.
   */
  static int sharedPrefix(List<int[]> prompts, double runCost, double stepRowExtra) {
    int b = prompts.size();
    if (b < 2) return 0;
    int[] a = prompts.get(0);
    int shared = a.length - 1;
    int longest = a.length;
    for (int[] p : prompts) {
      longest = Math.max(longest, p.length);
      shared = Math.min(shared, p.length - 1);
      int i = 0;
      while (i < shared && p[i] == a[i]) i++;
      shared = i;
    }
    if (shared <= 0) return 0;
    double saved = (double) (b - 1) * shared;
    int extraRuns = longest - shared;          // one run per own position, against the one run of a plain prefill
    return saved > extraRuns * (runCost + b * stepRowExtra) ? shared : 0;
  }

  /**
   * One run of the in-place graph over prompt rows that all follow {@code past} cached tokens (0, or the chunks
   * before), right-padded; writes each row's last logits into {@code logitsOut} (prompt order) when not null, for
   * the rows {@code logitsOf} marks (all when null).
   */
  private void runInPlace(List<int[]> rows, int past, OnnxTensor[] cache, boolean[] logitsOf, float[] logitsOut)
      throws OrtException {
    int b = rows.size();
    int n = 0;
    for (int[] p : rows) n = Math.max(n, p.length);
    LongBuffer ids = directLongs(b * n);
    LongBuffer pos = directLongs(b * n);
    IntBuffer seqlens = directInts(b);
    for (int r = 0; r < b; r++) {
      int[] tokens = rows.get(r);
      for (int c = 0; c < n; c++) {
        ids.put(r * n + c, c < tokens.length ? tokens[c] : 0);
        pos.put(r * n + c, past + c);
      }
      seqlens.put(r, past + tokens.length - 1);
    }
    IntBuffer total = directInts(1);
    total.put(0, past + n);
    Map<String, OnnxTensor> in = new HashMap<>();
    Map<String, OnnxTensor> pinned = new HashMap<>();
    OnnxTensor[] created = new OnnxTensor[4];
    try {
      created[0] = OnnxTensor.createTensor(env, ids, new long[] {b, n});
      created[1] = OnnxTensor.createTensor(env, pos, new long[] {b, n});
      created[2] = OnnxTensor.createTensor(env, seqlens, new long[] {b});
      created[3] = OnnxTensor.createTensor(env, total, new long[] {1});
      in.put("input_ids", created[0]);
      in.put("position_ids", created[1]);
      in.put("seqlens_k", created[2]);
      in.put("total_sequence_length", created[3]);
      for (int i = 0; i < pastNames.length; i++) {
        in.put(pastNames[i], cache[i]);
        pinned.put(presentNames[i], cache[i]);
      }
      OrtSession.Result result = session.run(in, prefillOthers, pinned);
      closeExtraOutputs(result);
      try (OnnxTensor logits = (OnnxTensor) result.get("logits").orElseThrow()) {
        if (logitsOut != null) {
          FloatBuffer fb = logits.getFloatBuffer();
          int vocab = config.vocabSize();
          for (int r = 0; r < b; r++) {
            if (logitsOf != null && !logitsOf[r]) continue;
            fb.position((r * n + rows.get(r).length - 1) * vocab);
            fb.get(logitsOut, r * vocab, vocab);
          }
        }
      }
    } finally {
      for (OnnxTensor t : created) if (t != null) t.close();
    }
  }

  /**
   * {@link #decode} on the in-place graph: each member's new key and value are written into the batch's buffers at
   * its own length (no padding, no copy of the past), and it attends to its own tokens only.
   */
  private void decodeInPlace(DecodeBatch batch, float[] logitsOut) throws OrtException {
    int b = batch.size();
    OnnxTensor[] cache = batch.inPlaceCache();
    idsBuf = ensure(idsBuf, b);
    posBuf = ensure(posBuf, b);
    if (seqlensBuf == null || seqlensBuf.capacity() < b) seqlensBuf = directInts(powerOfTwoAtLeast(b, 64));
    int total = 0;
    for (int r = 0; r < b; r++) {
      int p = batch.memberPast(r);
      idsBuf.put(r, batch.memberInput(r));
      posBuf.put(r, p);
      seqlensBuf.put(r, p);
      total = Math.max(total, p + 1);
    }
    totalBuf.put(0, total);
    pinLogits(b);
    Map<String, OnnxTensor> in = decodeInputs;
    Map<String, OnnxTensor> pinned = pinnedAll;
    OnnxTensor[] created = new OnnxTensor[3];
    try {
      created[0] = OnnxTensor.createTensor(env, idsBuf.slice(0, b), new long[] {b, 1});
      created[1] = OnnxTensor.createTensor(env, posBuf.slice(0, b), new long[] {b, 1});
      created[2] = OnnxTensor.createTensor(env, seqlensBuf.slice(0, b), new long[] {b});
      in.put("input_ids", created[0]);
      in.put("position_ids", created[1]);
      in.put("seqlens_k", created[2]);
      in.put("total_sequence_length", totalLength);
      pinned.put("logits", pinnedLogits);
      for (int i = 0; i < pastNames.length; i++) {
        in.put(pastNames[i], cache[i]);
        pinned.put(presentNames[i], cache[i]);
      }
      session.run(in, Set.of(), pinned);
      batch.advanceInPlace();
      pinnedLogitsBuffer.get(0, logitsOut, 0, b * config.vocabSize());
    } finally {
      in.clear();
      pinned.clear();
      for (OnnxTensor t : created) if (t != null) t.close();
    }
  }

  /**
   * For {@link #sharedPrefix}, in prompt tokens of a prefill: what one more run of the graph costs, and what a row
   * of a one-token run costs beyond its token. From stories260K on the development machine ({@code ./companion
   * bench prefill}): a run about 80-100 us, a prompt token 13-14 us, a row of a one-token run about 21 us; the run's
   * 6-7 tokens rounded up to 10 for a margin. A bigger model's tokens cost more against both, so there sharing pays
   * sooner (docs/benchmarks.md, "Prompts that begin alike").
   */
  static final double RUN_COST_TOKENS = 10;
  static final double STEP_ROW_EXTRA_TOKENS = 0.6;

  /** Padded prompt tokens one prefill run takes at most: its logits (tokens x vocabulary) stay under ~128 MB. */
  public int prefillTokenLimit() { return prefillChunk; }

  /** Tests: a smaller chunk, to exercise chunked prefill on small models. */
  void setPrefillChunk(int tokens) {
    if (tokens < 1) throw new IllegalArgumentException("prefill chunk must be >= 1");
    this.prefillChunk = tokens;
  }

  /**
   * One decode step of a batch: every member feeds one token. Members are left-padded to the longest past; the
   * mask hides the padding and position_ids give each member its own positions.
   *
   * @param logitsOut receives B rows of logits, member order
   */
  public void decode(DecodeBatch batch, float[] logitsOut) throws OrtException {
    if (inPlace) {
      decodeInPlace(batch, logitsOut);
      return;
    }
    int b = batch.size();
    int t = batch.pastLength();
    int vocab = config.vocabSize();
    // reused direct buffers: ONNX Runtime reads them in place, nothing is allocated per token but the OrtValues
    idsBuf = ensure(idsBuf, b);
    posBuf = ensure(posBuf, b);
    maskBuf = ensure(maskBuf, b * (t + 1));
    for (int r = 0; r < b; r++) {
      int p = batch.memberPast(r);
      idsBuf.put(r, batch.memberInput(r));
      posBuf.put(r, p);
      int pad = t - p;
      int row = r * (t + 1);
      for (int c = 0; c <= t; c++) maskBuf.put(row + c, c < pad ? 0 : 1);
    }
    pinLogits(b);
    Map<String, OnnxTensor> in = decodeInputs;
    OnnxTensor ids = null;
    OnnxTensor mask = null;
    OnnxTensor pos = null;
    try {
      ids = OnnxTensor.createTensor(env, idsBuf.slice(0, b), new long[] {b, 1});
      mask = OnnxTensor.createTensor(env, maskBuf.slice(0, b * (t + 1)), new long[] {b, t + 1});
      in.put("input_ids", ids);
      in.put("attention_mask", mask);
      if (hasPositionIds) {
        pos = OnnxTensor.createTensor(env, posBuf.slice(0, b), new long[] {b, 1});
        in.put("position_ids", pos);
      }
      OnnxTensor[] past = batch.past();
      for (int i = 0; i < pastNames.length; i++) in.put(pastNames[i], past[i]);
      OnnxTensor[] present = pinKv ? batch.pinnedPresent() : null;
      OrtSession.Result result;
      if (present != null) {
        // the presents go straight into the batch's preallocated buffers (ping-pong with the past)
        Map<String, OnnxTensor> pinned = pinnedAll;
        pinned.clear();
        pinned.put("logits", pinnedLogits);
        for (int i = 0; i < presentNames.length; i++) pinned.put(presentNames[i], present[i]);
        try {
          result = session.run(in, Set.of(), pinned);
          pinKvVerified = true;
        } catch (OrtException e) {
          for (OnnxTensor x : present) x.close();
          if (pinKvVerified) throw e;
          LOG.warn("Model {}: preallocated cache outputs refused by ONNX Runtime ({}); using its own allocations",
              config.id(), e.getMessage());
          pinKv = false;
          present = null;
          result = session.run(in, presentSet, pinnedOutputs);
        }
      } else {
        result = session.run(in, presentSet, pinnedOutputs);
      }
      if (present == null) {
        present = new OnnxTensor[presentNames.length];
        for (int i = 0; i < presentNames.length; i++) {
          present[i] = (OnnxTensor) result.get(presentNames[i]).orElseThrow();
        }
      }
      batch.advance(present);
      pinnedLogitsBuffer.get(0, logitsOut, 0, b * vocab);
    } finally {
      in.clear();
      pinnedAll.clear();
      if (ids != null) ids.close();
      if (mask != null) mask.close();
      if (pos != null) pos.close();
    }
  }

  /**
   * Fills {@code tensors} and {@code data} with one new cache tensor per present, [rows, kv, length, d], over new
   * direct buffers (the caller closes the tensors made so far if this throws).
   */
  private void newCacheBuffers(int rows, int length, OnnxTensor[] tensors, FloatBuffer[] data) throws OrtException {
    long[] shape = {rows, config.kvHeads(), length, config.headDim()};
    int size = rows * config.kvHeads() * length * config.headDim();
    for (int i = 0; i < tensors.length; i++) {
      data[i] = directFloats(size);
      tensors[i] = OnnxTensor.createTensor(env, data[i], shape);
    }
  }

  /** Closes a run's outputs other than the logits and the presents (which the caller takes or already owns). */
  private static void closeExtraOutputs(OrtSession.Result result) {
    for (Map.Entry<String, OnnxValue> e : result) {
      if (!e.getKey().startsWith("present.") && !e.getKey().equals("logits")) e.getValue().close();
    }
  }

  /** The pinned logits output [b, 1, vocab] for a decode step of {@code b} rows. */
  private void pinLogits(int b) throws OrtException {
    if (pinnedBatch == b) return;
    int vocab = config.vocabSize();
    if (pinnedLogits != null) pinnedLogits.close();
    // the batch size changes whenever sequences join or leave: the buffer grows in powers of two and is only
    // viewed at the new size, so a changing batch does not allocate (and zero) a new buffer each time
    if (pinnedLogitsBuffer == null || pinnedLogitsBuffer.capacity() < b * vocab
        || pinnedLogitsBuffer.capacity() > 4L * b * vocab && pinnedLogitsBuffer.capacity() > (16 << 20)) {
      int rows = powerOfTwoAtLeast(b, 8);
      pinnedLogitsBuffer = directFloats(rows * vocab);
    }
    pinnedLogits = OnnxTensor.createTensor(env, pinnedLogitsBuffer.slice(0, b * vocab), new long[] {b, 1, vocab});
    pinnedOutputs = Map.of("logits", pinnedLogits);
    pinnedBatch = b;
  }

  /** The smallest power of two that is at least {@code n} and {@code min}: reused buffers grow in such steps. */
  private static int powerOfTwoAtLeast(int n, int min) {
    return Math.max(min, Integer.highestOneBit(Math.max(1, n - 1)) << 1);
  }

  private static LongBuffer ensure(LongBuffer buf, int n) {
    if (buf != null && buf.capacity() >= n) return buf;
    int cap = powerOfTwoAtLeast(n, 64);
    return ByteBuffer.allocateDirect(cap * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
  }



  /** A tensor over the first elements of a direct buffer: no copy, ONNX Runtime reads and writes it in place. */
  OnnxTensor view(FloatBuffer direct, int elements, long[] shape) throws OrtException {
    return OnnxTensor.createTensor(env, direct.slice(0, elements), shape);
  }

  /**
   * Whether a prefill runs the tokens its prompts share once (the default; see {@link #sharedPrefix}). Off: every
   * row runs its whole prompt, for benchmarks that compare the two. Decode thread only.
   */
  public void shareLeadingTokens(boolean on) { this.shareLeadingTokens = on; }

  /** Prompt tokens that prefills of this decoder took from another row of their group instead of running them. */
  public long sharedPrefixTokens() { return sharedPrefixTokens; }

  /**
   * Where prefills keep their prompts' keys and values and look for a cached beginning (null: nowhere). Only the
   * in-place graph uses it: its rows hold their tokens from position 0, so a cached beginning is copied in as is.
   * Shared by a model's lanes. Set before the decode thread starts.
   */
  void usePromptCache(PromptCache cache) { this.promptCache = inPlace ? cache : null; }

  /** The prompt cache prefills use, or null. */
  PromptCache promptCache() { return promptCache; }

  /** Tests: whether decode steps write the cache into preallocated buffers. */
  boolean pinsCache() { return inPlace || pinKv && pinKvVerified; }

  /** A zeroed direct buffer of {@code n} floats in native order, which ONNX Runtime reads and writes in place. */
  static FloatBuffer directFloats(int n) {
    return ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  private static IntBuffer directInts(int n) {
    return ByteBuffer.allocateDirect(Math.max(1, n) * 4).order(ByteOrder.nativeOrder()).asIntBuffer().limit(n);
  }

  private static LongBuffer directLongs(int n) {
    return ByteBuffer.allocateDirect(Math.max(1, n) * 8).order(ByteOrder.nativeOrder()).asLongBuffer().limit(n);
  }

  @Override public void close() throws OrtException {
    emptyPast.close();
    if (totalLength != null) totalLength.close();
    if (pinnedLogits != null) pinnedLogits.close();
    if (ownsSession) session.close();
  }
}
