package ai.companion.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * One generation, as it travels gateway → router → worker.
 *
 * @param requestId unique per client request; names the stream and the cancel
 * @param model a model id, or {@code "auto"} to let the router choose
 * @param prompt the completion prompt; null for chat
 * @param messages the chat turns; null for a plain completion
 * @param params sampling parameters
 * @param streamAddress where the worker sends {@link StreamEvent}s
 * @param resumeTokenIds tokens already delivered to the client by a worker that was lost; the new worker
 *     prefills prompt + these and continues after them (empty for a fresh request)
 * @param hints free-form request metadata for the router (latency class, tenant, api key id ...)
 */
public record GenerationRequest(String requestId, String model, String prompt, List<ChatMessage> messages,
                                SamplingParams params, String streamAddress, List<Integer> resumeTokenIds,
                                JsonObject hints) {

  /**
   * Hint on a node's own warm-up request (its value: the node's name), set by the gateway only for a request that
   * carries the node's one-time warm-up token: the router places it on that node's workers and records no
   * decision, the knowledge service logs no interaction, the metrics do not count it.
   */
  public static final String HINT_WARM_UP = "warmUp";

  public GenerationRequest {
    messages = messages == null ? null : List.copyOf(messages);
    resumeTokenIds = resumeTokenIds == null ? List.of() : List.copyOf(resumeTokenIds);
    hints = hints == null ? new JsonObject() : hints;
    params = params == null ? SamplingParams.GREEDY : params;
  }

  public boolean chat() { return messages != null; }

  public GenerationRequest withModel(String m) {
    return new GenerationRequest(requestId, m, prompt, messages, params, streamAddress, resumeTokenIds, hints);
  }

  public GenerationRequest withResume(List<Integer> tokens) {
    return new GenerationRequest(requestId, model, prompt, messages, params, streamAddress, tokens, hints);
  }

  public JsonObject toJson() {
    JsonObject j = new JsonObject().put("requestId", requestId).put("model", model).put("prompt", prompt)
        .put("params", params.toJson()).put("streamAddress", streamAddress)
        .put("resumeTokenIds", new JsonArray(resumeTokenIds)).put("hints", hints);
    if (messages != null) {
      j.put("messages", new JsonArray(messages.stream().map(ChatMessage::toJson).toList()));
    }
    return j;
  }

  public static GenerationRequest fromJson(JsonObject j) {
    JsonArray msgs = j.getJsonArray("messages");
    List<ChatMessage> messages = msgs == null ? null
        : msgs.stream().map(o -> ChatMessage.fromJson((JsonObject) o)).toList();
    List<Integer> resume = j.getJsonArray("resumeTokenIds", new JsonArray()).stream()
        .map(o -> ((Number) o).intValue()).toList();
    return new GenerationRequest(j.getString("requestId"), j.getString("model"), j.getString("prompt"), messages,
        SamplingParams.fromJson(j.getJsonObject("params")), j.getString("streamAddress"), resume,
        j.getJsonObject("hints"));
  }
}
