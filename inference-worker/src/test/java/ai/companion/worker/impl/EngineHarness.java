package ai.companion.worker.impl;

import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Drives a {@link LoadedModel} directly (no event bus) and collects each stream's events. */
final class EngineHarness {
  private EngineHarness() {}

  static final DecodeScheduler.Limits LIMITS = new DecodeScheduler.Limits(64, 1024, 1L << 30);

  /** Prompts of different lengths, the empty one first, that the engine tests batch together. */
  static final List<String> PROMPTS = List.of("", "Once upon a time", "The cat", "Lily and Ben went to the",
      "One day, a big dog", "Tom had a red ball. He");

  static LoadedModel load(Path folder) throws Exception {
    return load(folder, LIMITS);
  }

  static LoadedModel load(Path folder, DecodeScheduler.Limits limits) throws Exception {
    return load(folder, limits, true);
  }

  /** {@code inPlace}: serve the in-place cache decoder the importer wrote (false: the standard model.onnx). */
  static LoadedModel load(Path folder, DecodeScheduler.Limits limits, boolean inPlace) throws Exception {
    return load(folder, limits, inPlace, PromptCache.DEFAULT_BYTES);
  }

  /** {@code promptCacheBytes}: the model's prompt cache (0: none), as the worker's {@code promptCacheMb}. */
  static LoadedModel load(Path folder, DecodeScheduler.Limits limits, boolean inPlace, long promptCacheBytes)
      throws Exception {
    return LoadedModel.load(folder,
        new OnnxDecoder.SessionSettings("cpu", OrtSession.SessionOptions.OptLevel.ALL_OPT, 1).withInPlaceCache(inPlace),
        limits, promptCacheBytes, null);
  }

  /** A running stream: its events, complete once the terminal one arrived. */
  static class Stream {
    final List<StreamEvent> events = java.util.Collections.synchronizedList(new ArrayList<>());
    final CompletableFuture<StreamEvent> end = new CompletableFuture<>();
    Sequence sequence;

    void accept(StreamEvent e) {
      events.add(e);
      if (e.terminal()) end.complete(e);
    }

    StreamEvent await() throws Exception {
      return end.get(60, TimeUnit.SECONDS);
    }

    String text() {
      StringBuilder sb = new StringBuilder();
      synchronized (events) { for (StreamEvent e : events) sb.append(e.text()); }
      return sb.toString();
    }

    List<Integer> tokenIds() {
      List<Integer> ids = new ArrayList<>();
      synchronized (events) { for (StreamEvent e : events) ids.addAll(e.tokenIds()); }
      return ids;
    }
  }

  static GenerationRequest completion(String model, String prompt, SamplingParams params) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, model, prompt, null, params, "test." + id, List.of(), null);
  }

  static SamplingParams greedy(int maxTokens) {
    return SamplingParams.GREEDY.withMaxTokens(maxTokens);
  }

  static Stream start(LoadedModel model, GenerationRequest request) {
    Stream s = new Stream();
    LoadedModel.Prepared p = model.prepare(request);
    s.sequence = model.start(p, "test-worker", s::accept);
    return s;
  }

  /**
   * Starts {@code requests} from an event of a running stream (on the decode thread), so that the scheduler's next
   * turn admits them all at once; returns their streams, in order, once they are all submitted (the carrier
   * stream, a short one of its own, has ended by then).
   */
  static List<Stream> startTogether(LoadedModel model, List<GenerationRequest> requests) throws Exception {
    List<Stream> together = new ArrayList<>();
    CompletableFuture<Void> submitted = new CompletableFuture<>();
    Stream carrier = new Stream();
    model.start(model.prepare(completion(model.info().id(), "The cat", greedy(20))), "test-worker", e -> {
      carrier.accept(e);
      if (e.seq() == 2) {
        for (GenerationRequest r : requests) together.add(start(model, r));
        submitted.complete(null);
      }
    });
    carrier.await();
    submitted.get(30, TimeUnit.SECONDS);
    return together;
  }

  static Stream run(LoadedModel model, GenerationRequest request) throws Exception {
    Stream s = start(model, request);
    s.await();
    return s;
  }
}
