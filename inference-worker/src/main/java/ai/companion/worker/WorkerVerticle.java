package ai.companion.worker;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.ModelPaths;
import ai.companion.api.WorkerInfo;
import ai.companion.worker.impl.DecodeScheduler;
import ai.companion.worker.impl.LoadedModel;
import ai.companion.worker.impl.ModelConfig;
import ai.companion.worker.impl.OnnxDecoder;
import ai.companion.worker.impl.StreamCredit;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.AsyncMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inference worker: serves every model folder under {@code dataDir/models} with ONNX Runtime.
 *
 * <p>Protocol, on {@link Addresses#workerGenerate(String)}: the body is a {@link GenerationRequest}; the reply is
 * {@code {"accepted":true,"workerId","promptTokens"}} or a failure with an {@link ErrorCode} (MODEL_NOT_FOUND,
 * CONTEXT_LENGTH_EXCEEDED, INVALID_REQUEST, OVERLOADED). After the reply, {@link ai.companion.api.StreamEvent}s go
 * to the request's stream address, ending with one DONE (finishReason {@code stop}, {@code length}, or
 * {@code cancelled} after a cancel) or ERROR. {@link Addresses#WORKER_CANCEL} stops a request at its next token.
 * Every 8th event is sent as a request: a consumer that answers it once delivered gets flow control (its stream
 * parks while it is 4 answers behind, see {@link StreamCredit}); a stream whose consumer is gone (no handler, or
 * a shared stream address that answers {@link ErrorCode#NOT_FOUND} for the request) is stopped. The other events
 * leave through a {@link StreamOutbox}, in bunches where the address takes them.
 *
 * <p>Prompts: a completion is BOS + the prompt's tokens (an empty prompt is just BOS); a chat is BOS + the message
 * contents joined with "\n" (chat templates are not applied). Resumed tokens ({@code resumeTokenIds}) are prefilled
 * after the prompt, count as completion tokens and are not sent again.
 *
 * <p>A broken model folder is logged and skipped: a node starts with whatever loads.
 */
public class WorkerVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(WorkerVerticle.class);

  private WorkerOptions options;
  private String workerId;
  private Map<String, LoadedModel> models = Map.of();
  private AsyncMap<String, JsonObject> registry;
  private long statusTimer = -1;
  private boolean statusScheduled;
  private volatile boolean stopping;
  private final List<MessageConsumer<?>> consumers = new ArrayList<>();
  private StreamOutbox outbox;
  // cancels that arrived while their request was still being tokenized: requestId -> when (event loop only)
  private final LinkedHashMap<String, Long> earlyCancels = new LinkedHashMap<>();
  private static final int EARLY_CANCELS_KEPT = 10_000;
  private static final long EARLY_CANCEL_MS = 60_000;

  public WorkerVerticle() {}

  public String workerId() { return workerId; }

  @Override public Future<?> start() {
    options = new WorkerOptions(config());
    workerId = options.getWorkerId();
    outbox = new StreamOutbox(vertx, context);
    Path modelsDir = ModelPaths.modelsDir(Path.of(options.getDataDir()));
    return vertx.executeBlocking(() -> loadAll(modelsDir))
        .compose(loaded -> {
          models = loaded;
          MessageConsumer<JsonObject> generate =
              vertx.eventBus().consumer(Addresses.workerGenerate(workerId), this::onGenerate);
          MessageConsumer<JsonObject> cancel = vertx.eventBus().consumer(Addresses.WORKER_CANCEL, this::onCancel);
          consumers.add(generate);
          consumers.add(cancel);
          return Future.all(generate.completion(), cancel.completion());
        })
        .compose(v -> vertx.sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP))
        .compose(map -> {
          registry = map;
          statusTimer = vertx.setPeriodic(options.getStatusIntervalMs(), t -> publishStatus());
          return publishStatus();
        })
        .onSuccess(v -> LOG.info("Worker {} on node {} serves {} model(s): {}", workerId, options.getNodeName(),
            models.size(), models.keySet()));
  }

  @Override public Future<?> stop() {
    stopping = true;
    if (statusTimer >= 0) vertx.cancelTimer(statusTimer);
    // models first, while this context still runs: their streams end with ERROR worker_lost (the caller fails
    // over) and those events leave before the consumers and the registry entry go
    return vertx.executeBlocking(() -> {
      for (LoadedModel m : models.values()) {
        try {
          m.close();
        } catch (Exception e) {
          LOG.warn("Closing model {} failed", m.info().id(), e);
        }
      }
      return null;
    }).transform(x -> {
      List<Future<?>> done = new ArrayList<>();
      for (MessageConsumer<?> c : consumers) done.add(c.unregister());
      if (registry != null) {
        done.add(registry.remove(workerId).onFailure(e ->
            LOG.warn("Worker {} could not remove itself from the registry", workerId, e)));
      }
      return Future.join(done).transform(y -> Future.succeededFuture());
    });
  }

  /** Loads every model folder; a folder that fails is logged with its reason and skipped. Blocking. */
  private Map<String, LoadedModel> loadAll(Path modelsDir) throws IOException {
    Map<String, LoadedModel> out = new LinkedHashMap<>();
    if (!Files.isDirectory(modelsDir)) {
      LOG.warn("No models directory {}; import a model with: ./companion model import FILE --tokenizer FILE "
          + "--name NAME", modelsDir);
      return out;
    }
    List<Path> folders;
    try (Stream<Path> s = Files.list(modelsDir)) {
      folders = s.filter(Files::isDirectory).sorted().toList();
    }
    OnnxDecoder.SessionSettings settings = sessionSettings(options);
    DecodeScheduler.Limits limits = new DecodeScheduler.Limits(options.getMaxConcurrentSequences(),
        options.getMaxQueuedRequests(), options.getKvBudgetMb() * 1024 * 1024, options.getPrefillFirstMs(),
        DecodeScheduler.Limits.DEFAULT_ARRIVAL_GAP_MS, options.getPrefillSliceMs());
    long promptCache = promptCacheBytes(options.getPromptCacheMb(), Runtime.getRuntime().maxMemory(), folders.size());
    for (Path folder : folders) {
      try {
        LoadedModel m = LoadedModel.load(folder, settings, limits, promptCache, this::loadChanged);
        out.put(m.info().id(), m);
        boolean highAuto = options.getOptimizationLevel().equals("high") && options.getModelVariant().equals("auto");
        if (highAuto && m.config().modelFile().equals(ModelConfig.variantFile(folder, "fp32"))
            && ModelConfig.variantFile(folder, "int8") != null) {
          LOG.info("Model {}: serving fp32, not its int8 file: int8 runs slower than fp32 on ONNX Runtime's CPU "
              + "provider (its 8-bit MatMulNBits kernel); --model-variant int8 serves it anyway, "
              + "./companion model quantize {} --bits 4 writes an int4 file that high serves", m.info().id(),
              m.info().id());
        }
      } catch (Exception | LinkageError e) {
        LOG.error("Skipping model folder {}: {}", folder, e.getMessage());
        LOG.debug("Model folder {} failed to load", folder, e);
      }
    }
    if (out.isEmpty()) {
      LOG.warn("No generative model loaded from {}; import one with: ./companion model import FILE --tokenizer FILE "
          + "--name NAME", modelsDir);
    }
    return Collections.unmodifiableMap(out);
  }

  /**
   * Each model's prompt cache: {@code promptCacheMb}, but all models' caches together at most a quarter of the heap
   * (the caches live there), so that a small machine's JVM is not filled by them; a smaller figure than asked is
   * logged.
   */
  static long promptCacheBytes(long configuredMb, long maxHeapBytes, int models) {
    long asked = configuredMb << 20;
    long cap = maxHeapBytes / 4 / Math.max(1, models);
    if (asked <= cap) return asked;
    LOG.warn("Prompt cache: {} MiB per model asked, {} MiB given ({} model(s) on a heap of at most {} MiB keep to a "
        + "quarter of it)", configuredMb, cap >> 20, models, maxHeapBytes >> 20);
    return cap;
  }

  /**
   * optimizationLevel → ONNX Runtime graph optimization level, intra-op threads and model variant: low = basic
   * optimizations on one thread, fp32; medium (default) = all optimizations with threads sized to the model
   * (every core, one for a tiny model, which gets a decode lane per core instead), fp32; high = the same with the
   * int4 variant where present (int8 only when it is all there is: see below); low runs one decode lane.
   * intraOpThreads and decodeLanes above 0 and modelVariant other than auto override.
   */
  static OnnxDecoder.SessionSettings sessionSettings(WorkerOptions o) {
    OptLevel level;
    int threads;
    List<String> variants;
    switch (o.getOptimizationLevel()) {
      case "low" -> { level = OptLevel.BASIC_OPT; threads = 1; variants = List.of("fp32", "int8", "int4"); }
      // medium, the default, keeps the fp32 weights: greedy output stays equal to the reference; only high
      // trades accuracy for memory and bandwidth by serving an int4 file where there is one
      case "medium" -> { level = OptLevel.ALL_OPT; threads = 0; variants = List.of("fp32", "int8", "int4"); }
      // high serves int4 where a folder has it, else fp32: int8 (MatMulNBits at 8 bits, exact accuracy level) runs
      // far slower than fp32 on ONNX Runtime's CPU provider (stories260K 402 against 98 us a step, the SmolLM2-135M
      // shape 0.9 against 8-9 tokens/s), so it is served only when asked for (modelVariant int8) or all there is
      default -> { level = OptLevel.ALL_OPT; threads = 0; variants = List.of("int4", "fp32", "int8"); }
    }
    if (o.getIntraOpThreads() > 0) threads = o.getIntraOpThreads();
    if (!o.getModelVariant().equals("auto")) {
      List<String> order = new ArrayList<>(List.of(o.getModelVariant()));
      for (String v : List.of("fp32", "int8", "int4")) if (!order.contains(v)) order.add(v);
      variants = List.copyOf(order);
    }
    // decodeLanes above 0 overrides; else low runs one lane (the least CPU), the others size it to model and cores
    int lanes = o.getDecodeLanes() > 0 ? o.getDecodeLanes() : o.getOptimizationLevel().equals("low") ? 1 : 0;
    return new OnnxDecoder.SessionSettings(o.getProvider(), level, threads, variants, o.isInPlaceCache(), lanes,
        o.getLaneCores());
  }

  private void onGenerate(Message<JsonObject> msg) {
    GenerationRequest req;
    try {
      req = GenerationRequest.fromJson(msg.body());
    } catch (RuntimeException e) {
      fail(msg, ErrorCode.INVALID_REQUEST.exception("malformed generation request: " + e.getMessage()));
      return;
    }
    if (req.requestId() == null || req.streamAddress() == null) {
      fail(msg, ErrorCode.INVALID_REQUEST.exception("a generation request needs requestId and streamAddress"));
      return;
    }
    LoadedModel model = req.model() == null ? null : models.get(req.model());
    if (model == null) {
      fail(msg, ErrorCode.MODEL_NOT_FOUND.exception("The model '" + req.model() + "' does not exist on worker "
          + workerId + " (it serves " + models.keySet() + ")"));
      return;
    }
    String address = req.streamAddress();
    vertx.executeBlocking(() -> model.prepare(req), false).onComplete(ar -> {
      if (ar.failed()) {
        fail(msg, ar.cause());
        return;
      }
      LoadedModel.Prepared prepared = ar.result();
      if (earlyCancels.remove(req.requestId()) != null) {
        // the client left while the prompt was tokenized: nothing to run
        fail(msg, ErrorCode.INVALID_REQUEST.exception("request " + req.requestId() + " was cancelled"));
        return;
      }
      try {
        // queued and answered in this one event-loop task: events reach the context only after the reply
        StreamCredit credit = new StreamCredit();
        model.start(prepared, workerId, e -> outbox.add(address, e, credit, model), credit);
      } catch (RuntimeException e) {
        fail(msg, e);
        return;
      }
      LOG.debug("Request {} accepted for model {} ({} prompt tokens)", req.requestId(), req.model(),
          prepared.promptTokens());
      msg.reply(new JsonObject().put("accepted", true).put("workerId", workerId)
          .put("promptTokens", prepared.promptTokens()));
    });
  }

  /** Tests: the models this worker serves. */
  Map<String, LoadedModel> models() { return models; }

  private void onCancel(Message<JsonObject> msg) {
    String requestId = msg.body() == null ? null : msg.body().getString("requestId");
    if (requestId == null) return;
    boolean found = false;
    for (LoadedModel m : models.values()) {
      if (m.cancel(requestId)) {
        LOG.debug("Request {} cancelled", requestId);
        found = true;
      }
    }
    if (!found) {
      // it may still be on its way in (being tokenized): remember it for a while; every worker hears every cancel
      long now = System.currentTimeMillis();
      earlyCancels.put(requestId, now);
      var it = earlyCancels.entrySet().iterator();
      while (it.hasNext()) {
        var e = it.next();
        if (earlyCancels.size() <= EARLY_CANCELS_KEPT && now - e.getValue() < EARLY_CANCEL_MS) break;
        it.remove();
      }
    }
  }

  private void fail(Message<?> msg, Throwable t) {
    CompanionException ce = t instanceof CompanionException c ? c
        : ErrorCode.INTERNAL.exception(t.getMessage() == null ? t.toString() : t.getMessage());
    if (ce.code() == ErrorCode.INTERNAL) LOG.error("Generation request failed", t);
    msg.fail(ce.code().wire(), ce.getMessage());
  }

  /** Called on a decode thread when a model's running set changes: one status refresh, coalesced. */
  private void loadChanged() {
    context.runOnContext(v -> {
      if (statusScheduled) return;
      statusScheduled = true;
      vertx.setTimer(100, t -> {
        statusScheduled = false;
        publishStatus();
      });
    });
  }

  public WorkerInfo info() {
    int active = 0;
    int queued = 0;
    long outstanding = 0;
    long cachedTokens = 0;
    List<ModelInfo> infos = new ArrayList<>();
    String device = "cpu";
    for (LoadedModel m : models.values()) {
      infos.add(m.info());
      active += m.active();
      queued += m.queued();
      outstanding += m.outstandingTokens();
      if (m.promptCache() != null) cachedTokens += m.promptCache().reusedTokens();
      device = m.device();
    }
    return new WorkerInfo(workerId, options.getNodeName(), infos, device, active, queued, outstanding,
        System.currentTimeMillis(), cachedTokens);
  }

  private Future<Void> publishStatus() {
    if (stopping) return Future.succeededFuture();
    JsonObject json = info().toJson();
    vertx.eventBus().publish(Addresses.WORKER_STATUS, json);
    // the entry outlives a few missed refreshes, not a dead node
    long ttl = 3 * options.getStatusIntervalMs() + 1000;
    return registry.put(workerId, json, ttl).onFailure(e -> LOG.warn("Worker {} registry refresh failed", workerId, e));
  }
}
