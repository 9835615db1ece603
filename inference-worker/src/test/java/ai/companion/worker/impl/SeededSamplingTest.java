package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.SamplingParams;
import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * "A seed makes sampling repeatable": the same request with the same seed (temperature 1, top_p 0.9) gives the
 * same text alone and decoded in a batch among 15 other concurrent sequences, whose padding and batch shape give
 * its logits a different float rounding.
 */
class SeededSamplingTest {
  private static final Logger LOG = LoggerFactory.getLogger(SeededSamplingTest.class);
  private static final String M = ModelFixtures.STORIES;
  private static final List<String> PROMPTS = EngineHarness.PROMPTS;
  private static final int MAX_TOKENS = 200;
  private static final int ROUNDS = 8;

  @TempDir static Path models;
  static Path folder;

  @BeforeAll static void importModel() throws Exception {
    folder = ModelFixtures.importModel(M, models);
  }

  private static SamplingParams sampled(long seed) {
    return new SamplingParams(1.0, 0.9, 0, seed, MAX_TOKENS, List.of(), 1.0);
  }

  @Test void sameSeedSameTextAloneAndAmongFifteenOthers() throws Exception {
    try (LoadedModel model = EngineHarness.load(folder)) {
      int differing = 0;
      List<String> report = new ArrayList<>();
      for (int round = 0; round < ROUNDS; round++) {
        long seed = 1000 + round;
        String prompt = PROMPTS.get(round % PROMPTS.size());
        EngineHarness.Stream alone = EngineHarness.run(model, EngineHarness.completion(M, prompt, sampled(seed)));
        // 15 others with other prompts, seeds and lengths, all in flight together with it
        List<EngineHarness.Stream> crowd = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
          if (i == 7) crowd.add(null); // ours joins in the middle of the crowd
          crowd.add(EngineHarness.start(model, EngineHarness.completion(M, PROMPTS.get((i + 1) % PROMPTS.size()),
              sampled(7 * i + round).withMaxTokens(MAX_TOKENS - 5 * i))));
        }
        EngineHarness.Stream batched = EngineHarness.start(model, EngineHarness.completion(M, prompt, sampled(seed)));
        crowd.set(7, batched);
        for (EngineHarness.Stream s : crowd) s.await();
        assertTrue(model.scheduler().peakBatch() > 8, "peak batch " + model.scheduler().peakBatch());
        if (!alone.tokenIds().equals(batched.tokenIds())) {
          differing++;
          int at = 0;
          while (at < Math.min(alone.tokenIds().size(), batched.tokenIds().size())
              && alone.tokenIds().get(at).equals(batched.tokenIds().get(at))) at++;
          report.add("seed " + seed + " diverged at token " + at + " of " + alone.tokenIds().size());
        }
        model.scheduler().resetPeakBatch();
      }
      LOG.info("seeded sampling alone vs batched: {} of {} differ {}", differing, ROUNDS, report);
      assertEquals(List.of(), report);
    }
  }
}
