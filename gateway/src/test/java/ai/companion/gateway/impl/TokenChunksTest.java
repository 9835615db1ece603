package ai.companion.gateway.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A token chunk written from its cut-out parts is byte for byte the chunk the JSON tree encodes to. */
class TokenChunksTest {

  private static byte[] viaJson(String id, long created, String model, boolean chat, boolean usage, String text) {
    JsonObject chunk = chat
        ? OpenAiResponses.chatChunk(id, created, model, new JsonObject().put("content", text), null)
        : OpenAiResponses.completionChunk(id, created, model, text, null);
    if (usage) chunk.putNull("usage");
    return Sse.event(chunk).getBytes();
  }

  private static List<String> texts() {
    List<String> texts = new ArrayList<>();
    for (char c = 0; c < 0x80; c++) texts.add("a" + c + "b");
    texts.addAll(List.of("", " Once", "\"quoted\"", "back\\slash", "line\nbreak\r\n\ttab", "\u2028\u2029",
        "</script>", "é ç 日本 😀", "\ud83d", "\ude00 lone low", "\u007f\u0080\u009f", "\\u0041", "{\"text\":\"x\"}"));
    Random r = new Random(5);
    for (int i = 0; i < 2000; i++) {
      StringBuilder sb = new StringBuilder();
      int n = r.nextInt(12);
      for (int k = 0; k < n; k++) {
        int kind = r.nextInt(4);
        sb.append(kind == 0 ? (char) r.nextInt(0x20) : kind == 1 ? (char) (0x20 + r.nextInt(0x60))
            : kind == 2 ? (char) r.nextInt(0x10000) : "\"\\".charAt(r.nextInt(2)));
      }
      texts.add(sb.toString());
    }
    return texts;
  }

  @Test void everyTextEncodesAsTheJsonTreeDoes() {
    String[][] names = {
        {"cmpl-1f2e", "stories260K"},
        {"chatcmpl-9", "a \"quoted\" model\\ with \"choices\":[{\"text\":\" in it"},
        {"x\"delta\":{\"content\":\"y", "模型 😀 \n"}};
    for (String[] n : names) {
      for (boolean chat : new boolean[] {false, true}) {
        for (boolean usage : new boolean[] {false, true}) {
          TokenChunks chunks = new TokenChunks(n[0], 1764950000L, n[1], chat, usage);
          for (String text : texts()) {
            assertArrayEquals(viaJson(n[0], 1764950000L, n[1], chat, usage, text), chunks.event(text).getBytes(),
                () -> "chat " + chat + " usage " + usage + " model " + n[1] + " text " + escapeForMessage(text));
          }
        }
      }
    }
  }

  private static String escapeForMessage(String s) {
    StringBuilder sb = new StringBuilder();
    for (char c : s.toCharArray()) sb.append(c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : c);
    return sb.toString();
  }
}
