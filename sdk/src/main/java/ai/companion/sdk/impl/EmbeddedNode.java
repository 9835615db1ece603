package ai.companion.sdk.impl;

import ai.companion.api.ModelPaths;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.GatewayVerticle;
import ai.companion.modelimport.ModelImporter;
import ai.companion.router.RouterVerticle;
import ai.companion.sdk.AssistantException;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node inside the caller's JVM: a local (unclustered) Vert.x running the same router, inference worker,
 * embeddings and gateway verticles as {@code ./companion start}, with the worker on the device and optimization
 * level the builder asked for. The gateway listens on free loopback ports only; the SDK talks to it over gRPC,
 * exactly as a remote client would.
 */
public final class EmbeddedNode implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedNode.class);

  private final Vertx vertx;
  private final int grpcPort;
  private final int httpPort;

  private EmbeddedNode(Vertx vertx, int grpcPort, int httpPort) {
    this.vertx = vertx;
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
  }

  public static EmbeddedNode start(Path dataDir, String device, String optimizationLevel, Path checkpoint,
                                   Path tokenizer, String model, Duration timeout) {
    try {
      Files.createDirectories(ModelPaths.modelsDir(dataDir));
      if (checkpoint != null && !"auto".equals(model)
          && !Files.isDirectory(ModelPaths.modelsDir(dataDir).resolve(model))) {
        LOG.info("importing {} as model {} into {}", checkpoint, model, dataDir);
        ModelImporter.importLlama2c(checkpoint, tokenizer, model, ModelPaths.modelsDir(dataDir), null);
      }
    } catch (Exception e) {
      throw new AssistantException("FAILED_PRECONDITION", "cannot prepare the data dir " + dataDir + ": "
          + e.getMessage(), e);
    }
    String nodeName = "sdk-" + UUID.randomUUID().toString().substring(0, 8);
    // model loading and ONNX steps run on worker threads; a slow first load is not a hang
    Vertx vertx = Vertx.vertx(new VertxOptions().setMaxWorkerExecuteTime(10)
        .setMaxWorkerExecuteTimeUnit(TimeUnit.MINUTES));
    JsonObject node = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", nodeName);
    JsonObject worker = node.copy().put("provider", device).put("optimizationLevel", optimizationLevel);
    JsonObject gateway = new GatewayOptions().setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0)
        .setNodeName(nodeName).toJson().put("dataDir", dataDir.toString());
    GatewayVerticle gw = new GatewayVerticle();
    Future<String> started = vertx.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(node))
        .compose(v -> vertx.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(worker)))
        .compose(v -> vertx.deployVerticle(new EmbeddingVerticle(), new DeploymentOptions().setConfig(node)))
        .compose(v -> vertx.deployVerticle(gw, new DeploymentOptions().setConfig(gateway)));
    try {
      started.toCompletionStage().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      vertx.close();
      Throwable cause = e instanceof java.util.concurrent.ExecutionException ee && ee.getCause() != null
          ? ee.getCause() : e;
      throw new AssistantException("UNAVAILABLE", "the embedded node did not start: " + cause.getMessage(), cause);
    }
    int grpc = (Integer) vertx.sharedData().getLocalMap("companion.node").get("grpcPort");
    LOG.info("embedded node {} up: data dir {}, device {}, optimization {}, gRPC 127.0.0.1:{}, HTTP 127.0.0.1:{}",
        nodeName, dataDir, device, optimizationLevel, grpc, gw.actualPort());
    return new EmbeddedNode(vertx, grpc, gw.actualPort());
  }

  public Vertx vertx() { return vertx; }

  public int grpcPort() { return grpcPort; }

  /** The OpenAI-compatible HTTP API of the embedded node (loopback only). */
  public int httpPort() { return httpPort; }

  @Override
  public void close() {
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warn("embedded node did not stop cleanly: {}", e.toString());
    }
  }
}
