package ai.companion.api.spi;

import ai.companion.api.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;

/** What the router lends its stages. Every method is non-blocking. */
public interface StageContext {

  Vertx vertx();

  /** The router's configuration (its options as JSON: dataDir, policyFile, timeouts ...). */
  JsonObject config();

  /** Models some live worker serves now, once each. */
  List<ModelInfo> models();

  /** Domain profiles by model id, for the models that have one yet. */
  Map<String, DomainProfile> profiles();

  /** The unit-length all-MiniLM-L6-v2 embedding of {@code text}; fails fast when the service is absent or slow. */
  Future<float[]> embed(String text);

  /**
   * The knowledge service's answer for {@code query} in the request's tenant: {@code {"results":[{document_id,
   * chunk_id, text, score, similarity}], "best_score"}}, best first; fails fast when the service is absent or slow.
   */
  Future<JsonObject> searchKnowledge(String query, int k);

  StrategyLearner learner();
}
