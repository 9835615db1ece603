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

  /**
   * A long prompt cancelled between two of its slices ends "cancelled", its slices stop, and the running stream
   * goes on to its end; the scheduler holds nothing of it afterwards.
   */
  @Test void aLongPromptCancelledBetweenItsSlicesEndsThere() throws Exception {
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(64, 1024, 1L << 30, 0,
        DecodeScheduler.Limits.DEFAULT_ARRIVAL_GAP_MS, 1);
    try (LoadedModel model = EngineHarness.load(folder, limits, true, 0)) {
      String prompt = longPrompt(model);
      // a first long prompt, alone, times the slices (the first slice before any was timed is 256 tokens)
      EngineHarness.run(model, EngineHarness.completion(M, prompt + "Then", EngineHarness.greedy(1)));
      EngineHarness.Stream running = new EngineHarness.Stream();
      EngineHarness.Stream longOne = new EngineHarness.Stream();
      String[] longId = new String[1];
      model.start(model.prepare(EngineHarness.completion(M, "Once upon a time", EngineHarness.greedy(60))),
          "test-worker", e -> {
            running.accept(e);
            if (e.seq() == 2) {
              LoadedModel.Prepared p = model.prepare(EngineHarness.completion(M, prompt, EngineHarness.greedy(30)));
              longId[0] = p.request().requestId();
              model.start(p, "test-worker", longOne::accept);
            }
            // the next step follows the long prompt's first slice: it is between two slices now (1 ms slices are a
            // few dozen tokens of this model's, the prompt about 450)
            if (e.seq() == 3) assertTrue(model.cancel(longId[0]), "the long prompt is still held");
          });
      StreamEvent end = longOne.await();
      assertEquals("cancelled", end.finishReason(), end.toString());
      assertTrue(longOne.tokenIds().isEmpty(), "cancelled before its first token: " + longOne.tokenIds());
      assertEquals(StreamEvent.Type.DONE, running.await().type());
      assertEquals(60, running.tokenIds().size());
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (model.scheduler().load() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
      assertEquals(0, model.scheduler().load(), "nothing held");
    }
  }
}
