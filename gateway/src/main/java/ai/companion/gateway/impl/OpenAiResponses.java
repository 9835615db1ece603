package ai.companion.gateway.impl;

import ai.companion.api.RouteDecision;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/** Builders for OpenAI's response and chunk shapes, each with the {@code companion} route object. */
public final class OpenAiResponses {
  private OpenAiResponses() {}

  public static final String ROUTE_HEADER = "x-companion-route";

  /**
   * {@link RouteDecision#headerValue()} as printable ASCII: accents are dropped, other characters become '?'
   * (the JSON {@code companion.route} keeps the text as it is).
   */
  public static String headerValue(RouteDecision route) {
    String raw = route.headerValue();
    if (printableAscii(raw)) return raw;      // the usual case, without the normalizer (on every streamed answer)
    String v = java.text.Normalizer.normalize(raw, java.text.Normalizer.Form.NFD);
    StringBuilder out = new StringBuilder(v.length());
    for (int i = 0; i < v.length(); ) {
      int cp = v.codePointAt(i);
      int n = Character.charCount(cp);
      i += n;
      int type = Character.getType(cp);
      if (type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK
          || type == Character.COMBINING_SPACING_MARK) {
        continue;                              // the accent of a decomposed letter
      }
      if (cp >= 0x20 && cp < 0x7f) out.append((char) cp);
      else for (int k = 0; k < n; k++) out.append('?');
    }
    return out.toString();
  }

  private static boolean printableAscii(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
  }

  public static JsonObject companion(RouteDecision route, List<String> failovers) {
    JsonObject c = new JsonObject().put("route", route.toJson());
    if (failovers != null && !failovers.isEmpty()) c.put("failovers", new JsonArray(List.copyOf(failovers)));
    return c;
  }

  public static JsonObject usage(int prompt, int completion) {
    return new JsonObject().put("prompt_tokens", prompt).put("completion_tokens", completion)
        .put("total_tokens", prompt + completion);
  }

  public static JsonObject completion(String id, long created, String model, String text, String finishReason,
                                      JsonObject usage) {
    return new JsonObject().put("id", id).put("object", "text_completion").put("created", created)
        .put("model", model).put("choices", new JsonArray().add(new JsonObject().put("text", text)
            .put("index", 0).putNull("logprobs").put("finish_reason", finishReason)))
        .put("usage", usage);
  }

  public static JsonObject chatCompletion(String id, long created, String model, String content,
                                          String finishReason, JsonObject usage) {
    return new JsonObject().put("id", id).put("object", "chat.completion").put("created", created)
        .put("model", model).put("choices", new JsonArray().add(new JsonObject().put("index", 0)
            .put("message", new JsonObject().put("role", "assistant").put("content", content))
            .putNull("logprobs").put("finish_reason", finishReason)))
        .put("usage", usage);
  }

  /** A {@code text_completion} stream chunk; {@code text} null gives a usage-only chunk with no choices. */
  public static JsonObject completionChunk(String id, long created, String model, String text,
                                           String finishReason) {
    JsonArray choices = new JsonArray();
    if (text != null) {
      choices.add(new JsonObject().put("text", text).put("index", 0).putNull("logprobs")
          .put("finish_reason", finishReason));
    }
    return new JsonObject().put("id", id).put("object", "text_completion").put("created", created)
        .put("model", model).put("choices", choices);
  }

  /** A {@code chat.completion.chunk}; {@code delta} null gives a usage-only chunk with no choices. */
  public static JsonObject chatChunk(String id, long created, String model, JsonObject delta, String finishReason) {
    JsonArray choices = new JsonArray();
    if (delta != null) {
      choices.add(new JsonObject().put("index", 0).put("delta", delta).putNull("logprobs")
          .put("finish_reason", finishReason));
    }
    return new JsonObject().put("id", id).put("object", "chat.completion.chunk").put("created", created)
        .put("model", model).put("choices", choices);
  }
}
