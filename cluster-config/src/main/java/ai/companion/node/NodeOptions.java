package ai.companion.node;

import ai.companion.api.ModelPaths;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Every setting of one node (process). The CLI alone turns flags, {@code COMPANION_*} variables and a config file
 * into this; {@link Node} only reads it. JSON round-trips through {@link #toJson()} and the JSON constructor.
 */
public class NodeOptions {

  public static final List<String> ALL_ROLES = List.of("gateway", "router", "worker", "knowledge");
  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_HTTP_PORT = 8080;
  public static final int DEFAULT_GRPC_PORT = 9090;
  public static final int DEFAULT_CLUSTER_PORT = 5701;
  /** Health endpoints of a node without the gateway role; -1 = none (0 = any free port). */
  public static final int DEFAULT_HEALTH_PORT = -1;
  /** Port of the Vert.x event bus (TLS); 0 picks a free one, announced to the cluster through Hazelcast. */
  public static final int DEFAULT_EVENT_BUS_PORT = 0;
  /** Loopback: the embedded default is a one-member cluster that nobody else can reach. */
  public static final String DEFAULT_INTERFACE = "127.0.0.1/32";
  public static final String DEFAULT_KUBERNETES_SERVICE_DNS = "companion-cluster.companion.svc.cluster.local";
  /** The worker's ONNX Runtime settings: low, medium or high (see the worker's WorkerOptions). */
  public static final List<String> OPTIMIZATION_LEVELS = List.of("low", "medium", "high");
  public static final String DEFAULT_OPTIMIZATION_LEVEL = "medium";
  /** Which model file the worker serves: auto (the optimization level's choice), fp32, int8 or int4. */
  public static final List<String> MODEL_VARIANTS = List.of("auto", "fp32", "int8", "int4");
  public static final String DEFAULT_MODEL_VARIANT = "auto";
  /** The worker's execution provider; auto takes the best one this machine's ONNX Runtime offers. */
  public static final List<String> DEVICES = List.of("auto", "cpu", "cuda", "coreml", "directml");
  public static final String DEFAULT_DEVICE = "auto";
  /**
   * The worker's key/value cache: in-place (a model's model_inplace_kv.onnx, where its folder has one) or standard
   * (model.onnx, which copies the whole cache each step).
   */
  public static final List<String> KV_CACHES = List.of("in-place", "standard");
  public static final String DEFAULT_KV_CACHE = "in-place";
  /**
   * Streams a node with the gateway and worker roles sends through its own HTTP door before READY, as
   * {@code ./companion start} runs it (see the node's WarmUp; measured in docs/benchmarks.md). A node built from
   * options in code (tests, embedders) warms up only when told: its default is 0.
   */
  public static final int DEFAULT_WARM_UP_STREAMS = 1500;
  /** Each model's prompt cache, as the worker's default. */
  public static final int DEFAULT_PROMPT_CACHE_MB = (int) ai.companion.worker.WorkerOptions.DEFAULT_PROMPT_CACHE_MB;
  /** The router's prefix affinity, as its default. */
  public static final int DEFAULT_AFFINITY_SLACK = ai.companion.router.RouterOptions.DEFAULT_AFFINITY_SLACK;
  /** A long prompt's prefill slices, as the worker's default. */
  public static final int DEFAULT_PREFILL_SLICE_MS = (int) ai.companion.worker.WorkerOptions.DEFAULT_PREFILL_SLICE_MS;
  /** How long a burst's newcomers may hold the running streams' steps, as the worker's default. */
  public static final int DEFAULT_PREFILL_FIRST_MS = (int) ai.companion.worker.WorkerOptions.DEFAULT_PREFILL_FIRST_MS;

  private Set<String> roles = new LinkedHashSet<>(ALL_ROLES);
  private String host = DEFAULT_HOST;
  private int httpPort = DEFAULT_HTTP_PORT;
  private int grpcPort = DEFAULT_GRPC_PORT;
  private int clusterPort = DEFAULT_CLUSTER_PORT;
  private int eventBusPort = DEFAULT_EVENT_BUS_PORT;
  private int healthPort = DEFAULT_HEALTH_PORT;
  private List<String> join = new ArrayList<>();
  private String dataDir = ModelPaths.DEFAULT_DATA_DIR;
  private String nodeName;
  private String clusterSecret;
  private String interfaceCidr = DEFAULT_INTERFACE;
  private boolean multicast;
  private boolean kubernetes;
  private String kubernetesServiceDns = DEFAULT_KUBERNETES_SERVICE_DNS;
  private String tlsDir;
  private String tlsPassword;
  private List<String> seedPaths = new ArrayList<>();
  private String embeddingVariant;
  private String knowledgeEmbeddingVariant;
  private String optimizationLevel = DEFAULT_OPTIMIZATION_LEVEL;
  private String modelVariant = DEFAULT_MODEL_VARIANT;
  private String kvCache = DEFAULT_KV_CACHE;
  private int httpEventLoops;
  private int decodeLanes;
  private int warmUpStreams;
  private int promptCacheMb = DEFAULT_PROMPT_CACHE_MB;
  private int prefillSliceMs = DEFAULT_PREFILL_SLICE_MS;
  private int prefillFirstMs = DEFAULT_PREFILL_FIRST_MS;
  private int affinitySlack = DEFAULT_AFFINITY_SLACK;
  private String device = DEFAULT_DEVICE;

  public NodeOptions() {
  }

  public NodeOptions(NodeOptions other) {
    this(other.toJson());
  }

  public NodeOptions(JsonObject json) {
    if (json.containsKey("roles")) setRoles(strings(json.getJsonArray("roles")));
    setHost(json.getString("host", DEFAULT_HOST));
    setHttpPort(json.getInteger("httpPort", DEFAULT_HTTP_PORT));
    setGrpcPort(json.getInteger("grpcPort", DEFAULT_GRPC_PORT));
    setClusterPort(json.getInteger("clusterPort", DEFAULT_CLUSTER_PORT));
    setEventBusPort(json.getInteger("eventBusPort", DEFAULT_EVENT_BUS_PORT));
    setHealthPort(json.getInteger("healthPort", DEFAULT_HEALTH_PORT));
    setJoin(strings(json.getJsonArray("join", new JsonArray())));
    setDataDir(json.getString("dataDir", ModelPaths.DEFAULT_DATA_DIR));
    setNodeName(json.getString("nodeName"));
    setClusterSecret(json.getString("clusterSecret"));
    setInterfaceCidr(json.getString("interfaceCidr", DEFAULT_INTERFACE));
    setMulticast(json.getBoolean("multicast", false));
    setKubernetes(json.getBoolean("kubernetes", false));
    setKubernetesServiceDns(json.getString("kubernetesServiceDns", DEFAULT_KUBERNETES_SERVICE_DNS));
    setTlsDir(json.getString("tlsDir"));
    setTlsPassword(json.getString("tlsPassword"));
    setSeedPaths(strings(json.getJsonArray("seedPaths", new JsonArray())));
    setEmbeddingVariant(json.getString("embeddingVariant"));
    setKnowledgeEmbeddingVariant(json.getString("knowledgeEmbeddingVariant"));
    setOptimizationLevel(json.getString("optimizationLevel", DEFAULT_OPTIMIZATION_LEVEL));
    setModelVariant(json.getString("modelVariant", DEFAULT_MODEL_VARIANT));
    setDevice(json.getString("device", DEFAULT_DEVICE));
    setKvCache(json.getString("kvCache", DEFAULT_KV_CACHE));
    setHttpEventLoops(json.getInteger("httpEventLoops", 0));
    setDecodeLanes(json.getInteger("decodeLanes", 0));
    setWarmUpStreams(json.getInteger("warmUpStreams", 0));
    setPromptCacheMb(json.getInteger("promptCacheMb", DEFAULT_PROMPT_CACHE_MB));
    setPrefillSliceMs(json.getInteger("prefillSliceMs", DEFAULT_PREFILL_SLICE_MS));
    setPrefillFirstMs(json.getInteger("prefillFirstMs", DEFAULT_PREFILL_FIRST_MS));
    setAffinitySlack(json.getInteger("affinitySlack", DEFAULT_AFFINITY_SLACK));
  }

  /** The JSON form; the cluster secret and TLS password are left out unless {@code withSecrets}. */
  public JsonObject toJson(boolean withSecrets) {
    JsonObject j = new JsonObject()
        .put("roles", new JsonArray(new ArrayList<>(roles))).put("host", host).put("httpPort", httpPort)
        .put("grpcPort", grpcPort).put("clusterPort", clusterPort).put("eventBusPort", eventBusPort)
        .put("healthPort", healthPort)
        .put("join", new JsonArray(new ArrayList<>(join))).put("dataDir", dataDir).put("nodeName", nodeName)
        .put("interfaceCidr", interfaceCidr).put("multicast", multicast).put("kubernetes", kubernetes)
        .put("kubernetesServiceDns", kubernetesServiceDns).put("tlsDir", tlsDir)
        .put("seedPaths", new JsonArray(new ArrayList<>(seedPaths))).put("embeddingVariant", embeddingVariant)
        .put("knowledgeEmbeddingVariant", knowledgeEmbeddingVariant)
        .put("optimizationLevel", optimizationLevel).put("modelVariant", modelVariant).put("device", device)
        .put("kvCache", kvCache).put("httpEventLoops", httpEventLoops).put("decodeLanes", decodeLanes)
        .put("warmUpStreams", warmUpStreams).put("promptCacheMb", promptCacheMb)
        .put("prefillSliceMs", prefillSliceMs).put("prefillFirstMs", prefillFirstMs).put("affinitySlack", affinitySlack);
    if (withSecrets) j.put("clusterSecret", clusterSecret).put("tlsPassword", tlsPassword);
    return j;
  }

  public JsonObject toJson() {
    return toJson(true);
  }

  private static List<String> strings(JsonArray a) {
    return a.stream().map(String::valueOf).toList();
  }

  public Set<String> getRoles() {
    return roles;
  }

  public NodeOptions setRoles(List<String> roles) {
    if (roles == null || roles.isEmpty()) throw new IllegalArgumentException("at least one role is needed, one of " + ALL_ROLES);
    Set<String> set = new LinkedHashSet<>();
    for (String r : roles) {
      String role = r.trim().toLowerCase();
      if (role.isEmpty()) continue;
      if (!ALL_ROLES.contains(role)) throw new IllegalArgumentException("unknown role '" + r + "', expected some of " + ALL_ROLES);
      set.add(role);
    }
    if (set.isEmpty()) throw new IllegalArgumentException("at least one role is needed, one of " + ALL_ROLES);
    this.roles = set;
    return this;
  }

  public boolean hasRole(String role) {
    return roles.contains(role);
  }

  public String getHost() {
    return host;
  }

  public NodeOptions setHost(String host) {
    if (host == null || host.isBlank()) throw new IllegalArgumentException("host must not be empty");
    this.host = host;
    return this;
  }

  public int getHttpPort() {
    return httpPort;
  }

  public NodeOptions setHttpPort(int httpPort) {
    this.httpPort = checkPort("httpPort", httpPort);
    return this;
  }

  public int getGrpcPort() {
    return grpcPort;
  }

  public NodeOptions setGrpcPort(int grpcPort) {
    this.grpcPort = checkPort("grpcPort", grpcPort);
    return this;
  }

  public int getClusterPort() {
    return clusterPort;
  }

  public NodeOptions setClusterPort(int clusterPort) {
    this.clusterPort = checkPort("clusterPort", clusterPort);
    return this;
  }

  public int getEventBusPort() {
    return eventBusPort;
  }

  public NodeOptions setEventBusPort(int eventBusPort) {
    this.eventBusPort = checkPort("eventBusPort", eventBusPort);
    return this;
  }

  public int getHealthPort() {
    return healthPort;
  }

  public NodeOptions setHealthPort(int healthPort) {
    this.healthPort = healthPort < 0 ? -1 : checkPort("healthPort", healthPort);
    return this;
  }

  private static int checkPort(String name, int port) {
    if (port < 0 || port > 65535) throw new IllegalArgumentException(name + " must be within 0..65535, got " + port);
    return port;
  }

  public List<String> getJoin() {
    return join;
  }

  /** Members to join as {@code HOST:PORT} (port optional, then {@link #DEFAULT_CLUSTER_PORT}). */
  public NodeOptions setJoin(List<String> join) {
    List<String> list = new ArrayList<>();
    for (String m : join == null ? List.<String>of() : join) {
      String member = m.trim();
      if (member.isEmpty()) continue;
      int colon = member.lastIndexOf(':');
      if (colon > 0 && !member.endsWith("]")) {
        String port = member.substring(colon + 1);
        try {
          checkPort("join port", Integer.parseInt(port));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("join member '" + m + "' must be HOST or HOST:PORT");
        }
      }
      list.add(member);
    }
    this.join = list;
    return this;
  }

  public String getDataDir() {
    return dataDir;
  }

  public NodeOptions setDataDir(String dataDir) {
    if (dataDir == null || dataDir.isBlank()) throw new IllegalArgumentException("dataDir must not be empty");
    this.dataDir = dataDir.startsWith("~/") ? System.getProperty("user.home") + dataDir.substring(1) : dataDir;
    return this;
  }

  /** The node's name; null until set, then {@link Node} uses the host name plus the HTTP port. */
  public String getNodeName() {
    return nodeName;
  }

  public NodeOptions setNodeName(String nodeName) {
    if (nodeName != null && !nodeName.matches("[A-Za-z0-9._-]{1,63}")) {
      throw new IllegalArgumentException("nodeName must be 1-63 letters, digits, '.', '_' or '-', got '" + nodeName + "'");
    }
    this.nodeName = nodeName;
    return this;
  }

  public String getClusterSecret() {
    return clusterSecret;
  }

  public NodeOptions setClusterSecret(String clusterSecret) {
    this.clusterSecret = clusterSecret == null || clusterSecret.isEmpty() ? null : clusterSecret;
    return this;
  }

  public String getInterfaceCidr() {
    return interfaceCidr;
  }

  /** The network the cluster talks on, as CIDR ({@code 10.0.0.0/24}); the node binds its one address inside it. */
  public NodeOptions setInterfaceCidr(String cidr) {
    if (cidr == null || cidr.isBlank()) throw new IllegalArgumentException("interface must be a CIDR like 10.0.0.0/24");
    ai.companion.node.cluster.Cidr.parse(cidr);
    this.interfaceCidr = cidr.trim();
    return this;
  }

  public boolean isMulticast() {
    return multicast;
  }

  public NodeOptions setMulticast(boolean multicast) {
    this.multicast = multicast;
    return this;
  }

  public boolean isKubernetes() {
    return kubernetes;
  }

  public NodeOptions setKubernetes(boolean kubernetes) {
    this.kubernetes = kubernetes;
    return this;
  }

  public String getKubernetesServiceDns() {
    return kubernetesServiceDns;
  }

  public NodeOptions setKubernetesServiceDns(String dns) {
    if (dns == null || dns.isBlank()) throw new IllegalArgumentException("kubernetesServiceDns must not be empty");
    this.kubernetesServiceDns = dns;
    return this;
  }

  /** Folder with the event-bus keys; null means {@code DATA_DIR/tls}. */
  public String getTlsDir() {
    return tlsDir;
  }

  public NodeOptions setTlsDir(String tlsDir) {
    this.tlsDir = tlsDir == null || tlsDir.isBlank() ? null : tlsDir;
    return this;
  }

  /** Password of the PKCS12 stores; null means the {@code store.pass} file beside them. */
  public String getTlsPassword() {
    return tlsPassword;
  }

  public NodeOptions setTlsPassword(String tlsPassword) {
    this.tlsPassword = tlsPassword == null || tlsPassword.isEmpty() ? null : tlsPassword;
    return this;
  }

  public List<String> getSeedPaths() {
    return seedPaths;
  }

  public NodeOptions setSeedPaths(List<String> seedPaths) {
    this.seedPaths = seedPaths == null ? new ArrayList<>() : new ArrayList<>(seedPaths.stream().filter(s -> !s.isBlank()).toList());
    return this;
  }

  public String getEmbeddingVariant() {
    return embeddingVariant;
  }

  /** The variant that {@code /v1/embeddings} serves; null leaves the embedding verticle's own default. */
  public NodeOptions setEmbeddingVariant(String embeddingVariant) {
    this.embeddingVariant = embeddingVariant == null || embeddingVariant.isBlank() ? null : embeddingVariant;
    return this;
  }

  public String getKnowledgeEmbeddingVariant() {
    return knowledgeEmbeddingVariant;
  }

  /** The variant the knowledge store embeds with; null leaves the knowledge verticle's own default. */
  public NodeOptions setKnowledgeEmbeddingVariant(String variant) {
    this.knowledgeEmbeddingVariant = variant == null || variant.isBlank() ? null : variant;
    return this;
  }

  public String getOptimizationLevel() {
    return optimizationLevel;
  }

  /** low, medium or high: the worker's graph optimizations, threads and model variant (high: int4 where present). */
  public NodeOptions setOptimizationLevel(String level) {
    this.optimizationLevel = oneOf("optimizationLevel", level, OPTIMIZATION_LEVELS);
    return this;
  }

  public String getModelVariant() {
    return modelVariant;
  }

  /** auto, fp32, int8 or int4: the model file the worker serves where a folder has it (auto: as the level says). */
  public NodeOptions setModelVariant(String variant) {
    this.modelVariant = oneOf("modelVariant", variant, MODEL_VARIANTS);
    return this;
  }

  public String getDevice() {
    return device;
  }

  /** The worker's execution provider: auto, cpu, cuda, coreml or directml. */
  public NodeOptions setDevice(String device) {
    this.device = oneOf("device", device, DEVICES);
    return this;
  }

  public String getKvCache() {
    return kvCache;
  }

  public int getHttpEventLoops() {
    return httpEventLoops;
  }

  /** Event loops of the gateway's HTTP server; 0: one per core, at most eight. */
  public NodeOptions setHttpEventLoops(int httpEventLoops) {
    this.httpEventLoops = inRange("httpEventLoops", httpEventLoops, 64, "one per core");
    return this;
  }

  public int getDecodeLanes() {
    return decodeLanes;
  }

  /** Decode loops the worker runs per model side by side; 0: one per core for a tiny model, else one. */
  public NodeOptions setDecodeLanes(int decodeLanes) {
    this.decodeLanes = inRange("decodeLanes", decodeLanes, 64, "sized to the model and cores");
    return this;
  }

  public int getWarmUpStreams() {
    return warmUpStreams;
  }

  /** Streams the node sends itself before READY (0: none; only a node with the gateway and worker roles does). */
  public NodeOptions setWarmUpStreams(int warmUpStreams) {
    this.warmUpStreams = inRange("warmUpStreams", warmUpStreams, 100_000, "no warm-up");
    return this;
  }

  public int getPromptCacheMb() {
    return promptCacheMb;
  }

  /** The worker's prompt cache per model, in MiB (0: none; see the worker's {@code promptCacheMb}). */
  public NodeOptions setPromptCacheMb(int promptCacheMb) {
    this.promptCacheMb = inRange("promptCacheMb", promptCacheMb, 1 << 20, "no prompt cache");
    return this;
  }

  public int getPrefillSliceMs() {
    return prefillSliceMs;
  }

  /** A long prompt's prefill runs in slices of about this many ms, streams stepping between (0: all at once). */
  public NodeOptions setPrefillSliceMs(int prefillSliceMs) {
    this.prefillSliceMs = inRange("prefillSliceMs", prefillSliceMs, 60_000, "every prompt at once");
    return this;
  }

  public int getPrefillFirstMs() {
    return prefillFirstMs;
  }

  /**
   * While requests keep arriving, the running streams' next step waits up to this many ms for the newcomers' first
   * tokens (0: never; see the worker's {@code prefillFirstMs}).
   */
  public NodeOptions setPrefillFirstMs(int prefillFirstMs) {
    this.prefillFirstMs = inRange("prefillFirstMs", prefillFirstMs, 10_000, "never");
    return this;
  }

  public int getAffinitySlack() {
    return affinitySlack;
  }

  /**
   * The router keeps a prompt with the worker its beginning belongs to while that one holds at most this many more
   * requests than the least loaded (0: the least loaded always).
   */
  public NodeOptions setAffinitySlack(int affinitySlack) {
    this.affinitySlack = inRange("affinitySlack", affinitySlack, 100_000, "the least loaded worker always");
    return this;
  }

  /** in-place or standard: which decoder graph the worker serves (see {@link #KV_CACHES}). */
  public NodeOptions setKvCache(String kvCache) {
    this.kvCache = oneOf("kvCache", kvCache, KV_CACHES);
    return this;
  }

  /** {@code value} when it is in 0..max, else the reason; {@code zero} says what 0 means. */
  private static int inRange(String name, int value, int max, String zero) {
    if (value < 0 || value > max) {
      throw new IllegalArgumentException(name + " must be in 0.." + max + " (0: " + zero + "), got " + value);
    }
    return value;
  }

  private static String oneOf(String name, String value, List<String> allowed) {
    String v = value == null ? "" : value.trim().toLowerCase(java.util.Locale.ROOT);
    if (!allowed.contains(v)) {
      throw new IllegalArgumentException(name + " must be one of " + String.join(", ", allowed) + ", got '" + value + "'");
    }
    return v;
  }
}
