package ai.companion.gateway;

import ai.companion.gateway.impl.CompletionsEndpoint;
import ai.companion.gateway.impl.EmbeddingsEndpoint;
import ai.companion.gateway.impl.Failures;
import ai.companion.gateway.impl.FlushCoalescing;
import ai.companion.gateway.impl.InfoEndpoints;
import ai.companion.gateway.impl.KnowledgeEndpoints;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.BodyHandler;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway role: OpenAI-compatible HTTP (JSON and Server-Sent Events) in front of the router, the workers and
 * the embedding model, all reached over the event bus. Requests are validated here, once, into the api records;
 * every failure is written by {@link Failures} in OpenAI's error shape.
 *
 * <p>Once bound, the actual port is put under {@code httpPort} in the local map {@code companion.node}.
 */
public class GatewayVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(GatewayVerticle.class);
  private static final AtomicInteger RANDOM_PORT_KEYS = new AtomicInteger();

  private GatewayOptions options;
  private HttpServer server;
  private GatewayDoors doors;

  @Override
  public Future<?> start() {
    try {
      options = new GatewayOptions(config());
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    Router router = Router.router(vertx);
    InfoEndpoints info = new InfoEndpoints(vertx, options);
    CompletionsEndpoint completions = new CompletionsEndpoint(vertx, options);
    EmbeddingsEndpoint embeddings = new EmbeddingsEndpoint(vertx, options);

    doors = new GatewayDoors(vertx, options, config());
    doors.mountFirst(router);
    router.route().handler(BodyHandler.create(false).setBodyLimit(options.getMaxBodyBytes()));
    router.get("/health/live").handler(info::live);
    router.get("/health/ready").handler(info::ready);
    router.get("/v1/models").handler(info::models);
    router.get("/v1/cluster/nodes").handler(info::clusterNodes);
    router.post("/v1/completions").handler(completions::completions);
    router.post("/v1/chat/completions").handler(completions::chat);
    router.post("/v1/embeddings").handler(embeddings::embeddings);
    KnowledgeEndpoints knowledge = new KnowledgeEndpoints(vertx, options);
    router.post("/v1/knowledge/documents").handler(knowledge::ingest);
    router.get("/v1/knowledge/search").handler(knowledge::search);
    router.get("/v1/knowledge/gaps").handler(knowledge::gaps);
    router.get("/v1/knowledge/patterns").handler(knowledge::patterns);
    router.post("/v1/feedback").handler(knowledge::feedback);

    doors.mountLast(router);
    router.route().failureHandler(Failures::handle);
    for (int status : new int[] {400, 404, 405, 413, 500}) router.errorHandler(status, Failures::handle);

    int loops = options.resolvedHttpEventLoops();
    List<HttpServer> servers = new CopyOnWriteArrayList<>();
    int port = sharedPort();
    return vertx.deployVerticle(() -> new VerticleBase() {
          @Override
          public Future<?> start() {
            return listen(router, port).onSuccess(servers::add);
          }
        }, new DeploymentOptions().setInstances(loops))
        .compose(id -> doors.start().map(grpcPort -> servers.get(0))
            .recover(err -> vertx.undeploy(id).transform(closed -> Future.<HttpServer>failedFuture(err))))
        .onSuccess(s -> {
          server = s;
          vertx.sharedData().getLocalMap(InfoEndpoints.NODE_MAP).put("httpPort", s.actualPort());
          LOG.info("Gateway of node {} listening on {}:{} ({} event loop(s))", options.getNodeName(),
              options.getHost(), s.actualPort(), loops);
        });
  }

  /**
   * An HTTP server on the current context's event loop, routing to the one shared router. One per HTTP event loop,
   * all on the same port (a random one shared by all for port 0): Vert.x spreads the port's connections over
   * them, so request parsing and SSE writes use more than one core. Every handler behind the router is safe on
   * several loops (per-loop stream sinks and registry watches; concurrent limits and metrics). The servers'
   * verticles are a child deployment, undeployed with this verticle.
   */
  private Future<HttpServer> listen(Router router, int port) {
    return vertx.createHttpServer(new HttpServerOptions().setHost(options.getHost()).setPort(port)
            .setCompressionSupported(false))
        .connectionHandler(FlushCoalescing::install)
        .requestHandler(router)
        .listen();
  }

  /**
   * The port every loop's server names. Vert.x shares a port between servers that name the same one; port 0 binds
   * a random port per server, while a negative port binds one random port shared by all servers that name the
   * same negative number (numbered per gateway, so two gateways in one Vert.x do not share).
   */
  private int sharedPort() {
    return options.getHttpPort() != 0 ? options.getHttpPort() : -RANDOM_PORT_KEYS.incrementAndGet();
  }

  @Override
  public Future<?> stop() {
    // the HTTP servers close with their child deployment
    return doors == null ? Future.succeededFuture() : doors.stop();
  }

  /** The bound port (after start), for tests and the launcher. */
  public int actualPort() {
    return server == null ? -1 : server.actualPort();
  }
}
