package ai.companion.node;

import ai.companion.api.Addresses;
import ai.companion.api.ModelPaths;
import ai.companion.gateway.security.GatewaySecurity;
import ai.companion.node.cluster.Cidr;
import ai.companion.node.cluster.ClusterKeys;
import ai.companion.node.cluster.ClusterNames;
import ai.companion.node.cluster.EventBusTls;
import ai.companion.node.cluster.HazelcastSetup;
import ai.companion.node.cluster.RegistryJanitor;
import ai.companion.node.impl.HealthServer;
import ai.companion.node.impl.WarmUp;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.LocalMap;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node: a clustered Vert.x (Hazelcast, event bus over TLS) running the verticles of its roles. Thin on purpose:
 * every setting comes in as {@link NodeOptions}, every service is a verticle of its own module.
 */
public final class Node {
  private static final Logger LOG = LoggerFactory.getLogger(Node.class);

  /** Local map where the gateway puts the ports it bound ({@code httpPort}, {@code grpcPort}). */
  public static final String NODE_LOCAL_MAP = "companion.node";
  // by class, not by a name spelled out: a renamed verticle is a compile error here, not a node that fails to start
  public static final String GATEWAY_VERTICLE = ai.companion.gateway.GatewayVerticle.class.getName();
  public static final String ROUTER_VERTICLE = ai.companion.router.RouterVerticle.class.getName();
  public static final String WORKER_VERTICLE = ai.companion.worker.WorkerVerticle.class.getName();
  public static final String EMBEDDING_VERTICLE = ai.companion.embeddings.EmbeddingVerticle.class.getName();
  public static final String KNOWLEDGE_VERTICLE = ai.companion.knowledge.KnowledgeVerticle.class.getName();

  private final NodeOptions options;
  private final String nodeName;
  private Vertx vertx;
  private HazelcastClusterManager clusterManager;
  private RegistryJanitor janitor;
  private String readyLine;
  private volatile boolean deployed;
  private int healthPort = -1;

  private Node(NodeOptions options, String nodeName) {
    this.options = options;
    this.nodeName = nodeName;
  }

  /** Starts the node; the future completes once every verticle of every role is deployed (after READY is logged). */
  public static Future<Node> start(NodeOptions options) {
    NodeOptions opts = new NodeOptions(options);
    Node node;
    Config prepared;
    try {
      node = new Node(opts, opts.getNodeName() != null ? opts.getNodeName() : defaultNodeName(opts));
      prepared = node.prepare();
    } catch (IllegalArgumentException | IOException e) {
      return Future.failedFuture(e);
    }
    return node.boot(prepared);
  }

  private record Config(VertxOptions vertxOptions, com.hazelcast.config.Config hazelcast) {}

  private Config prepare() throws IOException {
    Path dataDir = Path.of(options.getDataDir());
    Files.createDirectories(ModelPaths.modelsDir(dataDir));
    InetAddress bind = bindAddress(options);
    Path tlsDir = options.getTlsDir() != null ? Path.of(options.getTlsDir()) : dataDir.resolve("tls");
    if (options.getClusterSecret() == null && Files.isRegularFile(tlsDir.resolve(ClusterKeys.CLUSTER_SECRET))) {
      options.setClusterSecret(Files.readString(tlsDir.resolve(ClusterKeys.CLUSTER_SECRET)).strip());
      LOG.info("cluster secret read from {}", tlsDir.resolve(ClusterKeys.CLUSTER_SECRET));
    }
    boolean alone = options.getJoin().isEmpty() && !options.isMulticast() && !options.isKubernetes();
    if (options.getClusterSecret() == null) {
      if (alone) LOG.info("no cluster secret set: cluster name '{}' (fine for a single machine)", ClusterNames.OPEN_CLUSTER_NAME);
      else LOG.warn("no cluster secret set: any process that reaches {} can join; set --cluster-secret", bind.getHostAddress());
    }
    EventBusOptions eventBus = new EventBusOptions().setHost(bind.getHostAddress()).setPort(options.getEventBusPort());
    Optional<EventBusTls.Kind> keys = EventBusTls.detect(tlsDir);
    if (keys.isPresent()) {
      EventBusTls.apply(eventBus, tlsDir, keys.get(), options.getTlsPassword());
      LOG.info("event bus: TLS with client authentication, keys from {} ({})", tlsDir, keys.get());
    } else if (alone) {
      LOG.info("event bus: no TLS keys in {}, running WITHOUT TLS (single node on {}; make keys with "
          + "./companion cluster keys --out {})", tlsDir, bind.getHostAddress(), tlsDir);
    } else {
      LOG.warn("event bus: no TLS keys in {}, prompts and tokens cross the network IN CLEAR TEXT; make keys with "
          + "./companion cluster keys --out {} and copy the folder to every node", tlsDir, tlsDir);
    }
    VertxOptions vertxOptions = new VertxOptions().setEventBusOptions(eventBus)
        // ONNX steps and index commits run on workers; a slow first model load is not a hang
        .setMaxWorkerExecuteTime(10).setMaxWorkerExecuteTimeUnit(TimeUnit.MINUTES)
        // epoll (Linux) or kqueue (macOS) where Netty's native library loads, else Java NIO: see boot's log line
        .setPreferNativeTransport(true);
    com.hazelcast.config.Config hz = HazelcastSetup.build(options, nodeName, bind);
    LOG.info("node {}: roles {}, cluster '{}' on {}:{}, members {}{}{}", nodeName, String.join(",", options.getRoles()),
        hz.getClusterName(), bind.getHostAddress(), options.getClusterPort(),
        options.getJoin().isEmpty() ? "(none)" : options.getJoin(), options.isMulticast() ? ", multicast" : "",
        options.isKubernetes() ? ", kubernetes " + options.getKubernetesServiceDns() : "");
    return new Config(vertxOptions, hz);
  }

  private Future<Node> boot(Config config) {
    long t0 = System.nanoTime();
    clusterManager = new HazelcastClusterManager(config.hazelcast());
    return Vertx.builder().with(config.vertxOptions()).withClusterManager(clusterManager).buildClustered()
        .compose(v -> {
          vertx = v;
          LOG.info("joined cluster: {} member(s) after {} ms", clusterManager.getNodes().size(),
              (System.nanoTime() - t0) / 1_000_000);
          if (vertx.isNativeTransportEnabled()) {
            LOG.info("network: native transport");
          } else {
            LOG.info("network: Java NIO (the native transport is not available here: {})",
                String.valueOf(vertx.unavailableNativeTransportCause()));
          }
          janitor = new RegistryJanitor(vertx, clusterManager.getHazelcastInstance());
          janitor.start();
          if (options.hasRole("gateway") || options.getHealthPort() < 0) return Future.<Void>succeededFuture();
          return new HealthServer(vertx, () -> deployed && clusterManager.isActive())
              .listen(options.getHost(), options.getHealthPort())
              .onSuccess(port -> {
                healthPort = port;
                LOG.info("health endpoints on {}:{} (/health/live, /health/ready)", options.getHost(), port);
              }).<Void>mapEmpty();
        })
        .compose(v -> deployRoles())
        .compose(v -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.NODE_REGISTRY_MAP)
            .compose(map -> map.put(nodeName, new JsonObject().put("name", nodeName)
                .put("roles", new JsonArray(new ArrayList<>(options.getRoles()))).put("startedAt", System.currentTimeMillis()))))
        .compose(v -> warmUp())
        .map(v -> {
          deployed = true;
          readyLine = readyLine();
          LOG.info(readyLine);
          return this;
        })
        .recover(e -> {
          LOG.error("node {} failed to start: {}", nodeName, e.toString());
          return (vertx == null ? Future.<Void>succeededFuture() : close()).transform(x -> Future.failedFuture(e));
        });
  }

  /**
   * The node's own requests before READY ({@link WarmUp}), where it serves HTTP and generates: the token that lets
   * them in exists in this process's local map only while they run. Never fails the start.
   */
  private Future<Void> warmUp() {
    int streams = options.getWarmUpStreams();
    if (streams == 0 || !options.hasRole("gateway") || !options.hasRole("worker")) return Future.succeededFuture();
    LocalMap<String, Object> local = vertx.sharedData().getLocalMap(NODE_LOCAL_MAP);
    if (!(local.get("httpPort") instanceof Integer port)) return Future.succeededFuture();
    String host = ownClientHost(options.getHost());
    return WarmUp.smallestLocalModel(vertx, nodeName).compose(model -> {
      if (model == null) {
        LOG.info("warm-up skipped: this node's worker serves no model yet");
        return Future.<Void>succeededFuture();
      }
      byte[] secret = new byte[24];
      new SecureRandom().nextBytes(secret);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
      local.put(GatewaySecurity.WARM_UP_TOKEN_KEY, token);
      return new WarmUp(vertx, host, port, token, model.id()).run(streams)
          .onSuccess(r -> {
            if (r.failed() == 0) {
              LOG.info("warm-up: {} streams ({} round(s)) of {} in {} ms", r.sent(), r.rounds(), model.id(),
                  r.millis());
            } else {
              LOG.warn("warm-up: {} of {} streams of {} failed in {} ms, the first: {}", r.failed(), r.sent(),
                  model.id(), r.millis(), r.firstFailure());
            }
          })
          .<Void>mapEmpty();
    }).recover(err -> {
      LOG.warn("warm-up not done: {}", err.toString());
      return Future.succeededFuture();
    }).onComplete(ar -> local.remove(GatewaySecurity.WARM_UP_TOKEN_KEY));
  }

  /** Where this node's own client reaches its HTTP server: a wildcard bind answers on loopback. */
  static String ownClientHost(String host) {
    return host == null || host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]") ? "127.0.0.1" : host;
  }

  /**
   * Cores the worker's automatic decode lanes may take: every core on a worker node; half of them (at least one)
   * where this node serves HTTP too, whose event loops need the rest. Measured on 2 cores with 2000 streaming
   * clients: two lanes beside the gateway made the first tokens 15-25% later than one (TTFT p99 of waves 4-10
   * about 1.0 s against 0.85 s) for the same tokens/s.
   */
  static int laneCores(NodeOptions options, int cores) {
    return options.hasRole("gateway") ? Math.max(1, cores / 2) : cores;
  }

  private Future<Void> deployRoles() {
    // what this node is, for the gateway's /v1/cluster/nodes
    LocalMap<String, Object> local = vertx.sharedData().getLocalMap(NODE_LOCAL_MAP);
    local.put("roles", String.join(",", options.getRoles()));
    local.put("nodeName", nodeName);
    Future<Void> chain = Future.succeededFuture();
    // one after another: the gateway binds last, so READY means every service behind it is registered
    for (Deployment d : plan(options, nodeName, Runtime.getRuntime().availableProcessors())) {
      chain = chain.compose(v -> deploy(d));
    }
    return chain;
  }

  /** The verticles a node with these options deploys, in order, each with its configuration. */
  static List<Deployment> plan(NodeOptions options, String nodeName, int cores) {
    String dataDir = options.getDataDir();
    List<Deployment> plan = new ArrayList<>();
    if (options.hasRole("worker")) {
      // with no model in the data dir the worker itself says how to import one
      plan.add(new Deployment(WORKER_VERTICLE, new JsonObject().put("dataDir", dataDir).put("nodeName", nodeName)
          .put("optimizationLevel", options.getOptimizationLevel()).put("modelVariant", options.getModelVariant())
          .put("provider", options.getDevice())
          .put("inPlaceCache", options.getKvCache().equals("in-place")).put("decodeLanes", options.getDecodeLanes())
          .put("laneCores", laneCores(options, cores)).put("promptCacheMb", options.getPromptCacheMb())
          .put("prefillSliceMs", options.getPrefillSliceMs()).put("prefillFirstMs", options.getPrefillFirstMs())));
    }
    if (options.hasRole("worker") || options.hasRole("knowledge")) {
      JsonObject embeddings = new JsonObject();
      if (options.getEmbeddingVariant() != null) embeddings.put("variant", options.getEmbeddingVariant());
      plan.add(new Deployment(EMBEDDING_VERTICLE, embeddings));
    }
    if (options.hasRole("knowledge")) {
      List<String> seeds = options.getSeedPaths().stream().filter(p -> Files.exists(Path.of(p))).toList();
      JsonObject knowledge = new JsonObject().put("dataDir", dataDir).put("nodeName", nodeName)
          .put("seedPaths", new JsonArray(seeds));
      if (options.getKnowledgeEmbeddingVariant() != null) {
        knowledge.put("embeddingVariant", options.getKnowledgeEmbeddingVariant());
      }
      plan.add(new Deployment(KNOWLEDGE_VERTICLE, knowledge));
    }
    if (options.hasRole("router")) {
      plan.add(new Deployment(ROUTER_VERTICLE, new JsonObject().put("dataDir", dataDir).put("nodeName", nodeName)
          .put("affinitySlack", options.getAffinitySlack())));
    }
    if (options.hasRole("gateway")) {
      plan.add(new Deployment(GATEWAY_VERTICLE, new JsonObject().put("host", options.getHost())
          .put("httpPort", options.getHttpPort()).put("grpcPort", options.getGrpcPort()).put("nodeName", nodeName)
          .put("dataDir", dataDir).put("roles", new JsonArray(new ArrayList<>(options.getRoles())))
          .put("httpEventLoops", options.getHttpEventLoops())));
    }
    return plan;
  }

  record Deployment(String verticle, JsonObject config) {}

  private Future<Void> deploy(Deployment d) {
    long t0 = System.nanoTime();
    return vertx.deployVerticle(d.verticle(), new DeploymentOptions().setConfig(d.config()))
        .onSuccess(id -> LOG.info("deployed {} in {} ms", d.verticle(), (System.nanoTime() - t0) / 1_000_000))
        .recover(e -> Future.failedFuture(new IllegalStateException("cannot deploy " + d.verticle() + ": " + e.getMessage(), e)))
        .mapEmpty();
  }

  /**
   * The one address the node binds for Hazelcast and the event bus: inside {@code --interface}; left at its loopback
   * default while other machines are named (join members, multicast, Kubernetes), the address this machine uses to
   * reach the first remote member (or its first non-loopback address), so a plain {@code --join HOST:PORT} works.
   */
  static InetAddress bindAddress(NodeOptions options) {
    Cidr cidr = Cidr.parse(options.getInterfaceCidr());
    if (NodeOptions.DEFAULT_INTERFACE.equals(options.getInterfaceCidr())) {
      Optional<InetAddress> remote = remoteFacingAddress(options);
      if (remote.isPresent()) {
        LOG.info("cluster interface {}: the address that reaches the other members (choose with --interface CIDR)",
            remote.get().getHostAddress());
        return remote.get();
      }
    }
    return cidr.localAddress().orElseThrow(() -> new IllegalArgumentException(
        "no network interface of this machine has an address in " + cidr + "; addresses here: " + localAddresses()
            + " (choose one with --interface CIDR)"));
  }

  private static Optional<InetAddress> remoteFacingAddress(NodeOptions options) {
    for (String member : options.getJoin()) {
      String host = member.startsWith("[") ? member.substring(1, member.indexOf(']'))
          : member.contains(":") ? member.substring(0, member.lastIndexOf(':')) : member;
      try {
        InetAddress target = InetAddress.getByName(host);
        if (target.isLoopbackAddress()) continue;
        // a UDP "connect" sends nothing; it only asks the routing table which local address would be used
        try (java.net.DatagramSocket probe = new java.net.DatagramSocket()) {
          probe.connect(target, 9);
          InetAddress local = probe.getLocalAddress();
          if (local != null && !local.isAnyLocalAddress() && !local.isLoopbackAddress()) return Optional.of(local);
        }
      } catch (IOException e) {
        LOG.debug("cannot resolve or route to join member {}: {}", member, e.toString());
      }
    }
    if (options.isMulticast() || options.isKubernetes()) return Cidr.parse("0.0.0.0/0").localAddress();
    return Optional.empty();
  }

  private String readyLine() {
    LocalMap<String, Object> local = vertx.sharedData().getLocalMap(NODE_LOCAL_MAP);
    String http = "-";
    String grpc = "-";
    if (healthPort >= 0) http = String.valueOf(healthPort);
    if (options.hasRole("gateway")) {
      http = String.valueOf(local.getOrDefault("httpPort", options.getHttpPort()));
      grpc = String.valueOf(local.getOrDefault("grpcPort", options.getGrpcPort()));
    }
    return "READY http=" + http + " grpc=" + grpc + " roles=" + String.join(",", options.getRoles());
  }

  /** Undeploys every verticle and leaves the cluster. */
  public Future<Void> close() {
    if (janitor != null) janitor.stop();
    if (vertx == null) return Future.succeededFuture();
    LOG.info("node {} leaving the cluster", nodeName);
    // its entry in the node registry goes with its membership: the janitor of the oldest member removes it
    return vertx.close();
  }

  public Vertx vertx() {
    return vertx;
  }

  public String nodeName() {
    return nodeName;
  }

  public NodeOptions options() {
    return new NodeOptions(options);
  }

  public String clusterName() {
    return clusterManager.getHazelcastInstance().getConfig().getClusterName();
  }

  public int clusterSize() {
    return clusterManager.getNodes().size();
  }

  public String readyLineText() {
    return readyLine;
  }

  static String defaultNodeName(NodeOptions opts) {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      host = "node";
    }
    int dot = host.indexOf('.');
    if (dot > 0) host = host.substring(0, dot);
    host = host.replaceAll("[^A-Za-z0-9_-]", "-");
    if (host.length() > 50) host = host.substring(0, 50);
    return host + "-" + opts.getClusterPort();
  }

  private static String localAddresses() {
    List<String> out = new ArrayList<>();
    try {
      for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        if (!ni.isUp()) continue;
        Collections.list(ni.getInetAddresses()).forEach(a -> out.add(ni.getName() + "=" + a.getHostAddress()));
      }
    } catch (IOException e) {
      out.add("(cannot list: " + e.getMessage() + ")");
    }
    return String.join(", ", out);
  }
}
