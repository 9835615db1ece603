package ai.companion.bench;

import ai.companion.api.SamplingParams;
import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.Engine;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.worker.impl.PromptCache;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * Conversations of several turns, each turn's prompt the whole conversation so far (as the gateway makes a chat's
 * prompt: its messages joined with newlines), on the worker's engine with its prompt cache and on the same model
 * without one, taking turns: time to the first token per turn. Every conversation begins with the same system
 * prompt and then its own first message, so a conversation's first turn finds the system prompt of the one before
 * and each later turn the turn before it.
 */
@Command(name = "chat", mixinStandardHelpOptions = true,
    description = "A conversation's turns: time to the first token with the worker's prompt cache and without.")
final class ChatBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--models", split = ",", description = "Which models: stories260K, smollm2-135m-random (default: "
      + "both).")
  List<String> which = List.of(BenchModels.STORIES, BenchModels.SMOL);

  @Option(names = "--turns", description = "Turns per conversation, fewer where the context ends (default: "
      + "${DEFAULT-VALUE}).")
  int turns = 8;

  @Option(names = "--conversations", description = "Conversations per model; each figure is the median over them "
      + "(default: ${DEFAULT-VALUE}).")
  int conversations = 5;

  static final String SYSTEM = "You are a friendly helper who tells short stories to small children. Use simple "
      + "words, keep every answer to a few sentences, and always end on a happy note.";
  static final String[] NAMES = {"Lily", "Ben", "Mia", "Tom", "Sue", "Max", "Anna", "Sam", "Zoe", "Leo"};
  static final String[] ANSWERS = {
      "Once upon a time, there was a little dog named Spot. Spot liked to run in the park and play with his ball. "
          + "One day he found a big stick and showed it to his friend.",
      "The little bird sang a song every morning. The sun came up and the flowers opened. Everyone in the garden was "
          + "happy to hear the bird sing.",
      "Tim and his mom went to the store. They bought apples, bread and milk. On the way home they saw a rainbow "
          + "and smiled at each other.",
      "The cat sat by the window and watched the rain. When the rain stopped, she went outside to play in the "
          + "puddles. She got very wet but she did not mind."};

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    Report r = new Report("A conversation's turns with the prompt cache and without", main.commandLine())
        .columns("model", "turn", "prompt tokens", "tokens copied (median)", "TTFT ms, no cache",
            "TTFT ms, prompt cache", "no cache / cache");
    for (String name : which) {
      try (Engine cached = Engine.load(main.modelFolder(name), PromptCache.DEFAULT_BYTES);
           Engine plain = Engine.load(main.modelFolder(name), 0)) {
        int context = cached.model().info().contextLength();
        // a warm-up of both, so that the first turn does not pay for the first run of each graph shape
        for (Engine e : new Engine[] {cached, plain}) e.greedy("Hello there", 4);
        List<List<Double>> without = new ArrayList<>();
        List<List<Double>> with = new ArrayList<>();
        List<List<Double>> copied = new ArrayList<>();
        List<Integer> lengths = new ArrayList<>();
        for (int c = 0; c < conversations; c++) {
          String prompt = SYSTEM + "\nHello, my name is " + NAMES[c % NAMES.length] + ". Tell me a story.";
          for (int t = 0; t < turns; t++) {
            int tokens = cached.model().tokenizer().encodeWithBos(prompt).length;
            if (tokens + 2 > context) break;
            System.err.println("chat: " + name + ", conversation " + (c + 1) + ", turn " + (t + 1) + ", " + tokens
                + " tokens");
            if (without.size() <= t) {
              without.add(new ArrayList<>());
              with.add(new ArrayList<>());
              copied.add(new ArrayList<>());
              lengths.add(tokens);
            }
            long reusedBefore = cached.model().promptCache().reusedTokens();
            // the two take turns going first, so that a burst of other load on the machine hits both alike
            double a = 0;
            double b = 0;
            for (int k = 0; k < 2; k++) {
              if ((k + t + c) % 2 == 0) {
                a = ttft(cached, prompt);
              } else {
                b = ttft(plain, prompt);
              }
            }
            with.get(t).add(a);
            without.get(t).add(b);
            copied.get(t).add((double) (cached.model().promptCache().reusedTokens() - reusedBefore));
            prompt = prompt + "\n" + ANSWERS[(c + t) % ANSWERS.length] + "\nAnd what happened next?";
          }
        }
        for (int t = 0; t < without.size(); t++) {
          double w = Stats.median(without.get(t));
          double h = Stats.median(with.get(t));
          r.row(name, String.valueOf(t + 1), String.valueOf(lengths.get(t)), Stats.f0(Stats.median(copied.get(t))),
              Stats.f1(w), Stats.f1(h), Stats.ratio(w, h));
        }
      }
    }
    r.note("In-process engines (the worker's LoadedModel and decode loop, its default sizing of threads and lanes), "
        + "one with the default prompt cache (" + (PromptCache.DEFAULT_BYTES >> 20) + " MiB) and one without, on "
        + "the same model folder; each turn runs on both, the order alternating. TTFT: from submitting the request "
        + "(tokenizing included) to its first token, one token generated. 'prompt tokens': the first conversation's, "
        + "with BOS; each turn adds an answer of about 35-45 tokens and a question. Medians over " + conversations
        + " conversations; every one begins with the same system prompt, so from the second conversation on the "
        + "first turn finds it cached.");
    main.emit(r);
    return 0;
  }

  private static double ttft(Engine engine, String prompt) throws Exception {
    Engine.Run run = engine.start(prompt, SamplingParams.GREEDY.withMaxTokens(1)).done().get();
    if (!run.timeline().ok()) throw new IllegalStateException("a turn failed: " + run.timeline().error());
    return run.timeline().ttftMs();
  }
}
