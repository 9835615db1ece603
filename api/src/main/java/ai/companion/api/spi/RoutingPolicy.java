package ai.companion.api.spi;

import io.vertx.core.Future;

/**
 * Pipeline stage 3: maps features to a model and a strategy. Only called for {@code model: "auto"}; a
 * named model is always honoured. The model chosen must be one of {@link StageContext#models()}.
 */
public interface RoutingPolicy extends PipelineStage {
  Future<RoutePlan> decide(Intent intent, StageContext ctx);
}
