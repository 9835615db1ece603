package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * In-process figures, logged, not asserted (the machine is shared): single-stream decode tokens/s and aggregate
 * tokens/s with 1, 4, 16 and 64 concurrent streams on stories260K. Every stream must still finish correctly.
 */
class ThroughputTest {
  private static final Logger LOG = LoggerFactory.getLogger(ThroughputTest.class);
  private static final String M = ModelFixtures.STORIES;

  @TempDir static Path models;

  @Test void aggregateTokensPerSecond() throws Exception {
    Path folder = ModelFixtures.importModel(M, models);
    try (LoadedModel model = EngineHarness.load(folder)) {
      EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(200)));   // warm-up
      StringBuilder line = new StringBuilder();
      for (int streams : new int[] {1, 4, 16, 64}) {
        int tokens = 200;
        long t0 = System.nanoTime();
        List<EngineHarness.Stream> running = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
          running.add(EngineHarness.start(model, EngineHarness.completion(M, "", EngineHarness.greedy(tokens))));
        }
        long total = 0;
        for (EngineHarness.Stream s : running) {
          assertEquals("length", s.await().finishReason());
          total += s.await().completionTokens();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        line.append(String.format(" %d streams: %.0f tok/s (peak batch %d);", streams, total / secs,
            model.scheduler().peakBatch()));
        model.scheduler().resetPeakBatch();
      }
      LOG.info("aggregate decode throughput, in-process, {}, {} cores:{}", M,
          Runtime.getRuntime().availableProcessors(), line);
    }
  }
}
