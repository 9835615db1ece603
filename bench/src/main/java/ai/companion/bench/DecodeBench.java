package ai.companion.bench;

import ai.companion.bench.impl.Engine;
import ai.companion.bench.impl.HttpStreams;
import ai.companion.bench.impl.InProcessNode;
import ai.companion.bench.impl.Machine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.bench.impl.Timeline;
import ai.companion.bench.impl.TjsPeer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * Single-stream greedy decode from BOS: time to first token and decode tokens/s, in-process (the worker's engine
 * directly), through the HTTP API (a node started in this JVM, streaming {@code /v1/completions}) and with
 * transformers.js, on the same model folder in the same run. The three take turns for {@code --rounds} rounds so
 * that other load on a shared machine hits them alike; each path's best run by decode tokens/s is shown.
 */
@Command(name = "decode", mixinStandardHelpOptions = true,
    description = "Single-stream decode tokens/s and TTFT: in-process, HTTP and transformers.js on the same folder.")
final class DecodeBench implements BenchMain.BenchCommand {
  private static final Logger LOG = LoggerFactory.getLogger(DecodeBench.class);

  @ParentCommand BenchMain main;

  @Option(names = "--tokens", description = "Tokens per stream on stories260K (default: ${DEFAULT-VALUE}).")
  int tokens = 256;

  @Option(names = "--big-tokens", description = "Tokens per stream on the SmolLM2-135M-shaped model (default: ${DEFAULT-VALUE}).")
  int bigTokens = 64;

  @Option(names = "--runs", description = "Measured runs per path and round (default: ${DEFAULT-VALUE}).")
  int runs = 2;

  @Option(names = "--rounds", description = "Rounds of in-process, HTTP, transformers.js in turn (default: ${DEFAULT-VALUE}).")
  int rounds = 3;

  @Option(names = "--models", split = ",", description = "Which models: stories260K, smollm2-135m-random (default: both).")
  List<String> which = List.of("stories260K", "smollm2-135m-random");

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    Report r = new Report("Single-stream decode vs transformers.js", main.commandLine())
        .columns("model", "path", "tokens", "TTFT ms", "decode tokens/s", "vs transformers.js", "load avg (1 min) after");
    TjsPeer tjs = main.tjs();
    String tjsMissing = tjs.unavailableReason();
    for (String name : which) {
      Path folder = main.modelFolder(name);
      int n = name.equals(ai.companion.bench.impl.BenchModels.STORIES) ? tokens : bigTokens;
      System.err.println("decode: " + name + ", " + n + " tokens");

      // the three paths in turns, so that a burst of other load on this shared machine hits all of them alike
      Timeline engine = null;
      Timeline http = null;
      TjsPeer.Result peer = null;
      String loadEngine = "";
      String loadHttp = "";
      String loadTjs = "";
      try (Engine e = Engine.load(folder);
           InProcessNode node = InProcessNode.start(main.models().dataDirFor(folder));
           HttpStreams client = new HttpStreams(node.vertx(), "127.0.0.1", node.httpPort(), 4)) {
        Supplier<Timeline> inProcess = () -> {
          try {
            return e.greedy("", n).timeline();
          } catch (Exception ex) {
            throw new IllegalStateException(ex);
          }
        };
        Supplier<Timeline> overHttp = () -> {
          try {
            Timeline t = client.complete(name, "", n, 0, null).await(10, TimeUnit.MINUTES);
            if (!t.ok()) throw new IllegalStateException("HTTP stream failed: " + t.error());
            return t;
          } catch (Exception ex) {
            throw new IllegalStateException(ex);
          }
        };
        inProcess.get();  // warm-up
        overHttp.get();
        for (int round = 0; round < rounds; round++) {
          System.err.println("decode: " + name + ", round " + (round + 1) + " of " + rounds);
          engine = best(engine, inProcess);
          loadEngine = Machine.loadAverage().split(" ")[0];
          http = best(http, overHttp);
          loadHttp = Machine.loadAverage().split(" ")[0];
          if (tjsMissing == null) {
            TjsPeer.Result p = tjs.generate(folder, n, "", runs, true, 1800);
            if (peer == null || p.decodeTps() > peer.decodeTps()) peer = p;
            loadTjs = Machine.loadAverage().split(" ")[0];
          }
        }
      }
      if (tjsMissing != null) r.note("transformers.js not run: " + tjsMissing);
      double peerTps = peer == null ? Double.NaN : peer.decodeTps();
      r.row(name, "in-process engine", String.valueOf(engine.tokens()), Stats.f1(engine.ttftMs()),
          Stats.f0(engine.decodeTps()), Stats.ratio(engine.decodeTps(), peerTps), loadEngine);
      r.row(name, "HTTP /v1/completions (stream)", String.valueOf(http.tokens()), Stats.f1(http.ttftMs()),
          Stats.f0(http.decodeTps()), Stats.ratio(http.decodeTps(), peerTps), loadHttp);
      r.row(name, "transformers.js 4.3.1 (onnxruntime-node, CPU)", peer == null ? "-" : String.valueOf(peer.tokens().size()),
          peer == null ? "n/a" : Stats.f1(peer.ttftMs()), Stats.f0(peerTps), peer == null ? "n/a" : "1.00x", loadTjs);
      if (engine.tokens() < n) {
        r.note(name + ": our greedy stream ended at EOS after " + engine.tokens() + " tokens (transformers.js ran "
            + "with --min, ignoring EOS, for " + n + ")");
      }
    }
    r.note("Greedy from BOS. " + rounds + " rounds; in each, " + runs + " runs in-process, " + runs + " over HTTP, then "
        + "transformers.js (tjs-generate.mjs --min --runs " + runs + ": its own warm-up, then " + runs + " runs). Shown: "
        + "the best run of each path by decode tokens/s, and that run's TTFT; load average after the path's last round. "
        + "Decode tokens/s = tokens after the first / time after the first (same definition in tjs-generate.mjs). "
        + "HTTP: a node with gateway, router and worker roles started in this JVM, TTFT = first SSE chunk with text.");
    main.emit(r);
    return 0;
  }

  private Timeline best(Timeline best, Supplier<Timeline> one) {
    for (int i = 0; i < runs; i++) {
      Timeline t = one.get();
      if (!t.ok()) throw new IllegalStateException("stream failed: " + t.error());
      if (best == null || t.decodeTps() > best.decodeTps()) best = t;
    }
    LOG.debug("best decode {} tokens/s", best.decodeTps());
    return best;
  }
}
