package ai.companion.sdk.impl;

import ai.companion.api.ModelPaths;
import ai.companion.modelimport.ModelImporter;
import ai.companion.node.Node;
import ai.companion.node.NodeOptions;
import ai.companion.node.cluster.Ports;
import ai.companion.sdk.AssistantException;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.shareddata.LocalMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node inside the caller's JVM: the launcher's {@link Node} with the gateway, router and worker roles (the worker
 * brings the embeddings), exactly what {@code ./companion start --roles gateway,router,worker} runs, with the worker
 * on the device and optimization level the builder asked for. It is a one-member cluster on loopback (a free
 * Hazelcast port, nothing joined); the gateway listens on free loopback ports only, and the SDK talks to it over
 * gRPC, exactly as a remote client would.
 */
public final class EmbeddedNode implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedNode.class);
  static final List<String> ROLES = List.of("gateway", "router", "worker");

  private final Node node;
  private final int grpcPort;
  private final int httpPort;

  private EmbeddedNode(Node node, int grpcPort, int httpPort) {
    this.node = node;
    this.grpcPort = grpcPort;
    this.httpPort = httpPort;
  }

  public static EmbeddedNode start(Path dataDir, String device, String optimizationLevel, Path checkpoint,
                                   Path tokenizer, String model, Duration timeout) {
    NodeOptions options;
    try {
      Files.createDirectories(ModelPaths.modelsDir(dataDir));
      if (checkpoint != null && !"auto".equals(model)
          && !Files.isDirectory(ModelPaths.modelsDir(dataDir).resolve(model))) {
        LOG.info("importing {} as model {} into {}", checkpoint, model, dataDir);
        ModelImporter.importLlama2c(checkpoint, tokenizer, model, ModelPaths.modelsDir(dataDir), null);
      }
      options = new NodeOptions().setRoles(ROLES).setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0)
          .setClusterPort(Ports.free()).setEventBusPort(0).setDataDir(dataDir.toString())
          .setNodeName("sdk-" + UUID.randomUUID().toString().substring(0, 8))
          .setDevice(device).setOptimizationLevel(optimizationLevel);
    } catch (Exception e) {
      throw new AssistantException("FAILED_PRECONDITION", "cannot prepare the data dir " + dataDir + ": "
          + e.getMessage(), e);
    }
    Future<Node> starting = Node.start(options);
    Node node;
    try {
      node = starting.toCompletionStage().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      // a node that comes up after the timeout is closed again (one that fails closes itself)
      starting.onSuccess(Node::close);
      Throwable cause = e instanceof java.util.concurrent.ExecutionException ee && ee.getCause() != null
          ? ee.getCause() : e;
      throw new AssistantException("UNAVAILABLE", "the embedded node did not start: " + cause.getMessage(), cause);
    }
    LocalMap<String, Object> local = node.vertx().sharedData().getLocalMap(Node.NODE_LOCAL_MAP);
    int grpc = (Integer) local.get("grpcPort");
    int http = (Integer) local.get("httpPort");
    LOG.info("embedded node {} up: data dir {}, device {}, optimization {}, gRPC 127.0.0.1:{}, HTTP 127.0.0.1:{}",
        node.nodeName(), dataDir, device, optimizationLevel, grpc, http);
    return new EmbeddedNode(node, grpc, http);
  }

  public Vertx vertx() { return node.vertx(); }

  public int grpcPort() { return grpcPort; }

  /** The OpenAI-compatible HTTP API of the embedded node (loopback only). */
  public int httpPort() { return httpPort; }

  @Override
  public void close() {
    try {
      node.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warn("embedded node did not stop cleanly: {}", e.toString());
    }
  }
}
