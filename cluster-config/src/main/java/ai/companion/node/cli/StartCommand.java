package ai.companion.node.cli;

import ai.companion.api.ModelPaths;
import ai.companion.node.Node;
import ai.companion.node.NodeOptions;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code companion start}: runs a node until SIGTERM / Ctrl-C. */
@Command(name = "start", description = "Start a node (every role in one clustered node unless --roles says otherwise).")
public class StartCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(StartCommand.class);

  @Option(names = "--roles", split = ",", paramLabel = "ROLE",
      description = "Roles of this node: gateway, router, worker, knowledge (default: all).")
  List<String> roles = NodeOptions.ALL_ROLES;

  @Option(names = "--host", description = "Address the HTTP and gRPC servers bind (default: ${DEFAULT-VALUE}).")
  String host = NodeOptions.DEFAULT_HOST;

  @Option(names = "--http-port", description = "HTTP port, 0 = any free port (default: ${DEFAULT-VALUE}).")
  int httpPort = NodeOptions.DEFAULT_HTTP_PORT;

  @Option(names = "--grpc-port", description = "gRPC port (default: ${DEFAULT-VALUE}).")
  int grpcPort = NodeOptions.DEFAULT_GRPC_PORT;

  @Option(names = "--cluster-port", description = "Hazelcast member port (default: ${DEFAULT-VALUE}).")
  int clusterPort = NodeOptions.DEFAULT_CLUSTER_PORT;

  @Option(names = "--event-bus-port", description = "Event-bus (TLS) port, 0 = any free port (default: ${DEFAULT-VALUE}).")
  int eventBusPort = NodeOptions.DEFAULT_EVENT_BUS_PORT;

  @Option(names = "--health-port", description = "On a node without the gateway role: serve /health/live and "
      + "/health/ready on this port (-1 = off, the default; the gateway serves them on --http-port).")
  int healthPort = NodeOptions.DEFAULT_HEALTH_PORT;

  @Option(names = "--join", split = ",", paramLabel = "HOST:PORT", description = "Cluster members to join (TCP-IP).")
  List<String> join = List.of();

  @Option(names = "--data-dir", description = "Data dir: models/, knowledge/, tls/ (default: ${DEFAULT-VALUE}).")
  String dataDir = ModelPaths.DEFAULT_DATA_DIR;

  @Option(names = "--node-name", description = "This node's name in the cluster (default: host name and cluster port).")
  String nodeName;

  @Option(names = "--cluster-secret", description = "Shared secret; only nodes with the same secret form a cluster "
      + "(default: DATA_DIR/tls/cluster.secret when present).")
  String clusterSecret;

  @Option(names = "--interface", paramLabel = "CIDR",
      description = "Network the cluster talks on, e.g. 10.42.0.0/24 (default: ${DEFAULT-VALUE}).")
  String interfaceCidr = NodeOptions.DEFAULT_INTERFACE;

  @Option(names = "--multicast", description = "Find members by multicast instead of --join.")
  boolean multicast;

  @Option(names = "--kubernetes", description = "Find members through the Kubernetes headless service's DNS.")
  boolean kubernetes;

  @Option(names = "--kubernetes-service-dns", description = "Headless service DNS name (default: ${DEFAULT-VALUE}).")
  String kubernetesServiceDns = NodeOptions.DEFAULT_KUBERNETES_SERVICE_DNS;

  @Option(names = "--tls-dir", description = "Event-bus keys (default: DATA_DIR/tls).")
  String tlsDir;

  @Option(names = "--tls-password", description = "Password of the PKCS12 stores (default: TLS_DIR/store.pass).")
  String tlsPassword;

  @Option(names = "--seed-paths", split = ",", paramLabel = "PATH",
      description = "Files or folders the knowledge role ingests when its store is empty.")
  List<String> seedPaths = List.of();

  @Option(names = "--embedding-variant", paramLabel = "fp32|int8", description = "The MiniLM variant that "
      + "/v1/embeddings serves (default: fp32, the published model's vectors).")
  String embeddingVariant;

  @Option(names = "--knowledge-embedding-variant", paramLabel = "fp32|int8", description = "The MiniLM variant the "
      + "knowledge store embeds chunks and questions with (default: int8, 2-3x faster; a store embedded with the "
      + "other is embedded again when the node starts).")
  String knowledgeEmbeddingVariant;

  @Option(names = "--optimization-level", paramLabel = "low|medium|high", description = "Inference optimization: "
      + "low (basic graph optimizations, one thread, fp32), medium (all optimizations, every core, fp32), high (the "
      + "same with the int4 variant where the model folder has one: ./companion model quantize NAME --bits 4) "
      + "(default: ${DEFAULT-VALUE}).")
  String optimizationLevel = NodeOptions.DEFAULT_OPTIMIZATION_LEVEL;

  @Option(names = "--model-variant", paramLabel = "auto|fp32|int8|int4", description = "The model file the worker "
      + "serves where a folder has it: auto follows --optimization-level (high: int4, else fp32; int8 runs slower "
      + "than fp32 on the CPU provider, so only this flag serves it) (default: ${DEFAULT-VALUE}).")
  String modelVariant = NodeOptions.DEFAULT_MODEL_VARIANT;

  @Option(names = "--device", paramLabel = "auto|cpu|cuda|coreml|directml",
      description = "Execution provider of the worker; auto picks the best available (default: ${DEFAULT-VALUE}).")
  String device = NodeOptions.DEFAULT_DEVICE;

  @Option(names = "--kv-cache", paramLabel = "in-place|standard", description = "The worker's key/value cache: "
      + "in-place (each model's model_inplace_kv.onnx, where its folder has one) or standard (model.onnx, which "
      + "copies the whole cache every step) (default: ${DEFAULT-VALUE}).")
  String kvCache = NodeOptions.DEFAULT_KV_CACHE;

  @Option(names = "--http-event-loops", paramLabel = "N", description = "Event loops of the HTTP server (REST, SSE, "
      + "WebSocket), connections spread over them; 0: one per core, at most 8 (default: ${DEFAULT-VALUE}).")
  int httpEventLoops;

  @Option(names = "--decode-lanes", paramLabel = "N", description = "Decode loops per model, each stepping its own "
      + "batch on its own thread; 0: one per core (at most 8) for a tiny model, one for a real one, whose operators "
      + "use every core instead (default: ${DEFAULT-VALUE}).")
  int decodeLanes;

  @Option(names = "--prompt-cache-mb", paramLabel = "MB", description = "Each model's prompt cache: the keys and "
      + "values of recent prompts of 16 tokens or more, which later prompts that begin alike (a chat's next turn, a "
      + "shared system prompt) copy instead of running; 0: none (default: ${DEFAULT-VALUE}).")
  int promptCacheMb = NodeOptions.DEFAULT_PROMPT_CACHE_MB;

  @Option(names = "--prefill-slice-ms", paramLabel = "MS", description = "A prompt whose prefill would take longer "
      + "runs in slices of about this long, the running streams getting a token between two; 0: every prompt at "
      + "once (default: ${DEFAULT-VALUE}).")
  int prefillSliceMs = NodeOptions.DEFAULT_PREFILL_SLICE_MS;

  @Option(names = "--prefill-first-ms", paramLabel = "MS", description = "While requests keep arriving (less than 5 "
      + "ms apart) at least twice as fast as they came before, the running streams' next token waits up to this long "
      + "so that the newcomers get their first tokens first, never more than 0.3 of the time; for clients that come "
      + "in synchronized bursts. 0: never (default: ${DEFAULT-VALUE}).")
  int prefillFirstMs = NodeOptions.DEFAULT_PREFILL_FIRST_MS;

  @Option(names = "--affinity-slack", paramLabel = "N", description = "The router sends a prompt of 64 characters "
      + "or more (a chat's next turn) to the worker whose prompt cache may hold its beginning while that worker holds "
      + "at most N more requests (running or queued) than the least loaded; 0: the least loaded always (default: "
      + "${DEFAULT-VALUE}).")
  int affinitySlack = NodeOptions.DEFAULT_AFFINITY_SLACK;

  @Option(names = "--warm-up", paramLabel = "STREAMS", description = "Streams a node with the gateway and worker "
      + "roles sends through its own HTTP port before it reports READY, so that its first clients meet compiled "
      + "code; they need no key and stay out of the metrics and the logs that learn; 0: none (default: "
      + "${DEFAULT-VALUE}, about 2-3 s on 2 cores).")
  int warmUp = NodeOptions.DEFAULT_WARM_UP_STREAMS;

  /** What this command line means, as node options (throws on nonsense). */
  public NodeOptions toOptions() {
    return new NodeOptions().setRoles(roles).setHost(host).setHttpPort(httpPort).setGrpcPort(grpcPort)
        .setClusterPort(clusterPort).setEventBusPort(eventBusPort).setHealthPort(healthPort).setJoin(join).setDataDir(dataDir)
        .setNodeName(nodeName).setClusterSecret(clusterSecret).setInterfaceCidr(interfaceCidr).setMulticast(multicast)
        .setKubernetes(kubernetes).setKubernetesServiceDns(kubernetesServiceDns).setTlsDir(tlsDir)
        .setTlsPassword(tlsPassword).setSeedPaths(seedPaths).setEmbeddingVariant(embeddingVariant)
        .setKnowledgeEmbeddingVariant(knowledgeEmbeddingVariant)
        .setOptimizationLevel(optimizationLevel).setModelVariant(modelVariant).setDevice(device).setKvCache(kvCache)
        .setHttpEventLoops(httpEventLoops).setDecodeLanes(decodeLanes).setWarmUpStreams(warmUp)
        .setPromptCacheMb(promptCacheMb).setPrefillSliceMs(prefillSliceMs)
        .setPrefillFirstMs(prefillFirstMs).setAffinitySlack(affinitySlack);
  }

  @Override
  public Integer call() throws Exception {
    NodeOptions opts;
    try {
      opts = toOptions();
    } catch (IllegalArgumentException e) {
      System.err.println("companion start: " + e.getMessage());
      return 2;
    }
    Node node;
    try {
      node = Node.start(opts).await(10, TimeUnit.MINUTES);
    } catch (Exception e) {
      System.err.println("companion start: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
      return 1;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close().await(30, TimeUnit.SECONDS);
        LOG.info("node {} stopped", node.nodeName());
      } catch (Exception e) {
        LOG.warn("node {} did not stop cleanly: {}", node.nodeName(), e.toString());
      } finally {
        stopped.countDown();
      }
    }, "companion-shutdown"));
    stopped.await();
    return 0;
  }
}
