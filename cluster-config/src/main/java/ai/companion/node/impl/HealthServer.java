package ai.companion.node.impl;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import java.util.function.BooleanSupplier;

/**
 * {@code GET /health/live} and {@code GET /health/ready} for a node without the gateway role (router, worker or
 * knowledge pods need probes too). Live: the process answers. Ready: every role is deployed and the node is a
 * cluster member.
 */
public final class HealthServer {
  private final Vertx vertx;
  private final BooleanSupplier ready;
  private HttpServer server;

  public HealthServer(Vertx vertx, BooleanSupplier ready) {
    this.vertx = vertx;
    this.ready = ready;
  }

  public Future<Integer> listen(String host, int port) {
    server = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port)).requestHandler(req -> {
      String path = req.path();
      if (!"GET".equals(req.method().name()) && !"HEAD".equals(req.method().name())) {
        req.response().setStatusCode(405).putHeader("allow", "GET, HEAD").end();
      } else if ("/health/live".equals(path)) {
        req.response().putHeader("content-type", "application/json").end("{\"status\":\"live\"}");
      } else if ("/health/ready".equals(path)) {
        boolean ok = ready.getAsBoolean();
        req.response().setStatusCode(ok ? 200 : 503).putHeader("content-type", "application/json")
            .end(ok ? "{\"status\":\"ready\"}" : "{\"status\":\"starting\"}");
      } else {
        req.response().setStatusCode(404).putHeader("content-type", "application/json")
            .end("{\"error\":{\"message\":\"this node has no gateway role; only /health/live and /health/ready\","
                + "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"not_found\"}}");
      }
    });
    return server.listen().map(HttpServer::actualPort);
  }
}
