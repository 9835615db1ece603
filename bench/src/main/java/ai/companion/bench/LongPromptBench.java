package ai.companion.bench;

import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.Engine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.worker.impl.DecodeScheduler;
import ai.companion.worker.impl.LoadedModel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * A long prompt arriving while a stream runs: how long the running stream's tokens stop, and how long the long
 * prompt waits for its first token, with the worker's prefill in slices and with every prompt prefilled at once,
 * taking turns.
 */
@Command(name = "long-prompt", mixinStandardHelpOptions = true,
    description = "A long prompt arriving while a stream runs: the stream's longest gap, the prompt's first token, "
        + "prefill in slices against at once.")
final class LongPromptBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--models", split = ",", description = "Which models (default: ${DEFAULT-VALUE}).")
  List<String> which = List.of(BenchModels.SMOL);

  @Option(names = "--prompt-tokens", description = "Tokens of the long prompt, about (default: ${DEFAULT-VALUE}; "
      + "at most the model's context less 8).")
  int promptTokens = 1500;

  @Option(names = "--rounds", description = "Rounds, each running both ways (default: ${DEFAULT-VALUE}).")
  int rounds = 3;

  @Option(names = "--slice-ms", description = "The slices' length (default: the worker's, ${DEFAULT-VALUE}).")
  long sliceMs = DecodeScheduler.Limits.DEFAULT_PREFILL_SLICE_MS;

  static final String SENTENCE = "Lily and Ben went to the park and played with a big red ball near the pond. ";

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    Report r = new Report("A long prompt arriving while a stream runs", main.commandLine())
        .columns("model", "prefill", "long prompt tokens", "running stream's longest gap ms (median)",
            "its tokens during the prefill (median)", "long prompt's TTFT ms (median)");
    for (String name : which) {
      long slice = sliceMs;
      // no prompt cache: each round's long prompt would find the round before's
      try (Engine sliced = Engine.load(main.modelFolder(name), 0, slice);
           Engine whole = Engine.load(main.modelFolder(name), 0, 0)) {
        int context = sliced.model().info().contextLength();
        int target = Math.min(promptTokens, context - 8);
        StringBuilder sb = new StringBuilder();
        while (sliced.model().tokenizer().encodeWithBos(sb + SENTENCE).length < target) sb.append(SENTENCE);
        String prompt = sb.toString();
        int tokens = sliced.model().tokenizer().encodeWithBos(prompt).length;
        // a warm-up of both: the graph's first runs of each shape
        for (Engine e : new Engine[] {sliced, whole}) once(e, prompt, 10);
        List<List<Double>> gaps = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> during = List.of(new ArrayList<>(), new ArrayList<>());
        List<List<Double>> ttft = List.of(new ArrayList<>(), new ArrayList<>());
        for (int round = 0; round < rounds; round++) {
          for (int k = 0; k < 2; k++) {
            int way = (k + round) % 2;      // the two take turns going first
            System.err.println("long-prompt: " + name + ", round " + (round + 1) + ", " + (way == 0 ? "slices"
                : "at once"));
            double[] m = once(way == 0 ? sliced : whole, prompt, 1 + Math.max(40, tokens / 10));
            gaps.get(way).add(m[0]);
            during.get(way).add(m[1]);
            ttft.get(way).add(m[2]);
          }
        }
        for (int way = 0; way < 2; way++) {
          r.row(name, way == 0 ? "in slices of about " + slice + " ms" : "at once", String.valueOf(tokens),
              Stats.f0(Stats.median(gaps.get(way))), Stats.f0(Stats.median(during.get(way))),
              Stats.f0(Stats.median(ttft.get(way))));
        }
      }
    }
    r.note("In-process engines (the worker's LoadedModel and decode loop, its default sizing of threads and lanes, "
        + "no prompt cache), one prefilling a long prompt in slices, one all at once, on the "
        + "same model folder, " + rounds + " rounds, the order alternating. Each round: a stream of greedy tokens "
        + "from \"Once upon a time\" runs; at its fifth token the long prompt (one sentence repeated) is submitted "
        + "for one token. Longest gap: the longest time between two tokens of the running stream from that "
        + "submission until the long prompt's first token; tokens during the prefill: the running stream's tokens "
        + "in that time; TTFT: from the submission to the long prompt's token. The slices are sized by the time "
        + "the slices before took (a warm-up round on each engine first): a prompt whose prefill takes less than "
        + "one slice runs at once.");
    main.emit(r);
    return 0;
  }

  /**
   * One round on one engine: {longest gap ms, running tokens during the prefill, long prompt's TTFT ms}; the
   * running stream makes {@code runningTokens} tokens (enough to outlast the prefill).
   */
  private static double[] once(Engine engine, String prompt, int runningTokens) throws Exception {
    LoadedModel model = engine.model();
    List<Long> tokenTimes = new ArrayList<>();
    long[] submitted = {0};
    long[] first = {0};
    CompletableFuture<Void> longDone = new CompletableFuture<>();
    CompletableFuture<Void> runningDone = new CompletableFuture<>();
    // both sinks run on the decode thread, so the times are in its order
    SamplingParams running = SamplingParams.GREEDY.withMaxTokens(runningTokens);
    model.start(model.prepare(engine.request("Once upon a time", running)), "bench", e -> {
      long now = System.nanoTime();
      if (!e.tokenIds().isEmpty()) tokenTimes.add(now);
      if (e.seq() == 4) {
        submitted[0] = System.nanoTime();
        model.start(model.prepare(engine.request(prompt, SamplingParams.GREEDY.withMaxTokens(1))), "bench", l -> {
          if (first[0] == 0) first[0] = System.nanoTime();
          if (l.terminal()) {
            if (l.type() == StreamEvent.Type.ERROR) longDone.completeExceptionally(new IllegalStateException(
                l.errorMessage()));
            else longDone.complete(null);
          }
        });
      }
      if (e.terminal()) runningDone.complete(null);
    });
    longDone.get(120, TimeUnit.SECONDS);
    runningDone.get(120, TimeUnit.SECONDS);
    long gap = 0;
    int during = 0;
    long last = submitted[0];
    for (long t : tokenTimes) {
      if (t <= submitted[0]) continue;
      if (t > first[0]) {
        gap = Math.max(gap, t - last);    // the gap that spans the long prompt's first token counts too
        break;
      }
      gap = Math.max(gap, t - last);
      last = t;
      during++;
    }
    return new double[] {gap / 1e6, during, (first[0] - submitted[0]) / 1e6};
  }
}
