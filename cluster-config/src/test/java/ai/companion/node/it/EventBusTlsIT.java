package ai.companion.node.it;

import ai.companion.node.cluster.Ports;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.companion.node.NodeOptions;
import ai.companion.node.cluster.ClusterKeys;
import ai.companion.node.cluster.EventBusTls;
import ai.companion.node.cluster.HazelcastSetup;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Event-bus TLS between clustered Vert.x instances built exactly as {@code Node} builds them: keys made by
 * {@code companion cluster keys} carry messages; a member with keys from another CA joins Hazelcast (same secret)
 * but none of its event-bus traffic gets through, in either direction.
 */
class EventBusTlsIT {

  private final List<Vertx> started = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (Vertx v : started) v.close().await(20, TimeUnit.SECONDS);
  }

  private Vertx member(String name, int port, Path keys, List<String> join) throws Exception {
    NodeOptions o = new NodeOptions().setClusterSecret("tls-it").setClusterPort(port).setJoin(join);
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    EventBusOptions eb = new EventBusOptions().setHost("127.0.0.1").setPort(0);
    EventBusTls.apply(eb, keys, EventBusTls.detect(keys).orElseThrow(), null);
    Vertx v = Vertx.builder().with(new VertxOptions().setEventBusOptions(eb))
        .withClusterManager(new HazelcastClusterManager(HazelcastSetup.build(o, name, lo)))
        .buildClustered().await(60, TimeUnit.SECONDS);
    started.add(v);
    return v;
  }

  @Test
  void sameCaTalksOtherCaIsShutOut(@TempDir Path dir) throws Exception {
    Path k1 = dir.resolve("k1");
    Path k2 = dir.resolve("k2");
    new ClusterKeys(k1, "a", List.of()).generate();
    new ClusterKeys(k2, "rogue", List.of()).generate();
    int pa = Ports.free();
    int pb = Ports.free();
    int pc = Ports.free();
    String seed = "127.0.0.1:" + pa;
    Vertx a = member("a", pa, k1, List.of());
    Vertx b = member("b", pb, k1, List.of(seed));
    Vertx c = member("c", pc, k2, List.of(seed));
    AtomicInteger bGotFromC = new AtomicInteger();
    b.eventBus().<String>consumer("tls.echo", m -> {
      if ("from-c".equals(m.body())) bGotFromC.incrementAndGet();
      m.reply("echo:" + m.body());
    }).completion().await(10, TimeUnit.SECONDS);
    c.eventBus().<String>consumer("tls.rogue", m -> m.reply("rogue")).completion().await(10, TimeUnit.SECONDS);

    assertEquals("echo:from-a", Polls.eventually(20_000, () ->
        a.eventBus().<String>request("tls.echo", "from-a", new DeliveryOptions().setSendTimeout(2000))
            .await(5, TimeUnit.SECONDS).body()));

    // same cluster name, so Hazelcast lets c in; the event bus does not
    assertEquals(3, ((io.vertx.core.internal.VertxInternal) a).clusterManager().getNodes().size());
    DeliveryOptions quick = new DeliveryOptions().setSendTimeout(3000);
    assertThrows(Exception.class, () -> c.eventBus().<String>request("tls.echo", "from-c", quick).await(10, TimeUnit.SECONDS));
    assertThrows(Exception.class, () -> a.eventBus().<String>request("tls.rogue", "x", quick).await(10, TimeUnit.SECONDS));
    assertEquals(0, bGotFromC.get());
  }
}
