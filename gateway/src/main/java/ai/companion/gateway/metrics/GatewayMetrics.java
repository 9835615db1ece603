package ai.companion.gateway.metrics;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.StreamEvent;
import ai.companion.api.WorkerInfo;
import ai.companion.gateway.security.GatewaySecurity;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryContext;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.RoutingContext;
import io.vertx.core.spi.cluster.ClusterManager;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's Prometheus metrics, served at {@code /metrics}.
 *
 * <p>Generation figures (time to first token, tokens generated, tokens/s per model) are observed on the event
 * bus itself, with an outbound interceptor (a generation request leaving for the router or a worker) and an
 * inbound one (its {@link StreamEvent}s arriving): every door (REST, WebSocket, gRPC) is measured the same way
 * without each one reporting. Interceptors run on the sending or receiving thread, so they only record
 * numbers. Queue depth comes from the workers' status broadcasts, cluster size from the cluster manager and
 * knowledge coverage from the knowledge service, asked at scrape time.
 */
public final class GatewayMetrics {
  private static final Logger LOG = LoggerFactory.getLogger(GatewayMetrics.class);

  public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  /** Generations whose stream never ended are forgotten after this long. */
  private static final long STALE_NANOS = TimeUnit.MINUTES.toNanos(15);

  private final Vertx vertx;
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  /**
   * Where a node's own warm-up requests are recorded: a registry nobody scrapes. They stay out of the figures, and
   * the code that records a request's figures is compiled by them like the rest of the request's path.
   */
  private final PrometheusMeterRegistry warmUpRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<String, Inflight> inflight = new ConcurrentHashMap<>();
  private final Map<String, WorkerInfo> workers = new ConcurrentHashMap<>();
  private final Map<String, AtomicLong> lastTokensPerSecond = new ConcurrentHashMap<>();
  private volatile double coverageValue = Double.NaN;
  private final AtomicLong websockets = new AtomicLong();
  /** The knowledge service's counts besides coverage, as {@code companion_knowledge_<name>}. */
  private static final java.util.List<String> KNOWLEDGE_FIGURES = java.util.List.of("documents", "chunks",
      "questions", "open_gaps");
  private final Map<String, Double> knowledgeFigures = new ConcurrentHashMap<>();
  private final Handler<DeliveryContext<Object>> outbound = this::onOutbound;
  private final Handler<DeliveryContext<Object>> inbound = this::onInbound;
  private MessageConsumer<JsonObject> statusConsumer;
  private long sweepTimer = -1;

  private static final class Inflight {
    final long startNanos = System.nanoTime();
    final boolean warmUp;
    volatile String model;
    volatile long firstTokenNanos;
    Inflight(String model, boolean warmUp) {
      this.model = model;
      this.warmUp = warmUp;
    }
  }

  public GatewayMetrics(Vertx vertx) {
    this.vertx = vertx;
    Gauge.builder("companion_queue_depth", workers, w -> w.values().stream().mapToInt(WorkerInfo::queuedRequests).sum())
        .description("Requests waiting for a generation slot, summed over the live workers this node has heard of")
        .register(registry);
    Gauge.builder("companion_active_sequences", workers,
            w -> w.values().stream().mapToInt(WorkerInfo::activeSequences).sum())
        .description("Sequences generating now, summed over the live workers").register(registry);
    FunctionCounter.builder("companion_prompt_cache_tokens", workers,
            w -> w.values().stream().mapToLong(WorkerInfo::promptCacheTokens).sum())
        .description("Prompt tokens the live workers' prompt caches gave (copied, not run) since they started")
        .register(registry);
    Gauge.builder("companion_cluster_size", this, GatewayMetrics::clusterSize)
        .description("Members of this node's cluster (1 when not clustered)").register(registry);
    Gauge.builder("companion_knowledge_coverage", this, m -> m.coverageValue)
        .description("Share of recent questions with a good knowledge hit (NaN until the knowledge service answers)")
        .register(registry);
    for (String key : KNOWLEDGE_FIGURES) {
      Gauge.builder("companion_knowledge_" + key, knowledgeFigures, f -> f.getOrDefault(key, Double.NaN))
          .description("Knowledge store: " + key.replace('_', ' ') + " (at the last scrape)").register(registry);
    }
    Gauge.builder("companion_generations_inflight", inflight, m -> m.values().stream().filter(f -> !f.warmUp).count())
        .description("Generations started through this gateway and not finished").register(registry);
    Gauge.builder("companion_websocket_connections", websockets, AtomicLong::get)
        .description("Open WebSocket connections on /v1/chat/stream").register(registry);
  }

  public PrometheusMeterRegistry registry() { return registry; }

  /** Installs the bus interceptors and the worker-status listener. */
  public Future<Void> start() {
    vertx.eventBus().addOutboundInterceptor(outbound);
    vertx.eventBus().addInboundInterceptor(inbound);
    statusConsumer = vertx.eventBus().consumer(Addresses.WORKER_STATUS, msg -> {
      try {
        WorkerInfo w = WorkerInfo.fromJson(msg.body());
        workers.put(w.workerId(), w);
      } catch (RuntimeException e) {
        LOG.debug("unreadable worker status ignored: {}", e.toString());
      }
    });
    sweepTimer = vertx.setPeriodic(60_000, id -> sweep());
    return statusConsumer.completion();
  }

  public Future<Void> stop() {
    vertx.eventBus().removeOutboundInterceptor(outbound);
    vertx.eventBus().removeInboundInterceptor(inbound);
    if (sweepTimer >= 0) vertx.cancelTimer(sweepTimer);
    registry.close();
    warmUpRegistry.close();
    return statusConsumer == null ? Future.succeededFuture() : statusConsumer.unregister();
  }

  /** Router handler, first on every route: counts each request by route and status with its latency. */
  public Handler<RoutingContext> requestHandler() {
    return ctx -> {
      long start = System.nanoTime();
      ctx.addEndHandler(ar -> {
        String route = routeLabel(ctx);
        String status = Integer.toString(ctx.response().getStatusCode());
        Timer.builder("companion_http_requests")
            .description("HTTP requests by route, method and status, with latency (for streams: until the last byte)")
            .tags("route", route, "method", ctx.request().method().name(), "status", status)
            .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
            .maximumExpectedValue(Duration.ofMinutes(5))
            .register(GatewaySecurity.isWarmUp(ctx) ? warmUpRegistry : registry)
            .record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
      });
      ctx.next();
    };
  }

  /** {@code GET /metrics}: refreshes the figures asked for at scrape time, then writes the text format. */
  public Handler<RoutingContext> scrapeHandler() {
    return ctx -> refreshCoverage().onComplete(ar -> ctx.response()
        .putHeader(HttpHeaders.CONTENT_TYPE, CONTENT_TYPE).end(registry.scrape()));
  }

  /** Counts gRPC calls by method and status (the gRPC door reports them; HTTP ones count themselves). */
  public void grpcCall(String method, String status, long nanos) {
    Timer.builder("companion_grpc_requests").description("gRPC calls by method and status, with latency")
        .tags("method", method, "status", status).publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
        .register(registry).record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Counts WebSocket requests (frames that asked for a generation) by outcome. */
  public void websocketRequest(String outcome) {
    Counter.builder("companion_websocket_requests").description("Chat requests received over WebSocket, by outcome")
        .tag("outcome", outcome).register(registry).increment();
  }

  /** A door paused a generation because its client's write queue was full (backpressure at work). */
  public void streamPaused(String door) {
    Counter.builder("companion_stream_pauses").description("Generations paused for a slow client, by door")
        .tag("door", door).register(registry).increment();
  }

  public void websocketOpened() { websockets.incrementAndGet(); }

  public void websocketClosed() { websockets.decrementAndGet(); }

  // --- generation figures, from the bus

  private void onOutbound(DeliveryContext<Object> dc) {
    try {
      String address = dc.message().address();
      if (Addresses.ROUTER_ROUTE.equals(address) || address.startsWith(Addresses.WORKER_GENERATE_PREFIX)) {
        // two fields, read in place: every generation passes here twice
        JsonObject req = dc.body() instanceof JsonObject j && j.containsKey("streamAddress") ? j : null;
        String requestId = req == null ? null : req.getString("requestId");
        if (requestId != null) {
          String model = address.startsWith(Addresses.WORKER_GENERATE_PREFIX) ? req.getString("model") : null;
          Inflight f = inflight.computeIfAbsent(requestId, id -> new Inflight(model, warmUp(req)));
          if (model != null) f.model = model;
        }
      }
    } catch (RuntimeException e) {
      LOG.debug("metrics: outbound message not understood: {}", e.toString());
    } finally {
      dc.next();
    }
  }

  private static boolean warmUp(JsonObject request) {
    return request.getValue("hints") instanceof JsonObject hints && hints.containsKey(GenerationRequest.HINT_WARM_UP);
  }

  private void onInbound(DeliveryContext<Object> dc) {
    try {
      String address = dc.message().address();
      if (address != null && address.startsWith(Addresses.STREAM_PREFIX)) {
        for (JsonObject ev : StreamEvent.eventsOf(dc.body())) onStreamEvent(ev);
      }
    } catch (RuntimeException e) {
      LOG.debug("metrics: stream event not understood: {}", e.toString());
    } finally {
      dc.next();
    }
  }

  /** One stream event, read in place (every token passes here): only its request id, type and final counts. */
  private void onStreamEvent(JsonObject ev) {
    String requestId = ev.getString("requestId");
    Inflight f = requestId == null ? null : inflight.get(requestId);
    if (f == null) return;
    String typeName = ev.getString("type");
    StreamEvent.Type type = "TOKEN".equals(typeName) ? StreamEvent.Type.TOKEN
        : "DONE".equals(typeName) ? StreamEvent.Type.DONE : "ERROR".equals(typeName) ? StreamEvent.Type.ERROR : null;
    if (type == null) return;
    long now = System.nanoTime();
    String model = f.model == null ? "unknown" : f.model;
    PrometheusMeterRegistry registry = f.warmUp ? warmUpRegistry : this.registry;
    if (f.firstTokenNanos == 0 && (type == StreamEvent.Type.TOKEN || type == StreamEvent.Type.DONE)) {
      f.firstTokenNanos = now;
      Timer.builder("companion_time_to_first_token").description("From a generation's start to its first token, per model")
          .tag("model", model).publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
          .maximumExpectedValue(Duration.ofMinutes(2)).register(registry)
          .record(now - f.startNanos, TimeUnit.NANOSECONDS);
    }
    if (type == StreamEvent.Type.TOKEN) return;
    inflight.remove(requestId);
    String outcome = type == StreamEvent.Type.DONE ? "done" : "error";
    Counter.builder("companion_generations").description("Generations finished, by model and outcome")
        .tags("model", model, "outcome", outcome).register(registry).increment();
    if (type != StreamEvent.Type.DONE) return;
    int tokens = ev.getInteger("completionTokens", 0);
    Counter.builder("companion_tokens_generated").description("Tokens generated, per model")
        .tag("model", model).register(registry).increment(tokens);
    Counter.builder("companion_prompt_tokens").description("Prompt tokens read, per model")
        .tag("model", model).register(registry).increment(ev.getInteger("promptTokens", 0));
    double seconds = (now - f.firstTokenNanos) / 1e9;
    if (tokens > 1 && seconds > 0) {
      double rate = (tokens - 1) / seconds; // decode rate: tokens after the first over the time after it
      DistributionSummary.builder("companion_tokens_per_second").description("Decode speed per generation, per model")
          .tag("model", model).publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(100_000.0)
          .register(registry).record(rate);
      if (f.warmUp) return;
      AtomicLong last = lastTokensPerSecond.computeIfAbsent(model, m -> {
        AtomicLong v = new AtomicLong();
        Gauge.builder("companion_tokens_per_second_last", v, x -> Double.longBitsToDouble(x.get()))
            .description("Decode speed of the latest generation, per model").tag("model", m).register(this.registry);
        return v;
      });
      last.set(Double.doubleToLongBits(rate));
    }
  }

  private void sweep() {
    long now = System.nanoTime();
    inflight.values().removeIf(f -> now - f.startNanos > STALE_NANOS);
    long cutoff = System.currentTimeMillis() - 60_000;
    workers.values().removeIf(w -> w.updatedAt() > 0 && w.updatedAt() < cutoff);
  }

  // --- scrape-time figures

  private double clusterSize() {
    ClusterManager cm = vertx instanceof VertxInternal vi ? vi.clusterManager() : null;
    if (cm == null) return 1;
    try {
      return cm.getNodes().size();
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }

  /** Asks the knowledge service for its figures ({@link Addresses#KNOWLEDGE_STATS}); never fails the scrape. */
  private Future<Void> refreshCoverage() {
    return vertx.eventBus().<JsonObject>request(Addresses.KNOWLEDGE_STATS, new JsonObject(),
            new DeliveryOptions().setSendTimeout(1000))
        .map(msg -> {
          JsonObject stats = msg.body() == null ? new JsonObject() : msg.body();
          if (stats.getValue("coverage") instanceof Number n) coverageValue = n.doubleValue();
          for (String key : KNOWLEDGE_FIGURES) {
            if (stats.getValue(key) instanceof Number n) knowledgeFigures.put(key, n.doubleValue());
          }
          return (Void) null;
        })
        .otherwise(t -> null);
  }

  /** The API's paths: a request to one of these is labelled with it even when a filter answered it (401, 429). */
  private static final java.util.Set<String> KNOWN_PATHS = java.util.Set.of("/v1/models", "/v1/completions",
      "/v1/chat/completions", "/v1/embeddings", "/v1/chat/stream", "/v1/cluster/nodes", "/v1/feedback",
      "/v1/knowledge/documents", "/v1/knowledge/search", "/v1/knowledge/gaps", "/v1/knowledge/patterns",
      "/health/live", "/health/ready", "/metrics", "/");

  static String routeLabel(RoutingContext ctx) {
    String normalized = ctx.normalizedPath();
    if (KNOWN_PATHS.contains(normalized)) return normalized;
    Route r = ctx.currentRoute();
    String p = r == null ? null : r.getPath();
    if (p == null || p.isEmpty()) {
      String path = ctx.normalizedPath();
      // no matched route: keep the label set small, never one series per URL
      return path.startsWith("/v1/") ? "/v1/other" : "other";
    }
    return p;
  }
}
