package ai.companion.node.doors;

import ai.companion.api.Addresses;
import ai.companion.api.ModelPaths;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.GatewayVerticle;
import ai.companion.router.RouterVerticle;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalDouble;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real node in this JVM for the door tests: local (unclustered) Vert.x with the real router, inference worker,
 * embeddings, knowledge (when that module provides its verticle) and gateway, over a data dir into which the
 * stories260K fixture is imported with the real importer. HTTP and gRPC bind free loopback ports.
 */
final class DoorsNode implements AutoCloseable {

  static final String HOST = "127.0.0.1";
  static final String MODEL = "stories260K";
  static final String NODE_NAME = "doors-node";

  final Vertx vertx;
  final int httpPort;
  final int grpcPort;
  private final List<Throwable> unhandled;

  private DoorsNode(Vertx vertx, int httpPort, int grpcPort, List<Throwable> unhandled) {
    this.vertx = vertx;
    this.httpPort = httpPort;
    this.grpcPort = grpcPort;
    this.unhandled = unhandled;
  }

  /** Imports the fixture into {@code dataDir} and starts every role; {@code gatewayExtra} adds gateway config. */
  static DoorsNode start(Path dataDir, JsonObject gatewayExtra) throws Exception {
    ModelFixtures.checkpoint(MODEL);
    if (!Files.isDirectory(ModelPaths.modelsDir(dataDir).resolve(MODEL))) {
      ModelFixtures.importModel(MODEL, ModelPaths.modelsDir(dataDir));
    }
    Vertx vertx = Vertx.vertx();
    // a handler that throws on an event loop is a bug even when the test's own checks pass (a drain handler that
    // threw once left paused streams waiting for ever): the node's close fails the test class with it
    List<Throwable> unhandled = new CopyOnWriteArrayList<>();
    vertx.exceptionHandler(t -> {
      unhandled.add(t);
      System.err.println("Unhandled exception on a Vert.x context of the doors node:");
      t.printStackTrace();
    });
    JsonObject node = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", NODE_NAME);
    JsonObject gw = new GatewayOptions().setHost(HOST).setHttpPort(0).setGrpcPort(0).setNodeName(NODE_NAME)
        .toJson().put("dataDir", dataDir.toString());
    if (gatewayExtra != null) gw.mergeIn(gatewayExtra);
    GatewayVerticle gateway = new GatewayVerticle();
    Future<String> started = vertx.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(node))
        .compose(v -> vertx.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(node)))
        .compose(v -> vertx.deployVerticle(new EmbeddingVerticle(), new DeploymentOptions().setConfig(node)))
        .compose(v -> knowledge(vertx, node))
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(gw)));
    try {
      started.toCompletionStage().toCompletableFuture().get(180, TimeUnit.SECONDS);
    } catch (Exception e) {
      vertx.close();
      throw e;
    }
    int grpc = (Integer) vertx.sharedData().getLocalMap("companion.node").get("grpcPort");
    return new DoorsNode(vertx, gateway.actualPort(), grpc, unhandled);
  }

  /** The knowledge role (the web page's knowledge panel reads it). */
  private static Future<String> knowledge(Vertx vertx, JsonObject node) {
    return vertx.deployVerticle(new ai.companion.knowledge.KnowledgeVerticle(),
        new DeploymentOptions().setConfig(node.copy()));
  }

  String baseUrl() {
    return "http://" + HOST + ":" + httpPort;
  }

  String grpcTarget() {
    return HOST + ":" + grpcPort;
  }

  /** Plain HTTP/1.1 (no h2c upgrade dance), one client for every test. */
  static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newBuilder()
      .version(java.net.http.HttpClient.Version.HTTP_1_1).connectTimeout(java.time.Duration.ofSeconds(10)).build();

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
  }

  /** Every generation request this node sends to the router from now on (an outbound interceptor fills the list). */
  List<JsonObject> routedRequests() {
    List<JsonObject> routed = new CopyOnWriteArrayList<>();
    vertx.eventBus().addOutboundInterceptor(dc -> {
      if (Addresses.ROUTER_ROUTE.equals(dc.message().address()) && dc.body() instanceof JsonObject j) routed.add(j);
      dc.next();
    });
    return routed;
  }

  /**
   * The greedy answer of the REST API (not streamed) to one user message: what a door's stream of the same chat
   * must add up to.
   */
  String restGreedyChat(String content, int maxTokens) throws Exception {
    JsonObject body = new JsonObject().put("model", MODEL).put("temperature", 0).put("max_tokens", maxTokens)
        .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user")
            .put("content", content)));
    var rest = HTTP.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(baseUrl() + "/v1/chat/completions"))
        .header("Content-Type", "application/json").timeout(java.time.Duration.ofSeconds(60))
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body.encode())).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    if (rest.statusCode() != 200) throw new AssertionError("REST chat: " + rest.statusCode() + " " + rest.body());
    return new JsonObject(rest.body()).getJsonArray("choices").getJsonObject(0).getJsonObject("message")
        .getString("content");
  }

  /** The first sample of {@code name} in Prometheus text whose labels contain all of {@code labels}, if any. */
  static OptionalDouble sample(String metrics, String name, String... labels) {
    Matcher mt = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? (\\S+)$").matcher(metrics);
    while (mt.find()) {
      String l = mt.group(1) == null ? "" : mt.group(1);
      boolean all = true;
      for (String want : labels) all &= l.contains(want);
      if (all) return OptionalDouble.of(Double.parseDouble(mt.group(2)));
    }
    return OptionalDouble.empty();
  }

  /** The greedy 60-token text from BOS in the fixture's SOURCE.md. */
  static String oracle() throws Exception {
    return ModelFixtures.oracleText(MODEL);
  }

  @Override
  public void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    if (!unhandled.isEmpty()) {
      AssertionError e = new AssertionError(unhandled.size() + " unhandled exception(s) on the node's Vert.x "
          + "contexts, the first: " + unhandled.get(0));
      unhandled.forEach(e::addSuppressed);
      throw e;
    }
  }
}
