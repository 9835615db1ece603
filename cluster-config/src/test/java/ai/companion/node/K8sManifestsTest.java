package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.node.impl.ConfigDefaults;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import picocli.CommandLine;

/**
 * Every manifest under {@code k8s/} parses, every reference resolves (config maps, secrets, services, volumes,
 * selectors), and ports, probes and flags match the contract (HTTP 8080, gRPC 9090, Hazelcast 5701, health endpoints).
 */
class K8sManifestsTest {

  static final String NAMESPACE = "companion";
  static Path root;
  static List<Map<String, Object>> docs = new ArrayList<>();

  @BeforeAll
  static void load() throws IOException {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("k8s"))) dir = dir.getParent();
    assertNotNull(dir, "k8s/ beside the checkout");
    root = dir;
    try (Stream<Path> files = Files.list(dir.resolve("k8s"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList()) {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        for (Object o : yaml.loadAll(Files.readString(f))) {
          if (o == null) continue;
          assertTrue(o instanceof Map, f + ": every document is a mapping");
          @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) o;
          m.put("__file", f.getFileName().toString());
          docs.add(m);
        }
      }
    }
    assertFalse(docs.isEmpty());
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> map(Object o, String key) {
    Object v = o == null ? null : ((Map<String, Object>) o).get(key);
    return v == null ? Map.of() : (Map<String, Object>) v;
  }

  @SuppressWarnings("unchecked")
  static List<Object> list(Object o, String key) {
    Object v = o == null ? null : ((Map<String, Object>) o).get(key);
    return v == null ? List.of() : (List<Object>) v;
  }

  static String str(Object o, String key) {
    Object v = o == null ? null : ((Map<?, ?>) o).get(key);
    return v == null ? null : String.valueOf(v);
  }

  static List<Map<String, Object>> kind(String kind) {
    return docs.stream().filter(d -> kind.equals(d.get("kind"))).toList();
  }

  static String name(Map<String, Object> d) {
    return str(d.get("metadata"), "name");
  }

  static List<Map<String, Object>> workloads() {
    List<Map<String, Object>> w = new ArrayList<>();
    for (String k : List.of("Deployment", "StatefulSet", "DaemonSet")) w.addAll(kind(k));
    return w;
  }

  @Test
  void everyDocumentIsWellFormedAndInTheNamespace() {
    assertEquals(1, kind("Namespace").size());
    assertEquals(NAMESPACE, name(kind("Namespace").get(0)));
    for (Map<String, Object> d : docs) {
      String where = d.get("__file") + " " + d.get("kind") + "/" + name(d);
      assertNotNull(d.get("apiVersion"), where);
      assertNotNull(d.get("kind"), where);
      assertNotNull(name(d), where);
      if (!"Namespace".equals(d.get("kind"))) assertEquals(NAMESPACE, str(d.get("metadata"), "namespace"), where);
    }
  }

  @Test
  void theRolesTheIssueAsksForAreThere() {
    Map<String, String> kindByRole = new HashMap<>();
    for (Map<String, Object> w : workloads()) {
      for (String role : roles(w)) kindByRole.merge(role, (String) w.get("kind"), (a, b) -> a + "," + b);
    }
    assertEquals("Deployment", kindByRole.get("gateway"));
    assertEquals("Deployment", kindByRole.get("router"));
    assertEquals("StatefulSet", kindByRole.get("knowledge"));
    assertTrue(kindByRole.get("worker").matches("(StatefulSet|DaemonSet)(,(StatefulSet|DaemonSet))+"),
        "workers per device class: " + kindByRole.get("worker"));
    Map<String, Object> knowledge = workloads().stream().filter(w -> roles(w).contains("knowledge")).findFirst().orElseThrow();
    assertFalse(list(map(knowledge, "spec"), "volumeClaimTemplates").isEmpty(), "knowledge keeps its index on a volume");
  }

  static Map<String, Object> container(Map<String, Object> workload) {
    List<Object> containers = list(map(map(map(workload, "spec"), "template"), "spec"), "containers");
    assertEquals(1, containers.size(), name(workload));
    @SuppressWarnings("unchecked") Map<String, Object> c = (Map<String, Object>) containers.get(0);
    return c;
  }

  static List<String> args(Map<String, Object> workload) {
    return list(container(workload), "args").stream().map(String::valueOf).toList();
  }

  static List<String> roles(Map<String, Object> workload) {
    List<String> args = args(workload);
    int i = args.indexOf("--roles");
    return i < 0 ? NodeOptions.ALL_ROLES : List.of(args.get(i + 1).split(","));
  }

  @Test
  void workloadsSelectTheirOwnPodsAndReferenceOnlyWhatExists() throws IOException {
    Set<String> configMaps = new HashSet<>(kind("ConfigMap").stream().map(K8sManifestsTest::name).toList());
    Set<String> secrets = new HashSet<>(kind("Secret").stream().map(K8sManifestsTest::name).toList());
    Set<String> services = new HashSet<>(kind("Service").stream().map(K8sManifestsTest::name).toList());
    String docs = Files.readString(root.resolve("docs/cluster.md"));
    for (Map<String, Object> w : workloads()) {
      String where = w.get("kind") + "/" + name(w);
      Map<String, Object> spec = map(w, "spec");
      Map<String, Object> podLabels = map(map(spec.get("template"), "metadata"), "labels");
      Map<String, Object> selector = map(spec.get("selector"), "matchLabels");
      assertFalse(selector.isEmpty(), where);
      selector.forEach((k, v) -> assertEquals(v, podLabels.get(k), where + " selector " + k));
      if ("StatefulSet".equals(w.get("kind"))) assertTrue(services.contains(str(spec, "serviceName")), where);
      Map<String, Object> c = container(w);
      for (Object ef : list(c, "envFrom")) {
        String cm = str(map(ef, "configMapRef"), "name");
        if (cm != null) assertTrue(configMaps.contains(cm), where + " configmap " + cm);
      }
      Set<String> volumes = new HashSet<>();
      for (Object v : list(map(spec.get("template"), "spec"), "volumes")) {
        volumes.add(str(v, "name"));
        String secret = str(map(v, "secret"), "secretName");
        if (secret != null) {
          assertTrue(secrets.contains(secret) || docs.contains("create secret generic " + secret),
              where + ": secret " + secret + " is neither a manifest nor created as docs/cluster.md says");
        }
        String cm = str(map(v, "configMap"), "name");
        if (cm != null) assertTrue(configMaps.contains(cm), where + " configmap volume " + cm);
      }
      for (Object t : list(spec, "volumeClaimTemplates")) volumes.add(str(map(t, "metadata"), "name"));
      for (Object m : list(c, "volumeMounts")) assertTrue(volumes.contains(str(m, "name")), where + " mount " + str(m, "name"));
      Map<String, Object> requests = map(map(c, "resources"), "requests");
      assertNotNull(requests.get("cpu"), where + " cpu request");
      assertNotNull(requests.get("memory"), where + " memory request");
      assertEquals("start", args(w).get(0), where);
    }
  }

  @Test
  void portsAndProbesMatchTheContract() {
    Map<String, String> config = configMap();
    for (Map<String, Object> w : workloads()) {
      String where = w.get("kind") + "/" + name(w);
      Map<String, Object> c = container(w);
      Map<String, Integer> ports = new HashMap<>();
      for (Object p : list(c, "ports")) ports.put(str(p, "name"), Integer.parseInt(str(p, "containerPort")));
      assertEquals(NodeOptions.DEFAULT_CLUSTER_PORT, ports.get("hazelcast"), where);
      assertEquals(Integer.parseInt(config.get("COMPANION_CLUSTER_PORT")), ports.get("hazelcast"), where);
      assertEquals(Integer.parseInt(config.get("COMPANION_EVENT_BUS_PORT")), ports.get("eventbus"), where);
      int probePort;
      if (roles(w).contains("gateway")) {
        assertEquals(NodeOptions.DEFAULT_HTTP_PORT, ports.get("http"), where);
        assertEquals(NodeOptions.DEFAULT_GRPC_PORT, ports.get("grpc"), where);
        assertEquals(Integer.parseInt(config.get("COMPANION_HTTP_PORT")), ports.get("http"), where);
        probePort = ports.get("http");
      } else {
        probePort = Integer.parseInt(config.get("COMPANION_HEALTH_PORT"));
        assertEquals(probePort, ports.get("health"), where + ": the health port the node serves without a gateway");
      }
      for (String[] probe : new String[][] {{"livenessProbe", "/health/live"}, {"readinessProbe", "/health/ready"}}) {
        Map<String, Object> get = map(map(c, probe[0]), "httpGet");
        assertEquals(probe[1], str(get, "path"), where + " " + probe[0]);
        String port = str(get, "port");
        int resolved = ports.containsKey(port) ? ports.get(port) : Integer.parseInt(port);
        assertEquals(probePort, resolved, where + " " + probe[0] + " port");
      }
    }
  }

  static Map<String, String> configMap() {
    assertEquals(1, kind("ConfigMap").size());
    Map<String, String> out = new HashMap<>();
    map(kind("ConfigMap").get(0), "data").forEach((k, v) -> out.put(k, String.valueOf(v)));
    return out;
  }

  @Test
  void everyConfigKeyIsAFlagOfStartAndDiscoveryUsesTheHeadlessService() {
    CommandLine start = CompanionCli.commandLine(Map.of(), Map.of()).getSubcommands().get("start");
    Set<String> envNames = new HashSet<>();
    start.getCommandSpec().options().forEach(o -> envNames.add(ConfigDefaults.envName(o.longestName())));
    Map<String, String> config = configMap();
    for (String key : config.keySet()) assertTrue(envNames.contains(key), key + " is no flag of companion start");
    assertEquals("true", config.get("COMPANION_KUBERNETES"));
    // the headless service the DNS name points at
    String dns = config.get("COMPANION_KUBERNETES_SERVICE_DNS");
    Map<String, Object> headless = kind("Service").stream().filter(s -> dns.startsWith(name(s) + "." + NAMESPACE + ".svc"))
        .findFirst().orElseThrow(() -> new AssertionError("no Service for " + dns));
    assertEquals("None", str(map(headless, "spec"), "clusterIP"));
    assertEquals("true", str(map(headless, "spec"), "publishNotReadyAddresses"));
    assertTrue(list(map(headless, "spec"), "ports").stream()
        .anyMatch(p -> Integer.parseInt(str(p, "port")) == NodeOptions.DEFAULT_CLUSTER_PORT));
    // every Service selects some pods and targets ports those pods declare
    for (Map<String, Object> s : kind("Service")) {
      Map<String, Object> sel = map(map(s, "spec"), "selector");
      List<Map<String, Object>> matched = workloads().stream().filter(w -> {
        Map<String, Object> labels = map(map(map(map(w, "spec"), "template"), "metadata"), "labels");
        return sel.entrySet().stream().allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
      }).toList();
      assertFalse(matched.isEmpty(), "Service " + name(s) + " selects no pods");
      for (Object p : list(map(s, "spec"), "ports")) {
        String target = str(p, "targetPort");
        for (Map<String, Object> w : matched) {
          boolean declared = list(container(w), "ports").stream()
              .anyMatch(cp -> target.equals(str(cp, "name")) || target.equals(str(cp, "containerPort")));
          assertTrue(declared, "Service " + name(s) + " port " + target + " on " + name(w));
        }
      }
    }
    Map<String, Object> gatewaySvc = kind("Service").stream().filter(s -> "companion-gateway".equals(name(s))).findFirst()
        .orElseThrow();
    assertTrue(list(map(gatewaySvc, "spec"), "ports").stream()
        .anyMatch(p -> Integer.parseInt(str(p, "port")) == NodeOptions.DEFAULT_HTTP_PORT));
  }

  /**
   * The image the CPU manifests run is the one the Dockerfile builds (its tag in the Dockerfile's build line), and its
   * runtime stage holds what ./companion runs without building: the launcher, cluster-config/target/classes and lib
   * and the build stamp, at the paths the launcher reads. (No Docker engine runs here: the image itself is not built
   * in the tests; the layout was checked by copying the same paths and starting a node from them.)
   */
  @Test
  void theImageTheManifestsNameIsWhatTheDockerfileBuildsForTheLauncher() throws IOException {
    String dockerfile = Files.readString(root.resolve("Dockerfile"));
    for (Map<String, Object> w : workloads()) {
      String image = str(container(w), "image");
      if (image.endsWith("-cuda")) continue;   // the CUDA image needs ONNX Runtime's GPU build: not in this Dockerfile
      assertTrue(dockerfile.contains("docker build -t " + image + " ."), name(w) + " runs " + image);
    }
    assertTrue(dockerfile.contains("ENTRYPOINT [\"/app/companion\"]"));
    String launcher = Files.readString(root.resolve("companion"));
    assertTrue(launcher.contains("TARGET=\"$ROOT/cluster-config/target\""));
    assertTrue(launcher.contains("STAMP=\"$TARGET/.companion-build-stamp\""));
    for (String path : List.of("classes", "lib", ".companion-build-stamp")) {
      assertTrue(dockerfile.contains("/src/cluster-config/target/" + path + " /app/cluster-config/target/" + path),
          "the image holds cluster-config/target/" + path);
    }
    // every other file the runtime stage copies is in the checkout
    for (String line : dockerfile.split("\n")) {
      if (!line.startsWith("COPY --from=build /src/")) continue;
      String from = line.substring("COPY --from=build /src/".length()).split(" ")[0];
      if (!from.contains("/target/")) assertTrue(Files.exists(root.resolve(from)), from);
    }
  }
}
