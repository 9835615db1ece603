package ai.companion.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * One event of a generation stream, worker → caller. {@code seq} counts events from 0 per stream so that a
 * caller can drop duplicates and notice gaps. A stream ends with exactly one {@link Type#DONE} or
 * {@link Type#ERROR}.
 *
 * @param text the new text since the previous event (decoded from the running sequence, so multi-byte
 *     characters split across tokens come out whole)
 * @param tokenIds the token ids this event covers, in order
 * @param finishReason on DONE: {@code stop} (EOS or a stop sequence) or {@code length}
 * @param promptTokens on DONE: prompt tokens (prefilled, resumed tokens excluded)
 * @param completionTokens on DONE: tokens generated in all, resumed tokens included
 * @param errorCode on ERROR: the wire number of an {@link ErrorCode}
 */
public record StreamEvent(String requestId, long seq, Type type, String text, List<Integer> tokenIds,
                          String finishReason, int promptTokens, int completionTokens, String workerId,
                          int errorCode, String errorMessage) {

  public enum Type { TOKEN, DONE, ERROR }

  public StreamEvent {
    tokenIds = tokenIds == null ? List.of() : List.copyOf(tokenIds);
    text = text == null ? "" : text;
  }

  public static StreamEvent token(String requestId, long seq, String text, List<Integer> ids, String workerId) {
    return new StreamEvent(requestId, seq, Type.TOKEN, text, ids, null, 0, 0, workerId, 0, null);
  }

  public static StreamEvent done(String requestId, long seq, String text, List<Integer> ids, String finishReason,
                                 int promptTokens, int completionTokens, String workerId) {
    return new StreamEvent(requestId, seq, Type.DONE, text, ids, finishReason, promptTokens, completionTokens,
        workerId, 0, null);
  }

  public static StreamEvent error(String requestId, long seq, ErrorCode code, String message, String workerId) {
    return new StreamEvent(requestId, seq, Type.ERROR, "", List.of(), null, 0, 0, workerId, code.wire(), message);
  }

  public boolean terminal() { return type != Type.TOKEN; }

  /** The field of a batch message, {@code {"events":[event JSON...]}}, that carries its events in order. */
  public static final String BATCH_FIELD = "events";

  /**
   * The events a stream message carries, as JSON: the elements of a batch, or the message itself. Anything else
   * (no JSON object) gives an empty list.
   */
  public static java.util.List<JsonObject> eventsOf(Object body) {
    if (!(body instanceof JsonObject j)) return java.util.List.of();
    Object batch = j.getValue(BATCH_FIELD);
    if (!(batch instanceof JsonArray a)) return java.util.List.of(j);
    java.util.List<JsonObject> out = new java.util.ArrayList<>(a.size());
    for (Object o : a) if (o instanceof JsonObject e) out.add(e);
    return out;
  }

  public JsonObject toJson() {
    JsonObject j = new JsonObject().put("requestId", requestId).put("seq", seq).put("type", type.name())
        .put("text", text).put("tokenIds", new JsonArray(tokenIds)).put("workerId", workerId);
    if (type == Type.DONE) {
      j.put("finishReason", finishReason).put("promptTokens", promptTokens).put("completionTokens", completionTokens);
    } else if (type == Type.ERROR) {
      j.put("errorCode", errorCode).put("errorMessage", errorMessage);
    }
    return j;
  }

  public static StreamEvent fromJson(JsonObject j) {
    return new StreamEvent(j.getString("requestId"), j.getLong("seq", 0L), Type.valueOf(j.getString("type")),
        j.getString("text"), j.getJsonArray("tokenIds", new JsonArray()).stream()
            .map(o -> ((Number) o).intValue()).toList(),
        j.getString("finishReason"), j.getInteger("promptTokens", 0), j.getInteger("completionTokens", 0),
        j.getString("workerId"), j.getInteger("errorCode", 0), j.getString("errorMessage"));
  }
}
