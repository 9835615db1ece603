package ai.companion.api;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.Map;

/**
 * A JSON object from what the event bus or a shared map hands back: a {@link JsonObject} as sent, or the string,
 * buffer or map a codec or the cluster's serializer may turn it into.
 */
public final class JsonBodies {
  private JsonBodies() {}

  /** {@code body} as a JSON object; an {@link IllegalArgumentException} (or a decode error) when it is none. */
  public static JsonObject object(Object body) {
    if (body instanceof JsonObject j) return j;
    if (body instanceof String s) return new JsonObject(s);
    if (body instanceof Buffer b) return new JsonObject(b);
    if (body instanceof Map<?, ?> m) {
      @SuppressWarnings("unchecked") Map<String, Object> mm = (Map<String, Object>) m;
      return new JsonObject(mm);
    }
    throw new IllegalArgumentException("expected a JSON object, got "
        + (body == null ? "nothing" : body.getClass().getSimpleName()));
  }
}
