package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.companion.node.cli.StartCommand;
import ai.companion.node.impl.ConfigDefaults;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CompanionCliTest {

  private static NodeOptions parseStart(Map<String, String> env, Map<String, String> file, String... args) {
    CommandLine cli = CompanionCli.commandLine(env, file);
    CommandLine.ParseResult parsed = cli.parseArgs(args);
    StartCommand start = (StartCommand) parsed.subcommand().commandSpec().userObject();
    return start.toOptions();
  }

  @Test
  void flagsWinOverEnvironmentWhichWinsOverTheConfigFile() {
    Map<String, String> env = Map.of("COMPANION_HTTP_PORT", "8181", "COMPANION_DATA_DIR", "/env/dir");
    Map<String, String> file = Map.of("http-port", "8282", "grpcPort", "9393", "cluster_port", "5999",
        "roles", "worker,router", "join", "10.0.0.1:5701,10.0.0.2:5701");
    NodeOptions o = parseStart(env, file, "start", "--data-dir", "/flag/dir");
    assertEquals("/flag/dir", o.getDataDir());
    assertEquals(8181, o.getHttpPort());
    assertEquals(9393, o.getGrpcPort());
    assertEquals(5999, o.getClusterPort());
    assertEquals(List.of("worker", "router"), List.copyOf(o.getRoles()));
    assertEquals(List.of("10.0.0.1:5701", "10.0.0.2:5701"), o.getJoin());
  }

  @Test
  void everyFlagHasItsEnvironmentVariable() {
    Map<String, String> env = Map.of("COMPANION_ROLES", "worker", "COMPANION_JOIN", "127.0.0.1:5701",
        "COMPANION_CLUSTER_SECRET", "abc", "COMPANION_INTERFACE", "10.1.0.0/16", "COMPANION_MULTICAST", "false",
        "COMPANION_NODE_NAME", "w1", "COMPANION_SEED_PATHS", "/r/README.md,/r/docs");
    NodeOptions o = parseStart(env, Map.of(), "start");
    assertEquals(List.of("worker"), List.copyOf(o.getRoles()));
    assertEquals(List.of("127.0.0.1:5701"), o.getJoin());
    assertEquals("abc", o.getClusterSecret());
    assertEquals("10.1.0.0/16", o.getInterfaceCidr());
    assertEquals("w1", o.getNodeName());
    assertEquals(List.of("/r/README.md", "/r/docs"), o.getSeedPaths());
    assertEquals("COMPANION_HTTP_PORT", ConfigDefaults.envName("--http-port"));
  }

  @Test
  void configFileIsJsonOrProperties(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("node.json");
    Files.writeString(json, "{\"httpPort\": 7070, \"roles\": [\"gateway\", \"router\"], \"multicast\": true}");
    Path props = dir.resolve("node.properties");
    Files.writeString(props, "http-port=7171\nnode-name=p1\n");
    String[] args = {"--config", json.toString(), "start"};
    NodeOptions a = parseStart(Map.of(), ConfigDefaults.readFile(ConfigDefaults.configFile(args, Map.of())), args);
    assertEquals(7070, a.getHttpPort());
    assertEquals(List.of("gateway", "router"), List.copyOf(a.getRoles()));
    assertEquals(true, a.isMulticast());
    Map<String, String> p = ConfigDefaults.readFile(ConfigDefaults.configFile(new String[] {"start"},
        Map.of("COMPANION_CONFIG", props.toString())));
    NodeOptions b = parseStart(Map.of(), p, "start");
    assertEquals(7171, b.getHttpPort());
    assertEquals("p1", b.getNodeName());
  }

  @Test
  void defaultsWithoutAnything() {
    NodeOptions o = parseStart(Map.of(), Map.of(), "start");
    assertEquals(NodeOptions.DEFAULT_HTTP_PORT, o.getHttpPort());
    assertEquals(NodeOptions.ALL_ROLES, List.copyOf(o.getRoles()));
    assertEquals("medium", o.getOptimizationLevel());
    assertEquals("auto", o.getDevice());
  }

  @Test
  void optimizationLevelAndDeviceFromFlagsEnvironmentOrFile() {
    NodeOptions flags = parseStart(Map.of(), Map.of(), "start", "--optimization-level", "high", "--device", "CPU");
    assertEquals("high", flags.getOptimizationLevel());
    assertEquals("cpu", flags.getDevice());
    NodeOptions env = parseStart(Map.of("COMPANION_OPTIMIZATION_LEVEL", "low", "COMPANION_DEVICE", "cuda"),
        Map.of("optimizationLevel", "high", "device", "coreml"), "start");
    assertEquals("low", env.getOptimizationLevel());
    assertEquals("cuda", env.getDevice());
    NodeOptions file = parseStart(Map.of(), Map.of("optimization-level", "high", "device", "directml"), "start");
    assertEquals("high", file.getOptimizationLevel());
    assertEquals("directml", file.getDevice());
    assertEquals(file.toJson(), new NodeOptions(file.toJson()).toJson());
    assertThrows(IllegalArgumentException.class, () -> parseStart(Map.of(), Map.of(), "start", "--device", "tpu"));
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--optimization-level", "ultra"));
    // the key/value cache: in place by default; standard from a flag, the environment or the file
    assertEquals("in-place", flags.getKvCache());
    assertEquals("standard", parseStart(Map.of(), Map.of(), "start", "--kv-cache", "standard").getKvCache());
    assertEquals("standard", parseStart(Map.of("COMPANION_KV_CACHE", "standard"), Map.of(), "start").getKvCache());
    assertEquals("standard", parseStart(Map.of(), Map.of("kv-cache", "standard"), "start").getKvCache());
    assertThrows(IllegalArgumentException.class, () -> parseStart(Map.of(), Map.of(), "start", "--kv-cache", "paged"));
    assertEquals(0, flags.getHttpEventLoops());
    assertEquals(3, parseStart(Map.of(), Map.of(), "start", "--http-event-loops", "3").getHttpEventLoops());
    assertEquals(2, parseStart(Map.of("COMPANION_HTTP_EVENT_LOOPS", "2"), Map.of(), "start").getHttpEventLoops());
    assertEquals(4, parseStart(Map.of(), Map.of("http-event-loops", "4"), "start").getHttpEventLoops());
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--http-event-loops", "-2"));
    assertEquals("auto", flags.getModelVariant());
    assertEquals("int8", parseStart(Map.of(), Map.of(), "start", "--model-variant", "int8").getModelVariant());
    assertEquals("int4", parseStart(Map.of("COMPANION_MODEL_VARIANT", "int4"), Map.of(), "start").getModelVariant());
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--model-variant", "fp8"));
    assertEquals(0, flags.getDecodeLanes());
    assertEquals(1, parseStart(Map.of(), Map.of(), "start", "--decode-lanes", "1").getDecodeLanes());
    assertEquals(2, parseStart(Map.of("COMPANION_DECODE_LANES", "2"), Map.of(), "start").getDecodeLanes());
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--decode-lanes", "-1"));
    // ./companion start warms up; a node built in code does not unless told
    assertEquals(NodeOptions.DEFAULT_WARM_UP_STREAMS, flags.getWarmUpStreams());
    assertEquals(0, new NodeOptions().getWarmUpStreams());
    assertEquals(0, parseStart(Map.of(), Map.of(), "start", "--warm-up", "0").getWarmUpStreams());
    assertEquals(200, parseStart(Map.of("COMPANION_WARM_UP", "200"), Map.of(), "start").getWarmUpStreams());
    assertThrows(IllegalArgumentException.class, () -> parseStart(Map.of(), Map.of(), "start", "--warm-up", "-5"));
    assertEquals(NodeOptions.DEFAULT_PROMPT_CACHE_MB, flags.getPromptCacheMb());
    assertEquals(0, parseStart(Map.of(), Map.of(), "start", "--prompt-cache-mb", "0").getPromptCacheMb());
    assertEquals(32, parseStart(Map.of("COMPANION_PROMPT_CACHE_MB", "32"), Map.of(), "start").getPromptCacheMb());
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--prompt-cache-mb", "-1"));
    assertEquals(NodeOptions.DEFAULT_PREFILL_SLICE_MS, flags.getPrefillSliceMs());
    assertEquals(250, parseStart(Map.of("COMPANION_PREFILL_SLICE_MS", "250"), Map.of(), "start").getPrefillSliceMs());
    assertEquals(NodeOptions.DEFAULT_PREFILL_FIRST_MS, flags.getPrefillFirstMs());
    assertEquals(300, parseStart(Map.of("COMPANION_PREFILL_FIRST_MS", "300"), Map.of(), "start").getPrefillFirstMs());
    assertThrows(IllegalArgumentException.class,
        () -> parseStart(Map.of(), Map.of(), "start", "--prefill-first-ms", "-1"));
  }

  @Test
  void badInputExitsNonZeroWithoutStartingAnything(@TempDir Path dir) {
    assertEquals(2, CompanionCli.run(new String[] {"start", "--http-port", "nope"}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"start", "--roles", "chef", "--data-dir", dir.toString()}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"--config", dir.resolve("missing.json").toString(), "start"}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"model", "import", dir.resolve("none.bin").toString(), "--name", "x",
        "--data-dir", dir.toString()}, Map.of()));
    assertNotEquals(0, CompanionCli.run(new String[] {"model", "import", "--name", "x"}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"start", "--device", "tpu", "--data-dir", dir.toString()}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"start", "--optimization-level", "max", "--data-dir", dir.toString()},
        Map.of()));
    assertEquals(0, CompanionCli.run(new String[] {"models", "--data-dir", dir.toString()}, Map.of()));
  }
}
