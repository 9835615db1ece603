package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A long prompt is prefilled in slices, one per turn of the decode loop, so that the streams already running get
 * their tokens between the slices instead of waiting for the whole prompt; what the long prompt decodes stays the
 * same.
 */
class PrefillSliceTest {
  private static final String M = ModelFixtures.STORIES;

  @TempDir static Path models;
  static Path folder;

  @BeforeAll static void importModel() throws Exception {
    folder = ModelFixtures.importModel(M, models);
  }

  /** About 450 tokens of stories260K's 512. */
  private static String longPrompt(LoadedModel model) {
    StringBuilder sb = new StringBuilder();
    String sentence = "Lily and Ben went to the park and played with a big red ball. ";
    while (model.tokenizer().encodeWithBos(sb + sentence).length < 450) sb.append(sentence);
    return sb.toString();
  }

  /** What happened, in the decode thread's order: "S" a running stream's event, "L" the long prompt's. */
  private record Run(List<String> order, List<Integer> longTokens) {
    /** The running stream's events after the long prompt was submitted and before its first event. */
    int between() {
      int submitted = order.indexOf("submit");
      int first = order.indexOf("L");
      return (int) order.subList(submitted, first).stream().filter("S"::equals).count();
    }
  }

  private static Run run(long sliceMs) throws Exception {
    // no holding of decode steps for newcomers, no prompt cache: the slices alone decide
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(64, 1024, 1L << 30, 0,
        DecodeScheduler.Limits.DEFAULT_ARRIVAL_GAP_MS, sliceMs);
    try (LoadedModel model = EngineHarness.load(folder, limits, true, 0)) {
      String prompt = longPrompt(model);
      List<String> order = Collections.synchronizedList(new ArrayList<>());
      EngineHarness.Stream running = new EngineHarness.Stream();
      EngineHarness.Stream longOne = new EngineHarness.Stream();
      CompletableFuture<Void> submitted = new CompletableFuture<>();
      model.start(model.prepare(EngineHarness.completion(M, "Once upon a time", EngineHarness.greedy(200))),
          "test-worker", e -> {
            order.add("S");
            running.accept(e);
            if (e.seq() == 2) {
              // from the decode thread: the loop's next turn takes it in
              order.add("submit");
              model.start(model.prepare(EngineHarness.completion(M, prompt, EngineHarness.greedy(30))),
                  "test-worker", l -> {
                    order.add("L");
                    longOne.accept(l);
                  });
              submitted.complete(null);
            }
          });
      submitted.get(30, TimeUnit.SECONDS);
      assertEquals(StreamEvent.Type.DONE, longOne.await().type());
      assertEquals(StreamEvent.Type.DONE, running.await().type());
      return new Run(List.copyOf(order), longOne.tokenIds());
    }
  }

  @Test void theRunningStreamStepsBetweenTheSlicesOfALongPrompt() throws Exception {
    // 1 ms slices: a few dozen tokens each on this model (the first, untimed, is 256)
    Run sliced = run(1);
    Run whole = run(0);
    assertEquals(0, whole.between(), "prefilled at once, the long prompt's first token comes before the next step");
    assertTrue(sliced.between() >= 1, "the running stream stepped between the slices: " + sliced.order());
    assertEquals(whole.longTokens(), sliced.longTokens(), "the long prompt decodes the same");
  }
}
