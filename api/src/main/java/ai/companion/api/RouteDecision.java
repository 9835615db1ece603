package ai.companion.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * The router's answer for one request, shown to the user as {@code companion.route} and the
 * {@code x-companion-route} header.
 *
 * @param model the model chosen
 * @param workerId the worker that will run it
 * @param workerNode the node that worker lives on
 * @param strategy e.g. {@code direct}, {@code knowledge}, {@code chunked}
 * @param reasons the top reasons, most important first
 */
public record RouteDecision(String model, String workerId, String workerNode, String strategy,
                            List<String> reasons) {

  public RouteDecision {
    reasons = reasons == null ? List.of() : List.copyOf(reasons);
  }

  public JsonObject toJson() {
    return new JsonObject().put("model", model).put("worker", workerNode).put("workerId", workerId)
        .put("strategy", strategy).put("reasons", new JsonArray(reasons));
  }

  public static RouteDecision fromJson(JsonObject j) {
    return new RouteDecision(j.getString("model"), j.getString("workerId"), j.getString("worker"),
        j.getString("strategy"), j.getJsonArray("reasons", new JsonArray()).stream().map(String::valueOf).toList());
  }

  /** Compact form for the {@code x-companion-route} header: {@code model=..; worker=..; strategy=..; reasons=..}. */
  public String headerValue() {
    // a reason's ';' or line break would end the field or the header: each becomes a space (no regex: every
    // streamed answer's headers carry this)
    StringBuilder out = new StringBuilder(64).append("model=").append(model).append("; worker=").append(workerNode)
        .append("; strategy=").append(strategy).append("; reasons=");
    for (int i = 0; i < reasons.size(); i++) {
      if (i > 0) out.append(" | ");
      String r = reasons.get(i);
      for (int c = 0; c < r.length(); c++) {
        char ch = r.charAt(c);
        out.append(ch == ';' || ch == '\r' || ch == '\n' ? ' ' : ch);
      }
    }
    return out.toString();
  }
}
