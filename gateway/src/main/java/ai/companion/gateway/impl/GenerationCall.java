package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.JsonBodies;
import ai.companion.api.RouteDecision;
import ai.companion.api.StreamEvent;
import ai.companion.gateway.GatewayOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One generation as the gateway drives it: take the events of its request id on this event loop's
 * {@link StreamSink}, ask the router, send to the worker, hand the client the tokens in {@code seq} order with
 * duplicates dropped, and finish on DONE or ERROR.
 *
 * <p>Failover: once a worker has accepted, a watchdog checks that it is still in the registry map (a snapshot of
 * its keys shared by every call on the event loop, see {@link RegistryWatch}) and that it
 * has spoken within {@link GatewayOptions#getRequestTimeoutMs()} (not counting time the client itself held the
 * stream paused). A lost worker is excluded, the router is asked again (hint {@code excludeWorkers}) and the
 * request is resent with the tokens already delivered as {@code resumeTokenIds}, so the client's text goes on
 * with nothing repeated or missing. Each attempt has its own request id ({@code id}, {@code id.r1}, ...) and so
 * its own entry on the sink and its own cancel: a late event from the lost worker cannot reach the client, and
 * cancelling the lost one cannot stop its successor. If no other worker can take over the listener gets an error
 * at once.
 *
 * <p>Backpressure: while {@link #pause() paused} the call holds the events that arrive (at most
 * {@link GatewayOptions#getStreamBufferEvents()}); events with a reply address are answered only once
 * delivered, so a worker that waits for those replies slows down with the client.
 *
 * <p>Not thread-safe: everything runs on the event loop of the verticle that created it.
 */
public final class GenerationCall {
  private static final Logger LOG = LoggerFactory.getLogger(GenerationCall.class);

  /** The hint the router reads to skip workers (see RouterVerticle). */
  public static final String HINT_EXCLUDE_WORKERS = "excludeWorkers";

  /** What the first worker's accept told us. */
  public record Accepted(RouteDecision route, int promptTokens) {}

  /** Receives the stream; called on the event loop, only after {@link #start} has succeeded. */
  public interface Listener {
    /** New text and the ids it covers (text may be empty while a multi-byte character is incomplete). */
    void onTokens(String text, List<Integer> tokenIds);

    /** The stream moved to another worker after one was lost; tokens go on from where they were. */
    void onFailover(RouteDecision route, String reason);

    void onDone(String finishReason, int promptTokens, int completionTokens);

    /** The stream failed after it began; no other call follows. */
    void onError(ApiException error);
  }

  private final Vertx vertx;
  private final GatewayOptions options;
  private final GenerationRequest base;
  private final Strategies strategies;
  /**
   * What the first worker accepted (model chosen, strategy applied): a failover resends exactly this, so the
   * resumed tokens continue the same model on the same prompt even when the client asked for "auto".
   */
  private GenerationRequest pinned;
  private final List<Integer> delivered;
  /** The text the client received, for the knowledge service's interaction log. */
  private final StringBuilder answerText = new StringBuilder();
  private final Set<String> excluded = new LinkedHashSet<>();
  private final Promise<Accepted> started = Promise.promise();
  private Listener listener;
  private Attempt current;
  private int attempts;
  private int promptTokens;
  private boolean finished;
  private boolean paused;
  private long watchdog = -1;
  private RegistryWatch registry;
  private StreamSink sink;

  public GenerationCall(Vertx vertx, GatewayOptions options, GenerationRequest request) {
    this(vertx, options, request, new Strategies(vertx, options));
  }

  GenerationCall(Vertx vertx, GatewayOptions options, GenerationRequest request, Strategies strategies) {
    this.vertx = vertx;
    this.options = options;
    this.base = request;
    this.strategies = strategies;
    this.delivered = new ArrayList<>(request.resumeTokenIds());
  }

  /**
   * Starts the call. The future succeeds once a worker has accepted (after it, the listener gets the stream)
   * and fails, with a {@link CompanionException} or {@link ReplyException}, if the request could not be placed:
   * unknown model, prompt too long, no worker.
   */
  public Future<Accepted> start(Listener listener) {
    this.listener = listener;
    registry = RegistryWatch.of(vertx);
    sink = StreamSink.of(vertx);
    launch();
    return started.future();
  }

  /** The client went away: stop the worker, release everything. Safe to call at any time, more than once. */
  public void cancel() {
    if (finished) return;
    LOG.debug("Request {} cancelled by the client", base.requestId());
    finish(true);
    if (!started.future().isComplete()) {
      started.tryFail(ErrorCode.INTERNAL.exception("client went away"));
    }
  }

  /** Stop taking events until {@link #resume()}; the client's write queue is full. */
  public void pause() {
    if (paused || finished) return;
    paused = true;
  }

  public void resume() {
    if (!paused || finished) return;
    paused = false;
    Attempt a = current;
    a.lastEventAt = now();
    while (!paused && !finished && a == current && !a.held.isEmpty()) onEvent(a, a.held.poll());
  }

  public boolean finished() { return finished; }

  /** Tokens the client has received so far, resumed ones included. */
  public List<Integer> deliveredTokens() { return List.copyOf(delivered); }

  // ---- one attempt: route, send, stream

  private final class Attempt {
    final String requestId;
    RouteDecision route;
    /** The router that decided (its id from the route's reply), or null from a router that does not say. */
    String router;
    GenerationRequest sent;
    List<Strategies.Fallback> fallbacks = List.of();
    boolean accepted;
    boolean closed;
    boolean seenInRegistry;
    long nextSeq;
    long lastEventAt = now();
    final TreeMap<Long, StreamEvent> early = new TreeMap<>();
    final ArrayDeque<Pending> beforeAccept = new ArrayDeque<>();
    /** Events that arrived while the call was paused, in order. */
    final ArrayDeque<Pending> held = new ArrayDeque<>();

    Attempt(String requestId) {
      this.requestId = requestId;
    }
  }

  /** An event not delivered yet, and the checkpoint message to answer once it is (or null). */
  private record Pending(JsonObject event, Message<Object> checkpoint) {}

  private void launch() {
    String id = attempts == 0 ? base.requestId() : base.requestId() + ".r" + attempts;
    JsonObject hints = base.hints().copy();
    if (!excluded.isEmpty()) hints.put(HINT_EXCLUDE_WORKERS, new JsonArray(new ArrayList<>(excluded)));
    GenerationRequest source = pinned != null ? pinned : base;
    List<Integer> resume = List.copyOf(delivered);
    Attempt a = new Attempt(id);
    current = a;
    EventBus bus = vertx.eventBus();
    sink.add(id, (event, checkpoint) -> onEvent(a, new Pending(event, checkpoint)));
    DeliveryOptions timeout = new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs());
    // the sink's address is registered (cluster-wide) before any worker is told to send to it
    Future<GenerationRequest> request = sink.address().map(address -> new GenerationRequest(id, source.model(),
        source.prompt(), source.messages(), source.params(), address, resume, hints));
    request
        .compose(req -> bus.request(Addresses.ROUTER_ROUTE, req.toJson(), timeout))
        .recover(err -> Future.failedFuture(new Stage("router", err)))
        .compose(reply -> {
          JsonObject decision = json(reply.body());
          RouteDecision route = RouteDecision.fromJson(decision);
          if (route.workerId() == null || excluded.contains(route.workerId())) {
            return Future.failedFuture(new Stage("router", ErrorCode.NO_WORKER.exception(
                "the router offered no worker other than the lost " + excluded)));
          }
          a.route = route;
          a.router = decision.getString(Addresses.ROUTE_ROUTER_FIELD);
          GenerationRequest routed = request.result().withModel(route.model());
          Future<Strategies.Prepared> prepared = pinned != null
              ? Future.succeededFuture(new Strategies.Prepared(routed, List.of(), List.of()))
              : strategies.prepare(routed, route, decision.getJsonObject("plan"), () -> finished);
          return prepared.recover(err -> Future.failedFuture(new Stage("strategy", err))).compose(p -> {
            if (!p.notes().isEmpty()) {
              List<String> reasons = new ArrayList<>(route.reasons());
              reasons.addAll(p.notes());
              a.route = new RouteDecision(route.model(), route.workerId(), route.workerNode(), route.strategy(),
                  reasons);
            }
            a.sent = p.request();
            a.fallbacks = p.fallbacks();
            return sendToWorker(a, timeout);
          });
        })
        .onComplete(ar -> {
          if (a != current || finished) {
            // accepted after the client left (or after we moved on): that worker must stop
            if (ar.succeeded()) cancelWorker(a);
            close(a, false);
            return;
          }
          if (ar.succeeded()) {
            onAccepted(a, ar.result());
          } else if (ar.cause() instanceof Stage s) {
            onAttemptFailed(a, s.stage, s.getCause());
          } else {
            onAttemptFailed(a, "router", ar.cause());
          }
        });
  }

  /** Sends the prepared request; a grounded request that overflows the context falls back to the plain one. */
  private Future<Message<Object>> sendToWorker(Attempt a, DeliveryOptions timeout) {
    return vertx.eventBus().<Object>request(Addresses.workerGenerate(a.route.workerId()), a.sent.toJson(), timeout)
        .recover(err -> {
          if (!a.fallbacks.isEmpty() && ErrorCode.of(err) == ErrorCode.CONTEXT_LENGTH_EXCEEDED && a == current
              && !finished) {
            Strategies.Fallback f = a.fallbacks.get(0);
            a.fallbacks = a.fallbacks.subList(1, a.fallbacks.size());
            LOG.debug("Request {}: prompt too long for {}: {}", a.requestId, a.route.model(), f.note());
            a.sent = f.request();
            List<String> reasons = new ArrayList<>(a.route.reasons());
            reasons.add(f.note() + " (" + a.route.model() + ")");
            a.route = new RouteDecision(a.route.model(), a.route.workerId(), a.route.workerNode(), f.strategy(),
                reasons);
            return sendToWorker(a, timeout);
          }
          return Future.failedFuture(err instanceof Stage ? err : new Stage("worker", err));
        });
  }

  /** Which step of an attempt failed. */
  private static final class Stage extends RuntimeException {
    final String stage;

    Stage(String stage, Throwable cause) {
      super(cause.getMessage(), cause, false, false);
      this.stage = stage;
    }
  }

  private void onAccepted(Attempt a, Message<Object> reply) {
    JsonObject body;
    try {
      body = json(reply.body());
    } catch (RuntimeException e) {
      onAttemptFailed(a, "worker", ErrorCode.INTERNAL.exception("malformed accept from worker: " + e.getMessage()));
      return;
    }
    if (!body.getBoolean("accepted", true)) {
      onAttemptFailed(a, "worker", ErrorCode.OVERLOADED.exception("worker " + a.route.workerId() + " declined: "
          + body.getString("message", body.encode())));
      return;
    }
    a.accepted = true;
    a.lastEventAt = now();
    if (watchdog < 0) {
      watchdog = vertx.setPeriodic(checkEvery(), t -> check());
    }
    // see it registered now, so that a worker killed within the first check interval is still noticed
    registry.registered(a.route.workerId(), checkEvery()).onSuccess(v -> {
      if (v) a.seenInRegistry = true;
    });
    boolean first = !started.future().isComplete();
    LOG.debug("Request {} accepted by worker {} on {} ({})", a.requestId, a.route.workerId(), a.route.workerNode(),
        first ? "first" : "failover");
    if (first) {
      pinned = a.sent;
      promptTokens = body.getInteger("promptTokens", 0);
      started.complete(new Accepted(a.route, promptTokens));
    } else {
      listener.onFailover(a.route, "worker " + excluded.stream().reduce((x, y) -> y).orElse("?") + " was lost");
    }
    while (!a.beforeAccept.isEmpty() && a == current && !finished) onEvent(a, a.beforeAccept.poll());
  }

  private void onAttemptFailed(Attempt a, String stage, Throwable cause) {
    ErrorCode code = ErrorCode.of(cause);
    boolean workerVanished = stage.equals("worker") && cause instanceof ReplyException re
        && (re.failureType() == ReplyFailure.NO_HANDLERS || re.failureType() == ReplyFailure.TIMEOUT);
    close(a, workerVanished);
    if (workerVanished && attempts < options.getMaxFailovers()) {
      // the worker left between the router's view and our send: another one may serve
      LOG.info("Request {}: worker {} did not take the request ({}); asking the router again", a.requestId,
          a.route.workerId(), cause.getMessage());
      excluded.add(a.route.workerId());
      attempts++;
      launch();
      return;
    }
    if (!started.future().isComplete()) {
      finish(false);
      started.fail(cause instanceof Stage s ? s.getCause() : cause);
      return;
    }
    // a failover found no taker: the client hears it at once
    ApiException err = ApiException.of(ErrorCode.WORKER_LOST, null, "The worker serving this stream was lost ("
        + String.join(", ", excluded) + ") and no other worker can take over: " + cause.getMessage());
    LOG.warn("Request {}: {} ({})", base.requestId(), err.getMessage(), code);
    fail(err);
  }

  private void onEvent(Attempt a, Pending msg) {
    if (a != current || finished || a.closed) return;
    if (paused) {
      if (a.held.size() >= options.getStreamBufferEvents()) {
        fail(ApiException.of(ErrorCode.INTERNAL, null, "the client stopped reading and the stream overflowed "
            + options.getStreamBufferEvents() + " held events"));
        return;
      }
      a.held.add(msg);
      return;
    }
    if (!a.accepted) {
      // the accept reply and the first events travel separately; keep order by holding these
      if (a.beforeAccept.size() >= options.getStreamBufferEvents()) {
        fail(ApiException.of(ErrorCode.INTERNAL, null, "too many events before the worker's accept"));
        return;
      }
      a.beforeAccept.add(msg);
      return;
    }
    StreamEvent ev;
    try {
      ev = StreamEvent.fromJson(msg.event());
    } catch (RuntimeException e) {
      LOG.warn("Request {}: dropping a malformed stream event: {}", a.requestId, e.toString());
      return;
    }
    a.lastEventAt = now();
    if (msg.checkpoint() != null) msg.checkpoint().reply(new JsonObject().put("seq", ev.seq()));
    if (ev.seq() < a.nextSeq) {
      LOG.debug("Request {}: duplicate event seq {} dropped", a.requestId, ev.seq());
      return;
    }
    if (ev.seq() > a.nextSeq) {
      if (a.early.size() >= options.getStreamBufferEvents()) {
        fail(ApiException.of(ErrorCode.INTERNAL, null, "stream event " + a.nextSeq + " never arrived"));
        return;
      }
      a.early.put(ev.seq(), ev);
      return;
    }
    deliver(a, ev);
    while (!finished && a == current && !a.early.isEmpty() && a.early.firstKey() == a.nextSeq) {
      deliver(a, a.early.pollFirstEntry().getValue());
    }
  }

  private void deliver(Attempt a, StreamEvent ev) {
    a.nextSeq = ev.seq() + 1;
    switch (ev.type()) {
      case TOKEN -> {
        delivered.addAll(ev.tokenIds());
        answerText.append(ev.text());
        listener.onTokens(ev.text(), ev.tokenIds());
      }
      case DONE -> {
        if (!ev.text().isEmpty() || !ev.tokenIds().isEmpty()) {
          delivered.addAll(ev.tokenIds());
          answerText.append(ev.text());
          listener.onTokens(ev.text(), ev.tokenIds());
        }
        finish(false);
        int prompt = ev.promptTokens() > 0 ? ev.promptTokens() : promptTokens;
        int completion = ev.completionTokens() > 0 ? ev.completionTokens() : delivered.size();
        LOG.debug("Request {} done: {} ({} + {} tokens)", a.requestId, ev.finishReason(), prompt, completion);
        // the router learns from cheap signals too (did it run out of tokens?); nobody waits for its answer
        // (to the router that decided, when it said who it is: any other would have to ask around); a node's
        // warm-up left no decision to learn from
        if (!base.hints().containsKey(GenerationRequest.HINT_WARM_UP)) {
          vertx.eventBus().send(a.router != null ? Addresses.routerFeedback(a.router) : Addresses.ROUTER_FEEDBACK,
              new JsonObject().put("requestId", a.requestId).put("signal", new JsonObject()
                  .put("finishReason", ev.finishReason()).put("completionTokens", completion)
                  .put("maxTokens", base.params().maxTokens())));
        }
        // patterns and gaps learn from real traffic; fire-and-forget, the client never waits for it
        KnowledgeAnswers.logInteraction(vertx, base, a.route, answerText.toString());
        listener.onDone(ev.finishReason() == null ? "stop" : ev.finishReason(), prompt, completion);
      }
      case ERROR -> {
        ErrorCode code = ErrorCode.fromWire(ev.errorCode());
        if (code == ErrorCode.WORKER_LOST) {
          // the worker says it is going away (undeployed, shutting down): the stream moves, it does not end
          lost(a, "it is going away: " + ev.errorMessage());
          return;
        }
        finish(false);
        listener.onError(ApiException.of(code, null, ev.errorMessage() == null ? code.code() : ev.errorMessage()));
      }
    }
  }

  // ---- watchdog and failover

  private void check() {
    Attempt a = current;
    if (finished) return;
    if (!a.accepted || a.closed) return;
    long silent = now() - a.lastEventAt;
    if (!paused && silent > options.getRequestTimeoutMs()) {
      lost(a, "no event for " + silent + " ms");
      return;
    }
    registry.registered(a.route.workerId(), checkEvery()).onSuccess(v -> {
      if (a != current || finished || a.closed) return;
      if (v) {
        a.seenInRegistry = true;
      } else if (a.seenInRegistry) {
        // only a worker we saw registered can vanish; one that never registered is judged by silence alone
        lost(a, "it left the worker registry");
      }
    });
  }

  private long checkEvery() {
    return Math.max(10, Math.min(options.getWorkerCheckIntervalMs(), options.getRequestTimeoutMs() / 2));
  }

  private void lost(Attempt a, String why) {
    String worker = a.route.workerId();
    LOG.warn("Request {}: worker {} on {} lost ({}), {} tokens delivered; failing over", a.requestId, worker,
        a.route.workerNode(), why, delivered.size());
    excluded.add(worker);
    close(a, true);
    if (attempts >= options.getMaxFailovers()) {
      fail(ApiException.of(ErrorCode.WORKER_LOST, null, "The worker serving this stream was lost (" + worker + ": "
          + why + ") and the request already failed over " + attempts + " times"));
      return;
    }
    attempts++;
    launch();
  }

  private void fail(ApiException err) {
    finish(true);
    if (!started.future().isComplete()) {
      started.fail(err);
    } else {
      listener.onError(err);
    }
  }

  private void finish(boolean cancelWorker) {
    if (finished) return;
    finished = true;
    if (watchdog >= 0) vertx.cancelTimer(watchdog);
    if (current != null) close(current, cancelWorker);
  }

  private void close(Attempt a, boolean cancelWorker) {
    if (a.closed) return;
    a.closed = true;
    sink.remove(a.requestId);
    a.early.clear();
    a.beforeAccept.clear();
    a.held.clear();
    if (cancelWorker && a.route != null) cancelWorker(a);
  }

  private void cancelWorker(Attempt a) {
    vertx.eventBus().publish(Addresses.WORKER_CANCEL, new JsonObject().put("requestId", a.requestId));
  }

  private static long now() {
    return System.currentTimeMillis();
  }

  static JsonObject json(Object body) {
    return JsonBodies.object(body);
  }
}
