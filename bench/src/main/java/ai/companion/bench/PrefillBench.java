package ai.companion.bench;

import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.worker.impl.ModelConfig;
import ai.companion.worker.impl.ModelTokenizer;
import ai.companion.worker.impl.OnnxDecoder;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * One prefill of a group of prompts through the worker's decoder (the in-place cache graph, one intra-op thread,
 * as a decode lane runs it), with the tokens the prompts share run once and with every prompt run whole, taking
 * turns: time per prompt. Two kinds of group: the same prompt in every row (a burst of one question, or requests
 * that are a shared template up to their last token) and prompts that share a beginning and differ after it.
 */
@Command(name = "prefill", mixinStandardHelpOptions = true,
    description = "One prefill of 1..1024 prompts, their shared beginning run once against every prompt run whole.")
final class PrefillBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--rows", split = ",", description = "Prompts per prefill (default: 1,2,4,8,16,64,256,1024; "
      + "the SmolLM2-135M-shaped model stops at 16).")
  List<Integer> rows = List.of(1, 2, 4, 8, 16, 64, 256, 1024);

  @Option(names = "--models", split = ",", description = "Which models: stories260K, smollm2-135m-random (default: stories260K).")
  List<String> which = List.of(BenchModels.STORIES);

  @Option(names = "--prompt", description = "The shared beginning (default: ${DEFAULT-VALUE}). Same: every row "
      + "is this prompt; distinct: row i is this prompt and \" there was N\" (N = 13 + 7 i).")
  String prompt = "Once upon a time";

  @Option(names = "--prefills", description = "Prefills per timing on stories260K (default: 2000 / rows, at least 10; "
      + "2 on the SmolLM2-135M shape).")
  Integer prefills;

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    if (main.standardCache) {
      System.err.println("bench prefill times the in-place cache decoder only; --standard-cache does not apply to it");
      return 2;
    }
    Report r = new Report("One prefill, the prompts' shared beginning run once or not", main.commandLine())
        .columns("model", "prompts", "rows", "tokens per prompt", "shared tokens", "us / prompt, shared once",
            "us / prompt, each whole", "whole / shared once");
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    for (String name : which) {
      boolean small = name.equals(BenchModels.STORIES);
      Path folder = main.modelFolder(name);
      ModelConfig config = ModelConfig.read(folder);
      OnnxDecoder.SessionSettings settings =
          new OnnxDecoder.SessionSettings("cpu", OrtSession.SessionOptions.OptLevel.ALL_OPT, 1);
      try (ModelTokenizer tokenizer = ModelTokenizer.load(folder.resolve(ModelConfig.TOKENIZER), config.bosTokenId());
           OnnxDecoder decoder = OnnxDecoder.open(env, config, settings)) {
        if (!decoder.inPlace()) throw new IllegalStateException(folder + " has no in-place cache decoder");
        for (String kind : new String[] {"same", "distinct"}) {
          for (int b : rows) {
            if (!small && b > 16) continue;
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < b; i++) {
              prompts.add(tokenizer.encodeWithBos(kind.equals("same") ? prompt : prompt + " there was " + (13 + 7 * i)));
            }
            System.err.println("prefill: " + name + ", " + kind + ", " + b + " row(s)");
            long before = decoder.sharedPrefixTokens();
            double[] best = {Double.MAX_VALUE, Double.MAX_VALUE};
            float[] logits = new float[b * config.vocabSize()];
            int reps = !small ? 2 : prefills != null ? Math.max(1, prefills) : Math.max(10, 2000 / b);
            // the two ways take turns, so that a burst of other load on the machine hits both alike
            for (int round = 0; round < 5; round++) {
              for (int way = 0; way < 2; way++) {
                decoder.shareLeadingTokens(way == 0);
                decoder.prefill(prompts, logits).close();      // warm-up of this shape
                long t0 = System.nanoTime();
                for (int k = 0; k < reps; k++) decoder.prefill(prompts, logits).close();
                best[way] = Math.min(best[way], (System.nanoTime() - t0) / 1e3 / reps / b);
              }
            }
            decoder.shareLeadingTokens(true);
            long shared = (decoder.sharedPrefixTokens() - before) / (5L * (reps + 1) * Math.max(1, b - 1));
            int longest = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
            r.row(name, kind, String.valueOf(b), String.valueOf(longest), String.valueOf(shared),
                Stats.f1(best[0]), Stats.f1(best[1]), Stats.ratio(best[1], best[0]));
          }
        }
      }
    }
    r.note("The in-place cache graph, all optimizations, one intra-op thread (a decode lane's session). 'shared "
        + "tokens': how many leading tokens the prefill ran once for all rows (0: it ran every prompt whole, as "
        + "sharing would not pay; see OnnxDecoder.sharedPrefix). 'tokens per prompt': the longest, with BOS. Each "
        + "figure is the best of 5 timings, the two ways taking turns.");
    main.emit(r);
    return 0;
  }
}
