package ai.companion.bench.impl;

import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.worker.impl.DecodeScheduler;
import ai.companion.worker.impl.LoadedModel;
import ai.companion.worker.impl.OnnxDecoder;
import ai.companion.worker.impl.PromptCache;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * The inference worker's engine driven in-process (no event bus, no HTTP): the same {@link LoadedModel} and decode
 * loop the worker verticle runs, with the worker's default session settings (provider auto, all graph
 * optimizations, threads and decode lanes sized to the model and every core, as on a worker-only node) and limits.
 */
public final class Engine implements AutoCloseable {
  /** System property: intra-op threads of the in-process engine (default 0: the worker's own sizing). */
  public static final String INTRA_OP_THREADS = "companion.bench.intraOpThreads";
  /** System property: decode lanes per model of the engine and the in-process node (0, the default: as a worker
   * sizes them). */
  public static final String DECODE_LANES = "companion.bench.decodeLanes";

  private final LoadedModel model;

  private Engine(LoadedModel model) {
    this.model = model;
  }

  public static Engine load(Path folder) throws Exception {
    return load(folder, PromptCache.DEFAULT_BYTES);
  }

  /** {@code promptCacheBytes}: the model's prompt cache, as the worker's {@code promptCacheMb} (0: none). */
  public static Engine load(Path folder, long promptCacheBytes) throws Exception {
    return load(folder, promptCacheBytes, DecodeScheduler.Limits.DEFAULT_PREFILL_SLICE_MS);
  }

  /** {@code prefillSliceMs}: as the worker's (0: every prompt prefilled at once). */
  public static Engine load(Path folder, long promptCacheBytes, long prefillSliceMs) throws Exception {
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(
        ai.companion.worker.WorkerOptions.DEFAULT_MAX_CONCURRENT_SEQUENCES,
        ai.companion.worker.WorkerOptions.DEFAULT_MAX_QUEUED_REQUESTS,
        ai.companion.worker.WorkerOptions.DEFAULT_KV_BUDGET_MB * 1024 * 1024, 0,
        DecodeScheduler.Limits.DEFAULT_ARRIVAL_GAP_MS, prefillSliceMs);
    return new Engine(LoadedModel.load(folder,
        new OnnxDecoder.SessionSettings("auto", OrtSession.SessionOptions.OptLevel.ALL_OPT,
            Integer.getInteger(INTRA_OP_THREADS, 0)).withDecodeLanes(Integer.getInteger(DECODE_LANES, 0)), limits,
        promptCacheBytes, null));
  }

  public LoadedModel model() { return model; }

  public String id() { return model.info().id(); }

  /** One stream's timeline and its token ids (EOS is not a token of the stream). */
  public record Run(Timeline timeline, List<Integer> tokenIds, CompletableFuture<Run> done) {}

  /** Starts one generation; {@code done} completes with the terminal event. */
  public Run start(String prompt, SamplingParams params) {
    GenerationRequest req = request(prompt, params);
    Timeline t = new Timeline(System.nanoTime());
    List<Integer> ids = new ArrayList<>();
    CompletableFuture<Run> done = new CompletableFuture<>();
    Run run = new Run(t, ids, done);
    LoadedModel.Prepared p = model.prepare(req);
    model.start(p, "bench", e -> {
      long now = System.nanoTime();
      synchronized (ids) {
        ids.addAll(e.tokenIds());
      }
      t.tokens(now, e.tokenIds().size());
      if (e.type() == StreamEvent.Type.DONE) {
        t.finish(now, e.finishReason());
        done.complete(run);
      } else if (e.type() == StreamEvent.Type.ERROR) {
        t.fail(now, e.errorMessage());
        done.complete(run);
      }
    });
    return run;
  }

  /** A completion request for this engine's model, with a new id. */
  public GenerationRequest request(String prompt, SamplingParams params) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, model.info().id(), prompt, null, params, "bench." + id, List.of(), null);
  }

  /** Greedy generation of at most {@code maxTokens} tokens, waited for. */
  public Run greedy(String prompt, int maxTokens) throws Exception {
    return start(prompt, SamplingParams.GREEDY.withMaxTokens(maxTokens)).done().get();
  }

  @Override public void close() throws Exception {
    model.close();
  }
}
