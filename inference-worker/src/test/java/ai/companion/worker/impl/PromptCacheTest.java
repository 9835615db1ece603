package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The prompt cache: a prompt that begins with the tokens of an earlier one copies their keys and values and runs
 * only the rest, with the logits of a whole prefill within float rounding and the same greedy tokens.
 */
class PromptCacheTest {
  private static final String M = ModelFixtures.STORIES;
  private static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play "
      + "outside in the park with her dog";

  @TempDir static Path models;
  static Path folder;

  @BeforeAll static void importModel() throws Exception {
    folder = ModelFixtures.importModel(M, models);
  }

  // ------------------------------------------------------------------------------------- the cache on its own

  /** Layout as the decoder's buffers: [rows, kvHeads, capacity, headDim] per tensor; value = a position's code. */
  private static FloatBuffer[] buffers(int tensors, int rows, int kv, int capacity, int d, float base) {
    FloatBuffer[] data = new FloatBuffer[tensors];
    for (int i = 0; i < tensors; i++) {
      data[i] = OnnxDecoder.directFloats(rows * kv * capacity * d);
      for (int j = 0; j < data[i].capacity(); j++) data[i].put(j, base + i * 1_000_000 + j);
    }
    return data;
  }

  private static int[] tokens(int from, int n) {
    int[] t = new int[n];
    for (int i = 0; i < n; i++) t[i] = from + i;
    return t;
  }

  @Test void restoreCopiesTheStoredPositionsOfEachHeadIntoTheRowAndNothingElse() {
    int tensors = 4, kv = 2, d = 3;
    PromptCache cache = new PromptCache(1 << 20, tensors, kv, d);
    int[] prompt = tokens(1, 20);
    // stored from row 1 of a 3-row group with capacity 24
    FloatBuffer[] source = buffers(tensors, 3, kv, 24, d, 0);
    cache.store(prompt, 20, source, 24, 1);
    assertEquals(1, cache.entries());
    assertEquals(20L * 4 * tensors * kv * d, cache.bytes());

    // a longer prompt that begins with 18 of those tokens, restored into row 0 of a 2-row group with capacity 30
    int[] next = Arrays.copyOf(prompt, 26);
    next[18] = 99;
    FloatBuffer[] target = buffers(tensors, 2, kv, 30, d, -5_000_000);
    FloatBuffer[] before = buffers(tensors, 2, kv, 30, d, -5_000_000);
    assertEquals(18, cache.restore(next, next.length - 1, target, 30, 0));
    for (int i = 0; i < tensors; i++) {
      for (int r = 0; r < 2; r++) {
        for (int h = 0; h < kv; h++) {
          for (int p = 0; p < 30; p++) {
            for (int x = 0; x < d; x++) {
              int at = ((r * kv + h) * 30 + p) * d + x;
              float expected = r == 0 && p < 18 ? source[i].get(((1 * kv + h) * 24 + p) * d + x) : before[i].get(at);
              assertEquals(expected, target[i].get(at), "tensor " + i + " row " + r + " head " + h + " pos " + p);
            }
          }
        }
      }
    }
    assertEquals(1, cache.hits());
    assertEquals(18, cache.reusedTokens());
    // the limit counts: a prompt may not take its own last token from the cache
    assertEquals(19, cache.restore(tokens(1, 20), 19, target, 30, 0));
    assertEquals(19, cache.covered(tokens(1, 20), 19));
  }

  @Test void shortBeginningsAreNeitherKeptNorReused() {
    PromptCache cache = new PromptCache(1 << 20, 2, 1, 2);
    FloatBuffer[] data = buffers(2, 1, 1, 40, 2, 0);
    cache.store(tokens(1, PromptCache.MIN_TOKENS - 1), PromptCache.MIN_TOKENS - 1, data, 40, 0);
    assertEquals(0, cache.entries());
    cache.store(tokens(1, 30), 30, data, 40, 0);
    assertEquals(1, cache.entries());
    int[] sharesFifteen = tokens(1, 30);
    sharesFifteen[PromptCache.MIN_TOKENS - 1] = -1;
    assertEquals(0, cache.restore(sharesFifteen, 29, data, 40, 0));
    assertEquals(0, cache.covered(sharesFifteen, 29));
    assertEquals(0, cache.restore(tokens(1, 30), PromptCache.MIN_TOKENS - 1, data, 40, 0));
    assertEquals(PromptCache.MIN_TOKENS, cache.restore(tokens(1, 30), PromptCache.MIN_TOKENS, data, 40, 0));
  }

  @Test void aPromptThatExtendsAnEntryReplacesItAndOneItCoversIsNotKeptTwice() {
    PromptCache cache = new PromptCache(1 << 20, 2, 1, 2);
    FloatBuffer[] data = buffers(2, 1, 1, 64, 2, 0);
    cache.store(tokens(1, 20), 20, data, 64, 0);
    cache.store(tokens(1, 40), 40, data, 64, 0);     // the next turn of the same conversation
    assertEquals(1, cache.entries());
    assertEquals(40L * 4 * 2 * 2, cache.bytes());
    cache.store(tokens(1, 30), 30, data, 64, 0);     // held by the entry of 40 already
    assertEquals(1, cache.entries());
    assertEquals(2, cache.stored());
    int[] other = tokens(1, 40);
    other[25] = -7;                                  // a branch after 25 tokens: an entry of its own
    cache.store(other, 40, data, 64, 0);
    assertEquals(2, cache.entries());
  }

  @Test void theBudgetDropsTheLeastRecentlyUsedFirst() {
    long perToken = 4L * 2 * 1 * 2;
    PromptCache cache = new PromptCache(3 * 20 * perToken, 2, 1, 2);
    FloatBuffer[] data = buffers(2, 1, 1, 20, 2, 0);
    cache.store(tokens(100, 20), 20, data, 20, 0);
    cache.store(tokens(200, 20), 20, data, 20, 0);
    cache.store(tokens(300, 20), 20, data, 20, 0);
    assertEquals(3, cache.entries());
    assertEquals(20, cache.restore(tokens(100, 21), 20, data, 20, 0));   // the first is used again
    cache.store(tokens(400, 20), 20, data, 20, 0);
    assertEquals(3, cache.entries());
    assertEquals(1, cache.evicted());
    assertTrue(cache.bytes() <= cache.capacityBytes());
    assertEquals(0, cache.covered(tokens(200, 21), 20), "the least recently used went");
    assertEquals(20, cache.covered(tokens(100, 21), 20));
    assertEquals(20, cache.covered(tokens(300, 21), 20));
    cache.store(tokens(500, 61), 61, buffers(2, 1, 1, 61, 2, 0), 61, 0);   // larger than the whole budget
    assertEquals(3, cache.entries());
  }

  // ------------------------------------------------------------------------------------------ in the decoder

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /**
   * A prompt that begins with an earlier prompt copies its keys and values and runs only the rest: its logits are a
   * whole prefill's within float rounding (the rest attends to the copied past as a chunked prefill does), with the
   * same most likely token. Without the copy (the positions left zero) the logits are far off.
   */
  @Test void aPromptThatBeginsWithACachedOneRunsOnlyItsRest() throws Exception {
    try (LoadedModel model = EngineHarness.load(folder)) {
      OnnxDecoder decoder = model.decoder();
      PromptCache cache = model.promptCache();
      int[] first = model.tokenizer().encodeWithBos(STORY);
      assertTrue(first.length > PromptCache.MIN_TOKENS, first.length + " tokens");
      int[] next = concat(first, model.tokenizer().encode(". One day, Lily saw a big red ball"));
      int vocab = model.config().vocabSize();
      float[] whole = new float[vocab];
      decoder.usePromptCache(null);
      decoder.prefill(List.of(next), whole).close();
      decoder.usePromptCache(cache);
      assertEquals(0, cache.entries());

      float[] logits = new float[vocab];
      decoder.prefill(List.of(first), logits).close();
      assertEquals(1, cache.entries());
      assertEquals(0, cache.hits());
      decoder.prefill(List.of(next), logits).close();
      assertEquals(1, cache.hits());
      assertEquals(first.length, cache.reusedTokens());
      assertArrayEquals(whole, logits, 1e-4f);
      assertEquals(Sampler.argmax(whole, 0, vocab), Sampler.argmax(logits, 0, vocab));
      assertEquals(1, cache.entries(), "the longer prompt took the place of the one it extends");

      // the very same prompt again: all but its last token copied, that one run
      decoder.prefill(List.of(next), logits).close();
      assertEquals(2, cache.hits());
      assertEquals(first.length + next.length - 1, cache.reusedTokens());
      assertArrayEquals(whole, logits, 1e-4f);
    }
  }

  /**
   * A group whose prompts share a beginning that an earlier group cached copies it into its first row instead of
   * running it; every row still gets the logits of its whole prompt within rounding.
   */
  @Test void aGroupSharingACachedBeginningCopiesIt() throws Exception {
    try (LoadedModel model = EngineHarness.load(folder)) {
      OnnxDecoder decoder = model.decoder();
      PromptCache cache = model.promptCache();
      List<int[]> prompts = new ArrayList<>();
      for (int i = 0; i < 12; i++) prompts.add(model.tokenizer().encodeWithBos(STORY + ". Then " + (i * i * 37)));
      int vocab = model.config().vocabSize();
      float[] whole = new float[prompts.size() * vocab];
      decoder.usePromptCache(null);
      decoder.shareLeadingTokens(false);
      decoder.prefill(prompts, whole).close();
      decoder.shareLeadingTokens(true);
      decoder.usePromptCache(cache);

      float[] first = new float[prompts.size() * vocab];
      decoder.prefill(prompts, first).close();
      assertEquals(1, cache.entries(), "the shared beginning was kept");
      assertEquals(0, cache.hits());
      float[] second = new float[prompts.size() * vocab];
      decoder.prefill(prompts, second).close();
      assertEquals(1, cache.hits(), "the next group copied it");
      assertTrue(cache.reusedTokens() >= PromptCache.MIN_TOKENS, cache.reusedTokens() + " tokens");
      for (int r = 0; r < prompts.size(); r++) {
        float[] w = Arrays.copyOfRange(whole, r * vocab, (r + 1) * vocab);
        float[] s = Arrays.copyOfRange(second, r * vocab, (r + 1) * vocab);
        assertArrayEquals(w, s, 1e-4f, "row " + r);
        assertEquals(Sampler.argmax(w, 0, vocab), Sampler.argmax(s, 0, vocab), "row " + r);
      }
    }
  }

  /** The standard graph (left-padded rows) has no prompt cache; a budget of 0 neither. */
  @Test void onlyTheInPlaceGraphWithABudgetHasOne() throws Exception {
    try (LoadedModel standard = EngineHarness.load(folder, EngineHarness.LIMITS, false)) {
      assertNull(standard.promptCache());
    }
    try (LoadedModel none = EngineHarness.load(folder, EngineHarness.LIMITS, true, 0)) {
      assertNull(none.promptCache());
    }
  }

  // ------------------------------------------------------------------------------------- conversations

  /** Turn k's prompt: the conversation so far, as the gateway joins a chat's messages. */
  private static String turn(String before, String answer, String message) {
    return before.isEmpty() ? message : before + "\n" + answer + "\n" + message;
  }

  /**
   * A conversation of four turns, each prompt the whole conversation so far: with the cache each turn after the
   * first copies the turn before and decodes exactly the greedy tokens it decodes without one.
   */
  @Test void aConversationsTurnsDecodeWhatTheyDecodeWithoutTheCache() throws Exception {
    String[] messages = {STORY, "What did Lily do next?", "Who was her friend?", "How did the story end?"};
    List<List<Integer>> runs = new ArrayList<>();
    long[] hits = new long[2];
    for (long bytes : new long[] {PromptCache.DEFAULT_BYTES, 0}) {
      try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, true, bytes)) {
        List<Integer> all = new ArrayList<>();
        String prompt = "";
        String answer = "";
        for (String m : messages) {
          prompt = turn(prompt, answer, m);
          EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, prompt,
              EngineHarness.greedy(40)));
          assertEquals(StreamEvent.Type.DONE, s.await().type());
          answer = s.text();
          all.addAll(s.tokenIds());
          all.add(-1);
        }
        runs.add(all);
        if (model.promptCache() != null) hits[0] = model.promptCache().hits();
      }
    }
    assertEquals(runs.get(1), runs.get(0));
    assertEquals(messages.length - 1, hits[0], "every turn after the first found the one before");
  }

  /**
   * A few conversations whose next turns arrive together prefill alone, each from its cached beginning; in one group
   * each would run its whole prompt. Their tokens are the ones a model without the cache decodes.
   */
  @Test void afewContinuingConversationsArrivingTogetherEachPrefillAlone() throws Exception {
    List<String> first = List.of(STORY, "Tom had a red ball. He liked to throw it high in the sky and catch it",
        "The sun was shining and the birds were singing in the tall green trees near the river");
    List<List<Integer>> runs = new ArrayList<>();
    for (long bytes : new long[] {PromptCache.DEFAULT_BYTES, 0}) {
      try (LoadedModel model = EngineHarness.load(folder, EngineHarness.LIMITS, true, bytes)) {
        List<String> next = new ArrayList<>();
        for (String p : first) {
          EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, p, EngineHarness.greedy(20)));
          next.add(turn(p, s.text(), "And then?"));
        }
        model.scheduler().resetPeakBatch();
        List<EngineHarness.Stream> together = EngineHarness.startTogether(model,
            next.stream().map(p -> EngineHarness.completion(M, p, EngineHarness.greedy(30))).toList());
        List<Integer> tokens = new ArrayList<>();
        for (EngineHarness.Stream s : together) {
          assertEquals(StreamEvent.Type.DONE, s.await().type());
          tokens.addAll(s.tokenIds());
          tokens.add(-1);
        }
        runs.add(tokens);
        if (model.promptCache() != null) {
          assertEquals(1, model.scheduler().peakPrefillGroup(), "each alone");
          assertEquals(next.size(), model.promptCache().hits());
        } else {
          assertEquals(next.size(), model.scheduler().peakPrefillGroup(), "without the cache: one group");
        }
      }
    }
    assertEquals(runs.get(1), runs.get(0));
  }

  /**
   * Two decode lanes share one cache: 24 conversations start at once (both lanes; their shared beginning is kept),
   * then their second turns all at once, on both lanes, each copying a kept beginning; every second turn decodes
   * what a model without the cache decodes.
   */
  @Test void twoLanesShareTheCache() throws Exception {
    List<List<Integer>> runs = new ArrayList<>();
    long hits = 0;
    for (long bytes : new long[] {PromptCache.DEFAULT_BYTES, 0}) {
      try (LoadedModel model = LoadedModel.load(folder, new OnnxDecoder.SessionSettings("cpu",
          ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT, 1).withDecodeLanes(2), EngineHarness.LIMITS,
          bytes, null)) {
        assertEquals(2, model.lanes().size());
        List<String> firsts = new ArrayList<>();
        for (int c = 0; c < 24; c++) firsts.add(STORY + ", and her friend number " + c + " came too");
        List<EngineHarness.Stream> first = new ArrayList<>();
        for (String p : firsts) {
          first.add(EngineHarness.start(model, EngineHarness.completion(M, p, EngineHarness.greedy(12))));
        }
        List<String> next = new ArrayList<>();
        for (int c = 0; c < firsts.size(); c++) {
          assertEquals(StreamEvent.Type.DONE, first.get(c).await().type());
          next.add(turn(firsts.get(c), first.get(c).text(), "What did they play?"));
        }
        for (DecodeScheduler lane : model.lanes()) lane.resetPeakBatch();
        List<EngineHarness.Stream> second = new ArrayList<>();
        for (String p : next) {
          second.add(EngineHarness.start(model, EngineHarness.completion(M, p, EngineHarness.greedy(20))));
        }
        List<Integer> tokens = new ArrayList<>();
        for (EngineHarness.Stream s : second) {
          assertEquals(StreamEvent.Type.DONE, s.await().type());
          tokens.addAll(s.tokenIds());
          tokens.add(-1);
        }
        runs.add(tokens);
        for (DecodeScheduler lane : model.lanes()) assertTrue(lane.peakBatch() > 0, "both lanes ran second turns");
        if (model.promptCache() != null) hits = model.promptCache().hits();
      }
    }
    assertEquals(runs.get(1), runs.get(0));
    assertTrue(hits >= 2, hits + " prefills copied a kept beginning");
  }
}
