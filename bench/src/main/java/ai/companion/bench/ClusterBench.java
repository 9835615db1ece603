package ai.companion.bench;

import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.ChildNode;
import ai.companion.bench.impl.HttpStreams;
import ai.companion.bench.impl.Machine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.bench.impl.Timeline;
import ai.companion.node.cluster.Ports;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * Cluster figures with real child JVMs on loopback, each started as {@code ./companion start} starts a node:
 *
 * <ul>
 *   <li>join: a gateway+router node runs; a worker node ({@code --roles worker --join}) is started; measured: its
 *       READY line, and the first completion served through the gateway (polled every 100 ms);</li>
 *   <li>overhead: streamed tokens through that gateway from the worker on the other node, against the same from one
 *       node with every role, in the same run: ms per token and TTFT, single streams and 16 together.</li>
 * </ul>
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
    description = "Worker join-and-serve time; streaming per-token overhead across nodes vs in one node.")
final class ClusterBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--tokens", description = "Tokens per stream (default: ${DEFAULT-VALUE}).")
  int tokens = 128;

  @Option(names = "--runs", description = "Single-stream runs per setup after a warm-up (default: ${DEFAULT-VALUE}).")
  int runs = 5;

  @Option(names = "--streams", description = "Concurrent streams for the aggregate figure (default: ${DEFAULT-VALUE}).")
  int streams = 16;

  @Override public void setMain(BenchMain main) { this.main = main; }

  private record Figures(double msPerToken, double ttftMs, double aggregateTps, String load) {}

  @Override public Integer call() throws Exception {
    Path folder = main.models().stories();
    Path workerData = main.models().dataDirFor(folder);
    Path gatewayData = main.workDir().resolve("data").resolve("cluster-gateway");
    Files.createDirectories(gatewayData.resolve("models"));
    Path logs = main.workDir().resolve("logs");
    String secret = "bench-" + UUID.randomUUID();
    Report join = new Report("Worker join and serve", main.commandLine())
        .columns("step", "ms from the worker's process start", "load avg (1 min)");
    Report overhead = new Report("Streaming overhead across nodes vs one node", main.commandLine())
        .columns("setup", "ms/token (best of " + runs + ")", "TTFT ms (best of " + runs + ")",
            streams + " streams tokens/s (best of 3)",
            "load avg (1 min)");
    Vertx vertx = Vertx.vertx();
    Figures cross;
    Figures single;
    try {
      int clusterPort = Ports.free();
      try (ChildNode gw = ChildNode.start("gateway", List.of("--roles", "gateway,router", "--http-port", "0",
          "--grpc-port", String.valueOf(Ports.free()), "--cluster-port", String.valueOf(clusterPort),
          "--data-dir", gatewayData.toString(), "--node-name", "bench-gateway", "--cluster-secret", secret),
          logs.resolve("cluster-gateway.log"), main.nodeJvmFlags(), List.of())) {
        int port = gw.awaitReady(300);
        HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, 64);
        System.err.println("cluster: gateway node READY after " + Stats.f0(gw.readyMs()) + " ms; starting the worker");
        try (ChildNode worker = ChildNode.start("worker", List.of("--roles", "worker",
            "--join", "127.0.0.1:" + clusterPort, "--cluster-port", String.valueOf(Ports.free()),
            "--data-dir", workerData.toString(), "--node-name", "bench-worker", "--cluster-secret", secret),
            logs.resolve("cluster-worker.log"), main.nodeJvmFlags(), List.of())) {
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
          double servedMs = Double.NaN;
          int attempts = 0;
          while (System.nanoTime() < deadline) {
            attempts++;
            Timeline t = client.complete(BenchModels.STORIES, "Once", 1, 0, null).await(60, TimeUnit.SECONDS);
            if (t.ok()) {
              servedMs = (t.endNs() - worker.startNs()) / 1e6;
              break;
            }
            Thread.sleep(100);
          }
          worker.awaitReady(10);
          String load = Machine.loadAverage().split(" ")[0];
          join.row("worker READY line (joined, every verticle of the role deployed, embeddings included)", Stats.f0(worker.readyMs()), load);
          join.row("first completion served through the gateway", Stats.f0(servedMs), load);
          join.note("Gateway+router node up first; then `companion start --roles worker --join 127.0.0.1:PORT` "
              + "in a new JVM with stories260K in its data dir. The first completion (max_tokens 1) is polled every "
              + "100 ms through the gateway's HTTP API (" + attempts + " attempts). Includes JVM start, Hazelcast "
              + "join, model load and the embeddings verticle the worker role deploys.");
          cross = measure(client, "two nodes");
        }
        client.close();
      }
      try (ChildNode one = ChildNode.start("single", List.of("--roles", "gateway,router,worker", "--http-port", "0",
          "--grpc-port", String.valueOf(Ports.free()), "--cluster-port", String.valueOf(Ports.free()),
          "--data-dir", workerData.toString(), "--node-name", "bench-single", "--cluster-secret", secret + "-single"),
          logs.resolve("cluster-single.log"), main.nodeJvmFlags(), List.of())) {
        int port = one.awaitReady(300);
        HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, 64);
        single = measure(client, "one node");
        client.close();
      }
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
    }
    overhead.row("one node (gateway, router, worker in one JVM)", Stats.f2(single.msPerToken()),
        Stats.f1(single.ttftMs()), Stats.f0(single.aggregateTps()), single.load());
    overhead.row("two nodes (gateway+router JVM, worker JVM, event bus over loopback)", Stats.f2(cross.msPerToken()),
        Stats.f1(cross.ttftMs()), Stats.f0(cross.aggregateTps()), cross.load());
    overhead.row("ratio two nodes / one node", Stats.ratio(cross.msPerToken(), single.msPerToken()),
        Stats.ratio(cross.ttftMs(), single.ttftMs()), Stats.ratio(cross.aggregateTps(), single.aggregateTps()), "");
    overhead.note("stories260K, greedy from \"Once upon a time\", " + tokens + " tokens, streamed /v1/completions; "
        + "ms/token = 1000 / decode tokens/s of a single stream; best of " + runs + " after a warm-up (the machine "
        + "is shared; other load only slows a run down). " + streams + " streams: sampled, one seed each, all tokens "
        + "/ wall time, best of 3. Event bus without TLS (no keys in "
        + "the data dirs), as `companion start` runs without `cluster keys`.");
    main.emit(join);
    main.emit(overhead);
    return 0;
  }

  private Figures measure(HttpStreams client, String label) throws Exception {
    System.err.println("cluster: measuring " + label);
    client.complete(BenchModels.STORIES, "Once upon a time", tokens, 0, null).await(120, TimeUnit.SECONDS);
    List<Double> ms = new ArrayList<>();
    List<Double> ttft = new ArrayList<>();
    for (int i = 0; i < runs; i++) {
      Timeline t = client.complete(BenchModels.STORIES, "Once upon a time", tokens, 0, null).await(120, TimeUnit.SECONDS);
      if (!t.ok()) throw new IllegalStateException(label + ": stream failed: " + t.error());
      ms.add(t.msPerToken());
      ttft.add(t.ttftMs());
    }
    double bestTps = 0;
    for (int r = 0; r < 3; r++) {
      long t0 = System.nanoTime();
      List<Future<Timeline>> fs = new ArrayList<>();
      for (int i = 0; i < streams; i++) {
        fs.add(client.complete(BenchModels.STORIES, "Once upon a time", tokens, 0.8, 500L + i));
      }
      Future.all(fs).await(300, TimeUnit.SECONDS);
      long end = t0;
      int n = 0;
      for (Future<Timeline> f : fs) {
        if (!f.result().ok()) throw new IllegalStateException(label + ": stream failed: " + f.result().error());
        n += f.result().tokens();
        end = Math.max(end, f.result().endNs());
      }
      bestTps = Math.max(bestTps, n / ((end - t0) / 1e9));
    }
    return new Figures(Stats.percentile(ms, 0), Stats.percentile(ttft, 0), bestTps, Machine.loadAverage().split(" ")[0]);
  }
}
