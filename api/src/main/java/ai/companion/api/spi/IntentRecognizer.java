package ai.companion.api.spi;

import io.vertx.core.Future;

/**
 * Pipeline stage 2: measures the features routing decides on (length, language, domain, latency class,
 * knowledge need). May ask other services (embeddings, knowledge) but must bound every wait: a missing or
 * slow service degrades a feature, it never fails the request.
 */
public interface IntentRecognizer extends PipelineStage {
  Future<Intent> recognize(NormalizedInput input, StageContext ctx);
}
