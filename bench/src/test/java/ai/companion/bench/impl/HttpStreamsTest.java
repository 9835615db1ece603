package ai.companion.bench.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.gateway.impl.OpenAiResponses;
import ai.companion.gateway.impl.Sse;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The bench client's SSE reading, on the gateway's own chunks (the same builders write a stream's events), cut into
 * buffers at every place the network might cut them.
 */
class HttpStreamsTest {

  /** A completion stream as the gateway sends it with usage asked for: first chunk, tokens, finish, usage, DONE. */
  private static byte[] stream(List<String> tokens, JsonObject error) {
    Buffer all = Buffer.buffer();
    JsonObject first = OpenAiResponses.completionChunk("cmpl-1", 1, "stories260K", "", null).putNull("usage")
        .put("companion", new JsonObject().put("worker", "w1").put("reason", "text: \"quoted\"\n\nand a blank line"));
    all.appendBuffer(Sse.event(first));
    for (String t : tokens) {
      all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("cmpl-1", 1, "stories260K", t, null)
          .putNull("usage")));
    }
    if (error != null) all.appendBuffer(Sse.event(new JsonObject().put("error", error)));
    all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("cmpl-1", 1, "stories260K", "", "length")
        .putNull("usage")));
    all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("cmpl-1", 1, "stories260K", null, null)
        .put("usage", OpenAiResponses.usage(5, tokens.size() + 1))));
    all.appendBuffer(Sse.DONE);
    return all.getBytes();
  }

  private static Timeline read(byte[] bytes, int... cuts) {
    Timeline t = new Timeline(System.nanoTime());
    HttpStreams.SseReader reader = new HttpStreams.SseReader();
    int from = 0;
    for (int cut : cuts) {
      reader.onData(t, Buffer.buffer(java.util.Arrays.copyOfRange(bytes, from, cut)));
      from = cut;
    }
    reader.onData(t, Buffer.buffer(java.util.Arrays.copyOfRange(bytes, from, bytes.length)));
    return t;
  }

  @Test void aStreamCutAnywhereReadsAsItsTokensFinishAndUsage() {
    List<String> tokens = List.of("Once", " upon", " a \"time\"", "\n\n", "");
    byte[] bytes = stream(tokens, null);
    for (int cut = 0; cut <= bytes.length; cut++) {
      Timeline t = read(bytes, cut);
      assertNull(t.error(), "cut at " + cut);
      assertEquals("length", t.finishReason(), "cut at " + cut);
      assertEquals(6, t.tokens(), "usage's completion tokens, cut at " + cut);
      assertTrue(t.ttftMs() >= 0, "cut at " + cut);
    }
    // a byte at a time: four chunks with text made four token events before usage set the count
    Timeline t = new Timeline(System.nanoTime());
    HttpStreams.SseReader reader = new HttpStreams.SseReader();
    int tokenEvents = 0;
    for (byte b : bytes) {
      reader.onData(t, Buffer.buffer(new byte[] {b}));
      if (t.finishReason() == null) tokenEvents = t.tokens();
    }
    assertEquals(4, tokenEvents);
    assertEquals(6, t.tokens());
    assertEquals("length", t.finishReason());
  }

  @Test void anErrorEventFailsTheStreamWithItsMessage() {
    byte[] bytes = stream(List.of("Once"), new JsonObject().put("message", "worker lost").put("type", "server_error"));
    for (int cut : new int[] {0, bytes.length / 3, bytes.length / 2}) {
      assertEquals("worker lost", read(bytes, cut).error(), "cut at " + cut);
    }
  }

  @Test void anEventThatIsNotJsonFailsTheStreamAndSaysWhatItWas() {
    Timeline t = read("data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {oops\n\n".getBytes());
    assertEquals(1, t.tokens());
    assertTrue(t.error().startsWith("unreadable SSE event") && t.error().contains("{oops"), t.error());
  }
}
