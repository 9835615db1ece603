package ai.companion.api;

import io.vertx.core.json.JsonObject;

/** One chat turn: role is system, user, assistant or tool. */
public record ChatMessage(String role, String content) {
  public JsonObject toJson() {
    return new JsonObject().put("role", role).put("content", content);
  }

  public static ChatMessage fromJson(JsonObject j) {
    return new ChatMessage(j.getString("role"), j.getString("content"));
  }
}
