package ai.companion.node.it;

import ai.companion.node.cluster.Ports;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.companion.api.Addresses;
import ai.companion.node.NodeOptions;
import ai.companion.node.cluster.HazelcastSetup;
import ai.companion.node.cluster.RegistryJanitor;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.AsyncMap;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A member that dies without a word (its Hazelcast instance terminated, as with kill -9) leaves worker and node
 * registry entries behind; the janitor on the oldest member removes them within 10 s, and leaves live members' alone.
 */
class RegistryJanitorIT {

  private final List<Vertx> started = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (Vertx v : started) v.close().await(20, TimeUnit.SECONDS);
  }

  private record Member(Vertx vertx, HazelcastClusterManager manager) {}

  private Member member(String name, int port, List<String> join) throws Exception {
    NodeOptions o = new NodeOptions().setClusterSecret("janitor-it").setClusterPort(port).setJoin(join);
    HazelcastClusterManager cm = new HazelcastClusterManager(HazelcastSetup.build(o, name, InetAddress.getByName("127.0.0.1")));
    Vertx v = Vertx.builder().with(new VertxOptions().setEventBusOptions(new EventBusOptions().setHost("127.0.0.1")))
        .withClusterManager(cm).buildClustered().await(60, TimeUnit.SECONDS);
    started.add(v);
    new RegistryJanitor(v, cm.getHazelcastInstance()).start();
    return new Member(v, cm);
  }

  @Test
  void entriesOfADeadMemberDisappearWithinTenSeconds() throws Exception {
    int pa = Ports.free();
    Member a = member("a", pa, List.of());
    Member b = member("b", Ports.free(), List.of("127.0.0.1:" + pa));
    AsyncMap<String, JsonObject> workers = b.vertx().sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .await(10, TimeUnit.SECONDS);
    AsyncMap<String, JsonObject> nodes = b.vertx().sharedData().<String, JsonObject>getAsyncMap(Addresses.NODE_REGISTRY_MAP)
        .await(10, TimeUnit.SECONDS);
    workers.put("b-1", new JsonObject().put("workerId", "b-1").put("nodeName", "b")).await(10, TimeUnit.SECONDS);
    workers.put("a-1", new JsonObject().put("workerId", "a-1").put("nodeName", "a")).await(10, TimeUnit.SECONDS);
    nodes.put("b", new JsonObject().put("name", "b").put("roles", List.of("worker"))).await(10, TimeUnit.SECONDS);
    nodes.put("a", new JsonObject().put("name", "a").put("roles", List.of("gateway"))).await(10, TimeUnit.SECONDS);

    AsyncMap<String, JsonObject> seenByA = a.vertx().sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .await(10, TimeUnit.SECONDS);
    AsyncMap<String, JsonObject> nodesByA = a.vertx().sharedData().<String, JsonObject>getAsyncMap(Addresses.NODE_REGISTRY_MAP)
        .await(10, TimeUnit.SECONDS);
    // a live member's entries survive the periodic sweep
    Thread.sleep(RegistryJanitor.SWEEP_INTERVAL_MS + 1000);
    assertNotNull(seenByA.get("b-1").await(10, TimeUnit.SECONDS));

    long t0 = System.nanoTime();
    b.manager().getHazelcastInstance().getLifecycleService().terminate(); // no goodbye, as with kill -9
    Polls.eventually(10_000, () -> {
      assertNull(seenByA.get("b-1").await(5, TimeUnit.SECONDS));
      assertNull(nodesByA.get("b").await(5, TimeUnit.SECONDS));
      return null;
    });
    System.out.println("[bench] dead member's registry entries removed after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
    assertEquals("a", seenByA.get("a-1").await(5, TimeUnit.SECONDS).getString("nodeName"));
    assertNotNull(nodesByA.get("a").await(5, TimeUnit.SECONDS));
  }
}
