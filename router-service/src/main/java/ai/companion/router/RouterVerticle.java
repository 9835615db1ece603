package ai.companion.router;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.JsonBodies;
import ai.companion.api.ModelInfo;
import ai.companion.api.RouteDecision;
import ai.companion.api.WorkerInfo;
import ai.companion.api.spi.DomainProfile;
import ai.companion.api.spi.InputProcessor;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.IntentRecognizer;
import ai.companion.api.spi.PipelineStage;
import ai.companion.api.spi.RoutePlan;
import ai.companion.api.spi.RoutingPolicy;
import ai.companion.api.spi.StageContext;
import ai.companion.api.spi.Stages;
import ai.companion.api.spi.StrategyLearner;
import ai.companion.router.impl.DecisionLog;
import ai.companion.router.impl.DomainProfiles;
import ai.companion.router.impl.PrefixAffinity;
import ai.companion.router.impl.ThompsonBandit;
import ai.companion.router.impl.WorkerView;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.AsyncMap;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router role: for each generation request picks a model, a strategy and the worker that runs it, and
 * says why.
 *
 * <p>Consumers: {@link Addresses#ROUTER_ROUTE} ({@link GenerationRequest} JSON in; {@link RouteDecision} JSON
 * out, plus {@code pattern}, {@code plan} (what the strategy needs) and {@code features}; or a failure carrying
 * an {@link ErrorCode}), {@link Addresses#ROUTER_MODELS} and {@link Addresses#ROUTER_FEEDBACK}. The worker view
 * is the shared registry map {@link Addresses#WORKER_REGISTRY_MAP} (membership) plus
 * {@link Addresses#WORKER_STATUS} publishes (fresher load).
 *
 * <p>A named model is honoured (strategy {@code direct}); {@code "auto"} runs the pipeline input processor →
 * intent recogniser → routing policy, each a {@link PipelineStage} found with {@link Stages#load} over the
 * class path and {@code DATA_DIR/plugins/}. Either way the least loaded worker serving the model runs it.
 * Decisions and rewards go to {@code DATA_DIR/router/decisions.jsonl} and are replayed at start.
 */
public class RouterVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(RouterVerticle.class);

  /** Hint naming workers that must not be chosen (the gateway's failover after a worker was lost). */
  public static final String HINT_EXCLUDE_WORKERS = "excludeWorkers";
  public static final String AUTO = "auto";
  /** Weight of a user's rating in the strategy learner; cheap signals count less. */
  public static final double USER_WEIGHT = 1.0;
  public static final double FINISH_WEIGHT = 0.3;
  public static final double RETRIEVAL_WEIGHT = 0.25;
  static final int MAX_REASONS = 8;
  /**
   * The routers in the cluster (router id to node name), one entry each, written when a router starts. With
   * several routers a user's feedback reaches any of them; one that did not make the decision asks the others
   * in turn. (A shared map of request id to decider cost a clustered put per request and held every request id
   * for a day.) A route's reply names its router ({@link Addresses#ROUTE_ROUTER_FIELD}), so the gateway's finish
   * signals go straight to it.
   */
  public static final String ROUTER_MEMBERS_MAP = "companion.router.members";
  /** Each router's own feedback address: {@code companion.router.feedback.<routerId>}. */
  public static final String FEEDBACK_PREFIX = Addresses.routerFeedback("");
  /** Published after a reward is durable, so that every router's bandit learns from every router's traffic. */
  public static final String REWARD_ADDRESS = "companion.router.reward";
  static final long PROFILE_REFRESH_MS = 2_000;
  /**
   * How long a read of the registry map serves routing decisions. Load comes from the status publishes anyway;
   * the map only says who is a member, and reading it per request cost a clustered-map scan per request.
   */
  static final long REGISTRY_REFRESH_MS = 1_000;

  private RouterOptions options;
  private WorkerView workers;
  private AsyncMap<String, Object> registry;
  private ThompsonBandit bandit;
  private DecisionLog log;
  private WorkerExecutor logWriter;
  private DomainProfiles profiles;
  private InputProcessor inputStage;
  private IntentRecognizer intentStage;
  private RoutingPolicy policyStage;
  private String stagesReason;
  private long profileTimer = -1;
  private List<WorkerInfo> lastLive = List.of();
  /** The last read of the registry map (parsed), when it was started, and a read in flight if any. */
  private List<WorkerInfo> registered = List.of();
  private long registeredAt = Long.MIN_VALUE / 2;
  private Future<List<WorkerInfo>> registryRead;
  private String routerId;
  private AsyncMap<String, String> routers;
  /** Lines waiting for the log writer, in the order they were made: decisions and rewards. */
  private final List<PendingLine> linesPending = new ArrayList<>();
  private boolean logWriteRunning;

  @Override
  public Future<?> start() {
    try {
      options = new RouterOptions(config());
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    workers = new WorkerView(options.getWorkerStaleMs());
    bandit = new ThompsonBandit(options.getBanditSeed());
    routerId = options.getNodeName() + "-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    // one thread: decisions and rewards are appended in the order they were made
    logWriter = vertx.createSharedWorkerExecutor("router-log-" + System.identityHashCode(this), 1);
    profiles = new DomainProfiles(vertx, options.routerDir(), new DomainProfiles.Settings(
        options.isLearnProfiles(), options.getProfileSamples(), options.getProfileSampleTokens()));
    return vertx.executeBlocking(() -> {
          log = DecisionLog.open(options.routerDir(), bandit);
          ClassLoader loader = Stages.pluginLoader(options.pluginsDir());
          inputStage = Stages.load(InputProcessor.class, loader);
          intentStage = Stages.load(IntentRecognizer.class, loader);
          policyStage = Stages.load(RoutingPolicy.class, loader);
          stagesReason = "stages: input=" + inputStage.name() + ", intent=" + intentStage.name() + ", policy="
              + policyStage.name();
          return null;
        })
        .compose(v -> profiles.load())
        .compose(v -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP))
        .compose(map -> {
          registry = map;
          return vertx.sharedData().<String, String>getAsyncMap(ROUTER_MEMBERS_MAP);
        })
        .compose(map -> {
          routers = map;
          return routers.put(routerId, options.getNodeName());
        })
        .compose(v -> {
          StageContext ctx = new Ctx(List.of(), null);
          return Future.all(inputStage.start(ctx), intentStage.start(ctx), policyStage.start(ctx));
        })
        .compose(v -> Future.all(
            vertx.eventBus().<Object>consumer(Addresses.ROUTER_ROUTE, this::onRoute).completion(),
            vertx.eventBus().<Object>consumer(Addresses.ROUTER_MODELS, this::onModels).completion(),
            vertx.eventBus().<Object>consumer(Addresses.ROUTER_FEEDBACK, this::onFeedback).completion(),
            vertx.eventBus().<Object>consumer(FEEDBACK_PREFIX + routerId, this::onFeedback).completion(),
            vertx.eventBus().<Object>consumer(REWARD_ADDRESS, this::onPeerReward).completion(),
            vertx.eventBus().<Object>consumer(Addresses.WORKER_STATUS, this::onWorkerStatus).completion()))
        .onSuccess(v -> {
          profileTimer = vertx.setPeriodic(PROFILE_REFRESH_MS, t -> refreshProfiles());
          refreshProfiles();
          LOG.info("Router started on node {} (data dir {}; {})", options.getNodeName(), options.getDataDir(),
              stagesReason);
        });
  }

  @Override
  public Future<?> stop() {
    if (profileTimer >= 0) vertx.cancelTimer(profileTimer);
    List<Future<Void>> stops = new ArrayList<>();
    for (PipelineStage s : new PipelineStage[] {inputStage, intentStage, policyStage}) if (s != null) stops.add(s.stop());
    // bounded: a cluster on its way down must not hold the undeploy (a stale entry is dropped when a peer finds it)
    if (routers != null) stops.add(routers.remove(routerId).timeout(2, TimeUnit.SECONDS).mapEmpty());
    return Future.join(stops).transform(x -> logWriter.executeBlocking(() -> {
      if (log != null) log.close();
      return null;
    })).onComplete(x -> logWriter.close());
  }

  /** The domain profiles this router learned (for tests and the benchmark). */
  public DomainProfiles profiles() {
    return profiles;
  }

  public RoutingPolicy policy() {
    return policyStage;
  }

  private void refreshProfiles() {
    liveWorkers().onSuccess(live -> profiles.refresh(WorkerView.models(live),
        model -> {
          WorkerView.Choice c = workers.choose(live, model, Set.of());
          return c == null ? null : c.load().worker();
        },
        texts -> embedMany(texts, DomainProfiles.EMBED_TIMEOUT_MS)));
  }

  // ---- consumers

  private void onWorkerStatus(Message<Object> msg) {
    try {
      WorkerInfo info = WorkerInfo.fromJson(json(msg.body()));
      workers.onStatus(info);
      // a worker the last registry read did not have: read the map again on the next request
      if (registered.stream().noneMatch(w -> w.workerId().equals(info.workerId()))) registeredAt = Long.MIN_VALUE / 2;
    } catch (RuntimeException e) {
      LOG.debug("Ignoring a malformed worker status: {}", e.toString());
    }
  }

  private void onModels(Message<Object> msg) {
    // not on the per-token path: the list reads the map itself, so a worker that just registered is in it
    registeredAt = Long.MIN_VALUE / 2;
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
    routeFull(request)
        .onSuccess(r -> msg.reply(r))
        .onFailure(err -> {
          LOG.debug("Request {} not routed: {}", request.requestId(), err.getMessage());
          fail(msg, err);
        });
  }

  private void onFeedback(Message<Object> msg) {
    JsonObject body;
    try {
      body = json(msg.body());
    } catch (RuntimeException e) {
      msg.fail(ErrorCode.INVALID_REQUEST.wire(), "Feedback must be a JSON object");
      return;
    }
    Object idValue = body.containsKey("requestId") ? body.getValue("requestId")
        : body.containsKey("request_id") ? body.getValue("request_id") : body.getValue("id");
    if (!(idValue instanceof String requestId) || requestId.isBlank()) {
      msg.fail(ErrorCode.INVALID_REQUEST.wire(), "Feedback needs 'requestId': the id of the routed response");
      return;
    }
    double reward;
    double weight;
    String source;
    int promptTokens = 0;
    if (body.getValue("signal") instanceof JsonObject signal) {
      Object finish = signal.getValue("finishReason", signal.getValue("finish_reason"));
      if (!(finish instanceof String f)) {
        msg.fail(ErrorCode.INVALID_REQUEST.wire(), "A signal needs 'finishReason' (stop or length)");
        return;
      }
      // finished on its own (EOS or a stop sequence) before the token limit: the answer was complete
      reward = f.equals("stop") ? 1.0 : f.equals("length") ? 0.25 : 0.5;
      weight = FINISH_WEIGHT;
      source = "finish";
      promptTokens = signal.getValue("promptTokens") instanceof Number n ? n.intValue() : 0;
      // no longer running on its worker, whatever its decision's fate below
      workers.finished(requestId);
    } else {
      Object rating = body.getValue("rating");
      Object score = body.getValue("score");
      if (rating instanceof Number n && n.doubleValue() >= -1 && n.doubleValue() <= 1) {
        reward = (n.doubleValue() + 1) / 2;
      } else if (rating instanceof String s && (s.equals("up") || s.equals("good"))) {
        reward = 1;
      } else if (rating instanceof String s && (s.equals("down") || s.equals("bad"))) {
        reward = 0;
      } else if (rating == null && score instanceof Number n && n.doubleValue() >= 0 && n.doubleValue() <= 1) {
        reward = n.doubleValue();
      } else {
        msg.fail(ErrorCode.INVALID_REQUEST.wire(), "Feedback needs 'rating' (-1, 0 or 1; or \"up\"/\"down\") or "
            + "'score' (0..1)");
        return;
      }
      weight = USER_WEIGHT;
      source = "user";
    }
    DecisionLog.Decision d = log.find(requestId);
    String baseId = requestId.replaceFirst("\\.r\\d+$", "");
    if (d == null) d = log.find(baseId);
    if (d == null) {
      forwardToOwner(msg, body, requestId);
      return;
    }
    DecisionLog.Decision decision = d;
    double r = reward;
    // the worker's real prompt count calibrates this model's characters per token
    if (promptTokens > 0) profiles.calibrate(d.model(), d.chars(), promptTokens);
    storeReward(new DecisionLog.Reward(decision.requestId(), decision.pattern(), decision.strategy(), r, weight,
        source)).onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("Feedback for {} could not be stored", requestId, ar.cause());
        msg.fail(ErrorCode.INTERNAL.wire(), "Feedback could not be stored: " + ar.cause().getMessage());
        return;
      }
      bandit.reward(decision.pattern(), decision.strategy(), r, weight);
      vertx.eventBus().publish(REWARD_ADDRESS, new JsonObject().put("origin", routerId)
          .put("requestId", decision.requestId()).put("pattern", decision.pattern())
          .put("strategy", decision.strategy()).put("reward", r).put("weight", weight).put("source", source));
      double[] e = bandit.evidence(decision.pattern(), decision.strategy());
      msg.reply(new JsonObject().put("accepted", true).put("requestId", decision.requestId())
          .put("model", decision.model()).put("strategy", decision.strategy()).put("pattern", decision.pattern())
          .put("reward", r).put("weight", weight).put("source", source)
          .put("evidence", new JsonObject().put("successes", e[0]).put("failures", e[1])));
    });
  }

  /**
   * Feedback for a decision this router does not know: ask the other routers in turn, and answer with the first
   * that knows it (or say it is unknown). A message that was itself addressed to this router (forwarded by a
   * peer, or a gateway's finish signal) is answered here or not at all: no forwarding loops.
   */
  private void forwardToOwner(Message<Object> msg, JsonObject body, String requestId) {
    if (msg.address().startsWith(FEEDBACK_PREFIX)) {
      msg.fail(ErrorCode.NOT_FOUND.wire(), unknown(requestId));
      return;
    }
    routers.keys()
        .compose(ids -> askPeers(ids.stream().filter(id -> !id.equals(routerId)).sorted().toList(), 0, body))
        .onComplete(ar -> {
          if (ar.failed()) {
            fail(msg, ar.cause());
          } else if (ar.result() == null) {
            msg.fail(ErrorCode.NOT_FOUND.wire(), unknown(requestId));
          } else {
            msg.reply(ar.result());
          }
        });
  }

  /**
   * The first peer's answer to the feedback, or null when none knows the decision. A peer that is gone (no
   * handler at its address: it stopped without a chance to say so) is dropped from the members map.
   */
  private Future<Object> askPeers(List<String> peers, int next, JsonObject body) {
    if (next >= peers.size()) return Future.succeededFuture();
    String peer = peers.get(next);
    return vertx.eventBus().request(FEEDBACK_PREFIX + peer, body)
        .<Object>map(Message::body)
        .recover(err -> {
          if (err instanceof ReplyException re && re.failureType() == ReplyFailure.NO_HANDLERS) {
            routers.remove(peer).onFailure(e -> LOG.debug("Router {} not dropped: {}", peer, e.toString()));
            return askPeers(peers, next + 1, body);
          }
          if (ErrorCode.of(err) == ErrorCode.NOT_FOUND) return askPeers(peers, next + 1, body);
          return Future.failedFuture(err);
        });
  }

  private static String unknown(String requestId) {
    return "No routing decision is known for request '" + requestId + "'";
  }

  /**
   * Makes a reward durable. Lines wait in one queue in the order they were made, and the log writer (one thread)
   * takes all that are waiting at once: one write for the group, and one sync if a reward is in it (a group
   * commit: a burst of finished requests would otherwise queue one fsync each, and a burst of new ones one write
   * and one blocking task each). Event loop only.
   */
  private Future<Void> storeReward(DecisionLog.Reward reward) {
    Promise<Void> done = Promise.promise();
    enqueue(new PendingLine(reward, done));
    return done.future();
  }

  /** Queues a decision's line; nobody waits for it (it is findable at once, see {@link DecisionLog#remember}). */
  private void storeDecision(DecisionLog.Decision decision) {
    enqueue(new PendingLine(decision, null));
  }

  private void enqueue(PendingLine line) {
    linesPending.add(line);
    if (!logWriteRunning) writeLines();
  }

  private void writeLines() {
    List<PendingLine> batch = new ArrayList<>(linesPending);
    linesPending.clear();
    logWriteRunning = true;
    List<DecisionLog.Entry> lines = batch.stream().map(PendingLine::entry).toList();
    logWriter.executeBlocking(() -> {
      log.append(lines);
      return null;
    }).onComplete(ar -> {
      logWriteRunning = false;
      if (ar.failed()) LOG.warn("{} decision log lines not written: {}", batch.size(), ar.cause().toString());
      for (PendingLine p : batch) {
        if (p.done() == null) continue;
        if (ar.succeeded()) p.done().complete();
        else p.done().fail(ar.cause());
      }
      if (!linesPending.isEmpty()) writeLines();
    });
  }

  /** A line waiting for the writer, and who waits for it to be durable (null for a decision). */
  private record PendingLine(DecisionLog.Entry entry, Promise<Void> done) {}

  /** Tests: reward syncs of this router's log so far. */
  long rewardSyncs() { return log.forces(); }

  /** Tests: reward lines found in the log when this router started. */
  int replayedRewards() { return log.replayedRewards(); }

  /** Another router's durable reward: learn from it too, and keep it in this router's log. */
  private void onPeerReward(Message<Object> msg) {
    JsonObject j;
    try {
      j = json(msg.body());
    } catch (RuntimeException e) {
      return;
    }
    if (routerId.equals(j.getString("origin"))) return;
    String pattern = j.getString("pattern");
    String strategy = j.getString("strategy");
    if (pattern == null || strategy == null || !(j.getValue("reward") instanceof Number r)
        || !(j.getValue("weight") instanceof Number w)) {
      return;
    }
    bandit.reward(pattern, strategy, r.doubleValue(), w.doubleValue());
    storeReward(new DecisionLog.Reward(j.getString("requestId"), pattern, strategy, r.doubleValue(), w.doubleValue(),
        "peer:" + j.getString("source"))).onFailure(err -> LOG.warn("Peer reward not logged: {}", err.toString()));
  }

  // ---- routing

  /** Routes one request; fails with a {@link CompanionException}. */
  public Future<RouteDecision> route(GenerationRequest request) {
    return routeFull(request).map(RouteDecision::fromJson);
  }

  /** The decision JSON: {@link RouteDecision#toJson()} plus pattern, plan and features. */
  Future<JsonObject> routeFull(GenerationRequest request) {
    boolean cached = now() - registeredAt <= REGISTRY_REFRESH_MS;
    Future<JsonObject> first = routeWith(request, liveWorkers());
    if (!cached) return first;
    // decided on a cached registry read: a worker that registered since may be the one asked for, so a request
    // that found no worker looks at the map itself before it fails
    return first.recover(err -> {
      ErrorCode code = ErrorCode.of(err);
      if (code != ErrorCode.MODEL_NOT_FOUND && code != ErrorCode.NO_WORKER) return Future.failedFuture(err);
      registeredAt = Long.MIN_VALUE / 2;
      return routeWith(request, liveWorkers());
    });
  }

  private Future<JsonObject> routeWith(GenerationRequest request, Future<List<WorkerInfo>> liveWorkers) {
    String warmUp = warmUpNode(request);
    return liveWorkers.map(all -> warmUp == null ? all : onNode(all, warmUp)).compose(live -> {
      String model = request.model();
      boolean auto = model == null || model.isBlank() || AUTO.equals(model);
      if (!auto && live.isEmpty()) {
        // as with workers that serve other models: nothing in the cluster serves it
        return Future.failedFuture(ErrorCode.MODEL_NOT_FOUND.exception("The model '" + model
            + "' does not exist: no inference worker is running"));
      }
      if (live.isEmpty() || WorkerView.models(live).isEmpty()) {
        // "auto" with nothing generative to run (a fresh machine): the gateway may answer extractively
        return Future.failedFuture(ErrorCode.NO_WORKER.exception(live.isEmpty() ? "No inference worker is available"
            : "No live worker serves a generative model"));
      }
      if (auto) return routeAuto(request, live);
      return routeNamed(request, live, model);
    });
  }

  private Future<JsonObject> routeNamed(GenerationRequest request, List<WorkerInfo> live, String model) {
    if (WorkerView.serving(live, model) == 0) {
      return Future.failedFuture(ErrorCode.MODEL_NOT_FOUND.exception("The model '" + model + "' does not exist"));
    }
    List<String> reasons = new ArrayList<>();
    reasons.add("model '" + model + "' named in the request");
    return place(request, live, model, "direct", "named:" + model, reasons, new JsonObject(), null);
  }

  private Future<JsonObject> routeAuto(GenerationRequest request, List<WorkerInfo> live) {
    Object tenant = request.hints().getValue("tenant");
    Ctx ctx = new Ctx(WorkerView.models(live), tenant instanceof String t ? t : null);
    return inputStage.process(request, ctx)
        .compose(in -> intentStage.recognize(in, ctx))
        .compose(intent -> policyStage.decide(intent, ctx).compose(plan -> {
          if (ctx.models().stream().noneMatch(m -> m.id().equals(plan.model()))) {
            return Future.failedFuture(ErrorCode.INTERNAL.exception("routing policy " + policyStage.name()
                + " chose model '" + plan.model() + "', which no live worker serves"));
          }
          List<String> reasons = new ArrayList<>(plan.reasons());
          reasons.addAll(intent.notes());
          String pattern = plan.pattern() != null ? plan.pattern() : intent.pattern();
          return place(request, live, plan.model(), plan.strategy(), pattern, reasons, plan.plan(), intent);
        }));
  }

  /** Picks the least loaded worker for the chosen model, records the decision and builds the reply. */
  private Future<JsonObject> place(GenerationRequest request, List<WorkerInfo> live, String model, String strategy,
                                   String pattern, List<String> reasons, JsonObject plan, Intent intent) {
    Set<String> exclude = excluded(request);
    WorkerView.Choice choice = workers.choose(live, model, exclude, PrefixAffinity.key(request),
        options.getAffinitySlack());
    if (choice == null) {
      return Future.failedFuture(ErrorCode.NO_WORKER.exception("No worker other than the excluded "
          + exclude + " serves the model '" + model + "'"));
    }
    WorkerInfo w = choice.load().worker();
    Integer max = request.params().maxTokens();
    workers.assigned(w, max != null ? max : options.getAssumedMaxTokens(), request.requestId());
    List<String> out = new ArrayList<>(reasons.subList(0, Math.min(reasons.size(), MAX_REASONS - 2)));
    String of = choice.candidates() + (choice.excluded() > 0 ? " (" + choice.excluded() + " excluded)" : "");
    if (!choice.affinity()) {
      out.add("worker " + choice.load().describe() + ": least loaded of " + of);
    } else if (choice.load() == choice.leastLoaded()) {
      out.add("worker " + choice.load().describe() + ": least loaded of " + of + ", and the one this prompt's "
          + "beginning belongs to (its prompt cache may hold it)");
    } else {
      out.add("worker " + choice.load().describe() + ": the one of " + of + " this prompt's beginning belongs to "
          + "(its prompt cache may hold it), within " + options.getAffinitySlack() + " requests of the least "
          + "loaded, " + choice.leastLoaded().describe());
    }
    if (intent != null) out.add(stagesReason);
    RouteDecision decision = new RouteDecision(model, w.workerId(), w.nodeName(), strategy, out);
    if (warmUpNode(request) == null) {
      int chars = intent != null ? intent.input().text().length()
          : ai.companion.router.impl.TextInputProcessor.normalize(request).text().length();
      record(request.requestId(), pattern, strategy, model, chars, intent);
    }
    LOG.debug("Request {} routed to {} on {} ({}, pattern {})", request.requestId(), model, w.workerId(), strategy,
        pattern);
    JsonObject reply = decision.toJson().put("requestId", request.requestId()).put("pattern", pattern)
        .put("plan", plan).put(Addresses.ROUTE_ROUTER_FIELD, routerId);
    if (intent != null) reply.put("features", intent.toJson());
    return Future.succeededFuture(reply);
  }

  private void record(String requestId, String pattern, String strategy, String model, int chars, Intent intent) {
    if (requestId == null) return;
    DecisionLog.Decision d = new DecisionLog.Decision(requestId, pattern, strategy, model, chars,
        System.currentTimeMillis());
    boolean retrieval = intent != null && strategy.equals("knowledge") && !Double.isNaN(intent.knowledgeScore());
    double score = retrieval ? retrievalReward(intent.knowledgeScore()) : 0;
    if (retrieval) bandit.reward(pattern, strategy, score, RETRIEVAL_WEIGHT);
    // findable for feedback at once; the queue keeps the decision line before any reward line for it
    log.remember(d);
    storeDecision(d);
    // the retrieval score is a cheap signal known at once: how well the knowledge base covers the question (its
    // line follows the decision's in the same queue)
    if (retrieval) {
      storeReward(new DecisionLog.Reward(requestId, pattern, strategy, score, RETRIEVAL_WEIGHT, "retrieval"))
          .onFailure(err -> LOG.warn("Retrieval reward for {} not logged: {}", requestId, err.toString()));
    }
  }

  /**
   * The knowledge service's best cosine as a reward: MiniLM cosines of a relevant passage sit around 0.5–0.7
   * and of an unrelated one below 0.2, so the raw value would punish even good retrievals.
   */
  static double retrievalReward(double bestCosine) {
    return Math.max(0, Math.min(1, (bestCosine - 0.2) / 0.3));
  }

  /**
   * The node whose own warm-up this request is, or null: such a request stays on that node's workers (it warms
   * this process, not another's) and leaves no decision to learn from.
   */
  private static String warmUpNode(GenerationRequest request) {
    return request.hints().getValue(GenerationRequest.HINT_WARM_UP) instanceof String node ? node : null;
  }

  private static List<WorkerInfo> onNode(List<WorkerInfo> live, String node) {
    return live.stream().filter(w -> node.equals(w.nodeName())).toList();
  }

  private static Set<String> excluded(GenerationRequest request) {
    Object hint = request.hints().getValue(HINT_EXCLUDE_WORKERS);
    Set<String> out = new HashSet<>();
    if (hint instanceof JsonArray a) for (Object o : a) out.add(String.valueOf(o));
    return out;
  }

  /**
   * Live workers: the registry map's members (a read at most {@link #REGISTRY_REFRESH_MS} old, shared by the
   * requests meanwhile) merged with the fresher status publishes; entries past the stale limit are left out.
   */
  private Future<List<WorkerInfo>> liveWorkers() {
    return registeredWorkers().map(all -> {
      lastLive = workers.live(all, System.currentTimeMillis());
      return lastLive;
    });
  }

  private Future<List<WorkerInfo>> registeredWorkers() {
    if (now() - registeredAt <= REGISTRY_REFRESH_MS) return Future.succeededFuture(registered);
    if (registryRead != null) return registryRead;
    long startedAt = now();
    Future<List<WorkerInfo>> read = registry.entries().map(entries -> {
      List<WorkerInfo> all = new ArrayList<>(entries.size());
      for (Map.Entry<String, Object> e : entries.entrySet()) {
        try {
          all.add(WorkerInfo.fromJson(json(e.getValue())));
        } catch (RuntimeException ex) {
          LOG.warn("Ignoring malformed registry entry {}: {}", e.getKey(), ex.toString());
        }
      }
      registered = List.copyOf(all);
      registeredAt = startedAt;
      return registered;
    });
    registryRead = read;
    read.onComplete(ar -> registryRead = null);
    return read;
  }

  private static long now() {
    return System.nanoTime() / 1_000_000;
  }

  // ---- services lent to the stages

  private Future<float[][]> embedMany(List<String> texts, long timeoutMs) {
    return vertx.eventBus().<JsonObject>request(Addresses.EMBEDDINGS_EMBED,
            new JsonObject().put("input", new JsonArray(new ArrayList<>(texts))),
            new DeliveryOptions().setSendTimeout(timeoutMs))
        .map(reply -> {
          JsonArray data = reply.body().getJsonArray("data");
          float[][] out = new float[data.size()][];
          for (int i = 0; i < out.length; i++) {
            JsonArray row = data.getJsonArray(i);
            float[] v = new float[row.size()];
            for (int j = 0; j < v.length; j++) v[j] = ((Number) row.getValue(j)).floatValue();
            out[i] = v;
          }
          return out;
        });
  }

  private final class Ctx implements StageContext {
    private final List<ModelInfo> models;
    private final String tenant;

    Ctx(List<ModelInfo> models, String tenant) {
      this.models = models;
      this.tenant = tenant;
    }

    @Override public Vertx vertx() { return vertx; }
    @Override public JsonObject config() { return options.toJson(); }
    @Override public List<ModelInfo> models() { return models; }
    @Override public Map<String, DomainProfile> profiles() { return profiles.snapshot(); }
    @Override public StrategyLearner learner() { return bandit; }

    @Override
    public Future<float[]> embed(String text) {
      if (text == null || text.isBlank()) return Future.failedFuture("nothing to embed");
      return embedMany(List.of(text), options.getEmbedTimeoutMs()).map(v -> v[0]);
    }

    @Override
    public Future<JsonObject> searchKnowledge(String query, int k) {
      JsonObject q = new JsonObject().put("q", query).put("k", k).put("graph", false).put("log", false);
      if (tenant != null) q.put("tenant", tenant);
      return vertx.eventBus().<Object>request(Addresses.KNOWLEDGE_SEARCH, q,
              new DeliveryOptions().setSendTimeout(options.getKnowledgeTimeoutMs()))
          .map(reply -> json(reply.body()));
    }
  }

  // ---- helpers

  static JsonObject json(Object body) {
    return JsonBodies.object(body);
  }

  private static void fail(Message<?> msg, Throwable err) {
    if (err instanceof CompanionException ce) {
      msg.fail(ce.code().wire(), ce.getMessage());
    } else {
      ErrorCode code = ErrorCode.of(err);
      if (code == ErrorCode.INTERNAL) LOG.warn("Routing failed", err);
      msg.fail(code.wire(), err.getMessage() != null ? err.getMessage() : err.toString());
    }
  }
}
