package ai.companion.bench;

import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.ChildNode;
import ai.companion.bench.impl.HeapProbe;
import ai.companion.bench.impl.HttpStreams;
import ai.companion.bench.impl.Machine;
import ai.companion.bench.impl.NativeClients;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.bench.impl.Timeline;
import ai.companion.node.cluster.Ports;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * Many concurrent streaming HTTP clients on one node serving stories260K. The node runs in a child JVM started
 * as {@code ./companion start} starts it (gateway, router, worker), so its resident memory is its own; the
 * clients are one Vert.x HttpClient in this JVM with a connection per stream, on loopback: in waves of all clients
 * at once, or ({@code --rate}) arriving one at a time at steady rates. Bounded in count and time: whatever has not
 * finished by {@code --timeout} counts as an error.
 */
@Command(name = "clients", mixinStandardHelpOptions = true,
    description = "2000 concurrent streaming HTTP clients on one node (stories260K): errors, TTFT p50/p99, memory per "
        + "stream; or, with --rate, requests arriving at steady rates.")
final class ClientsBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  /** Every stream's sampling temperature (each client its own seed). */
  private static final double TEMPERATURE = 0.8;

  @Option(names = "--roles", description = "The node's roles (default: ${DEFAULT-VALUE}; add knowledge for what a "
      + "plain ./companion start runs, which logs every question with the knowledge service).")
  String roles = "gateway,router,worker";

  @Option(names = "--distinct-prompts", description = "Each client asks its own question (\"Once upon a time "
      + "there was N\"), not all the same one: what a knowledge role that logs questions sees as distinct.")
  boolean distinctPrompts;

  @Option(names = "--clients", description = "Concurrent streams (default: ${DEFAULT-VALUE}).")
  int clients = 2000;

  @Option(names = "--tokens", description = "Tokens per stream (default: ${DEFAULT-VALUE}).")
  int tokens = 32;

  @Option(names = "--waves", description = "Waves of all clients, one after another (default: ${DEFAULT-VALUE}).")
  int waves = 2;

  @Option(names = "--pause-ms", description = "A pause between waves, so that the node's work after a burst (the "
      + "knowledge role's logging of its questions) is done before the next burst (default: ${DEFAULT-VALUE}: "
      + "each wave follows at once).")
  long pauseMs = 0;

  @Option(names = "--rate", split = ",", paramLabel = "PER_SECOND", description = "Instead of waves (--waves and "
      + "--pause-ms do not apply), an open loop: requests arrive one at a time at this many a second on average "
      + "(Poisson arrivals, seeded) for --duration seconds, each on its own new connection; a list runs each rate in "
      + "turn on the same node, e.g. 300,600,900.")
  List<Integer> rates = new ArrayList<>();

  @Option(names = "--duration", description = "Seconds of arrivals for each --rate (default: ${DEFAULT-VALUE}).")
  int durationSec = 10;

  @Option(names = "--timeout", description = "Seconds each wave may take (default: ${DEFAULT-VALUE}).")
  int timeoutSec = 300;

  @Option(names = "--client", paramLabel = "native|vertx", description = "Who sends the waves: native, a "
      + "single-threaded C program (bench/native/sse-clients.c, built with the machine's cc on first use) that takes "
      + "about a third of the JVM client's CPU on the cores the node serves from; or vertx, this JVM's Vert.x "
      + "HttpClient, which parses every chunk as JSON. --rate always uses the JVM client (default: ${DEFAULT-VALUE}).")
  String clientKind = "native";

  @Option(names = "--warm-client-waves", description = "Before the measured node starts, run this many waves "
      + "against a throwaway node, so that this client JVM has compiled its side (its JIT, C1 as a node's, is quiet "
      + "after two) and the measured node's youth is what the first waves show; 0: none (default: ${DEFAULT-VALUE}).")
  int warmClientWaves = 3;

  @Option(names = "--node-jvm-option", paramLabel = "FLAG",
      description = "An extra JVM flag for the node, e.g. a profiler's (repeatable).")
  List<String> nodeJvmOptions = new ArrayList<>();

  @Option(names = "--node-option", paramLabel = "ARG", description = "An extra argument of the node's start command, "
      + "e.g. --node-option=--knowledge-embedding-variant=fp32 (repeatable; the client's warm-up node gets it too).")
  List<String> nodeOptions = new ArrayList<>();

  @Option(names = "--heap-histogram", paramLabel = "FILE",
      description = "Also write the node's live-object histogram at the memory snapshot to FILE.")
  Path histogram;

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    if (clients < 1 || clients > 10_000) throw new IllegalArgumentException("--clients must be 1..10000");
    if (warmClientWaves < 0) throw new IllegalArgumentException("--warm-client-waves must be 0 or more");
    if (!clientKind.equals("native") && !clientKind.equals("vertx")) {
      throw new IllegalArgumentException("--client must be native or vertx, got " + clientKind);
    }
    for (int rate : rates) if (rate < 1 || rate > 10_000) throw new IllegalArgumentException("--rate must be 1..10000");
    if (durationSec < 1) throw new IllegalArgumentException("--duration must be at least 1");
    // the C client sends waves only; the open loop, the warm-up streams and the probes are the JVM's
    NativeClients nativeClients = clientKind.equals("native") && rates.isEmpty()
        ? NativeClients.build(BenchMain.benchDir(), main.workDir().resolve("native")) : null;
    Report r = !rates.isEmpty() ? openLoopReport()
        : new Report(clients + " concurrent streaming clients on one node", main.commandLine())
        .columns("wave", "clients", "tokens each", "completed", "errors", "headers p50 / p99 ms", "TTFT p50 ms", "TTFT p99 ms",
            "TTFT max ms",
            "wall s", "aggregate tokens/s", "node CPU ms / request", "client CPU ms / request", "client JIT ms", "node RSS before", "node RSS peak", "RSS per stream",
            "load avg (1 min)", "connected p50 / p99 ms", "TTFT after connect p50 / p99 ms");
    Path folder = main.models().stories();
    Path dataDir = main.models().dataDirFor(folder);
    Path log = main.workDir().resolve("logs").resolve("clients-node.log");
    Vertx vertx = Vertx.vertx();
    List<Long> clientWarmUpJit = List.of();
    ChildNode node;
    try {
      if (warmClientWaves > 0 && nativeClients == null) clientWarmUpJit = warmClient(vertx, dataDir);
      node = startNode(dataDir, log, nodeJvmOptions);
    } catch (Exception e) {
      vertx.close().await(30, TimeUnit.SECONDS);
      throw e;
    }
    String memory;
    String plain;
    try {
      int port = node.awaitReady(300);
      HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, clients);
      // warm-up (JIT, the model's first steps) on its own client; each wave below gets a new one
      List<Future<Timeline>> warm = new ArrayList<>();
      for (int i = 0; i < 32; i++) warm.add(client.complete(BenchModels.STORIES, "Once upon a time", tokens, TEMPERATURE, (long) i));
      Future.all(warm).await(120, TimeUnit.SECONDS);
      Thread.sleep(2000);
      // no live-heap probe here: its full GC would shrink the heap the node sized in its own warm-up, which a
      // node's first burst after READY does not meet (the probes run after the waves)
      long rssBefore = Machine.rssBytes(node.pid());
      AtomicLong rssPeak = new AtomicLong(rssBefore);
      long sampler = vertx.setPeriodic(100, t -> rssPeak.accumulateAndGet(Machine.rssBytes(node.pid()), Math::max));

      long runStart = System.nanoTime();
      long pauseCpu = 0;
      for (int i = 0; i < rates.size(); i++) openLoop(r, vertx, port, node.pid(), rates.get(i), (i + 1) * 1_000_000L);
      int waveCount = rates.isEmpty() ? waves : 0;   // an open loop instead of waves
      for (int wave = 1; wave <= waveCount; wave++) {
        if (wave > 1 && pauseMs > 0) {
          long cpu0 = Machine.cpuMillis(node.pid());
          Thread.sleep(pauseMs);
          pauseCpu += Machine.cpuMillis(node.pid()) - cpu0;
        }
        // each wave's clients connect anew, as new clients would
        client.close();
        client = new HttpStreams(vertx, "127.0.0.1", port, clients);
        long nodeCpu0 = Machine.cpuMillis(node.pid());
        long selfCpu0 = Machine.cpuMillis(ProcessHandle.current().pid());
        long jit0 = Machine.jitMillis();
        long t0 = System.nanoTime();
        List<Future<Timeline>> fs = new ArrayList<>(clients);
        long nativeCpu = 0;
        if (nativeClients != null) {
          NativeClients.Wave w = nativeClients.wave("127.0.0.1", port, "/v1/completions", clients, wave * 100_000L,
              timeoutSec, nativeBody());
          for (Timeline t : w.streams()) fs.add(Future.succeededFuture(t));
          nativeCpu = Math.max(0, w.cpuMillis());
        } else {
          fs = wave(client, wave * 100_000L);
          try {
            Future.join(fs).await(timeoutSec, TimeUnit.SECONDS);
          } catch (java.util.concurrent.TimeoutException e) {
            r.note("wave " + wave + ": not all streams finished within " + timeoutSec + " s");
          }
        }
        long nodeCpu = Machine.cpuMillis(node.pid()) - nodeCpu0;
        long selfCpu = Machine.cpuMillis(ProcessHandle.current().pid()) - selfCpu0 + nativeCpu;
        long jit = Machine.jitMillis() - jit0;
        String load = Machine.loadAverage().split(" ")[0];
        Tally tally = new Tally(fs, t0);
        List<Double> ttft = tally.each(Timeline::ttftMs);
        List<Double> headers = tally.each(Timeline::headersMs);
        List<Double> connected = tally.each(Timeline::connectedMs);
        List<Double> afterConnect = tally.each(Timeline::ttftAfterConnectMs);
        double wall = tally.wallSeconds();
        long tokensOut = tally.tokensOut;
        long peak = rssPeak.get();
        r.row(String.valueOf(wave), String.valueOf(clients), String.valueOf(tokens), String.valueOf(tally.finished.size()),
            String.valueOf(tally.errors()),
            Stats.f0(Stats.percentile(headers, 50)) + " / " + Stats.f0(Stats.percentile(headers, 99)),
            Stats.f1(Stats.percentile(ttft, 50)), Stats.f1(Stats.percentile(ttft, 99)),
            Stats.f1(Stats.percentile(ttft, 100)), Stats.f1(wall), Stats.f0(tokensOut / wall),
            nodeCpu0 < 0 ? "n/a" : Stats.f2((double) nodeCpu / clients),
            selfCpu0 < 0 ? "n/a" : Stats.f2((double) selfCpu / clients), jit0 < 0 ? "n/a" : String.valueOf(jit),
            Machine.mib(rssBefore), Machine.mib(peak),
            rssBefore < 0 ? "n/a" : String.format(java.util.Locale.ROOT, "%.1f KiB", (peak - rssBefore) / 1024.0 / clients),
            load,
            Stats.f0(Stats.percentile(connected, 50)) + " / " + Stats.f0(Stats.percentile(connected, 99)),
            Stats.f0(Stats.percentile(afterConnect, 50)) + " / " + Stats.f0(Stats.percentile(afterConnect, 99)));
        final int w = wave;
        tally.errorKinds.forEach((k, v) -> r.note("wave " + w + ": " + v + " stream(s) failed: " + k));
      }
      vertx.cancelTimer(sampler);
      if (!rates.isEmpty()) {
        r.note("One node with roles " + roles + (nodeOptions.isEmpty() ? "" : " and " + String.join(" ", nodeOptions))
            + ". Open loop: for each rate, requests arrive one at a time for " + durationSec + " s (exponential gaps "
            + "with that mean, seeded), each on its own new HTTP/1.1 connection (loopback), streaming /v1/completions "
            + "of " + tokens + " tokens with prompt \"Once upon a time\"" + (distinctPrompts
            ? " and the request's number" : "") + ", temperature 0.8; an arrival does not wait for any answer. "
            + "TTFT = first SSE chunk with text; ms per token: between the first token and the last, per token, per "
            + "stream; tokens/s and completed/s: over the time from the first arrival to the last end. CPU per request: "
            + "user + system time of the node's JVM and of this client JVM from the first arrival to the last end, "
            + "divided by the requests. Whole run took " + Stats.f1((System.nanoTime() - runStart) / 1e9) + " s.");
      } else r.note("One node with roles " + roles + (nodeOptions.isEmpty() ? "" : " and " + String.join(" ", nodeOptions))
          + ". Each wave: all " + clients + " requests sent at once, each on its own new HTTP/1.1 connection "
          + "(loopback), streaming /v1/completions with prompt \"Once upon a time\"" + (distinctPrompts
          ? " and the client's number (\"... there was N\")" : "") + ", temperature 0.8, one seed per "
          + "client, sent by " + (nativeClients != null ? "the C client (bench/native/sse-clients.c: one thread, epoll, "
          + "the chunks read by their layout, no JSON parser; client CPU is its process's and this JVM's)"
          : "this JVM's Vert.x HttpClient (each chunk parsed as JSON)") + ". Wave 1 meets a node that has served its own warm-up before READY (./companion start's --warm-up, "
          + "as a --node-option may set it) and this bench's 32 streams"
          + (warmClientWaves > 0 && nativeClients == null ? ", while this client JVM had run " + warmClientWaves + " waves against a "
          + "throwaway node first, so its own JIT had settled (it compiled " + clientWarmUpJit.stream().map(String::valueOf)
          .collect(java.util.stream.Collectors.joining(", ")) + " ms in them; client JIT ms: how long it compiled "
          + "during each measured wave)" : "")
          + (pauseMs > 0 ? "; each further wave follows a pause of " + pauseMs + " ms (the node's CPU in the pauses: "
          + Stats.f2(waves > 1 ? (double) pauseCpu / (waves - 1) / clients : 0) + " ms per request of the wave before)"
          : "; each further wave follows at once") + ". Headers: the HTTP response headers, which the gateway sends once a worker accepted the "
          + "request. TTFT = first SSE chunk with text. Connected: when this client had the stream's connection "
          + "and wrote its request (all " + clients + " connect at once, on the same cores as the node); TTFT after "
          + "connect: from then to the first token. RSS: the node's child JVM (/proc/PID/status VmRSS) after the "
          + "warm-up, and its peak so far, sampled every 100 ms; per stream = (peak - before) / clients. CPU per "
          + "request: user + system time of the node's JVM (/proc/PID/stat) and of this client JVM during the wave, "
          + "divided by the clients (10 ms ticks). Whole run "
          + "took " + Stats.f1((System.nanoTime() - runStart) / 1e9) + " s. Node log: "
          + Path.of("").toAbsolutePath().relativize(log.toAbsolutePath()));
      client.close();
      client = new HttpStreams(vertx, "127.0.0.1", port, clients);
      memory = liveHeapPerStream(client, node.pid());
      client.close();
      plain = plainHttp(vertx, port);
    } finally {
      vertx.close().await(30, TimeUnit.SECONDS);
      node.close();
    }
    r.note("Live heap: " + memory);
    r.note("For scale, the HTTP layer alone: " + plain);
    main.emit(r);
    return 0;
  }

  private ChildNode startNode(Path dataDir, Path log, List<String> jvmOptions) throws Exception {
    List<String> args = new ArrayList<>(List.of("--roles", roles, "--http-port", "0",
        "--grpc-port", String.valueOf(Ports.free()), "--cluster-port", String.valueOf(Ports.free()),
        "--data-dir", dataDir.toString(), "--node-name", "bench-clients",
        "--cluster-secret", "bench-" + UUID.randomUUID()));
    args.addAll(nodeOptions);
    return ChildNode.start("clients", args, log, main.nodeJvmFlags(), jvmOptions);
  }

  /**
   * {@link #warmClientWaves} waves against a node that is closed afterwards; their figures are not kept, but for the
   * milliseconds this JVM's JIT compiled during each (returned). That node gets none of the {@code --node-jvm-option}
   * flags: they are for the measured node (a profiler's output file).
   */
  private List<Long> warmClient(Vertx vertx, Path dataDir) throws Exception {
    Path log = main.workDir().resolve("logs").resolve("clients-warm-node.log");
    List<Long> jitMs = new ArrayList<>();
    try (ChildNode throwaway = startNode(dataDir, log, List.of())) {
      int port = throwaway.awaitReady(300);
      for (int wave = 1; wave <= warmClientWaves; wave++) {
        long jit0 = Machine.jitMillis();
        try (HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, clients)) {
          Future.join(wave(client, 0)).await(timeoutSec, TimeUnit.SECONDS);
        }
        jitMs.add(Machine.jitMillis() - jit0);
        System.err.println("client warm-up wave " + wave + ": the client's JIT compiled " + jitMs.get(jitMs.size() - 1) + " ms");
      }
    }
    return jitMs;
  }

  /** The same number of plain GET /v1/models at once, each on a fresh connection of a new client pool. */
  private String plainHttp(Vertx vertx, int port) throws Exception {
    try (HttpStreams fresh = new HttpStreams(vertx, "127.0.0.1", port, clients)) {
      List<Future<Double>> fs = new ArrayList<>(clients);
      for (int i = 0; i < clients; i++) fs.add(fresh.get("/v1/models"));
      try {
        Future.join(fs).await(timeoutSec, TimeUnit.SECONDS);
      } catch (Exception e) {
        // failed or late ones are counted below
      }
      List<Double> ms = new ArrayList<>();
      for (Future<Double> f : fs) if (f.succeeded()) ms.add(f.result());
      return clients + " concurrent GET /v1/models on fresh connections of this JVM's Vert.x client (no generation) "
          + "took p50 "
          + Stats.f0(Stats.percentile(ms, 50)) + " ms, p99 " + Stats.f0(Stats.percentile(ms, 99)) + " ms ("
          + ms.size() + " answered)";
    }
  }

  /**
   * A second wave of the same streams, for memory only (a full GC would distort the first wave's TTFT): live heap
   * of the node (jcmd GC.run + GC.heap_info) before, and when the first stream of the wave finishes, with the rest
   * still open; per open stream.
   */
  private String liveHeapPerStream(HttpStreams client, long pid) throws Exception {
    long before = HeapProbe.liveHeapBytes(pid);
    if (before < 0) return "n/a (jcmd unavailable)";
    java.util.concurrent.atomic.AtomicInteger finished = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.CompletableFuture<long[]> snapshot = new java.util.concurrent.CompletableFuture<>();
    List<Future<Timeline>> fs = new ArrayList<>(clients);
    for (int i = 0; i < clients; i++) {
      fs.add(stream(client, 50_000L + i).onComplete(ar -> {
        if (finished.incrementAndGet() == 1) {
          Thread t = new Thread(() -> {
            int open = clients - finished.get();
            long live = HeapProbe.liveHeapBytes(pid);
            if (histogram != null) {
              try {
                java.nio.file.Files.writeString(histogram, HeapProbe.histogram(pid, 40) + "\n");
              } catch (java.io.IOException e) {
                System.err.println("cannot write " + histogram + ": " + e);
              }
            }
            snapshot.complete(new long[] {live, open});
          }, "heap-probe");
          t.setDaemon(true);
          t.start();
        }
      }));
    }
    try {
      Future.join(fs).await(timeoutSec, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      // counted below
    }
    long[] at = snapshot.get(120, TimeUnit.SECONDS);
    if (at[0] < 0) return "n/a (jcmd failed)";
    Thread.sleep(2000);
    long after = HeapProbe.liveHeapBytes(pid);
    return String.format(java.util.Locale.ROOT, "%s after a full GC before a further wave of %d streams, %s with %d "
        + "of them open (the first had just finished): %.1f KiB per open stream; %s once the wave was over",
        Machine.mib(before), clients, Machine.mib(at[0]), at[1], (at[0] - before) / 1024.0 / Math.max(1, at[1]),
        Machine.mib(after));
  }

  private Report openLoopReport() {
    return new Report("Streaming clients arriving at a steady rate on one node", main.commandLine())
        .columns("rate / s", "requests", "completed", "errors", "TTFT p50 ms", "TTFT p99 ms", "ms per token p50 / p99",
            "tokens/s", "completed / s", "node CPU ms / request", "client CPU ms / request", "load avg (1 min)");
  }

  /**
   * One open-loop phase: {@code rate} requests a second on average for {@link #durationSec}, each sent at its
   * time whatever the earlier ones are doing (a thread of its own keeps the schedule), numbered from
   * {@code first}; one row.
   */
  private void openLoop(Report r, Vertx vertx, int port, long nodePid, int rate, long first) throws Exception {
    long[] at = poissonArrivals(rate, durationSec, rate);
    int n = at.length;
    List<Future<Timeline>> fs = Collections.synchronizedList(new ArrayList<>(n));
    try (HttpStreams client = new HttpStreams(vertx, "127.0.0.1", port, n)) {
      long nodeCpu0 = Machine.cpuMillis(nodePid);
      long selfCpu0 = Machine.cpuMillis(ProcessHandle.current().pid());
      long t0 = System.nanoTime();
      Thread arrivals = new Thread(() -> {
        for (int i = 0; i < n; i++) {
          long wait = t0 + at[i] - System.nanoTime();
          if (wait > 0) LockSupport.parkNanos(wait);
          fs.add(stream(client, first + i));
        }
      }, "arrivals");
      arrivals.start();
      arrivals.join();
      try {
        Future.join(new ArrayList<>(fs)).await(timeoutSec, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        r.note("rate " + rate + ": not all streams finished within " + timeoutSec + " s of the last arrival");
      }
      long nodeCpu = Machine.cpuMillis(nodePid) - nodeCpu0;
      long selfCpu = Machine.cpuMillis(ProcessHandle.current().pid()) - selfCpu0;
      Tally tally = new Tally(fs, t0);
      List<Double> ttft = tally.each(Timeline::ttftMs);
      List<Double> perToken = tally.each(Timeline::msPerToken);
      double wall = tally.wallSeconds();
      long tokensOut = tally.tokensOut;
      int ok = tally.finished.size();
      r.row(String.valueOf(rate), String.valueOf(n), String.valueOf(ok), String.valueOf(tally.errors()),
          Stats.f1(Stats.percentile(ttft, 50)), Stats.f1(Stats.percentile(ttft, 99)),
          Stats.f1(Stats.percentile(perToken, 50)) + " / " + Stats.f1(Stats.percentile(perToken, 99)),
          Stats.f0(tokensOut / wall), Stats.f0(ok / wall),
          nodeCpu0 < 0 ? "n/a" : Stats.f2((double) nodeCpu / n), selfCpu0 < 0 ? "n/a" : Stats.f2((double) selfCpu / n),
          Machine.loadAverage().split(" ")[0]);
      tally.errorKinds.forEach((k, v) -> r.note("rate " + rate + ": " + v + " stream(s) failed: " + k));
    }
  }

  /** The streams of a wave or of a rate: the finished ones, the rest by why they failed, tokens and the last end. */
  private static final class Tally {
    final List<Timeline> finished = new ArrayList<>();
    final Map<String, Integer> errorKinds = new LinkedHashMap<>();
    final long t0;
    final int streams;
    long tokensOut;
    long lastEnd;

    Tally(List<Future<Timeline>> fs, long t0) {
      this.t0 = t0;
      streams = fs.size();
      lastEnd = t0;
      for (Future<Timeline> f : fs) {
        Timeline t = f.isComplete() ? f.result() : null;
        String why = failure(t);
        if (why != null) {
          errorKinds.merge(why, 1, Integer::sum);
          continue;
        }
        finished.add(t);
        tokensOut += t.tokens();
        lastEnd = Math.max(lastEnd, t.endNs());
      }
    }

    /** Streams that did not finish, whatever the reason. */
    int errors() {
      return streams - finished.size();
    }

    /** From the start to the last stream's end. */
    double wallSeconds() {
      return (lastEnd - t0) / 1e9;
    }

    /** One figure of each finished stream, those it has (not NaN). */
    List<Double> each(java.util.function.ToDoubleFunction<Timeline> figure) {
      List<Double> out = new ArrayList<>(finished.size());
      for (Timeline t : finished) {
        double v = figure.applyAsDouble(t);
        if (!Double.isNaN(v)) out.add(v);
      }
      return out;
    }
  }

  /** Why a stream failed, in at most 120 characters; null when it finished ({@code t} null: it had not, in time). */
  private static String failure(Timeline t) {
    if (t != null && t.ok()) return null;
    String why = t == null ? "not finished in time" : String.valueOf(t.error());
    return why.length() > 120 ? why.substring(0, 120) : why;
  }

  /**
   * {@code rate x seconds} arrival times in nanoseconds from the start, increasing, their gaps exponential with mean
   * {@code 1 / rate} (a Poisson process: independent clients), the same for the same seed.
   */
  static long[] poissonArrivals(int rate, int seconds, long seed) {
    long[] at = new long[rate * seconds];
    SplittableRandom random = new SplittableRandom(seed);
    double t = 0;
    for (int i = 0; i < at.length; i++) {
      t += -Math.log(1 - random.nextDouble()) / rate;
      at[i] = (long) (t * 1e9);
    }
    return at;
  }

  /** All {@link #clients} streams of a wave at once, numbered from {@code first}. */
  private List<Future<Timeline>> wave(HttpStreams client, long first) {
    List<Future<Timeline>> fs = new ArrayList<>(clients);
    for (int i = 0; i < clients; i++) fs.add(stream(client, first + i));
    return fs;
  }

  /** Client number {@code n}'s stream: its prompt, and its number as the sampling seed. */
  private Future<Timeline> stream(HttpStreams client, long n) {
    return client.complete(BenchModels.STORIES, prompt(n), tokens, TEMPERATURE, n);
  }

  /**
   * The C client's request body: what {@link HttpStreams#complete} sends for client {@code n}, with {@code %1$d}
   * where {@code n} goes (its seed, and its question's number with {@code --distinct-prompts}).
   */
  private String nativeBody() {
    String json = HttpStreams.completionBody(BenchModels.STORIES, question("%1$d"), tokens, TEMPERATURE).encode();
    return json.substring(0, json.length() - 1) + ",\"seed\":%1$d}";
  }

  /** The question client {@code n} asks. */
  private String prompt(long n) {
    return question(String.valueOf(n));
  }

  /** The question with {@code number} where a client's number goes (with {@code --distinct-prompts}). */
  private String question(String number) {
    return distinctPrompts ? "Once upon a time there was " + number : "Once upon a time";
  }
}
