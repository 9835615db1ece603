package ai.companion.node.cluster;

import ai.companion.api.Addresses;
import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.AsyncMap;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the worker registry ({@link Addresses#WORKER_REGISTRY_MAP}) and the node registry
 * ({@link Addresses#NODE_REGISTRY_MAP}) free of entries whose node has left or died: when a
 * member leaves, and every few seconds, the oldest member removes every entry whose {@code nodeName} is no live
 * member's {@link HazelcastSetup#NODE_NAME_ATTRIBUTE}. A worker that stops cleanly removes its own entry; this
 * covers kill -9, power loss and cut cables (Hazelcast drops a silent member after 5 s without heartbeats).
 */
public final class RegistryJanitor implements MembershipListener {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryJanitor.class);
  public static final long SWEEP_INTERVAL_MS = 3000;

  private final Vertx vertx;
  private final HazelcastInstance hazelcast;
  private UUID listenerId;
  private long timerId = -1;

  public RegistryJanitor(Vertx vertx, HazelcastInstance hazelcast) {
    this.vertx = vertx;
    this.hazelcast = hazelcast;
  }

  public void start() {
    listenerId = hazelcast.getCluster().addMembershipListener(this);
    timerId = vertx.setPeriodic(SWEEP_INTERVAL_MS, id -> sweep());
  }

  public void stop() {
    if (timerId >= 0) vertx.cancelTimer(timerId);
    if (listenerId != null && hazelcast.getLifecycleService().isRunning()) {
      hazelcast.getCluster().removeMembershipListener(listenerId);
    }
  }

  @Override
  public void memberAdded(MembershipEvent event) {
    // nothing to clean: a new member's workers register themselves
  }

  @Override
  public void memberRemoved(MembershipEvent event) {
    LOG.info("cluster member left: {} ({})", event.getMember().getAttribute(HazelcastSetup.NODE_NAME_ATTRIBUTE),
        event.getMember().getAddress());
    // Hazelcast calls this on its event thread: hop onto Vert.x
    vertx.runOnContext(v -> sweep());
  }

  /** Removes entries of nodes that are not cluster members any more; only the oldest member does it. */
  Future<Integer> sweep() {
    if (!hazelcast.getLifecycleService().isRunning()) return Future.succeededFuture(0);
    Set<Member> members = hazelcast.getCluster().getMembers();
    if (members.isEmpty() || !members.iterator().next().localMember()) return Future.succeededFuture(0);
    Set<String> live = new HashSet<>();
    for (Member m : members) live.add(m.getAttribute(HazelcastSetup.NODE_NAME_ATTRIBUTE));
    Future<Integer> workers = vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> map.entries().compose(entries -> removeDead(map, entries, live)));
    Future<Integer> nodes = vertx.sharedData().<String, Object>getAsyncMap(Addresses.NODE_REGISTRY_MAP)
        .compose(map -> map.entries().compose(entries -> removeDead(map, entries, live)));
    return Future.all(workers, nodes).map(f -> workers.result() + nodes.result())
        .onFailure(e -> LOG.warn("registry sweep failed: {}", e.toString()));
  }

  private static Future<Integer> removeDead(AsyncMap<String, Object> map, Map<String, Object> entries, Set<String> live) {
    List<Future<?>> removals = new ArrayList<>();
    for (Map.Entry<String, Object> e : entries.entrySet()) {
      String node = nodeName(e.getValue());
      if (node != null && !live.contains(node)) {
        LOG.info("removing {} of departed node {} from the registry", e.getKey(), node);
        removals.add(map.remove(e.getKey()));
      }
    }
    return Future.all(removals).map(v -> removals.size());
  }

  private static String nodeName(Object value) {
    try {
      JsonObject j = value instanceof JsonObject o ? o
          : value instanceof String s ? new JsonObject(s)
          : value instanceof io.vertx.core.buffer.Buffer b ? new JsonObject(b) : null;
      if (j != null) return j.getString("nodeName", j.getString("name"));
    } catch (RuntimeException e) {
      LOG.debug("unreadable registry entry", e);
    }
    return null;
  }
}
