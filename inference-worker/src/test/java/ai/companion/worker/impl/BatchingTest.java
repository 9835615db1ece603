package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Continuous batching: requests join a running batch at token granularity and decode exactly as they would alone. */
class BatchingTest {
  private static final Logger LOG = LoggerFactory.getLogger(BatchingTest.class);
  private static final String M = ModelFixtures.STORIES;
  private static final List<String> PROMPTS = EngineHarness.PROMPTS;

  @TempDir static Path models;
  static Path folder;

  @BeforeAll static void importModel() throws Exception {
    folder = ModelFixtures.importModel(M, models);
  }

  /** With the in-place cache graph (the default) and with the standard one. */
  @ParameterizedTest(name = "in-place cache: {0}")
  @ValueSource(booleans = {true, false})
  void greedyOutputIsTheSameAloneAndBatched(boolean inPlace) throws Exception {
    try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, inPlace)) {
      assertEquals(inPlace, model.decoder().inPlace());
      List<List<Integer>> alone = new ArrayList<>();
      List<String> aloneText = new ArrayList<>();
      for (int i = 0; i < PROMPTS.size(); i++) {
        EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, PROMPTS.get(i),
            EngineHarness.greedy(30 + 7 * i)));
        alone.add(s.tokenIds());
        aloneText.add(s.text());
      }
      assertEquals(1, model.scheduler().peakBatch());
      model.scheduler().resetPeakBatch();

      // the first request is running when the others arrive: they join it mid-flight, with different pasts
      List<EngineHarness.Stream> batched = new ArrayList<>();
      CompletableFuture<Void> others = new CompletableFuture<>();
      EngineHarness.Stream first = new EngineHarness.Stream();
      LoadedModel.Prepared p0 = model.prepare(EngineHarness.completion(M, PROMPTS.get(0), EngineHarness.greedy(30)));
      model.start(p0, "test-worker", e -> {
        first.accept(e);
        if (e.seq() == 4) {
          for (int i = 1; i < PROMPTS.size(); i++) {
            batched.add(EngineHarness.start(model, EngineHarness.completion(M, PROMPTS.get(i),
                EngineHarness.greedy(30 + 7 * i))));
          }
          others.complete(null);
        }
      });
      first.await();
      others.get(30, TimeUnit.SECONDS);
      batched.add(0, first);
      for (int i = 0; i < PROMPTS.size(); i++) {
        EngineHarness.Stream s = batched.get(i);
        assertEquals(StreamEvent.Type.DONE, s.await().type());
        assertEquals(alone.get(i), s.tokenIds(), "prompt " + i + " '" + PROMPTS.get(i) + "'");
        assertEquals(aloneText.get(i), s.text());
      }
      int peak = model.scheduler().peakBatch();
      LOG.info("batched {} streams, peak batch {}, peak prefill group {}", PROMPTS.size(), peak,
          model.scheduler().peakPrefillGroup());
      assertEquals(PROMPTS.size(), peak);
      // the five that arrived together were prefilled together, padded to the longest prompt
      assertEquals(PROMPTS.size() - 1, model.scheduler().peakPrefillGroup());
    }
  }

  /**
   * Prompts that begin alike, arriving together, are prefilled as one group whose shared beginning runs once: each
   * still decodes exactly what it decodes alone, whether its own part is one token or several, and whether two of
   * them are the same prompt.
   */
  @Test void promptsSharingABeginningDecodeWhatEachDecodesAlone() throws Exception {
    String preamble = "Once upon a time, there was a little girl named Lily. She loved to play outside";
    List<String> prompts = List.of(preamble + " in the", preamble + ".", preamble + " with her", preamble + " in the",
        preamble + " on", preamble + " in the sun", preamble + " and");
    // no prompt cache: the prompts run alone first would be found there, and each then prefills alone from it
    try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, true, 0)) {
      List<List<Integer>> alone = new ArrayList<>();
      for (String p : prompts) {
        alone.add(EngineHarness.run(model, EngineHarness.completion(M, p, EngineHarness.greedy(40))).tokenIds());
      }
      assertEquals(0, model.sharedPrefixTokens(), "a prompt alone shares nothing");
      model.scheduler().resetPeakBatch();
      List<EngineHarness.Stream> together = EngineHarness.startTogether(model,
          prompts.stream().map(p -> EngineHarness.completion(M, p, EngineHarness.greedy(40))).toList());
      for (int i = 0; i < prompts.size(); i++) {
        assertEquals(StreamEvent.Type.DONE, together.get(i).await().type());
        assertEquals(alone.get(i), together.get(i).tokenIds(), "prompt " + i + " '" + prompts.get(i) + "'");
      }
      assertEquals(prompts.size(), model.scheduler().peakPrefillGroup(), "prefilled as one group");
      int preambleTokens = model.tokenizer().encodeWithBos(preamble).length;
      assertTrue(model.sharedPrefixTokens() >= (long) (prompts.size() - 1) * (preambleTokens - 1),
          "shared " + model.sharedPrefixTokens() + " tokens, preamble " + preambleTokens);
    }
  }

  /**
   * A plain prefill gives each row exactly the logits of its prompt alone. Running the shared beginning once gives
   * them within float rounding: the rows' own tokens then run as one-token steps, whose attention ONNX Runtime sums
   * in another order than a prompt's (a few units in the sixth digit); every row's most likely next token stays.
   */
  @Test void aSharedBeginningGivesEveryRowTheLogitsOfItsWholePromptWithinRounding() throws Exception {
    // no prompt cache: the single prompts are the reference, run whole
    try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, true, 0)) {
      OnnxDecoder decoder = model.decoder();
      List<int[]> prompts = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        prompts.add(model.tokenizer().encodeWithBos("Lily and Ben went to the park. There was " + (i * i * 37)));
      }
      int vocab = model.config().vocabSize();
      float[] whole = new float[prompts.size() * vocab];
      float[] sharing = new float[prompts.size() * vocab];
      decoder.shareLeadingTokens(false);
      decoder.prefill(prompts, whole).close();
      decoder.shareLeadingTokens(true);
      long before = decoder.sharedPrefixTokens();
      decoder.prefill(prompts, sharing).close();
      assertTrue(decoder.sharedPrefixTokens() > before, "the beginning was shared");
      float[] one = new float[vocab];
      for (int r = 0; r < prompts.size(); r++) {
        decoder.prefill(List.of(prompts.get(r)), one).close();
        float[] wholeRow = java.util.Arrays.copyOfRange(whole, r * vocab, (r + 1) * vocab);
        org.junit.jupiter.api.Assertions.assertArrayEquals(one, wholeRow, "row " + r + ": plain prefill");
        float[] sharedRow = java.util.Arrays.copyOfRange(sharing, r * vocab, (r + 1) * vocab);
        org.junit.jupiter.api.Assertions.assertArrayEquals(one, sharedRow, 1e-4f, "row " + r + ": shared beginning");
        assertEquals(Sampler.argmax(one, 0, vocab), Sampler.argmax(sharedRow, 0, vocab), "row " + r);
      }
    }
  }

  @Test void aSharedBeginningRunsOnceOnlyWhenThatPays() {
    int[] a = {1, 5, 6, 7, 8};
    int[] b = {1, 5, 6, 7, 9, 10};
    int[] c = {1, 5, 6};
    assertEquals(4, OnnxDecoder.sharedPrefix(List.of(a, b, a, b), 0, 0));
    assertEquals(2, OnnxDecoder.sharedPrefix(List.of(a, b, c), 0, 0), "each prompt keeps a token of its own");
    assertEquals(4, OnnxDecoder.sharedPrefix(List.of(a, a), 0, 0), "the same prompt twice: all but its last token");
    assertEquals(0, OnnxDecoder.sharedPrefix(List.of(a), 0, 0), "one prompt shares with nobody");
    assertEquals(0, OnnxDecoder.sharedPrefix(List.of(a, new int[] {2, 5, 6}), 0, 0));
    // 3 rows x 4 shared tokens save 8; b's two own positions cost 2 runs of 3 + 3 rows x 1/3: 8, not more than saved
    assertEquals(0, OnnxDecoder.sharedPrefix(List.of(a, b, a), 3, 1.0 / 3));
    assertEquals(4, OnnxDecoder.sharedPrefix(List.of(a, b, a), 3, 0.3));
    assertEquals(0, OnnxDecoder.sharedPrefix(List.of(a, b, a), 3.1, 0.3));
    // with the measured costs: four of the same five-token prompt do not pay, eight do
    List<int[]> four = List.of(a, a, a, a);
    assertEquals(0, OnnxDecoder.sharedPrefix(four, OnnxDecoder.RUN_COST_TOKENS, OnnxDecoder.STEP_ROW_EXTRA_TOKENS));
    List<int[]> eight = new ArrayList<>(four);
    eight.addAll(four);
    assertEquals(4, OnnxDecoder.sharedPrefix(eight, OnnxDecoder.RUN_COST_TOKENS, OnnxDecoder.STEP_ROW_EXTRA_TOKENS));
  }

  /**
   * The in-place cache graph decodes exactly what the standard graph does: prompts of different lengths prefilled
   * together (right-padded there, left-padded here), streams of different lengths leaving the batch at different
   * steps (their rows compacted in place there, copied to the other buffers here).
   */
  @Test void theInPlaceCacheGraphDecodesWhatTheStandardGraphDecodes() throws Exception {
    List<List<List<Integer>>> runs = new ArrayList<>();
    for (boolean inPlace : new boolean[] {true, false}) {
      try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, inPlace)) {
        List<EngineHarness.Stream> streams = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
          for (int i = 0; i < PROMPTS.size(); i++) {
            streams.add(EngineHarness.start(model, EngineHarness.completion(M, PROMPTS.get(i),
                EngineHarness.greedy(5 + 11 * ((i + k) % 6)))));
          }
        }
        List<List<Integer>> tokens = new ArrayList<>();
        for (EngineHarness.Stream s : streams) {
          assertEquals(StreamEvent.Type.DONE, s.await().type());
          tokens.add(s.tokenIds());
        }
        runs.add(tokens);
        assertTrue(model.scheduler().peakBatch() > 1, "peak batch " + model.scheduler().peakBatch());
      }
    }
    assertEquals(runs.get(1), runs.get(0));
  }

  /**
   * One stream over the whole context (BOS and 511 tokens): the in-place graph's rotary tables reach the last
   * position, and what it decodes there is what the standard graph (rotation computed in the graph) decodes.
   */
  @Test void aStreamOverTheWholeContextDecodesWhatTheStandardGraphDecodes() throws Exception {
    List<List<Integer>> runs = new ArrayList<>();
    for (boolean inPlace : new boolean[] {true, false}) {
      try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, inPlace)) {
        int ctx = model.info().contextLength();
        EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "",
            EngineHarness.greedy(ctx - 1)));
        StreamEvent done = s.await();
        assertEquals(StreamEvent.Type.DONE, done.type(), () -> "ended with " + done);
        assertEquals(ctx - 1, done.completionTokens());
        runs.add(s.tokenIds());
      }
    }
    assertEquals(runs.get(1), runs.get(0));
  }

  /** A quantized variant gets its in-place decoder from the quantizer, and it decodes what its standard graph does. */
  @Test void aQuantizedVariantIsServedInPlaceToo(@TempDir Path dir) throws Exception {
    Path q = ModelFixtures.importModel(M, dir);
    ai.companion.modelimport.ModelQuantizer.quantize(q, 4, null);
    List<List<Integer>> runs = new ArrayList<>();
    for (boolean inPlace : new boolean[] {true, false}) {
      OnnxDecoder.SessionSettings settings = new OnnxDecoder.SessionSettings("cpu",
          ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, 1, List.of("int4"), inPlace, 1, 0);
      try (LoadedModel model = LoadedModel.load(q, settings, EngineHarness.LIMITS, null)) {
        assertEquals("model_q4.onnx", model.config().modelFile().getFileName().toString());
        assertEquals(inPlace, model.decoder().inPlace());
        List<EngineHarness.Stream> streams = new ArrayList<>();
        for (String prompt : PROMPTS) {
          streams.add(EngineHarness.start(model, EngineHarness.completion(M, prompt, EngineHarness.greedy(30))));
        }
        List<Integer> tokens = new ArrayList<>();
        for (EngineHarness.Stream s : streams) {
          s.await();
          tokens.addAll(s.tokenIds());
        }
        runs.add(tokens);
      }
    }
    assertEquals(runs.get(1), runs.get(0));
  }

  /**
   * A churning batch on both graphs: 240 streams of mixed prompts and lengths arrive in waves while others run, and
   * every fifth is cancelled after a few tokens, so rows leave from anywhere in the batch (in place, the rows above
   * the new size move into their places) while newcomers join. Every stream that was not cancelled decodes exactly
   * what it decodes alone.
   */
  @ParameterizedTest(name = "in-place cache: {0}")
  @ValueSource(booleans = {true, false})
  void aChurningBatchDecodesWhatEachStreamDecodesAlone(boolean inPlace) throws Exception {
    try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, inPlace)) {
      List<List<Integer>> alone = new ArrayList<>();
      for (String prompt : PROMPTS) {
        alone.add(EngineHarness.run(model, EngineHarness.completion(M, prompt, EngineHarness.greedy(70))).tokenIds());
      }
      int n = 240;
      List<EngineHarness.Stream> streams = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        final boolean cancel = i % 5 == 3;
        LoadedModel.Prepared p = model.prepare(EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()),
            EngineHarness.greedy(10 + (i * 7) % 61)));
        String id = p.request().requestId();
        EngineHarness.Stream s = new EngineHarness.Stream() {
          @Override void accept(StreamEvent e) {
            super.accept(e);
            if (cancel && e.seq() == 2) assertTrue(model.cancel(id), "cancel " + id);
          }
        };
        s.sequence = model.start(p, "test-worker", s::accept);
        streams.add(s);
        if (i % 40 == 39) Thread.sleep(15);
      }
      int compared = 0;
      for (int i = 0; i < n; i++) {
        EngineHarness.Stream s = streams.get(i);
        StreamEvent end = s.await();
        if (i % 5 == 3) {
          assertEquals("cancelled", end.finishReason(), "stream " + i);
          assertTrue(s.tokenIds().size() < 10 + (i * 7) % 61, "stream " + i + " stopped early");
          continue;
        }
        assertEquals("length", end.finishReason(), "stream " + i);
        int len = 10 + (i * 7) % 61;
        assertEquals(alone.get(i % PROMPTS.size()).subList(0, len), s.tokenIds(), "stream " + i);
        compared++;
      }
      assertEquals(n - n / 5, compared);
      assertTrue(model.scheduler().peakBatch() > 20, "peak batch " + model.scheduler().peakBatch());
    }
  }

  @Test void manyStreamsTogetherThenAloneAgain() throws Exception {
    try (LoadedModel model = EngineHarness.load(folder)) {
      List<List<Integer>> alone = new ArrayList<>();
      for (String prompt : PROMPTS) {
        alone.add(EngineHarness.run(model, EngineHarness.completion(M, prompt, EngineHarness.greedy(60))).tokenIds());
      }
      // 32 streams of different lengths: rows finish at different steps (finished rows ride along until the
      // batch is compacted) while later ones join in bunches
      List<EngineHarness.Stream> streams = new ArrayList<>();
      for (int i = 0; i < 32; i++) {
        streams.add(EngineHarness.start(model, EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()),
            EngineHarness.greedy(20 + i))));
        if (i % 8 == 7) Thread.sleep(5);
      }
      for (int i = 0; i < 32; i++) {
        EngineHarness.Stream s = streams.get(i);
        assertEquals("length", s.await().finishReason());
        assertEquals(20 + i, s.tokenIds().size());
        assertEquals(alone.get(i % PROMPTS.size()).subList(0, 20 + i), s.tokenIds(), "stream " + i);
      }
      assertTrue(model.scheduler().peakBatch() > 1, "peak batch " + model.scheduler().peakBatch());
      // the load figure drops right after the last DONE was sent
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (model.scheduler().active() != 0 && System.nanoTime() < deadline) Thread.sleep(5);
      assertEquals(0, model.scheduler().active());
      // alone after the crowd: still the oracle
      EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(60)));
      assertEquals(ModelFixtures.STORIES_TEXT, s.text());
    }
  }

  /**
   * Prefill first: while newcomers keep arriving, the running stream takes no step (up to the limit), so their
   * first tokens do not wait behind its decode steps; with the wait off it steps on between their arrivals. Either
   * way every stream decodes exactly what it decodes alone.
   */
  @Test void aBurstOfNewcomersIsPrefilledBeforeTheRunningBatchStepsOn() throws Exception {
    int[] advanced = new int[2];
    for (int run = 0; run < 2; run++) {
      long prefillFirstMs = run == 0 ? 10_000 : 0;
      // a 100 ms burst gap: on a loaded 2-core CI machine a 1 ms sleep sometimes took longer than the 5 ms default
      // and ended the burst (the running stream advanced 7 tokens once)
      try (LoadedModel model = EngineHarness.load(folder, new DecodeScheduler.Limits(64, 1024, 1L << 30,
          prefillFirstMs, 100))) {
        // the cap on the share of time held is not what this measures (on a slow machine the burst can outlast it)
        model.scheduler().maxHeldShare(1.0);
        List<Integer> aloneRunning = EngineHarness.run(model,
            EngineHarness.completion(M, "", EngineHarness.greedy(250))).tokenIds();
        List<Integer> aloneNewcomer = EngineHarness.run(model,
            EngineHarness.completion(M, "The cat", EngineHarness.greedy(10))).tokenIds();
        EngineHarness.Stream running = EngineHarness.start(model,
            EngineHarness.completion(M, "", EngineHarness.greedy(250)));
        while (running.events.size() < 3) Thread.sleep(1);
        int n = 30;
        List<LoadedModel.Prepared> burst = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          burst.add(model.prepare(EngineHarness.completion(M, "The cat", EngineHarness.greedy(10))));
        }
        java.util.concurrent.atomic.AtomicInteger firsts = new java.util.concurrent.atomic.AtomicInteger();
        // counted from the tenth newcomer's first token: a burst begins with its second arrival (a lone newcomer
        // holds nothing), and after the requests before it (the two runs alone, the running stream) it must come at
        // least twice as fast as they did, a few arrivals (ArrivalPace); how fast the test thread submits those is
        // not measured
        CompletableFuture<Integer> runningAtSecondFirst = new CompletableFuture<>();
        CompletableFuture<Integer> runningAtLastFirst = new CompletableFuture<>();
        List<EngineHarness.Stream> newcomers = new ArrayList<>();
        for (LoadedModel.Prepared p : burst) {
          CompletableFuture<Void> first = new CompletableFuture<>();
          EngineHarness.Stream s = new EngineHarness.Stream() {
            @Override void accept(StreamEvent e) {
              if (e.seq() == 0) {
                int k = firsts.incrementAndGet();
                if (k == 10) runningAtSecondFirst.complete(running.events.size());
                if (k == n) runningAtLastFirst.complete(running.events.size());
              }
              super.accept(e);
              if (e.seq() == 0) first.complete(null);
            }
          };
          s.sequence = model.start(p, "w", s::accept);
          newcomers.add(s);
          // each arrival after the one before has its first token (then about a millisecond more): without the wait
          // the decode thread has a turn, so a step, between any two arrivals, however slow the machine; with it
          // the arrivals stay far inside the burst gap
          first.get(10, TimeUnit.SECONDS);
          Thread.sleep(1);
        }
        advanced[run] = runningAtLastFirst.get(60, TimeUnit.SECONDS) - runningAtSecondFirst.get();
        for (EngineHarness.Stream s : newcomers) {
          s.await();
          assertEquals(aloneNewcomer, s.tokenIds());
        }
        running.await();
        assertEquals(aloneRunning, running.tokenIds());
      }
    }
    LOG.info("running stream advanced {} tokens during a burst of newcomers with prefill first, {} without",
        advanced[0], advanced[1]);
    assertTrue(advanced[0] <= 5, "with prefill first the running stream advanced " + advanced[0] + " tokens");
    assertTrue(advanced[1] > advanced[0], "without it the running stream advanced " + advanced[1] + " tokens");
  }

  /**
   * Prefill first holds at most a share of the time: arrivals that never pause for the gap (here one every 2 ms or
   * so, for about half a second, each a one-token request that ends at its prefill) hold the running stream
   * without a cap, and with the default cap (0.3 of about the last second) it steps on for much of that time.
   */
  @Test void prefillFirstHoldsTheRunningStreamsOnlyForAShareOfTheTime() throws Exception {
    int[] advanced = new int[2];
    for (int run = 0, tries = 0; run < 2; run++) {
      try (LoadedModel model = EngineHarness.load(folder, new DecodeScheduler.Limits(64, 1024, 1L << 30, 10_000,
          100))) {
        model.scheduler().maxHeldShare(run == 0 ? DecodeScheduler.MAX_HELD_SHARE : 1.0);
        EngineHarness.Stream running = EngineHarness.start(model,
            EngineHarness.completion(M, "", EngineHarness.greedy(400)));
        while (running.events.size() < 3) Thread.sleep(1);
        List<EngineHarness.Stream> newcomers = new ArrayList<>();
        int before = -1;
        long maxGapNanos = 0;
        long first = 0;
        long last = 0;
        for (int i = 0; i < 250; i++) {
          newcomers.add(EngineHarness.start(model, EngineHarness.completion(M, "The cat", EngineHarness.greedy(1))));
          long now = System.nanoTime();
          if (i == 0) first = now;
          else maxGapNanos = Math.max(maxGapNanos, now - last);
          last = now;
          if (i == 1) before = running.events.size();
          Thread.sleep(2);
        }
        advanced[run] = running.events.size() - before;
        // the round without the cap says something only when its arrivals were one burst that read as one: a
        // stall of this thread past the gap (100 ms) ends the burst, and arrivals for longer than a second are
        // judged as steady traffic (ArrivalPace.MAX_BURST_NANOS); either lets the stream step on by right. A slow or
        // loaded machine (sleeps of 2 ms that take 4) runs the round again.
        boolean burst = maxGapNanos < 50_000_000L && last - first < 900_000_000L;
        LOG.info("round {}: the running stream advanced {} tokens; arrivals over {} ms, the largest gap {} ms", run,
            advanced[run], (last - first) / 1_000_000, maxGapNanos / 1_000_000);
        if (run == 1 && !burst && ++tries < 3) run--;
        for (EngineHarness.Stream s : newcomers) {
          s.await();
          assertEquals(1, s.tokenIds().size());
        }
        running.await();
      }
    }
    LOG.info("running stream advanced {} tokens during 250 arrivals with the cap on the time held, {} without",
        advanced[0], advanced[1]);
    assertTrue(advanced[1] <= 5, "without the cap the running stream advanced " + advanced[1] + " tokens");
    assertTrue(advanced[0] >= 20, "with the cap the running stream advanced only " + advanced[0] + " tokens");
  }

  /**
   * At capacity, arrivals hold nothing: the newcomers wait for running streams to end, which takes steps, so a
   * wait for their prefill would only stall everyone (under arrivals that never pause, one step per wait limit).
   * Two slots, both taken; 60 more requests arrive a millisecond or so apart and queue: the running streams step
   * on meanwhile, and every stream still decodes what it decodes alone.
   */
  @Test void arrivalsThatMustQueueDoNotHoldTheRunningBatch() throws Exception {
    try (LoadedModel model = EngineHarness.load(folder, new DecodeScheduler.Limits(2, 1024, 1L << 30, 10_000, 100))) {
      List<Integer> aloneRunning = EngineHarness.run(model,
          EngineHarness.completion(M, "", EngineHarness.greedy(400))).tokenIds();
      List<Integer> aloneQueued = EngineHarness.run(model,
          EngineHarness.completion(M, "The cat", EngineHarness.greedy(10))).tokenIds();
      List<EngineHarness.Stream> running = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        running.add(EngineHarness.start(model, EngineHarness.completion(M, "", EngineHarness.greedy(400))));
      }
      while (running.get(0).events.size() < 3 || running.get(1).events.size() < 3) Thread.sleep(1);
      List<EngineHarness.Stream> queued = new ArrayList<>();
      int before = 0;
      for (int i = 0; i < 60; i++) {
        queued.add(EngineHarness.start(model, EngineHarness.completion(M, "The cat", EngineHarness.greedy(10))));
        // counted from the second arrival (a burst begins there), so how fast this thread submits is not measured
        if (i == 1) before = running.get(0).tokenIds().size();
        Thread.sleep(1);
      }
      int advanced = running.get(0).tokenIds().size() - before;
      LOG.info("running stream advanced {} tokens (from {}) while 58 more requests queued", advanced, before);
      assertTrue(advanced >= 10, "the running stream advanced " + advanced + " tokens while 58 requests queued");
      for (EngineHarness.Stream s : running) {
        s.await();
        assertEquals(aloneRunning, s.tokenIds());
      }
      for (EngineHarness.Stream s : queued) {
        s.await();
        assertEquals(aloneQueued, s.tokenIds());
      }
    }
  }

  @Test void admissionQueuesThenRefusesWithOverloaded() throws Exception {
    // two slots, one queue place: with one request running, a second runs, a third waits, a fourth is refused
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(2, 1, 1L << 30);
    try (LoadedModel model = EngineHarness.load(folder, limits)) {
      List<EngineHarness.Stream> accepted = new ArrayList<>();
      List<Throwable> refused = new ArrayList<>();
      CompletableFuture<Void> submitted = new CompletableFuture<>();
      EngineHarness.Stream first = new EngineHarness.Stream();
      model.start(model.prepare(EngineHarness.completion(M, "", EngineHarness.greedy(40))), "w", e -> {
        first.accept(e);
        if (e.seq() == 1) {
          for (int i = 0; i < 3; i++) {
            try {
              accepted.add(EngineHarness.start(model, EngineHarness.completion(M, "The cat", EngineHarness.greedy(20))));
            } catch (CompanionException ex) {
              refused.add(ex);
            }
          }
          submitted.complete(null);
        }
      });
      submitted.get(30, TimeUnit.SECONDS);
      assertEquals(2, accepted.size());
      assertEquals(1, refused.size());
      assertEquals(ErrorCode.OVERLOADED, ((CompanionException) refused.get(0)).code());
      assertEquals("length", first.await().finishReason());
      for (EngineHarness.Stream s : accepted) assertEquals("length", s.await().finishReason());
      assertEquals(accepted.get(0).tokenIds(), accepted.get(1).tokenIds());
      assertEquals(2, model.scheduler().peakBatch());
    }
  }

  /**
   * The batch cache is padded to its longest member, so a long request among short ones counts as rows x its
   * reservation: with a budget of four long rows, at most four sequences run while the long one does (summing the
   * reservations, all thirteen would start at once).
   */
  @Test void aLongRequestAmongShortOnesIsBudgetedAsThePaddedCacheItMakes() throws Exception {
    ModelConfig c = ModelConfig.read(folder);
    long perToken = 2L * c.layers() * c.kvHeads() * c.headDim() * Float.BYTES;
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(16, 16, perToken * 500 * 4);
    try (LoadedModel model = EngineHarness.load(folder, limits)) {
      List<EngineHarness.Stream> streams = new ArrayList<>();
      streams.add(EngineHarness.start(model, EngineHarness.completion(M, "", EngineHarness.greedy(499))));
      for (int i = 0; i < 12; i++) {
        streams.add(EngineHarness.start(model, EngineHarness.completion(M, PROMPTS.get(i % PROMPTS.size()),
            EngineHarness.greedy(20))));
      }
      for (EngineHarness.Stream s : streams) assertEquals(StreamEvent.Type.DONE, s.await().type());
      assertTrue(model.scheduler().peakBatch() <= 4, "peak batch " + model.scheduler().peakBatch());
      assertTrue(model.scheduler().peakBatch() >= 2, "peak batch " + model.scheduler().peakBatch());
    }
  }

  @Test void memoryBudgetMakesRequestsWaitTheirTurn() throws Exception {
    // a budget of one sequence's cache (prompt + max_tokens): the second request waits for the first to end
    ModelConfig c = ModelConfig.read(folder);
    long perToken = 2L * c.layers() * c.kvHeads() * c.headDim() * Float.BYTES;
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(8, 8, perToken * 50);
    try (LoadedModel model = EngineHarness.load(folder, limits)) {
      List<EngineHarness.Stream> streams = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        streams.add(EngineHarness.start(model, EngineHarness.completion(M, "", EngineHarness.greedy(40))));
      }
      for (EngineHarness.Stream s : streams) {
        assertEquals("length", s.await().finishReason());
        assertEquals(ModelFixtures.STORIES_TEXT.substring(0, 20), s.text().substring(0, 20));
      }
      assertEquals(1, model.scheduler().peakBatch());
    }
  }
}
