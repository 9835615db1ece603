package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.StreamEvent;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one stream address of an event loop: every generation started on this loop names it as its
 * {@code streamAddress}, workers send the stream events there, and the sink hands each event to its call by the
 * event's {@code requestId}.
 *
 * <p>Why not an address per request: in a cluster each consumer registration is a Hazelcast multimap put, the
 * worker's first send to a new address a multimap read, the unregistration a remove, and every node's listener
 * hears of both changes. Under a burst of 2000 requests those thousands of cluster operations were the queue in
 * front of every first token. This address is registered once, cluster-wide, when the loop starts its first call.
 *
 * <p>A message may carry one event or a batch of them ({@code {"events":[...]}}, {@link StreamEvent#BATCH_FIELD}),
 * of any of the sink's streams, each in stream order.
 *
 * <p>A checkpoint event (one with a reply address) for a request the sink does not know (the call ended, the
 * client left) is answered with {@link ErrorCode#NOT_FOUND}, so its worker stops generating it, as it did when a
 * per-request address had no consumer any more. Other events for unknown requests are dropped.
 *
 * <p>One instance per Vert.x context: the handlers run on the loop of the calls that added them. Not
 * thread-safe beyond that.
 */
final class StreamSink {
  private static final Logger LOG = LoggerFactory.getLogger(StreamSink.class);
  private static final String KEY = StreamSink.class.getName();

  /** Takes the events of one request: {@code checkpoint} is the message to answer once delivered, or null. */
  interface Handler {
    void onEvent(JsonObject event, Message<Object> checkpoint);
  }

  private final String address = Addresses.sinkAddress(UUID.randomUUID().toString());
  private final Map<String, Handler> calls = new HashMap<>();
  private final MessageConsumer<Object> consumer;
  private final Future<String> ready;

  private StreamSink(Vertx vertx) {
    consumer = vertx.eventBus().consumer(address, this::onEvent);
    ready = consumer.completion().map(v -> address);
  }

  /** The sink of the current context (created, and its address registered, on first use). */
  static StreamSink of(Vertx vertx) {
    Context ctx = vertx.getOrCreateContext();
    StreamSink s = ctx.get(KEY);
    if (s == null || s.ready.failed()) {
      s = new StreamSink(vertx);
      ctx.put(KEY, s);
    }
    return s;
  }

  /** The address, once its consumer is registered cluster-wide (workers may send to it from then on). */
  Future<String> address() {
    return ready;
  }

  /** Events with this request id go to {@code handler} until {@link #remove}. */
  void add(String requestId, Handler handler) {
    calls.put(requestId, handler);
  }

  void remove(String requestId) {
    calls.remove(requestId);
  }

  private void onEvent(Message<Object> msg) {
    Object body = msg.body();
    if (!(body instanceof JsonObject)) {
      try {
        body = GenerationCall.json(body);
      } catch (RuntimeException e) {
        LOG.debug("Stream sink {}: dropping a message that is no stream event: {}", address, e.toString());
        return;
      }
    }
    List<JsonObject> events = StreamEvent.eventsOf(body);
    // only a lone event can ask for a reply: a checkpoint never travels in a batch
    Message<Object> replyTo = msg.replyAddress() != null && events.size() == 1 ? msg : null;
    for (JsonObject event : events) {
      String requestId = event.getString("requestId");
      Handler call = requestId == null ? null : calls.get(requestId);
      if (call != null) {
        call.onEvent(event, replyTo);
      } else if (replyTo != null) {
        replyTo.fail(ErrorCode.NOT_FOUND.wire(), "no stream for request " + requestId + " here");
      }
    }
  }
}
