package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Greedy decoding from BOS through the worker's engine gives the llama2.c oracles, ids and text. */
class GreedyOracleTest {
  private static final Logger LOG = LoggerFactory.getLogger(GreedyOracleTest.class);

  @TempDir static Path models;

  @Test void storiesFromBosEqualsOracle() throws Exception {
    check(ModelFixtures.STORIES, ModelFixtures.STORIES_ORACLE, ModelFixtures.STORIES_TEXT);
  }

  @Test void aidreamsFromBosEqualsOracle() throws Exception {
    check(ModelFixtures.AIDREAMS, ModelFixtures.AIDREAMS_ORACLE, ModelFixtures.AIDREAMS_TEXT);
  }

  @Test void int8ImportGivesTheSameGreedyTokens() throws Exception {
    // llama2.c "version 2" int8 checkpoint, dequantized by the importer
    Path folder = ModelFixtures.importModel(ModelFixtures.STORIES, "stories260K-q8.bin", "stories260K-q8", models);
    check(folder, "stories260K-q8", ModelFixtures.STORIES_ORACLE, ModelFixtures.STORIES_TEXT);
  }

  private void check(String name, int[] oracle, String text) throws Exception {
    check(ModelFixtures.importModel(name, models), name, oracle, text);
  }

  private void check(Path folder, String name, int[] oracle, String text) throws Exception {
    try (LoadedModel model = EngineHarness.load(folder)) {
      EngineHarness.Stream s = EngineHarness.run(model,
          EngineHarness.completion(name, "", EngineHarness.greedy(oracle.length)));
      StreamEvent done = s.await();
      assertEquals(StreamEvent.Type.DONE, done.type(), () -> "ended with " + done);
      assertEquals("length", done.finishReason());
      assertEquals(1, done.promptTokens());
      assertEquals(oracle.length, done.completionTokens());
      List<Integer> ids = s.tokenIds();
      assertArrayEquals(oracle, ids.stream().mapToInt(Integer::intValue).toArray());
      assertEquals(text, s.text());
      for (int i = 0; i < s.events.size(); i++) assertEquals(i, s.events.get(i).seq());
      LOG.info("{}: {} events for {} tokens", name, s.events.size(), ids.size());
    }
  }
}
