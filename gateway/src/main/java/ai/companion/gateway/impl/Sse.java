package ai.companion.gateway.impl;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/** Server-Sent Events framing as OpenAI streams use it. */
public final class Sse {
  private Sse() {}

  public static final String CONTENT_TYPE = "text/event-stream; charset=utf-8";
  public static final Buffer DONE = Buffer.buffer("data: [DONE]\n\n");

  public static Buffer event(JsonObject data) {
    return Buffer.buffer("data: " + data.encode() + "\n\n");
  }
}
