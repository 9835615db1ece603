package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The web chat page at {@code /} in headless Chromium ({@code bench/js/web-chat.mjs}, playwright-core driving
 * Debian's chromium; a screenshot lands in target/web-chat.png): it loads without script errors, lists the node's models, and a question typed in gets its
 * answer streamed token by token (greedy: exactly what the REST API answers to the same chat), with the route
 * shown and the cluster panel filled.
 */
class WebChatBrowserTest {

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static JsonObject out;
  private static String expected;
  private static final String QUESTION = "Once upon a time, a little dog";

  @BeforeAll
  static void start() throws Exception {
    JsPeers.require("playwright-core");
    JsPeers.requireChromium();
    node = DoorsNode.start(dataDir, null);
    out = JsPeers.run("web-chat.mjs", 240, node.baseUrl() + "/", DoorsNode.MODEL, QUESTION,
        Path.of("target", "web-chat.png").toAbsolutePath().toString());
    LoggerFactory.getLogger(WebChatBrowserTest.class).info("browser saw: {}", out.encode());
    // what the REST API answers to the same chat, greedy: the page must show exactly this
    HttpResponse<String> rest = DoorsNode.HTTP.send(HttpRequest.newBuilder()
        .uri(URI.create(node.baseUrl() + "/v1/chat/completions")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("model", DoorsNode.MODEL)
            .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", QUESTION)))
            .put("temperature", 0).put("max_tokens", 60).encode())).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, rest.statusCode(), rest.body());
    expected = new JsonObject(rest.body()).getJsonArray("choices").getJsonObject(0).getJsonObject("message")
        .getString("content");
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  @Test
  void pageLoadsWithoutScriptErrors() {
    assertNull(out.getString("failure"), out::encode);
    assertEquals(200, out.getInteger("status"));
    assertEquals("AI-Companion", out.getString("title"));
    assertEquals(new JsonArray(), out.getJsonArray("errors"), out::encode);
    assertTrue(out.getJsonArray("models").contains(DoorsNode.MODEL), out::encode);
  }

  @Test
  void answerStreamsTokenByToken() throws Exception {
    assertNull(out.getString("failure"), out::encode);
    assertFalse(out.getBoolean("assistantIsError"), out::encode);
    assertFalse(expected.isEmpty());
    assertEquals(expected, out.getString("answer"));
    // streamed: the page asked for Server-Sent Events and showed the text growing before it was complete
    assertTrue(out.getString("chatContentType", "").startsWith("text/event-stream"), out::encode);
    int full = out.getString("answer").length();
    long partial = out.getJsonArray("updates").stream().mapToInt(o -> ((Number) o).intValue())
        .filter(n -> n > 0 && n < full).distinct().count();
    assertTrue(partial >= 5, "the answer grew in steps, not at once: " + out.getJsonArray("updates"));
    assertTrue(out.getString("route").contains("model " + DoorsNode.MODEL), out::encode);
    assertTrue(out.getString("route").contains("strategy"), out::encode);
    assertEquals(2, out.getInteger("feedbackButtons"), out::encode);
  }

  @Test
  void knowledgePanelAndFeedbackWork() {
    assertNull(out.getString("failure"), out::encode);
    JsonArray gaps = out.getJsonArray("gaps");
    assertFalse(gaps.isEmpty(), out::encode);
    assertTrue(gaps.stream().noneMatch(g -> String.valueOf(g).contains("unavailable")), gaps::encode);
    assertTrue(out.getString("feedbackStatus", "").contains("feedback recorded"), out::encode);
    // patterns read as questions with their counts, not as raw JSON
    JsonArray patterns = out.getJsonArray("patterns");
    assertTrue(patterns.stream().anyMatch(p -> String.valueOf(p).startsWith(QUESTION + " (asked ")), patterns::encode);
    assertTrue(patterns.stream().noneMatch(p -> String.valueOf(p).contains("{")), patterns::encode);
  }

  @Test
  void clusterPanelShowsThisNode() {
    JsonArray rows = out.getJsonArray("clusterRows");
    assertTrue(rows.stream().anyMatch(r -> ((JsonArray) r).getString(0).equals(DoorsNode.NODE_NAME)), rows::encode);
  }
}
