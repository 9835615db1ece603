package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.testing.ModelFixtures;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The engine on the real stories260K import: prompts, KV cache against full recomputation, sampling, stops. */
class GenerationTest {
  private static final Logger LOG = LoggerFactory.getLogger(GenerationTest.class);
  private static final String M = ModelFixtures.STORIES;

  @TempDir static Path models;
  static Path folder;
  static LoadedModel model;

  @BeforeAll static void load() throws Exception {
    folder = ModelFixtures.importModel(M, models);
    model = EngineHarness.load(folder);
  }

  @AfterAll static void close() throws Exception {
    if (model != null) model.close();
  }

  private static List<Integer> ids(EngineHarness.Stream s) {
    return s.tokenIds();
  }

  @Test void streamedTextEqualsDecodedCompletion() throws Exception {
    EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(200)));
    int[] all = new int[201];
    all[0] = 1;
    List<Integer> ids = ids(s);
    assertEquals(200, ids.size());
    for (int i = 0; i < 200; i++) all[i + 1] = ids.get(i);
    // the non-streamed answer: the whole sequence decoded at once
    String whole = model.tokenizer().decode(all, 0, all.length);
    assertEquals(whole, s.text());
    assertTrue(s.text().startsWith(ModelFixtures.STORIES_TEXT + ".\nLily's mom said"), s.text());
    assertTrue(s.text().endsWith("Lily didn't want to help her mom, so she"), s.text());
    assertTrue(s.events.size() > 100, "streamed token by token: " + s.events.size() + " events");
    // the importer's in-place cache decoder is served, and decode steps wrote into the batch's own buffers
    assertTrue(model.decoder().inPlace());
    assertTrue(model.decoder().pinsCache());
  }

  @Test void continuationAfterPromptEqualsFullRecomputation() throws Exception {
    String prompt = "Once upon a time";
    int n = 40;
    EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, prompt, EngineHarness.greedy(n)));
    int[] context = model.tokenizer().encodeWithBos(prompt);
    List<Integer> expected = fullRecomputeGreedy(context, n);
    assertEquals(expected, ids(s));
    StreamEvent done = s.await();
    assertEquals(context.length, done.promptTokens());
    // text: decode(prompt + generated) minus decode(prompt)
    int[] all = new int[context.length + n];
    System.arraycopy(context, 0, all, 0, context.length);
    for (int i = 0; i < n; i++) all[context.length + i] = expected.get(i);
    String full = model.tokenizer().decode(all, 0, all.length);
    String head = model.tokenizer().decode(context, 0, context.length);
    assertEquals(full.substring(head.length()), s.text());
    assertTrue(s.text().startsWith(","), s.text());   // "Once upon a time" goes on with ", there was"
  }

  /** Greedy continuation with no cache at all: every step runs the whole sequence with an empty past. */
  private static List<Integer> fullRecomputeGreedy(int[] prompt, int n) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    ModelConfig c = model.config();
    List<Integer> seq = new ArrayList<>();
    for (int t : prompt) seq.add(t);
    List<Integer> out = new ArrayList<>();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
         OrtSession session = env.createSession(folder.resolve("model.onnx").toString(), o);
         OnnxTensor empty = OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
             new long[] {1, c.kvHeads(), 0, c.headDim()})) {
      for (int step = 0; step < n; step++) {
        int len = seq.size();
        long[] ids = new long[len];
        long[] mask = new long[len];
        long[] pos = new long[len];
        for (int i = 0; i < len; i++) {
          ids[i] = seq.get(i);
          mask[i] = 1;
          pos[i] = i;
        }
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> created = new ArrayList<>();
        created.add(OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, len}));
        created.add(OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, len}));
        created.add(OnnxTensor.createTensor(env, LongBuffer.wrap(pos), new long[] {1, len}));
        in.put("input_ids", created.get(0));
        in.put("attention_mask", created.get(1));
        in.put("position_ids", created.get(2));
        for (int l = 0; l < c.layers(); l++) {
          in.put("past_key_values." + l + ".key", empty);
          in.put("past_key_values." + l + ".value", empty);
        }
        try (OrtSession.Result r = session.run(in)) {
          FloatBuffer logits = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer();
          float[] row = new float[c.vocabSize()];
          logits.position((len - 1) * c.vocabSize());
          logits.get(row);
          int next = Sampler.argmax(row, 0, row.length);
          out.add(next);
          seq.add(next);
        } finally {
          for (OnnxTensor t : created) t.close();
        }
      }
    }
    return out;
  }

  @Test void longPromptPrefilledInChunksContinuesTheSame() throws Exception {
    String prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
        .repeat(4);
    EngineHarness.Stream whole = EngineHarness.run(model, EngineHarness.completion(M, prompt, EngineHarness.greedy(30)));
    int n = model.tokenizer().encodeWithBos(prompt).length;
    try (LoadedModel chunked = EngineHarness.load(folder)) {
      chunked.decoder().setPrefillChunk(11);       // n / 11 chunks, the last one partial
      assertTrue(n > 100 && n % 11 != 0, "prompt tokens " + n);
      EngineHarness.Stream s = EngineHarness.run(chunked, EngineHarness.completion(M, prompt, EngineHarness.greedy(30)));
      assertEquals(whole.tokenIds(), s.tokenIds());
      assertEquals(n, s.await().promptTokens());
    }
    assertEquals(fullRecomputeGreedy(model.tokenizer().encodeWithBos(prompt), 30), whole.tokenIds());
  }

  @Test void seedMakesSamplingRepeatable() throws Exception {
    SamplingParams p1 = new SamplingParams(1.0, 0.9, 40, 42L, 48, List.of(), 1.1);
    List<Integer> a = ids(EngineHarness.run(model, EngineHarness.completion(M, "Once upon a time", p1)));
    List<Integer> b = ids(EngineHarness.run(model, EngineHarness.completion(M, "Once upon a time", p1)));
    SamplingParams p2 = new SamplingParams(1.0, 0.9, 40, 43L, 48, List.of(), 1.1);
    List<Integer> c = ids(EngineHarness.run(model, EngineHarness.completion(M, "Once upon a time", p2)));
    assertEquals(a, b);
    assertNotEquals(a, c);
    assertTrue(a.size() > 10, "sampled " + a.size() + " tokens");
  }

  @Test void stopSequenceCutsTextBeforeIt() throws Exception {
    SamplingParams p = new SamplingParams(0, 1, 0, null, 100, List.of("Lily"), 1);
    EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "", p));
    StreamEvent done = s.await();
    assertEquals("stop", done.finishReason());
    assertEquals("Once upon a time, there was a little girl named ", s.text());
    assertTrue(done.completionTokens() < 20, "stopped early: " + done.completionTokens());
    // a stop sequence that spans tokens and never fully appears is held back, then flushed at the end
    SamplingParams q = new SamplingParams(0, 1, 0, null, 7, List.of("time, there was a big"), 1);
    EngineHarness.Stream t = EngineHarness.run(model, EngineHarness.completion(M, "", q));
    StreamEvent end = t.await();
    assertEquals("length", end.finishReason());
    assertEquals("Once upon a time, there was", t.text());
    assertEquals(" time, there was", end.text());   // held back from " time" on, sent with DONE
  }

  @Test void chatWithoutTemplateJoinsContentsWithNewlines() throws Exception {
    List<ai.companion.api.ChatMessage> messages = List.of(new ai.companion.api.ChatMessage("system", "Tell a story."),
        new ai.companion.api.ChatMessage("user", "Once upon a time"));
    GenerationRequest chat = new GenerationRequest("chat-1", M, null, messages, EngineHarness.greedy(20), "x",
        List.of(), null);
    EngineHarness.Stream s = EngineHarness.run(model, chat);
    EngineHarness.Stream plain = EngineHarness.run(model,
        EngineHarness.completion(M, "Tell a story.\nOnce upon a time", EngineHarness.greedy(20)));
    assertEquals(model.tokenizer().encodeWithBos("Tell a story.\nOnce upon a time").length, s.await().promptTokens());
    assertEquals(plain.tokenIds(), s.tokenIds());
    assertEquals(plain.text(), s.text());
  }

  @Test void maxTokensEndsWithLength() throws Exception {
    EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(5)));
    StreamEvent done = s.await();
    assertEquals("length", done.finishReason());
    assertEquals(5, done.completionTokens());
    assertEquals(5, ids(s).size());
    assertEquals("Once upon a time,", s.text());
  }

  @Test void cancelStopsEarly() throws Exception {
    EngineHarness.Stream s = new EngineHarness.Stream();
    Sequence[] seq = new Sequence[1];
    LoadedModel.Prepared p = model.prepare(EngineHarness.completion(M, "", EngineHarness.greedy(400)));
    seq[0] = model.start(p, "test-worker", e -> {
      s.accept(e);
      if (e.seq() == 2) model.cancel(e.requestId());   // the client went away after three tokens
    });
    StreamEvent done = s.await();
    assertEquals(StreamEvent.Type.DONE, done.type());
    assertEquals("cancelled", done.finishReason());
    assertTrue(done.completionTokens() < 10, "stopped at " + done.completionTokens());
    // the slot is free again
    EngineHarness.Stream after = EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(3)));
    assertEquals("length", after.await().finishReason());
  }

  @Test void resumeContinuesLikeAnUninterruptedRun() throws Exception {
    EngineHarness.Stream whole = EngineHarness.run(model, EngineHarness.completion(M, "The cat", EngineHarness.greedy(40)));
    List<Integer> all = ids(whole);
    List<Integer> delivered = all.subList(0, 15);
    GenerationRequest resumed = EngineHarness.completion(M, "The cat", EngineHarness.greedy(40)).withResume(delivered);
    EngineHarness.Stream rest = EngineHarness.run(model, resumed);
    StreamEvent done = rest.await();
    assertEquals(all.subList(15, 40), ids(rest));
    assertEquals(40, done.completionTokens());
    assertEquals(whole.await().promptTokens(), done.promptTokens());
    String deliveredText = whole.text().substring(0, whole.text().length() - rest.text().length());
    assertEquals(whole.text(), deliveredText + rest.text());
    assertTrue(rest.text().length() > 20, rest.text());
  }

  @Test void promptLongerThanContextIsRefusedNamingTheLimit() throws Exception {
    String longPrompt = "Once upon a time there was a little girl. ".repeat(60);
    CompanionException e = assertThrows(CompanionException.class,
        () -> model.prepare(EngineHarness.completion(M, longPrompt, EngineHarness.greedy(10))));
    assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, e.code());
    int n = model.tokenizer().encodeWithBos(longPrompt).length;
    assertTrue(n > 512, "prompt tokens " + n);
    assertEquals("This model's maximum context length is 512 tokens, but the prompt has " + n + " tokens.",
        e.getMessage());
    CompanionException both = assertThrows(CompanionException.class,
        () -> model.prepare(EngineHarness.completion(M, "Once upon a time", EngineHarness.greedy(510))));
    assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, both.code());
    assertTrue(both.getMessage().contains("maximum context length is 512 tokens")
        && both.getMessage().contains("515 tokens were requested (5 in the prompt, 510 for the completion)"),
        both.getMessage());
  }

  @Test void singleStreamDecodeSpeed() throws Exception {
    // warm up, then time one stream of 500 tokens from BOS (no assertion on speed)
    EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(100)));
    long t0 = System.nanoTime();
    EngineHarness.Stream s = EngineHarness.run(model, EngineHarness.completion(M, "", EngineHarness.greedy(500)));
    long t1 = System.nanoTime();
    StreamEvent done = s.await();
    assertTrue(done.completionTokens() > 0);
    double secs = (t1 - t0) / 1e9;
    LOG.info("single-stream decode, in-process, {}: {} tokens in {} ms = {} tokens/s", M, done.completionTokens(),
        String.format("%.1f", secs * 1000), String.format("%.0f", done.completionTokens() / secs));
  }
}
