package ai.companion.api.spi;

import io.vertx.core.Future;

/**
 * What every pipeline stage (input processor, intent recogniser, routing policy) has in common. A stage is
 * found with {@link Stages#load}: the default implementation ships with its module, a plugin jar in
 * {@code DATA_DIR/plugins/} (or any jar on the class path) that lists a higher-{@link #priority()}
 * implementation in {@code META-INF/services/<interface name>} replaces it.
 *
 * <p>Contract: methods are called on the owning verticle's event loop and must never block; blocking work
 * goes through {@code vertx.executeBlocking}. One instance serves one verticle, so calls are never
 * concurrent.
 */
public interface PipelineStage {

  /** A short name shown in every route explanation, e.g. {@code yaml-policy}. */
  String name();

  /** The highest priority found wins; defaults use 0, plugins that mean to replace them use more. */
  default int priority() {
    return 0;
  }

  /** Called once before the first request; the returned future must complete before routing starts. */
  default Future<Void> start(StageContext ctx) {
    return Future.succeededFuture();
  }

  /** Releases what {@link #start} opened. */
  default Future<Void> stop() {
    return Future.succeededFuture();
  }
}
