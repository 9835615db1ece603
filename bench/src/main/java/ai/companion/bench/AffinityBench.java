package ai.companion.bench;

import ai.companion.api.ModelPaths;
import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.ChildNode;
import ai.companion.bench.impl.HttpStreams;
import ai.companion.bench.impl.Machine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.node.cluster.Ports;
import ai.companion.router.RouterOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * A chat's next turns in a cluster of two worker nodes, each with its own prompt cache: the router sending a turn to
 * the worker its conversation's beginning belongs to (prefix affinity, {@code --affinity-slack}'s default) against
 * the least loaded worker always ({@code --affinity-slack 0}). Real child JVMs on loopback: two worker nodes stay up
 * for the whole run, and for each round a gateway+router node with the round's setting joins them; the settings
 * take turns (A B B A ...) after a warm-up round. In a round a few conversations run at once, each turn sent when
 * the one before answered, each prompt the conversation so far ({@link ChatBench}'s system prompt, answers and
 * questions; every round's first messages its own, so no round finds another's conversations).
 */
@Command(name = "affinity", mixinStandardHelpOptions = true,
    description = "A chat's next turns on two worker nodes: sent where the turn before ran (prefix affinity) or to "
        + "the least loaded worker.")
final class AffinityBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--model", description = "stories260K or smollm2-135m-random (default: ${DEFAULT-VALUE}).")
  String model = BenchModels.SMOL;

  @Option(names = "--conversations", description = "Conversations at once in a round (default: ${DEFAULT-VALUE}).")
  int conversations = 6;

  @Option(names = "--turns", description = "Turns per conversation (default: ${DEFAULT-VALUE}).")
  int turns = 6;

  @Option(names = "--rounds", description = "Measured rounds of each setting (default: ${DEFAULT-VALUE}).")
  int rounds = 2;

  @Override public void setMain(BenchMain main) { this.main = main; }

  private record Turn(int round, int conversation, int turn, int promptChars, String worker, double ms) {}

  private record Setting(String name, int slack) {}

  @Override public Integer call() throws Exception {
    Setting affinity = new Setting("prefix affinity (--affinity-slack " + RouterOptions.DEFAULT_AFFINITY_SLACK + ")",
        RouterOptions.DEFAULT_AFFINITY_SLACK);
    Setting leastLoaded = new Setting("least loaded (--affinity-slack 0)", 0);
    Path folder = main.modelFolder(model);
    Path logs = main.workDir().resolve("logs");
    Path gatewayData = main.workDir().resolve("data").resolve("affinity-gateway");
    Files.createDirectories(ModelPaths.modelsDir(gatewayData));
    String secret = "bench-" + UUID.randomUUID();
    int seedPort = Ports.free();
    Map<Setting, List<Turn>> turnsBy = new LinkedHashMap<>();
    Map<Setting, List<Double>> copiedBy = new LinkedHashMap<>();
    List<Setting> order = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      order.addAll(r % 2 == 0 ? List.of(affinity, leastLoaded) : List.of(leastLoaded, affinity));
    }
    Vertx vertx = Vertx.vertx();
    try (ChildNode w1 = startWorker(1, folder, seedPort, List.of(), secret);
         ChildNode w2 = startWorker(2, folder, Ports.free(), List.of("--join", "127.0.0.1:" + seedPort), secret)) {
      w1.awaitReady(300);
      w2.awaitReady(300);
      for (int round = 0; round <= order.size(); round++) {
        Setting s = round == 0 ? affinity : order.get(round - 1);     // round 0: a warm-up, not counted
        List<String> args = List.of("--roles", "gateway,router", "--http-port", "0",
            "--grpc-port", String.valueOf(Ports.free()), "--cluster-port", String.valueOf(Ports.free()),
            "--join", "127.0.0.1:" + seedPort, "--data-dir", gatewayData.toString(),
            "--node-name", "bench-gateway-" + round, "--cluster-secret", secret,
            "--affinity-slack", String.valueOf(s.slack()));
        try (ChildNode gw = ChildNode.start("affinity-gateway", args, logs.resolve("affinity-gateway.log"),
            main.nodeJvmFlags(), List.of())) {
          int port = gw.awaitReady(300);
          try (HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, conversations * 2)) {
            awaitWorkers(client, 2);
            Thread.sleep(2500);     // both workers' statuses (every 2 s) reach the new gateway's /metrics
            System.err.println("affinity: round " + round + (round == 0 ? " (warm-up)" : "") + ", " + s.name());
            double copied0 = copiedTokens(client);
            List<Turn> done = runRound(client, round);
            Thread.sleep(2500);     // the workers' next status carries their counters to the gateway's /metrics
            double copied = copiedTokens(client) - copied0;
            if (round > 0) {
              turnsBy.computeIfAbsent(s, k -> new ArrayList<>()).addAll(done);
              copiedBy.computeIfAbsent(s, k -> new ArrayList<>()).add(copied);
            }
          }
        }
      }
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
    report(List.of(affinity, leastLoaded), turnsBy, copiedBy);
    return 0;
  }

  /** Worker node {@code n} on its own data dir (its own prompt cache) with the model of {@code folder}. */
  private ChildNode startWorker(int n, Path folder, int clusterPort, List<String> join, String secret)
      throws Exception {
    String dir = folder.getFileName() + "-worker-" + n;
    List<String> args = new ArrayList<>(List.of("--roles", "worker", "--cluster-port", String.valueOf(clusterPort),
        "--data-dir", main.models().dataDirFor(folder, dir).toString(), "--node-name", "bench-worker-" + n,
        "--cluster-secret", secret));
    args.addAll(join);
    return ChildNode.start("affinity-worker-" + n, args, main.workDir().resolve("logs").resolve("affinity-worker-" + n
        + ".log"), main.nodeJvmFlags(), List.of());
  }

  /** Polls the gateway's view of the cluster until it counts {@code n} workers (a minute at most). */
  private static void awaitWorkers(HttpStreams client, int n) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      JsonObject nodes = new JsonObject(client.getText("/v1/cluster/nodes").await(30, TimeUnit.SECONDS));
      int workers = 0;
      for (Object o : nodes.getJsonArray("nodes", new JsonArray())) {
        workers += ((JsonObject) o).getJsonObject("load", new JsonObject()).getInteger("workers", 0);
      }
      if (workers >= n) return;
      Thread.sleep(200);
    }
    throw new IllegalStateException("the gateway did not see " + n + " workers within a minute");
  }

  /** The gateway's count of prompt tokens the workers copied from their prompt caches. */
  private static double copiedTokens(HttpStreams client) throws Exception {
    String metrics = client.getText("/metrics").await(30, TimeUnit.SECONDS);
    for (String line : metrics.split("\n")) {
      if (line.startsWith("companion_prompt_cache_tokens_total")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return Double.NaN;
  }

  private List<Turn> runRound(HttpStreams client, int round) throws Exception {
    List<Turn> done = Collections.synchronizedList(new ArrayList<>());
    List<Future<Void>> all = new ArrayList<>();
    for (int c = 0; c < conversations; c++) {
      JsonArray messages = new JsonArray()
          .add(message("system", ChatBench.SYSTEM))
          .add(message("user", "Hello, my name is " + ChatBench.NAMES[c % ChatBench.NAMES.length] + " and this is "
              + "talk " + (round * conversations + c) + ". Tell me a story."));
      all.add(turn(client, round, c, 0, messages, done));
    }
    Future.all(all).await(600, TimeUnit.SECONDS);
    return done;
  }

  /** Turn {@code t} of conversation {@code c}, then the next one when it answered. */
  private Future<Void> turn(HttpStreams client, int round, int c, int t, JsonArray messages, List<Turn> done) {
    JsonObject body = new JsonObject().put("model", model).put("messages", messages.copy()).put("max_tokens", 1)
        .put("temperature", 0).put("stream", false);
    int chars = 0;
    for (Object m : messages) chars += ((JsonObject) m).getString("content").length();
    int promptChars = chars;
    long t0 = System.nanoTime();
    return client.postJson("/v1/chat/completions", body).compose(answer -> {
      double ms = (System.nanoTime() - t0) / 1e6;
      String worker = answer.getJsonObject("companion").getJsonObject("route").getString("worker");
      done.add(new Turn(round, c, t, promptChars, worker, ms));
      if (t + 1 >= turns) return Future.succeededFuture();
      messages.add(message("assistant", ChatBench.ANSWERS[(c + t) % ChatBench.ANSWERS.length]))
          .add(message("user", "And what happened next?"));
      return turn(client, round, c, t + 1, messages, done);
    });
  }

  private static JsonObject message(String role, String content) {
    return new JsonObject().put("role", role).put("content", content);
  }

  private void report(List<Setting> settings, Map<Setting, List<Turn>> turnsBy, Map<Setting, List<Double>> copiedBy)
      throws Exception {
    String load = Machine.loadAverage().split(" ")[0];
    Report summary = new Report("A chat's next turns on two workers: prefix affinity against the least loaded",
        main.commandLine())
        .columns("setting", "turns after a conversation's first", "on the worker of the turn before",
            "TTFT ms p50 / p90, turns after the first", "first turns' TTFT ms p50", "tokens copied a round",
            "load avg (1 min)");
    Report byTurn = new Report("A chat's next turns on two workers, by turn", main.commandLine())
        .columns("turn", "prompt characters", settings.get(0).name() + ": TTFT ms p50",
            settings.get(1).name() + ": TTFT ms p50", "least loaded / affinity");
    Map<Integer, double[]> medians = new TreeMap<>();
    Map<Integer, Integer> chars = new TreeMap<>();
    for (int i = 0; i < settings.size(); i++) {
      Setting s = settings.get(i);
      List<Turn> ts = turnsBy.getOrDefault(s, List.of());
      int later = 0;
      int same = 0;
      List<Double> laterMs = new ArrayList<>();
      List<Double> firstMs = new ArrayList<>();
      for (Turn t : ts) {
        if (t.turn() == 0) {
          firstMs.add(t.ms());
          continue;
        }
        later++;
        laterMs.add(t.ms());
        Turn before = previous(ts, t);
        if (before != null && before.worker().equals(t.worker())) same++;
      }
      List<Double> copied = copiedBy.getOrDefault(s, List.of());
      summary.row(s.name(), String.valueOf(later), later == 0 ? "-" : same + " (" + Stats.f0(100.0 * same / later) + "%)",
          Stats.f0(Stats.percentile(laterMs, 50)) + " / " + Stats.f0(Stats.percentile(laterMs, 90)),
          Stats.f0(Stats.percentile(firstMs, 50)), copied.isEmpty() ? "-" : Stats.f0(Stats.median(copied)), load);
      for (int turn = 0; turn < turns; turn++) {
        List<Double> ms = new ArrayList<>();
        for (Turn t : ts) {
          if (t.turn() != turn) continue;
          ms.add(t.ms());
          chars.merge(turn, t.promptChars(), Math::max);
        }
        medians.computeIfAbsent(turn, k -> new double[settings.size()])[i] = Stats.median(ms);
      }
    }
    for (Map.Entry<Integer, double[]> e : medians.entrySet()) {
      double[] m = e.getValue();
      byTurn.row(String.valueOf(e.getKey() + 1), String.valueOf(chars.get(e.getKey())), Stats.f0(m[0]),
          Stats.f0(m[1]), Stats.ratio(m[1], m[0]));
    }
    String how = "Model " + model + " on two worker nodes (`companion start --roles worker`, each its own data dir and "
        + "prompt cache) and a gateway+router node started anew for each round with the round's --affinity-slack; "
        + "the settings take turns, " + rounds + " measured round(s) each after a warm-up round. A round: "
        + conversations + " conversations at once, " + turns + " turns each, a turn sent when the one before "
        + "answered; each prompt the conversation so far (one system prompt for all, then the conversation's own "
        + "first message, then answers of 35-45 tokens and a question), non-streaming /v1/chat/completions with "
        + "max_tokens 1, temperature 0: its time to the whole answer is the time to the first token plus one HTTP "
        + "body. 'On the worker of the turn before': the answer's route (its companion field). 'Tokens copied': the "
        + "gateway's companion_prompt_cache_tokens_total across the round (median of the rounds). All JVMs share "
        + "this machine's cores.";
    summary.note(how);
    byTurn.note("Medians over every round's conversations of each setting. " + how);
    main.emit(summary);
    main.emit(byTurn);
  }

  /** The turn before {@code t} in its conversation. */
  private static Turn previous(List<Turn> ts, Turn t) {
    for (Turn u : ts) {
      if (u.round() == t.round() && u.conversation() == t.conversation() && u.turn() == t.turn() - 1) return u;
    }
    return null;
  }
}
