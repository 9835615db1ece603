package ai.companion.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * A live worker as the cluster sees it. Holds no user data (it lives in a Hazelcast map).
 *
 * @param workerId unique per worker verticle; its generate address is {@link Addresses#workerGenerate}
 * @param nodeName the node (process) it runs in
 * @param device the execution provider in use, e.g. {@code cpu}, {@code cuda}
 * @param activeSequences sequences generating now
 * @param queuedRequests requests waiting for a slot
 * @param outstandingTokens tokens still to generate for everything accepted (max_tokens left, summed)
 * @param updatedAt epoch millis of this snapshot
 * @param promptCacheTokens prompt tokens its models' prompt caches gave since it started, instead of running them
 */
public record WorkerInfo(String workerId, String nodeName, List<ModelInfo> models, String device,
                         int activeSequences, int queuedRequests, long outstandingTokens, long updatedAt,
                         long promptCacheTokens) {

  public WorkerInfo {
    models = List.copyOf(models);
  }

  /** A worker that has copied no prompt tokens from a cache. */
  public WorkerInfo(String workerId, String nodeName, List<ModelInfo> models, String device, int activeSequences,
                    int queuedRequests, long outstandingTokens, long updatedAt) {
    this(workerId, nodeName, models, device, activeSequences, queuedRequests, outstandingTokens, updatedAt, 0);
  }

  public boolean serves(String model) {
    return models.stream().anyMatch(m -> m.id().equals(model));
  }

  public JsonObject toJson() {
    return new JsonObject().put("workerId", workerId).put("nodeName", nodeName)
        .put("models", new JsonArray(models.stream().map(ModelInfo::toJson).toList())).put("device", device)
        .put("activeSequences", activeSequences).put("queuedRequests", queuedRequests)
        .put("outstandingTokens", outstandingTokens).put("updatedAt", updatedAt)
        .put("promptCacheTokens", promptCacheTokens);
  }

  public static WorkerInfo fromJson(JsonObject j) {
    return new WorkerInfo(j.getString("workerId"), j.getString("nodeName"),
        j.getJsonArray("models", new JsonArray()).stream().map(o -> ModelInfo.fromJson((JsonObject) o)).toList(),
        j.getString("device"), j.getInteger("activeSequences", 0), j.getInteger("queuedRequests", 0),
        j.getLong("outstandingTokens", 0L), j.getLong("updatedAt", 0L), j.getLong("promptCacheTokens", 0L));
  }
}
