package ai.companion.gateway;

import io.vertx.core.json.JsonObject;

/**
 * Configuration of the gateway role. Defaults are the {@code DEFAULT_*} constants; setters reject nonsense so
 * that a bad config fails the deployment, not the first request.
 */
public class GatewayOptions {

  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_HTTP_PORT = 8080;
  /** The gRPC door ({@code companion.v1.Assistant}); 0 binds any free port. */
  public static final int DEFAULT_GRPC_PORT = 9090;
  public static final String DEFAULT_NODE_NAME = "node";
  /** Largest request body accepted; bigger bodies get 413. */
  public static final long DEFAULT_MAX_BODY_BYTES = 4L * 1024 * 1024;
  /**
   * Bus request timeout (router, worker accept, embeddings) and the longest silence allowed from a worker that
   * streams before the gateway declares it lost and fails over.
   */
  public static final long DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
  /** How often a streaming call checks that its worker is still in the registry. */
  public static final long DEFAULT_WORKER_CHECK_INTERVAL_MS = 500;
  /** How many times one request may move to another worker after losing one. */
  public static final int DEFAULT_MAX_FAILOVERS = 2;
  /**
   * Stream events held for one request while its client reads slowly (the consumer is paused). A generation is
   * bounded by the model's context, so this bounds memory per request; beyond it the request fails.
   */
  public static final int DEFAULT_STREAM_BUFFER_EVENTS = 16_384;
  /**
   * Event loops serving HTTP (REST, SSE, WebSocket; connections are spread over them). 0: one per core, at most
   * {@link #MAX_AUTO_HTTP_EVENT_LOOPS}.
   */
  public static final int DEFAULT_HTTP_EVENT_LOOPS = 0;
  public static final int MAX_AUTO_HTTP_EVENT_LOOPS = 8;

  private String host = DEFAULT_HOST;
  private int httpPort = DEFAULT_HTTP_PORT;
  private int grpcPort = DEFAULT_GRPC_PORT;
  private String nodeName = DEFAULT_NODE_NAME;
  private long maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  private long requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  private long workerCheckIntervalMs = DEFAULT_WORKER_CHECK_INTERVAL_MS;
  private int maxFailovers = DEFAULT_MAX_FAILOVERS;
  private int streamBufferEvents = DEFAULT_STREAM_BUFFER_EVENTS;
  private int httpEventLoops = DEFAULT_HTTP_EVENT_LOOPS;

  public GatewayOptions() {}

  public GatewayOptions(GatewayOptions other) {
    this(other.toJson());
  }

  /** Reads the keys of {@link #toJson()}; absent keys keep their defaults, bad values throw. */
  public GatewayOptions(JsonObject json) {
    if (json == null) return;
    setHost(json.getString("host", DEFAULT_HOST));
    setHttpPort(json.getInteger("httpPort", DEFAULT_HTTP_PORT));
    setGrpcPort(json.getInteger("grpcPort", DEFAULT_GRPC_PORT));
    setNodeName(json.getString("nodeName", DEFAULT_NODE_NAME));
    setMaxBodyBytes(json.getLong("maxBodyBytes", DEFAULT_MAX_BODY_BYTES));
    setRequestTimeoutMs(json.getLong("requestTimeoutMs", DEFAULT_REQUEST_TIMEOUT_MS));
    setWorkerCheckIntervalMs(json.getLong("workerCheckIntervalMs", DEFAULT_WORKER_CHECK_INTERVAL_MS));
    setMaxFailovers(json.getInteger("maxFailovers", DEFAULT_MAX_FAILOVERS));
    setStreamBufferEvents(json.getInteger("streamBufferEvents", DEFAULT_STREAM_BUFFER_EVENTS));
    setHttpEventLoops(json.getInteger("httpEventLoops", DEFAULT_HTTP_EVENT_LOOPS));
  }

  public JsonObject toJson() {
    return new JsonObject().put("host", host).put("httpPort", httpPort).put("grpcPort", grpcPort)
        .put("nodeName", nodeName)
        .put("maxBodyBytes", maxBodyBytes).put("requestTimeoutMs", requestTimeoutMs)
        .put("workerCheckIntervalMs", workerCheckIntervalMs).put("maxFailovers", maxFailovers)
        .put("streamBufferEvents", streamBufferEvents).put("httpEventLoops", httpEventLoops);
  }

  public String getHost() { return host; }

  public GatewayOptions setHost(String host) {
    if (host == null || host.isBlank()) throw new IllegalArgumentException("host must not be blank");
    this.host = host;
    return this;
  }

  public int getHttpPort() { return httpPort; }

  /** 0 binds any free port; the bound port is published in the local map {@code companion.node}. */
  public GatewayOptions setHttpPort(int httpPort) {
    if (httpPort < 0 || httpPort > 65535) {
      throw new IllegalArgumentException("httpPort must be in 0..65535, got " + httpPort);
    }
    this.httpPort = httpPort;
    return this;
  }

  public int getGrpcPort() { return grpcPort; }

  /** 0 binds any free port; the bound port is published in the local map {@code companion.node}. */
  public GatewayOptions setGrpcPort(int grpcPort) {
    if (grpcPort < 0 || grpcPort > 65535) {
      throw new IllegalArgumentException("grpcPort must be in 0..65535, got " + grpcPort);
    }
    this.grpcPort = grpcPort;
    return this;
  }

  public String getNodeName() { return nodeName; }

  public GatewayOptions setNodeName(String nodeName) {
    if (nodeName == null || nodeName.isBlank()) throw new IllegalArgumentException("nodeName must not be blank");
    this.nodeName = nodeName;
    return this;
  }

  public long getMaxBodyBytes() { return maxBodyBytes; }

  public GatewayOptions setMaxBodyBytes(long maxBodyBytes) {
    if (maxBodyBytes < 1024) throw new IllegalArgumentException("maxBodyBytes must be >= 1024, got " + maxBodyBytes);
    this.maxBodyBytes = maxBodyBytes;
    return this;
  }

  public long getRequestTimeoutMs() { return requestTimeoutMs; }

  public GatewayOptions setRequestTimeoutMs(long requestTimeoutMs) {
    if (requestTimeoutMs < 100) {
      throw new IllegalArgumentException("requestTimeoutMs must be >= 100, got " + requestTimeoutMs);
    }
    this.requestTimeoutMs = requestTimeoutMs;
    return this;
  }

  public long getWorkerCheckIntervalMs() { return workerCheckIntervalMs; }

  public GatewayOptions setWorkerCheckIntervalMs(long workerCheckIntervalMs) {
    if (workerCheckIntervalMs < 10) {
      throw new IllegalArgumentException("workerCheckIntervalMs must be >= 10, got " + workerCheckIntervalMs);
    }
    this.workerCheckIntervalMs = workerCheckIntervalMs;
    return this;
  }

  public int getMaxFailovers() { return maxFailovers; }

  public GatewayOptions setMaxFailovers(int maxFailovers) {
    if (maxFailovers < 0) throw new IllegalArgumentException("maxFailovers must be >= 0, got " + maxFailovers);
    this.maxFailovers = maxFailovers;
    return this;
  }

  public int getStreamBufferEvents() { return streamBufferEvents; }

  public GatewayOptions setStreamBufferEvents(int streamBufferEvents) {
    if (streamBufferEvents < 16) {
      throw new IllegalArgumentException("streamBufferEvents must be >= 16, got " + streamBufferEvents);
    }
    this.streamBufferEvents = streamBufferEvents;
    return this;
  }

  public int getHttpEventLoops() { return httpEventLoops; }

  /** The event loops the HTTP server runs on: the configured count, or one per core (at most 8) for 0. */
  public int resolvedHttpEventLoops() {
    return httpEventLoops > 0 ? httpEventLoops
        : Math.max(1, Math.min(MAX_AUTO_HTTP_EVENT_LOOPS, Runtime.getRuntime().availableProcessors()));
  }

  public GatewayOptions setHttpEventLoops(int httpEventLoops) {
    if (httpEventLoops < 0 || httpEventLoops > 64) {
      throw new IllegalArgumentException("httpEventLoops must be in 0..64 (0: one per core), got " + httpEventLoops);
    }
    this.httpEventLoops = httpEventLoops;
    return this;
  }
}
