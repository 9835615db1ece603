package ai.companion.api.spi;

import io.vertx.core.json.JsonObject;

/**
 * A request reduced to what routing reads.
 *
 * @param requestId the request's id
 * @param text everything the model will read (system and user turns, or the prompt), whitespace-normalised
 * @param query the part that asks: the last user turn, or the whole prompt
 * @param maxTokens the tokens the caller allows the answer, or null when unset
 * @param hints the request's hints, unchanged
 */
public record NormalizedInput(String requestId, String text, String query, Integer maxTokens, JsonObject hints) {
  public NormalizedInput {
    text = text == null ? "" : text;
    query = query == null ? text : query;
    hints = hints == null ? new JsonObject() : hints;
  }
}
