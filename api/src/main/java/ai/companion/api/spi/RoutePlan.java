package ai.companion.api.spi;

import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * A routing policy's answer: which model and strategy, and why.
 *
 * @param model a served model id
 * @param strategy {@code direct}, {@code knowledge} (answer with retrieved passages), {@code chunked} (split,
 *     map over chunks, reduce) or {@code specialist} (the domain's own model)
 * @param pattern the question pattern the strategy was learned for, or null when no learner was asked
 * @param reasons most important first
 * @param plan what the executing side needs for the strategy (passages, chunk sizes ...)
 */
public record RoutePlan(String model, String strategy, String pattern, List<String> reasons, JsonObject plan) {
  public RoutePlan {
    reasons = reasons == null ? List.of() : List.copyOf(reasons);
    plan = plan == null ? new JsonObject() : plan;
  }
}
