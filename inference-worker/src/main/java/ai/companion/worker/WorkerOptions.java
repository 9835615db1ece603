package ai.companion.worker;

import ai.companion.api.ModelPaths;
import io.vertx.core.json.JsonObject;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;

/**
 * Configuration of a {@link WorkerVerticle}, read from the verticle's config JSON.
 *
 * <p>{@code optimizationLevel}: {@code low} (basic graph optimizations, one intra-op thread, the fp32 model),
 * {@code medium}, the default (all optimizations, threads sized to the model and cores, the fp32 model, so
 * greedy output equals the reference), {@code high} (the same, serving the folder's int4 file where it has one,
 * else fp32; int8, slower than fp32 on the CPU provider, only when it is all there is).
 * {@code modelVariant} other than {@code auto} picks the variant; {@code intraOpThreads} above 0 the thread count;
 * {@code decodeLanes} above 0 how many decode loops each model runs side by side, each with its own batch (0: one per
 * core for a tiny model, one otherwise; low: one; {@code laneCores} above 0 counts fewer cores). The queue,
 * concurrency and cache limits are the model's, split evenly over its lanes.
 * {@code kvBudgetMb} bounds the key/value caches of running sequences (reserved for prompt + max_tokens, counted as
 * the padded batch cache: rows x the largest reservation); past it requests queue, past {@code maxQueuedRequests}
 * they are refused as overloaded.
 * {@code prefillFirstMs} (default 0: never): while requests keep arriving (less than 5 ms apart), at least twice as
 * fast as they came over the seconds before, and can be admitted, the running batch's next decode step waits up to
 * this long so that the newcomers get their first token first, never more than 0.3 of the time. Off by default: in
 * 2000-client waves it gave first tokens a tenth sooner at p99 or nothing measurable, and steady traffic at the
 * node's capacity a few ms more (docs/benchmarks.md, "Prefill first for bursts only").
 * {@code prefillSliceMs} (default 100): a prompt whose prefill would take longer runs in slices of about this long,
 * the running streams getting a token between two slices, instead of waiting for the whole prompt (0: every prompt
 * at once; in-place cache graph only). {@code inPlaceCache} (default true) serves a
 * model's in-place cache decoder ({@code model_inplace_kv.onnx}, written by the importer beside model.onnx and by the
 * quantizer beside its files) when it has one; false always serves the standard graph, which copies the whole cache
 * each step. The node sets it from {@code --kv-cache}.
 * {@code promptCacheMb} (default 128, 0: none) bounds each model's prompt cache: the keys and values of recent prompts
 * (16 tokens or more), which later prompts that begin alike copy instead of running (a chat's next turn, a shared
 * system prompt; in-place cache graph only). It comes on top of {@code kvBudgetMb}; all models' caches together keep
 * to a quarter of the heap, where they live. The node sets it from {@code --prompt-cache-mb}.
 */
public final class WorkerOptions {
  public static final String DEFAULT_NODE_NAME = "local";
  public static final String DEFAULT_PROVIDER = "auto";
  public static final String DEFAULT_OPTIMIZATION_LEVEL = "medium";
  public static final String DEFAULT_MODEL_VARIANT = "auto";
  public static final int DEFAULT_INTRA_OP_THREADS = 0;
  public static final int DEFAULT_MAX_CONCURRENT_SEQUENCES = 2048;
  public static final int DEFAULT_MAX_QUEUED_REQUESTS = 8192;
  public static final long DEFAULT_KV_BUDGET_MB = 1024;
  public static final long DEFAULT_STATUS_INTERVAL_MS = 2000;
  public static final long DEFAULT_PREFILL_FIRST_MS = 0;
  public static final long DEFAULT_PREFILL_SLICE_MS =
      ai.companion.worker.impl.DecodeScheduler.Limits.DEFAULT_PREFILL_SLICE_MS;
  public static final long DEFAULT_PROMPT_CACHE_MB = ai.companion.worker.impl.PromptCache.DEFAULT_BYTES >> 20;

  private static final Set<String> PROVIDERS = Set.of("auto", "cpu", "cuda", "coreml", "directml");
  private static final Set<String> LEVELS = Set.of("low", "medium", "high");
  private static final Set<String> VARIANTS = Set.of("auto", "fp32", "int8", "int4");

  private String dataDir = ModelPaths.DEFAULT_DATA_DIR;
  private String nodeName = DEFAULT_NODE_NAME;
  private String workerId;
  private String provider = DEFAULT_PROVIDER;
  private String optimizationLevel = DEFAULT_OPTIMIZATION_LEVEL;
  private String modelVariant = DEFAULT_MODEL_VARIANT;
  private int intraOpThreads = DEFAULT_INTRA_OP_THREADS;
  private int decodeLanes;
  private int laneCores;
  private int maxConcurrentSequences = DEFAULT_MAX_CONCURRENT_SEQUENCES;
  private int maxQueuedRequests = DEFAULT_MAX_QUEUED_REQUESTS;
  private long kvBudgetMb = DEFAULT_KV_BUDGET_MB;
  private long statusIntervalMs = DEFAULT_STATUS_INTERVAL_MS;
  private long prefillFirstMs = DEFAULT_PREFILL_FIRST_MS;
  private long prefillSliceMs = DEFAULT_PREFILL_SLICE_MS;
  private long promptCacheMb = DEFAULT_PROMPT_CACHE_MB;
  private boolean inPlaceCache = true;

  public WorkerOptions() {}

  public WorkerOptions(WorkerOptions other) {
    this(other.toJson());
  }

  /** Reads the config; a bad value fails here, so it fails the deployment and not the first request. */
  public WorkerOptions(JsonObject json) {
    JsonObject j = json == null ? new JsonObject() : json;
    setDataDir(j.getString("dataDir", dataDir));
    setNodeName(j.getString("nodeName", nodeName));
    if (j.getString("workerId") != null) setWorkerId(j.getString("workerId"));
    setProvider(j.getString("provider", provider));
    setOptimizationLevel(j.getString("optimizationLevel", optimizationLevel));
    setModelVariant(j.getString("modelVariant", modelVariant));
    setIntraOpThreads(j.getInteger("intraOpThreads", intraOpThreads));
    setDecodeLanes(j.getInteger("decodeLanes", decodeLanes));
    setLaneCores(j.getInteger("laneCores", laneCores));
    setMaxConcurrentSequences(j.getInteger("maxConcurrentSequences", maxConcurrentSequences));
    setMaxQueuedRequests(j.getInteger("maxQueuedRequests", maxQueuedRequests));
    setKvBudgetMb(j.getLong("kvBudgetMb", kvBudgetMb));
    setStatusIntervalMs(j.getLong("statusIntervalMs", statusIntervalMs));
    setPrefillFirstMs(j.getLong("prefillFirstMs", prefillFirstMs));
    setPrefillSliceMs(j.getLong("prefillSliceMs", prefillSliceMs));
    setPromptCacheMb(j.getLong("promptCacheMb", promptCacheMb));
    setInPlaceCache(j.getBoolean("inPlaceCache", inPlaceCache));
  }

  public JsonObject toJson() {
    return new JsonObject().put("dataDir", dataDir).put("nodeName", nodeName).put("workerId", workerId)
        .put("provider", provider).put("optimizationLevel", optimizationLevel)
        .put("modelVariant", modelVariant).put("intraOpThreads", intraOpThreads)
        .put("decodeLanes", decodeLanes).put("laneCores", laneCores)
        .put("maxConcurrentSequences", maxConcurrentSequences).put("maxQueuedRequests", maxQueuedRequests)
        .put("kvBudgetMb", kvBudgetMb).put("statusIntervalMs", statusIntervalMs)
        .put("prefillFirstMs", prefillFirstMs).put("inPlaceCache", inPlaceCache).put("promptCacheMb", promptCacheMb)
        .put("prefillSliceMs", prefillSliceMs);
  }

  public boolean isInPlaceCache() { return inPlaceCache; }

  public WorkerOptions setInPlaceCache(boolean inPlaceCache) {
    this.inPlaceCache = inPlaceCache;
    return this;
  }

  public String getDataDir() { return dataDir; }

  public WorkerOptions setDataDir(String dataDir) {
    if (dataDir == null || dataDir.isBlank()) throw new IllegalArgumentException("dataDir must not be empty");
    this.dataDir = dataDir;
    return this;
  }

  public String getNodeName() { return nodeName; }

  public WorkerOptions setNodeName(String nodeName) {
    if (nodeName == null || nodeName.isBlank()) throw new IllegalArgumentException("nodeName must not be empty");
    this.nodeName = nodeName;
    return this;
  }

  /** The worker id; when none was set, nodeName + "-" + a short random suffix (fixed once asked). */
  public String getWorkerId() {
    if (workerId == null) workerId = nodeName + "-" + UUID.randomUUID().toString().substring(0, 8);
    return workerId;
  }

  public WorkerOptions setWorkerId(String workerId) {
    if (workerId == null || workerId.isBlank()) throw new IllegalArgumentException("workerId must not be empty");
    this.workerId = workerId;
    return this;
  }

  public String getProvider() { return provider; }

  public WorkerOptions setProvider(String provider) {
    String p = provider == null ? "" : provider.trim().toLowerCase(Locale.ROOT);
    if (!PROVIDERS.contains(p)) {
      throw new IllegalArgumentException("provider must be one of auto, cpu, cuda, coreml, directml, got " + provider);
    }
    this.provider = p;
    return this;
  }

  public String getOptimizationLevel() { return optimizationLevel; }

  public WorkerOptions setOptimizationLevel(String level) {
    String l = level == null ? "" : level.trim().toLowerCase(Locale.ROOT);
    if (!LEVELS.contains(l)) {
      throw new IllegalArgumentException("optimizationLevel must be low, medium or high, got " + level);
    }
    this.optimizationLevel = l;
    return this;
  }

  public String getModelVariant() { return modelVariant; }

  /** auto: chosen by the optimization level; fp32, int8 or int4: that file when the folder has it. */
  public WorkerOptions setModelVariant(String variant) {
    String v = variant == null ? "" : variant.trim().toLowerCase(Locale.ROOT);
    if (!VARIANTS.contains(v)) {
      throw new IllegalArgumentException("modelVariant must be auto, fp32, int8 or int4, got " + variant);
    }
    this.modelVariant = v;
    return this;
  }

  public int getIntraOpThreads() { return intraOpThreads; }

  /** Decode loops per model, each stepping its own batch at the same time; 0 (default): sized to model and cores. */
  public int getDecodeLanes() { return decodeLanes; }

  /** Cores the automatic decode lanes may take (0, the default: every core; the node halves it beside a gateway). */
  public int getLaneCores() { return laneCores; }

  public WorkerOptions setLaneCores(int n) {
    if (n < 0) throw new IllegalArgumentException("laneCores must be >= 0, got " + n);
    this.laneCores = n;
    return this;
  }

  public WorkerOptions setDecodeLanes(int n) {
    if (n < 0 || n > 64) throw new IllegalArgumentException("decodeLanes must be in 0..64 (0: auto), got " + n);
    this.decodeLanes = n;
    return this;
  }

  /** 0: sized by the optimization level and the cores. */
  public WorkerOptions setIntraOpThreads(int n) {
    if (n < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0, got " + n);
    this.intraOpThreads = n;
    return this;
  }

  public int getMaxConcurrentSequences() { return maxConcurrentSequences; }

  public WorkerOptions setMaxConcurrentSequences(int n) {
    if (n < 1) throw new IllegalArgumentException("maxConcurrentSequences must be >= 1, got " + n);
    this.maxConcurrentSequences = n;
    return this;
  }

  public int getMaxQueuedRequests() { return maxQueuedRequests; }

  public WorkerOptions setMaxQueuedRequests(int n) {
    if (n < 0) throw new IllegalArgumentException("maxQueuedRequests must be >= 0, got " + n);
    this.maxQueuedRequests = n;
    return this;
  }

  public long getKvBudgetMb() { return kvBudgetMb; }

  public WorkerOptions setKvBudgetMb(long mb) {
    if (mb < 1) throw new IllegalArgumentException("kvBudgetMb must be >= 1, got " + mb);
    this.kvBudgetMb = mb;
    return this;
  }

  public long getStatusIntervalMs() { return statusIntervalMs; }

  public WorkerOptions setStatusIntervalMs(long ms) {
    if (ms < 10) throw new IllegalArgumentException("statusIntervalMs must be >= 10, got " + ms);
    this.statusIntervalMs = ms;
    return this;
  }

  public long getPrefillSliceMs() { return prefillSliceMs; }

  public WorkerOptions setPrefillSliceMs(long ms) {
    if (ms < 0 || ms > 60_000) throw new IllegalArgumentException("prefillSliceMs must be 0..60000, got " + ms);
    this.prefillSliceMs = ms;
    return this;
  }

  public long getPromptCacheMb() { return promptCacheMb; }

  public WorkerOptions setPromptCacheMb(long mb) {
    if (mb < 0) throw new IllegalArgumentException("promptCacheMb must be >= 0, got " + mb);
    this.promptCacheMb = mb;
    return this;
  }

  public long getPrefillFirstMs() { return prefillFirstMs; }

  public WorkerOptions setPrefillFirstMs(long ms) {
    if (ms < 0 || ms > 10_000) throw new IllegalArgumentException("prefillFirstMs must be 0..10000, got " + ms);
    this.prefillFirstMs = ms;
    return this;
  }
}
