package ai.companion.worker.impl;

import ai.companion.api.StreamEvent;

/**
 * Where a sequence's {@link StreamEvent}s go. Called on the model's decode thread, in stream order; an
 * implementation must not block (the worker verticle hops onto its event-loop context and sends on the bus).
 */
@FunctionalInterface
public interface EventSink {
  void accept(StreamEvent event);
}
