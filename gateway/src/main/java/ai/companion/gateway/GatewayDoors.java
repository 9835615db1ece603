package ai.companion.gateway;

import ai.companion.gateway.grpc.AssistantGrpcServer;
import ai.companion.gateway.impl.InfoEndpoints;
import ai.companion.gateway.metrics.GatewayMetrics;
import ai.companion.gateway.security.GatewaySecurity;
import ai.companion.gateway.security.SecurityOptions;
import ai.companion.gateway.ws.ChatWebSocket;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.StaticHandler;

/**
 * Everything the gateway serves besides the OpenAI REST routes: keys and limits, CORS, {@code /metrics}, the
 * WebSocket chat, the web page at {@code /} and the gRPC server. {@link GatewayVerticle} mounts it in two
 * steps around its own routes and starts and stops it with itself.
 */
public final class GatewayDoors {

  /** Environment variable with the API keys, {@code key1:tenantA,key2:tenantB}, used when the config has none. */
  public static final String ENV_API_KEYS = "COMPANION_API_KEYS";

  private final Vertx vertx;
  private final GatewayOptions options;
  private final GatewaySecurity security;
  private final GatewayMetrics metrics;
  private final AssistantGrpcServer grpc;
  private final ChatWebSocket websocket;

  /** {@code config} is the gateway verticle's config: the security keys live beside {@link GatewayOptions}'. */
  public GatewayDoors(Vertx vertx, GatewayOptions options, JsonObject config) {
    this.vertx = vertx;
    this.options = options;
    JsonObject sec = config == null ? new JsonObject() : config.copy();
    if (!sec.containsKey("apiKeys") && System.getenv(ENV_API_KEYS) != null) {
      sec.put("apiKeys", System.getenv(ENV_API_KEYS));
    }
    this.security = new GatewaySecurity(new SecurityOptions(sec), () -> (String) vertx.sharedData()
        .getLocalMap(InfoEndpoints.NODE_MAP).get(GatewaySecurity.WARM_UP_TOKEN_KEY));
    this.metrics = new GatewayMetrics(vertx);
    this.grpc = new AssistantGrpcServer(vertx, options, security, metrics);
    this.websocket = new ChatWebSocket(vertx, options, security, metrics);
  }

  public GatewaySecurity security() { return security; }

  public GatewayMetrics metrics() { return metrics; }

  /** Before every other route (and before the body is read): request metrics, CORS, keys and limits. */
  public void mountFirst(Router router) {
    router.route().handler(metrics.requestHandler());
    router.route().handler(security.corsHandler());
    router.route().handler(security.httpHandler());
  }

  /** After the REST routes: {@code /metrics}, the WebSocket chat and the web page. */
  public void mountLast(Router router) {
    router.get("/metrics").handler(metrics.scrapeHandler());
    router.get(ChatWebSocket.PATH).handler(websocket.handler());
    // the page only: API paths must keep their own 404 and 405 answers
    router.routeWithRegex(HttpMethod.GET, "^/(?!v1/|health/|metrics).*").handler(StaticHandler.create("webroot").setIndexPage("index.html")
        .setCachingEnabled(false));
  }

  /** Starts the bus metrics and binds the gRPC port; completes once both are up. */
  public Future<Integer> start() {
    return metrics.start().compose(v -> grpc.start(options.getHost(), options.getGrpcPort()));
  }

  public Future<Void> stop() {
    return Future.join(grpc.stop(), metrics.stop()).mapEmpty();
  }
}
