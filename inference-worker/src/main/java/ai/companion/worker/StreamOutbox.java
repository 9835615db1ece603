package ai.companion.worker;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.StreamEvent;
import ai.companion.worker.impl.LoadedModel;
import ai.companion.worker.impl.StreamCredit;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The way out of the decode threads: stream events queue here and leave from the worker's event loop in as few
 * bus messages as their addresses allow.
 *
 * <p>A decode step of 2000 sequences makes 2000 events. One event-loop task and one bus message each made the
 * bus, not the model, the limit under load; here the first event of a quiet moment schedules one task, which
 * sends everything queued by the time it runs: alone when the loop keeps up, and in bunches when it is behind.
 * Events for a gateway's shared address ({@link Addresses#takesBatches}) go as one {@code {"events":[...]}}
 * message per address; every 8th event of a stream is a flow-control checkpoint and goes alone as a request
 * (see {@link StreamCredit}), after the batches (the sink orders a stream's events by seq). Events for a
 * per-request address all go alone, in stream order.
 *
 * <p>{@link #add} is called on any thread; everything else runs on the verticle's context.
 */
final class StreamOutbox {
  private static final Logger LOG = LoggerFactory.getLogger(StreamOutbox.class);
  private static final DeliveryOptions CHECKPOINT_DELIVERY = new DeliveryOptions().setSendTimeout(30_000);

  private record Out(String address, StreamEvent event, StreamCredit credit, LoadedModel model) {}

  private final Vertx vertx;
  private final Context context;
  private final ConcurrentLinkedQueue<Out> queue = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean scheduled = new AtomicBoolean();

  StreamOutbox(Vertx vertx, Context context) {
    this.vertx = vertx;
    this.context = context;
  }

  /** Queues one event of a stream (in stream order); any thread. */
  void add(String address, StreamEvent event, StreamCredit credit, LoadedModel model) {
    queue.add(new Out(address, event, credit, model));
    if (scheduled.compareAndSet(false, true)) context.runOnContext(v -> drain());
  }

  private void drain() {
    // cleared first: an event queued from now on schedules another drain, even if this one takes it too
    scheduled.set(false);
    EventBus bus = vertx.eventBus();
    Map<String, JsonArray> batches = new LinkedHashMap<>();
    List<Out> checkpoints = new ArrayList<>();
    Out o;
    while ((o = queue.poll()) != null) {
      boolean checkpoint = !o.event().terminal() && StreamCredit.checkpoint(o.event().seq());
      if (!Addresses.takesBatches(o.address())) {
        // a per-request address may have a plain listener: everything goes alone and in order
        if (checkpoint) {
          checkpoint(o);
        } else {
          bus.send(o.address(), o.event().toJson());
        }
      } else if (checkpoint) {
        // after the batches: a sink puts a stream's events back in seq order (see GenerationCall)
        checkpoints.add(o);
      } else {
        batches.computeIfAbsent(o.address(), a -> new JsonArray()).add(o.event().toJson());
      }
    }
    for (Map.Entry<String, JsonArray> b : batches.entrySet()) {
      JsonArray list = b.getValue();
      bus.send(b.getKey(), list.size() == 1 ? list.getJsonObject(0)
          : new JsonObject().put(StreamEvent.BATCH_FIELD, list));
    }
    for (Out c : checkpoints) checkpoint(c);
  }

  /**
   * A checkpoint is a request: the consumer answers once it delivered the event (flow control), and a stream
   * nobody listens to any more (no handler, or a sink that does not know the request) is cancelled.
   */
  private void checkpoint(Out c) {
    c.credit().sent();
    vertx.eventBus().request(c.address(), c.event().toJson(), CHECKPOINT_DELIVERY).onComplete(ar -> {
      if (ar.succeeded()) {
        c.credit().answered();
        return;
      }
      c.credit().returned();
      if (ar.cause() instanceof ReplyException re && (re.failureType() == ReplyFailure.NO_HANDLERS
          || re.failureType() == ReplyFailure.RECIPIENT_FAILURE && re.failureCode() == ErrorCode.NOT_FOUND.wire())) {
        LOG.debug("Request {}: nobody listens on its stream any more; stopping it", c.event().requestId());
        c.model().cancel(c.event().requestId());
      }
    });
  }
}
