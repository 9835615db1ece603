package ai.companion.node.cluster;

import ai.companion.api.Addresses;
import ai.companion.node.NodeOptions;
import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MultiMapConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.internal.util.ConcurrencyUtil;
import java.net.InetAddress;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The node's Hazelcast configuration, built in code from {@link NodeOptions} (no XML on the classpath to surprise
 * anyone): cluster name from the secret, one bind address chosen by CIDR, TCP-IP members, optional multicast or
 * Kubernetes DNS discovery, fast failure detection, no phone-home.
 */
public final class HazelcastSetup {
  private HazelcastSetup() {}

  private static final AtomicBoolean ASYNC_POOL_SET = new AtomicBoolean();

  /**
   * Hazelcast completes its async operations (every clustered-map call, every event-bus consumer registration)
   * on the common fork-join pool, or, where that pool has a parallelism of 1 (a machine with 2 cores), on a new
   * thread per completion: 2000 concurrent streams started thousands of threads a second. There a cached pool
   * of daemon threads takes over (it grows as the old per-task threads did, so nothing that blocks can starve).
   */
  static void useAsyncPool() {
    if (ForkJoinPool.getCommonPoolParallelism() > 1 || !ASYNC_POOL_SET.compareAndSet(false, true)) return;
    AtomicInteger n = new AtomicInteger();
    ThreadPoolExecutor pool = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS,
        new SynchronousQueue<>(), r -> {
          Thread t = new Thread(r, "hz-async-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    ConcurrencyUtil.setDefaultAsyncExecutor(pool);
  }

  /** Member attribute holding the node's name, so a leaving member's registry entries can be found. */
  public static final String NODE_NAME_ATTRIBUTE = "companion.nodeName";

  public static Config build(NodeOptions opts, String nodeName, InetAddress bindAddress) {
    useAsyncPool();
    Config config = new Config();
    config.setClusterName(ClusterNames.fromSecret(opts.getClusterSecret()));
    config.setInstanceName("companion-" + nodeName);
    config.getMemberAttributeConfig().setAttribute(NODE_NAME_ATTRIBUTE, nodeName);

    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.logging.type", "slf4j");
    // the launcher owns shutdown: Hazelcast's own hook would leave before the verticles stop
    config.setProperty("hazelcast.shutdownhook.enabled", "false");
    config.setProperty("hazelcast.wait.seconds.before.join", System.getProperty("hazelcast.wait.seconds.before.join", "1"));
    // a worker that dies (power, kill -9, cable) must leave the member list within seconds, not the default minute
    config.setProperty("hazelcast.heartbeat.interval.seconds", "1");
    config.setProperty("hazelcast.max.no.heartbeat.seconds", "5");
    config.setProperty("hazelcast.merge.first.run.delay.seconds", "5");
    config.setProperty("hazelcast.merge.next.run.delay.seconds", "5");
    config.setProperty("hazelcast.socket.bind.any", "false");
    // the maps hold a few hundred small entries: fewer partitions make a join (partition migration) quicker
    config.setProperty("hazelcast.partition.count", "31");
    config.setProperty("hazelcast.local.localAddress", bindAddress.getHostAddress());

    NetworkConfig network = config.getNetworkConfig();
    network.setPort(opts.getClusterPort()).setPortAutoIncrement(false);
    network.getInterfaces().setEnabled(true).addInterface(bindAddress.getHostAddress());
    network.getRestApiConfig().setEnabled(false);

    JoinConfig join = network.getJoin();
    join.getAutoDetectionConfig().setEnabled(false);
    join.getMulticastConfig().setEnabled(opts.isMulticast());
    if (opts.isKubernetes()) {
      if (opts.isMulticast()) throw new IllegalArgumentException("choose either --multicast or --kubernetes, not both");
      // built into open-source Hazelcast 5: DNS lookup of the headless service, no API access needed
      join.getKubernetesConfig().setEnabled(true)
          .setProperty("service-dns", opts.getKubernetesServiceDns())
          .setProperty("service-port", String.valueOf(opts.getClusterPort()));
      join.getTcpIpConfig().setEnabled(false);
    } else if (opts.isMulticast()) {
      if (!opts.getJoin().isEmpty()) throw new IllegalArgumentException("choose either --multicast or --join, not both");
    } else {
      join.getTcpIpConfig().setEnabled(true).setConnectionTimeoutSeconds(2);
      join.getTcpIpConfig().addMember(bindAddress.getHostAddress() + ":" + opts.getClusterPort());
      for (String member : opts.getJoin()) {
        join.getTcpIpConfig().addMember(member.contains(":") ? member : member + ":" + NodeOptions.DEFAULT_CLUSTER_PORT);
      }
    }

    // what the Vert.x cluster manager needs (as in vertx-hazelcast's default-cluster.xml)
    config.addMultiMapConfig(new MultiMapConfig("__vertx.subs").setBackupCount(1)
        .setValueCollectionType(MultiMapConfig.ValueCollectionType.SET));
    config.addMapConfig(new MapConfig("__vertx.haInfo").setBackupCount(1));
    config.addMapConfig(new MapConfig("__vertx.nodeInfo").setBackupCount(1));
    config.addMapConfig(new MapConfig(Addresses.WORKER_REGISTRY_MAP).setBackupCount(1));
    config.addMapConfig(new MapConfig(Addresses.NODE_REGISTRY_MAP).setBackupCount(1));
    return config;
  }
}
