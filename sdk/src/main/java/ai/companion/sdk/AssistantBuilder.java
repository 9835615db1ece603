package ai.companion.sdk;

import ai.companion.sdk.impl.EmbeddedNode;
import ai.companion.sdk.impl.GrpcAssistant;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * The three steps: pick a model, say where it runs, deploy.
 *
 * <pre>{@code
 * Assistant local = AssistantBuilder.modelType("stories260k").device("auto")
 *     .optimizationLevel(OptimizationLevel.HIGH).deploy();              // a node inside this JVM
 * Assistant remote = AssistantBuilder.remote("gpu-box:9090").modelType("stories260k")
 *     .apiKey(System.getenv("COMPANION_API_KEY")).deploy();             // a cluster's gateway over gRPC
 * }</pre>
 *
 * <p>Embedded, the node serves every model in its data dir ({@code ~/.companion} unless {@link #dataDir} says
 * otherwise); {@link #importModel} converts a llama2.c checkpoint into it first when the model is not there yet.
 * Its HTTP and gRPC servers listen on free loopback ports only.
 */
public final class AssistantBuilder {

  public static final double DEFAULT_TEMPERATURE = 0.0;
  public static final int DEFAULT_MAX_TOKENS = 256;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(2);

  private String model;
  private String remote;
  private String device = "auto";
  private OptimizationLevel optimizationLevel = OptimizationLevel.HIGH;
  private Path dataDir;
  private Path importCheckpoint;
  private Path importTokenizer;
  private String apiKey;
  private double temperature = DEFAULT_TEMPERATURE;
  private int maxTokens = DEFAULT_MAX_TOKENS;
  private Long seed;
  private Duration timeout = DEFAULT_TIMEOUT;

  private AssistantBuilder() {}

  /** An assistant on this model ({@code "auto"} lets the router choose); model ids match case-insensitively. */
  public static AssistantBuilder modelType(String model) {
    return new AssistantBuilder().model(model);
  }

  /** An assistant on a running cluster: its gateway's gRPC {@code host:port} (default port 9090). */
  public static AssistantBuilder remote(String hostPort) {
    AssistantBuilder b = new AssistantBuilder().model("auto");
    if (hostPort == null || hostPort.isBlank()) throw new IllegalArgumentException("remote needs host:port");
    b.remote = hostPort.contains(":") ? hostPort : hostPort + ":9090";
    return b;
  }

  public AssistantBuilder model(String model) {
    if (model == null || model.isBlank()) throw new IllegalArgumentException("model must not be blank");
    this.model = model;
    return this;
  }

  /** {@code auto} (best available, logged), {@code cpu}, {@code cuda} or {@code coreml}; embedded only. */
  public AssistantBuilder device(String device) {
    String d = device == null ? "" : device.trim().toLowerCase(Locale.ROOT);
    if (!java.util.Set.of("auto", "cpu", "cuda", "coreml").contains(d)) {
      throw new IllegalArgumentException("device must be auto, cpu, cuda or coreml, got " + device);
    }
    this.device = d;
    return this;
  }

  /** Embedded only. */
  public AssistantBuilder optimizationLevel(OptimizationLevel level) {
    this.optimizationLevel = Objects.requireNonNull(level, "optimizationLevel");
    return this;
  }

  /** The embedded node's data dir (models under {@code models/}). */
  public AssistantBuilder dataDir(Path dataDir) {
    this.dataDir = Objects.requireNonNull(dataDir, "dataDir");
    return this;
  }

  /** Embedded: convert this llama2.c checkpoint (and tokenizer) into the data dir under the model's name if absent. */
  public AssistantBuilder importModel(Path checkpoint, Path tokenizer) {
    this.importCheckpoint = Objects.requireNonNull(checkpoint, "checkpoint");
    this.importTokenizer = tokenizer;
    return this;
  }

  /** Remote: sent as {@code authorization: Bearer <key>}. */
  public AssistantBuilder apiKey(String apiKey) {
    this.apiKey = apiKey;
    return this;
  }

  /** 0 (the default) is greedy and deterministic. */
  public AssistantBuilder temperature(double temperature) {
    if (temperature < 0 || temperature > 2) throw new IllegalArgumentException("temperature must be in 0..2");
    this.temperature = temperature;
    return this;
  }

  public AssistantBuilder maxTokens(int maxTokens) {
    if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be >= 1");
    this.maxTokens = maxTokens;
    return this;
  }

  public AssistantBuilder seed(long seed) {
    this.seed = seed;
    return this;
  }

  /** How long {@link #deploy()} and a blocking {@link Assistant#ask} wait at most. */
  public AssistantBuilder timeout(Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout > 0");
    this.timeout = timeout;
    return this;
  }

  /**
   * Starts the embedded node (or connects to the remote one), checks that the model is served and returns the
   * assistant. Throws {@link AssistantException} when the node cannot start or does not serve the model.
   */
  public Assistant deploy() {
    GrpcAssistant.Settings settings = new GrpcAssistant.Settings(model, temperature, maxTokens, seed, apiKey, timeout);
    if (remote != null) {
      int colon = remote.lastIndexOf(':');
      String host = remote.substring(0, colon);
      int port;
      try {
        port = Integer.parseInt(remote.substring(colon + 1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("remote must be host:port, got " + remote);
      }
      return GrpcAssistant.connect(null, host, port, settings, null);
    }
    Path dir = dataDir != null ? dataDir : Path.of(System.getProperty("user.home"), ".companion");
    EmbeddedNode node = EmbeddedNode.start(dir, device, optimizationLevel.name().toLowerCase(Locale.ROOT),
        importCheckpoint, importTokenizer, model, timeout);
    return GrpcAssistant.connect(node.vertx(), "127.0.0.1", node.grpcPort(), settings, node);
  }
}
