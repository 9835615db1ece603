package ai.companion.gateway.impl;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/**
 * The SSE event of one stream's plain token chunk, written without building and encoding a JSON tree per token.
 *
 * <p>Every token of a stream goes out as the same chunk but for its text; at 2000 streams the tree and its
 * encoding were about 8% of the gateway loop's time. The parts around the text are cut once from the very
 * encoding {@link OpenAiResponses} gives (so the bytes are the same), and the text is escaped as Jackson escapes
 * a JSON string. A chunk that carries more (the route after a failover, a finish reason, usage) still goes the
 * JSON way.
 */
final class TokenChunks {
  private static final String COMPLETION_SLOT = "\"choices\":[{\"text\":\"";
  private static final String CHAT_SLOT = "\"delta\":{\"content\":\"";
  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  private final String model;
  private final String head;
  private final String tail;

  /**
   * @param withNullUsage the stream asked for usage: every chunk before the last carries {@code "usage":null}
   */
  TokenChunks(String id, long created, String model, boolean chat, boolean withNullUsage) {
    this.model = model;
    JsonObject chunk = chat
        ? OpenAiResponses.chatChunk(id, created, model, new JsonObject().put("content", ""), null)
        : OpenAiResponses.completionChunk(id, created, model, "", null);
    if (withNullUsage) chunk.putNull("usage");
    String encoded = "data: " + chunk.encode() + "\n\n";
    // inside a JSON string every quote is escaped, so the slot's unescaped quotes only match the structure
    String slot = chat ? CHAT_SLOT : COMPLETION_SLOT;
    int at = encoded.indexOf(slot);
    if (at < 0) throw new IllegalStateException("no text slot in " + encoded);
    head = encoded.substring(0, at + slot.length());
    tail = encoded.substring(at + slot.length() + 1);   // after the empty text's closing quote
  }

  /** The model the chunks name (a failover may move the stream to another). */
  String model() {
    return model;
  }

  Buffer event(String text) {
    StringBuilder sb = new StringBuilder(head.length() + text.length() + 8 + tail.length());
    sb.append(head);
    escape(text, sb);
    sb.append('"').append(tail);
    return Buffer.buffer(sb.toString());
  }

  /** Jackson's escaping of a string value: quote, backslash and the control characters; nothing else. */
  static void escape(String s, StringBuilder out) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= 0x20 && c != '"' && c != '\\') {
        out.append(c);
        continue;
      }
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\b' -> out.append("\\b");
        case '\t' -> out.append("\\t");
        case '\n' -> out.append("\\n");
        case '\f' -> out.append("\\f");
        case '\r' -> out.append("\\r");
        default -> out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
      }
    }
  }
}
