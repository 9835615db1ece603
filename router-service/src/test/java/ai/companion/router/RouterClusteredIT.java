package ai.companion.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.worker.WorkerVerticle;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two clustered Vert.x nodes on loopback (real Hazelcast): node B runs a real inference worker (the two fixture
 * models) and a router, node A only a router. Routes asked on node A pick B's worker from the clustered registry
 * map; feedback sent from either node reaches the router that decided, and every reward is in both routers' logs.
 */
class RouterClusteredIT {

  @TempDir Path tmp;
  final List<Vertx> nodes = new ArrayList<>();

  static Future<Vertx> clusteredNode(String cluster, String name, int port, int peerPort) {
    Config hz = new Config();
    hz.setClusterName(cluster);
    hz.setInstanceName(name + "-" + UUID.randomUUID());
    hz.setProperty("hazelcast.phone.home.enabled", "false");
    hz.setProperty("hazelcast.logging.type", "slf4j");
    hz.setProperty("hazelcast.partition.count", "31");
    hz.setProperty("hazelcast.wait.seconds.before.join", "1");
    hz.getNetworkConfig().setPort(port).setPortAutoIncrement(false);
    hz.getNetworkConfig().getInterfaces().setEnabled(true).addInterface("127.0.0.1");
    JoinConfig join = hz.getNetworkConfig().getJoin();
    join.getAutoDetectionConfig().setEnabled(false);
    join.getMulticastConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).addMember("127.0.0.1:" + port).addMember("127.0.0.1:" + peerPort);
    return Vertx.builder()
        .with(new VertxOptions().setEventBusOptions(new EventBusOptions().setHost("127.0.0.1").setPort(0)))
        .withClusterManager(new HazelcastClusterManager(hz)).buildClustered();
  }

  /** A loopback port free when chosen (Hazelcast takes no port 0); a fixed range could meet another binder. */
  static int freePort() throws java.io.IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(180, TimeUnit.SECONDS);
  }

  @AfterEach
  void close() throws Exception {
    for (Vertx v : nodes) await(v.close());
  }

  static GenerationRequest request(String model) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, model, "Once upon a time", null, SamplingParams.GREEDY.withMaxTokens(16),
        Addresses.streamAddress(id), List.of(), null);
  }

  @Test
  void routesAndFeedbackAcrossTwoNodes() throws Exception {
    Path dataB = tmp.resolve("b");
    RealStack.importModels(dataB);
    Path dataA = Files.createDirectories(tmp.resolve("a"));
    String cluster = "router-it-" + UUID.randomUUID();
    int portA = freePort();
    int portB = freePort();
    Vertx a = await(clusteredNode(cluster, "a", portA, portB));
    nodes.add(a);
    Vertx b = await(clusteredNode(cluster, "b", portB, portA));
    nodes.add(b);
    await(b.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(new JsonObject()
        .put("dataDir", dataB.toString()).put("nodeName", "node-b").put("workerId", "worker-b"))));
    await(b.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(new RouterOptions()
        .setDataDir(dataB.toString()).setNodeName("node-b").setLearnProfiles(false).toJson())));
    await(a.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(new RouterOptions()
        .setDataDir(dataA.toString()).setNodeName("node-a").setLearnProfiles(false).toJson())));

    List<JsonObject> feedback = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      // routes are asked on node A; the bus hands them to either router; feedback comes from the other node
      JsonObject d = await(a.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, request("stories260k").toJson()))
          .body();
      assertEquals("worker-b", d.getString("workerId"));
      assertEquals("node-b", d.getString("worker"));
      Vertx asker = i % 2 == 0 ? b : a;
      feedback.add(await(asker.eventBus().<JsonObject>request(Addresses.ROUTER_FEEDBACK,
          new JsonObject().put("requestId", d.getString("requestId")).put("rating", 1))).body());
    }
    assertTrue(feedback.stream().allMatch(f -> f.getBoolean("accepted")), feedback.toString());
    JsonObject models = await(a.eventBus().<JsonObject>request(Addresses.ROUTER_MODELS, new JsonObject())).body();
    assertEquals(2, models.getJsonArray("models").size(), models.encode());

    // every reward ends up in both routers' durable logs (the peer's copy may trail the answer a little)
    long deadline = System.currentTimeMillis() + 10_000;
    long ra;
    long rb;
    do {
      ra = Files.readAllLines(dataA.resolve("router/decisions.jsonl")).stream().filter(l -> l.contains("\"t\":\"r\"")).count();
      rb = Files.readAllLines(dataB.resolve("router/decisions.jsonl")).stream().filter(l -> l.contains("\"t\":\"r\"")).count();
      if (ra == 8 && rb == 8) break;
      Thread.sleep(100);
    } while (System.currentTimeMillis() < deadline);
    assertEquals(8, ra);
    assertEquals(8, rb);
    long da = Files.readAllLines(dataA.resolve("router/decisions.jsonl")).stream().filter(l -> l.contains("\"t\":\"d\"")).count();
    long db = Files.readAllLines(dataB.resolve("router/decisions.jsonl")).stream().filter(l -> l.contains("\"t\":\"d\"")).count();
    assertEquals(8, da + db);
  }
}
