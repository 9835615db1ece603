package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Decode lanes: one model stepping several batches side by side over one session. A request decodes on any lane
 * exactly as it would alone; a few streams keep to one lane; the model's limits hold over all lanes together.
 */
class DecodeLanesTest {
  private static final String M = ModelFixtures.STORIES;
  private static final List<String> PROMPTS = EngineHarness.PROMPTS;

  @TempDir static Path models;
  static Path folder;

  @BeforeAll static void importModel() throws Exception {
    folder = ModelFixtures.importModel(M, models);
  }

  private static LoadedModel load(int lanes, DecodeScheduler.Limits limits) throws Exception {
    return LoadedModel.load(folder, new OnnxDecoder.SessionSettings("cpu", OrtSession.SessionOptions.OptLevel.ALL_OPT,
        1).withDecodeLanes(lanes), limits, null);
  }

  @Test void greedyOutputIsTheSameOnEveryLaneAsAlone() throws Exception {
    List<List<Integer>> alone = new ArrayList<>();
    try (LoadedModel one = load(1, EngineHarness.LIMITS)) {
      assertEquals(1, one.lanes().size());
      for (int i = 0; i < 3 * PROMPTS.size(); i++) {
        alone.add(EngineHarness.run(one, EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()),
            EngineHarness.greedy(40 + 9 * (i % 7)))).tokenIds());
      }
    }
    try (LoadedModel two = load(2, EngineHarness.LIMITS)) {
      assertEquals(2, two.lanes().size());
      List<EngineHarness.Stream> streams = new ArrayList<>();
      // each lane's first stream holds its lane at its first token until the loads are read: a short stream could
      // otherwise end while a slow machine has the test thread off its core, and the placement would change
      CountDownLatch gate = new CountDownLatch(1);
      for (int i = 0; i < 3 * PROMPTS.size(); i++) {
        var request = EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()), EngineHarness.greedy(40 + 9 * (i % 7)));
        streams.add(i % LoadedModel.LANE_FILL == 0 && i < 2 * LoadedModel.LANE_FILL
            ? startGated(two, request, gate, 0) : EngineHarness.start(two, request));
      }
      // 18 at once: the first 8 fill lane 0, the next 8 lane 1, the last two go to the emptier lane each time
      try {
        assertEquals(LoadedModel.LANE_FILL + 1, two.lanes().get(0).load());
        assertEquals(LoadedModel.LANE_FILL + 1, two.lanes().get(1).load());
      } finally {
        gate.countDown();
      }
      for (int i = 0; i < streams.size(); i++) {
        assertEquals(StreamEvent.Type.DONE, streams.get(i).await().type());
        assertEquals(alone.get(i), streams.get(i).tokenIds(), "stream " + i);
      }
      assertTrue(two.lanes().get(0).peakBatch() > 1, "lane 0 ran " + two.lanes().get(0).peakBatch());
      assertTrue(two.lanes().get(1).peakBatch() > 1, "lane 1 ran " + two.lanes().get(1).peakBatch());
    }
  }

  @Test void aFewStreamsKeepToOneLaneAndTheNextOneWakesTheSecond() throws Exception {
    try (LoadedModel two = load(2, EngineHarness.LIMITS)) {
      List<EngineHarness.Stream> streams = new ArrayList<>();
      // the first stream holds lane 0 at its first token until the ninth is placed: none of the eight can end first
      CountDownLatch fill = new CountDownLatch(1);
      for (int i = 0; i < LoadedModel.LANE_FILL; i++) {
        var request = EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()), EngineHarness.greedy(150));
        streams.add(i == 0 ? startGated(two, request, fill, 0) : EngineHarness.start(two, request));
      }
      // one more while those run: lane 0 is full, so it goes to lane 1, and cancelling it finds it there
      // (its lane waits at its 10th token until the cancel is in, so that it cannot run to its end first)
      CountDownLatch gate = new CountDownLatch(1);
      EngineHarness.Stream ninth;
      try {
        assertEquals(LoadedModel.LANE_FILL, two.lanes().get(0).load());
        assertEquals(0, two.lanes().get(1).load());
        ninth = startGated(two, EngineHarness.completion(M, "The cat", EngineHarness.greedy(400)), gate, 10);
        assertEquals(1, two.lanes().get(1).load());
      } finally {
        fill.countDown();
      }
      long until = System.nanoTime() + 30_000_000_000L;
      while (ninth.tokenIds().size() < 10 && System.nanoTime() < until) Thread.sleep(2);
      assertTrue(two.cancel(ninth.sequence.requestId()));
      gate.countDown();
      assertEquals("cancelled", ninth.await().finishReason());
      assertTrue(ninth.tokenIds().size() < 400, "cancelled after " + ninth.tokenIds().size() + " tokens");
      for (EngineHarness.Stream s : streams) assertEquals("length", s.await().finishReason());
      assertEquals(LoadedModel.LANE_FILL, two.lanes().get(0).peakBatch());
      assertEquals(1, two.lanes().get(1).peakBatch());
      long deadline = System.nanoTime() + 10_000_000_000L;
      while ((two.lanes().get(0).load() > 0 || two.lanes().get(1).load() > 0) && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertEquals(0, two.lanes().get(0).load());
      assertEquals(0, two.lanes().get(1).load());
      assertEquals(0, two.active());
    }
  }

  @Test void theModelsLimitsHoldOverAllLanesTogether() throws Exception {
    // four slots and two queue places for the model: two and one per lane. A full lane's queue refuses, the next
    // lane takes the request; only when every lane refuses does the caller hear OVERLOADED
    try (LoadedModel two = load(2, new DecodeScheduler.Limits(4, 2, 1L << 30))) {
      assertEquals(2, two.lanes().get(0).limits().maxConcurrent());
      assertEquals(1, two.lanes().get(0).limits().maxQueued());
      List<EngineHarness.Stream> accepted = new ArrayList<>();
      // two running on each lane (the first fills lane 0 up to its two slots, the next two go to lane 1); each lane
      // then waits at a stream's 50th token until the refusal below was checked, so nothing ends or moves meanwhile
      CountDownLatch gate = new CountDownLatch(1);
      for (int i = 0; i < 4; i++) {
        accepted.add(startGated(two, EngineHarness.completion(M, "The cat", EngineHarness.greedy(400)), gate, 50));
      }
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (two.active() < 4 && System.nanoTime() < deadline) Thread.sleep(1);
      assertEquals(2, two.lanes().get(0).active());
      assertEquals(2, two.lanes().get(1).active());
      // then one queue place on each
      for (int i = 0; i < 2; i++) {
        accepted.add(EngineHarness.start(two, EngineHarness.completion(M, "The cat", EngineHarness.greedy(400))));
      }
      assertEquals(3, two.lanes().get(0).load());
      assertEquals(3, two.lanes().get(1).load());
      assertEquals(2, two.queued());
      CompanionException refused = assertThrows(CompanionException.class,
          () -> EngineHarness.start(two, EngineHarness.completion(M, "The cat", EngineHarness.greedy(60))));
      assertEquals(ErrorCode.OVERLOADED, refused.code());
      assertTrue(refused.getMessage().contains("2 decode lanes"), refused.getMessage());
      gate.countDown();
      for (EngineHarness.Stream s : accepted) assertEquals("length", s.await().finishReason());
      for (EngineHarness.Stream s : accepted) assertEquals(accepted.get(0).tokenIds(), s.tokenIds());
      assertTrue(two.lanes().get(0).peakBatch() <= 2, "lane 0 ran " + two.lanes().get(0).peakBatch());
      assertTrue(two.lanes().get(1).peakBatch() <= 2, "lane 1 ran " + two.lanes().get(1).peakBatch());
    }
  }

  /** A stream whose lane's decode thread waits at its event {@code atSeq} until {@code gate} opens. */
  private static EngineHarness.Stream startGated(LoadedModel model, ai.companion.api.GenerationRequest request,
                                                 CountDownLatch gate, long atSeq) {
    EngineHarness.Stream s = new EngineHarness.Stream();
    s.sequence = model.start(model.prepare(request), "test-worker", e -> {
      if (e.seq() == atSeq) {
        try {
          gate.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException ex) {
          Thread.currentThread().interrupt();
        }
      }
      s.accept(e);
    });
    return s;
  }

  @Test void aTinyModelGetsALanePerCoreAndARealModelOne() throws Exception {
    ModelConfig tiny = ModelConfig.read(folder);
    assertEquals(2, OnnxDecoder.autoLanes(tiny, 1, 2));
    assertEquals(8, OnnxDecoder.autoLanes(tiny, 1, 32));
    assertEquals(1, OnnxDecoder.autoLanes(tiny, 1, 1));
    // several intra-op threads already take the cores
    assertEquals(1, OnnxDecoder.autoLanes(tiny, 2, 4));
    ModelConfig real = new ModelConfig(tiny.id(), tiny.folder(), tiny.modelFile(), tiny.modelType(), 30, 9, 3, 64,
        576, 1536, 49152, 2048, true, tiny.bosTokenId(), tiny.eosTokenIds(), false, "", "fp32", 134_515_008L);
    assertEquals(1, OnnxDecoder.autoLanes(real, 1, 8));
  }
}
