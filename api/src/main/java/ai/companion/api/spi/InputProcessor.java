package ai.companion.api.spi;

import ai.companion.api.GenerationRequest;
import io.vertx.core.Future;

/** Pipeline stage 1: turns a request (completion or chat) into one normalised text to reason about. */
public interface InputProcessor extends PipelineStage {
  Future<NormalizedInput> process(GenerationRequest request, StageContext ctx);
}
