package ai.companion.bench;

import ai.companion.api.SamplingParams;
import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.Engine;
import ai.companion.bench.impl.HttpStreams;
import ai.companion.bench.impl.InProcessNode;
import ai.companion.bench.impl.Machine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.bench.impl.Timeline;
import io.vertx.core.Future;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * Aggregate tokens/s with 1, 4, 16 and 64 streams started together, through the worker's engine in-process and
 * through HTTP (a node in this JVM): all tokens of all streams / wall time from the first request to the last
 * token. Each stream samples with its own seed (temperature 0.8) so the streams differ, as real ones do.
 */
@Command(name = "concurrency", mixinStandardHelpOptions = true,
    description = "Aggregate tokens/s at 1, 4, 16, 64 concurrent streams: engine and HTTP, both models.")
final class ConcurrencyBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--streams", split = ",", description = "Concurrency levels (default: 1,4,16,64).")
  List<Integer> levels = List.of(1, 4, 16, 64);

  @Option(names = "--tokens", description = "Tokens per stream on stories260K (default: ${DEFAULT-VALUE}).")
  int tokens = 128;

  @Option(names = "--big-tokens", description = "Tokens per stream on the SmolLM2-135M-shaped model (default: ${DEFAULT-VALUE}).")
  int bigTokens = 16;

  @Option(names = "--models", split = ",", description = "Which models: stories260K, smollm2-135m-random (default: both).")
  List<String> which = List.of(BenchModels.STORIES, BenchModels.SMOL);

  @Option(names = "--repeats", description = "Runs per level; the best counts (default: ${DEFAULT-VALUE}).")
  int repeats = 3;

  @Override public void setMain(BenchMain main) { this.main = main; }

  private record Agg(int tokens, double tps, double ttftP50, int errors) {}

  @Override public Integer call() throws Exception {
    Report r = new Report("Aggregate throughput under concurrency", main.commandLine())
        .columns("model", "streams", "tokens/stream", "engine tokens/s", "engine vs 1 stream", "HTTP tokens/s",
            "HTTP vs 1 stream", "HTTP TTFT p50 ms", "errors", "load avg (1 min)");
    for (String name : which) {
      boolean stories = name.equals(BenchModels.STORIES);
      Path folder = main.modelFolder(name);
      int n = stories ? tokens : bigTokens;
      Map<Integer, Agg> engine = new LinkedHashMap<>();
      try (Engine e = Engine.load(folder)) {
        // warm-up: one run at every level, so that each decode lane and batch shape has run before the timings
        for (int c : levels) runEngine(e, c, n);
        for (int c : levels) {
          System.err.println("concurrency: " + name + " engine, " + c + " streams");
          Agg best = null;
          for (int i = 0; i < repeats; i++) best = better(best, runEngine(e, c, n));
          engine.put(c, best);
        }
      }
      Map<Integer, Agg> http = new LinkedHashMap<>();
      Map<Integer, String> loads = new LinkedHashMap<>();
      try (InProcessNode node = InProcessNode.start(main.models().dataDirFor(folder));
           HttpStreams client = new HttpStreams(node.vertx(), "127.0.0.1", node.httpPort(), 256)) {
        for (int c : levels) runHttp(client, name, c, n);  // warm-up, as for the engine
        for (int c : levels) {
          System.err.println("concurrency: " + name + " HTTP, " + c + " streams");
          Agg best = null;
          for (int i = 0; i < repeats; i++) best = better(best, runHttp(client, name, c, n));
          http.put(c, best);
          loads.put(c, Machine.loadAverage().split(" ")[0]);
        }
      }
      double e1 = engine.get(levels.get(0)).tps();
      double h1 = http.get(levels.get(0)).tps();
      for (int c : levels) {
        Agg e = engine.get(c);
        Agg h = http.get(c);
        r.row(name, String.valueOf(c), String.valueOf(n), Stats.f0(e.tps()), Stats.ratio(e.tps(), e1),
            Stats.f0(h.tps()), Stats.ratio(h.tps(), h1), Stats.f1(h.ttftP50()), String.valueOf(e.errors() + h.errors()),
            loads.get(c));
      }
    }
    r.note("All streams start together; tokens/s = all tokens / (last token - first request). Sampling at "
        + "temperature 0.8 with one seed per stream; a stream may end early at EOS (its tokens count as made). "
        + "'vs 1 stream' is against the first level of the same path. Each level: best of " + repeats
        + " runs by tokens/s (the machine is shared; other load only ever slows a run down), errors of all runs, after "
        + "one untimed run at every level (engine and HTTP each).");
    main.emit(r);
    return 0;
  }

  /** The faster of two runs; errors of both count. */
  private static Agg better(Agg a, Agg b) {
    if (a == null) return b;
    Agg best = b.tps() > a.tps() ? b : a;
    return new Agg(best.tokens(), best.tps(), best.ttftP50(), a.errors() + b.errors());
  }

  private static Agg runEngine(Engine e, int c, int n) throws Exception {
    long t0 = System.nanoTime();
    List<CompletableFuture<Engine.Run>> runs = new ArrayList<>();
    for (int i = 0; i < c; i++) {
      SamplingParams p = new SamplingParams(0.8, 1, 0, 1000L + i, n, List.of(), 1);
      runs.add(e.start("", p).done());
    }
    CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(30, TimeUnit.MINUTES);
    return aggregate(t0, runs.stream().map(f -> f.join().timeline()).toList());
  }

  private static Agg runHttp(HttpStreams client, String model, int c, int n) throws Exception {
    long t0 = System.nanoTime();
    List<Future<Timeline>> fs = new ArrayList<>();
    for (int i = 0; i < c; i++) fs.add(client.complete(model, "", n, 0.8, 1000L + i));
    Future.all(fs).await(30, TimeUnit.MINUTES);
    return aggregate(t0, fs.stream().map(Future::result).toList());
  }

  private static Agg aggregate(long t0, List<Timeline> ts) {
    long end = t0;
    int tokens = 0;
    int errors = 0;
    List<Double> ttft = new ArrayList<>();
    for (Timeline t : ts) {
      if (!t.ok()) errors++;
      tokens += t.tokens();
      end = Math.max(end, t.endNs());
      ttft.add(t.ttftMs());
    }
    return new Agg(tokens, tokens / ((end - t0) / 1e9), Stats.median(ttft), errors);
  }
}
