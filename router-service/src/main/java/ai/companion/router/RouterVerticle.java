package ai.companion.router;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.RouteDecision;
import ai.companion.api.WorkerInfo;
import ai.companion.router.impl.WorkerView;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.AsyncMap;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router role: for each generation request picks a model, a strategy and the worker that runs it.
 *
 * <p>Consumers: {@link Addresses#ROUTER_ROUTE} ({@link GenerationRequest} JSON in, {@link RouteDecision} JSON
 * out, or a failure carrying an {@link ErrorCode}) and {@link Addresses#ROUTER_MODELS}. The worker view is the
 * shared registry map {@link Addresses#WORKER_REGISTRY_MAP} (membership) plus {@link Addresses#WORKER_STATUS}
 * publishes (fresher load).
 */
public class RouterVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(RouterVerticle.class);

  /** Hint naming workers that must not be chosen (the gateway's failover after a worker was lost). */
  public static final String HINT_EXCLUDE_WORKERS = "excludeWorkers";
  public static final String AUTO = "auto";

  private RouterOptions options;
  private WorkerView workers;
  private AsyncMap<String, Object> registry;

  @Override
  public Future<?> start() {
    options = new RouterOptions(config());
    workers = new WorkerView(options.getWorkerStaleMs());
    return vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> {
          registry = map;
          return Future.all(
              vertx.eventBus().<Object>consumer(Addresses.ROUTER_ROUTE, this::onRoute).completion(),
              vertx.eventBus().<Object>consumer(Addresses.ROUTER_MODELS, this::onModels).completion(),
              vertx.eventBus().<Object>consumer(Addresses.WORKER_STATUS, this::onWorkerStatus).completion());
        })
        .onSuccess(v -> LOG.info("Router started on node {} (data dir {})", options.getNodeName(),
            options.getDataDir()));
  }

  private void onWorkerStatus(Message<Object> msg) {
    try {
      workers.onStatus(WorkerInfo.fromJson(json(msg.body())));
    } catch (RuntimeException e) {
      LOG.debug("Ignoring a malformed worker status: {}", e.toString());
    }
  }

  private void onModels(Message<Object> msg) {
    liveWorkers()
        .onSuccess(live -> msg.reply(new JsonObject().put("models",
            new JsonArray(WorkerView.models(live).stream().map(ModelInfo::toJson).toList()))))
        .onFailure(err -> fail(msg, err));
  }

  private void onRoute(Message<Object> msg) {
    GenerationRequest request;
    try {
      request = msg.body() instanceof GenerationRequest g ? g : GenerationRequest.fromJson(json(msg.body()));
    } catch (RuntimeException e) {
      msg.fail(ErrorCode.INVALID_REQUEST.wire(), "Malformed route request: " + e.getMessage());
      return;
    }
    route(request)
        .onSuccess(d -> msg.reply(d.toJson()))
        .onFailure(err -> {
          LOG.debug("Request {} not routed: {}", request.requestId(), err.getMessage());
          fail(msg, err);
        });
  }

  /** Routes one request; fails with a {@link CompanionException}. */
  public Future<RouteDecision> route(GenerationRequest request) {
    return liveWorkers().compose(live -> {
      if (live.isEmpty()) {
        return Future.failedFuture(ErrorCode.NO_WORKER.exception("No inference worker is available"));
      }
      String model = request.model();
      if (model == null || model.isBlank() || AUTO.equals(model)) {
        return routeAuto(request, live);
      }
      return routeNamed(request, live, model);
    });
  }

  private Future<RouteDecision> routeNamed(GenerationRequest request, List<WorkerInfo> live, String model) {
    if (WorkerView.serving(live, model) == 0) {
      return Future.failedFuture(ErrorCode.MODEL_NOT_FOUND.exception("The model '" + model + "' does not exist"));
    }
    List<String> reasons = new ArrayList<>();
    reasons.add("model '" + model + "' named in the request");
    return place(request, live, model, "direct", reasons);
  }

  private Future<RouteDecision> routeAuto(GenerationRequest request, List<WorkerInfo> live) {
    // the largest model until the policy engine decides
    ModelInfo largest = null;
    for (ModelInfo m : WorkerView.models(live)) {
      if (largest == null || m.parameters() > largest.parameters()) largest = m;
    }
    List<String> reasons = new ArrayList<>();
    reasons.add("auto: largest model served (" + largest.parameters() + " parameters)");
    return place(request, live, largest.id(), "direct", reasons);
  }

  /** Picks the least loaded worker for the chosen model and completes the decision. */
  private Future<RouteDecision> place(GenerationRequest request, List<WorkerInfo> live, String model,
                                      String strategy, List<String> reasons) {
    Set<String> exclude = excluded(request);
    WorkerView.Choice choice = workers.choose(live, model, exclude);
    if (choice == null) {
      return Future.failedFuture(ErrorCode.NO_WORKER.exception("No worker other than the excluded "
          + exclude + " serves the model '" + model + "'"));
    }
    WorkerInfo w = choice.load().worker();
    Integer max = request.params().maxTokens();
    workers.assigned(w, max != null ? max : options.getAssumedMaxTokens());
    List<String> out = new ArrayList<>(reasons);
    out.add("worker " + choice.load().describe() + ": least loaded of " + choice.candidates()
        + (choice.excluded() > 0 ? " (" + choice.excluded() + " excluded)" : ""));
    LOG.debug("Request {} routed to {} on {} ({})", request.requestId(), model, w.workerId(), strategy);
    return Future.succeededFuture(new RouteDecision(model, w.workerId(), w.nodeName(), strategy, out));
  }

  private static Set<String> excluded(GenerationRequest request) {
    Object hint = request.hints().getValue(HINT_EXCLUDE_WORKERS);
    Set<String> out = new HashSet<>();
    if (hint instanceof JsonArray a) for (Object o : a) out.add(String.valueOf(o));
    return out;
  }

  /** Live workers from the registry map, merged with the fresher status publishes. */
  private Future<List<WorkerInfo>> liveWorkers() {
    return registry.entries().map(entries -> {
      List<WorkerInfo> all = new ArrayList<>(entries.size());
      for (Map.Entry<String, Object> e : entries.entrySet()) {
        try {
          all.add(WorkerInfo.fromJson(json(e.getValue())));
        } catch (RuntimeException ex) {
          LOG.warn("Ignoring malformed registry entry {}: {}", e.getKey(), ex.toString());
        }
      }
      return workers.live(all, System.currentTimeMillis());
    });
  }

  private static JsonObject json(Object body) {
    if (body instanceof JsonObject j) return j;
    if (body instanceof String s) return new JsonObject(s);
    if (body instanceof io.vertx.core.buffer.Buffer b) return new JsonObject(b);
    if (body instanceof Map<?, ?> m) {
      @SuppressWarnings("unchecked") Map<String, Object> mm = (Map<String, Object>) m;
      return new JsonObject(mm);
    }
    throw new IllegalArgumentException("expected a JSON object, got "
        + (body == null ? "nothing" : body.getClass().getSimpleName()));
  }

  private static void fail(Message<?> msg, Throwable err) {
    if (err instanceof CompanionException ce) {
      msg.fail(ce.code().wire(), ce.getMessage());
    } else {
      ErrorCode code = ErrorCode.of(err);
      if (code == ErrorCode.INTERNAL) LOG.warn("Routing failed", err);
      msg.fail(code.wire(), String.valueOf(err.getMessage()));
    }
  }
}
