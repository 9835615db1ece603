package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 6 item 7: the official OpenAI npm client ({@code openai}), unchanged, against a real node. The client
 * runs in Node.js ({@code bench/js/openai-conformance.mjs}); greedy text must equal the fixture's oracle on
 * every endpoint, streamed and not, and a bad request must surface as the client's {@code APIError} with the
 * right status.
 */
class OpenAiConformanceTest {

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static JsonObject out;

  @BeforeAll
  static void start() throws Exception {
    JsPeers.require("openai");
    node = DoorsNode.start(dataDir, null);
    out = JsPeers.run("openai-conformance.mjs", 180, node.baseUrl() + "/v1", DoorsNode.MODEL);
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  @Test
  void modelsListHasTheModelAndAuto() {
    var ids = out.getJsonObject("models").getJsonArray("ids");
    assertNotNull(ids, out.encode());
    assertTrue(ids.stream().anyMatch(o -> DoorsNode.MODEL.equals(((JsonObject) o).getString("id"))), ids::encode);
    assertTrue(ids.stream().anyMatch(o -> "auto".equals(((JsonObject) o).getString("id"))), ids::encode);
    ids.forEach(o -> assertEquals("model", ((JsonObject) o).getString("object")));
  }

  @Test
  void completionEqualsOracle() throws Exception {
    JsonObject c = out.getJsonObject("completion");
    assertFalse(c.getBoolean("thrown", false), c::encode);
    assertEquals("text_completion", c.getString("object"));
    assertEquals(DoorsNode.oracle(), c.getString("text"));
    assertEquals("length", c.getString("finish_reason"));
    assertEquals(60, c.getJsonObject("usage").getInteger("completion_tokens"));
    assertEquals(DoorsNode.MODEL, c.getJsonObject("companion").getJsonObject("route").getString("model"));
  }

  @Test
  void streamedCompletionEqualsOracle() throws Exception {
    JsonObject c = out.getJsonObject("completionStream");
    assertFalse(c.getBoolean("thrown", false), c::encode);
    assertEquals(DoorsNode.oracle(), c.getString("text"));
    assertTrue(c.getInteger("chunks") > 10, "streamed in many chunks: " + c.encode());
    assertEquals("length", c.getString("finish_reason"));
  }

  @Test
  void chatEqualsOracle() throws Exception {
    JsonObject c = out.getJsonObject("chat");
    assertFalse(c.getBoolean("thrown", false), c::encode);
    assertEquals("chat.completion", c.getString("object"));
    assertEquals("assistant", c.getString("role"));
    assertEquals(DoorsNode.oracle(), c.getString("text"));
    assertEquals(60, c.getJsonObject("usage").getInteger("completion_tokens"));
    assertNotNull(c.getJsonObject("companion").getJsonObject("route").getString("strategy"));
  }

  @Test
  void streamedChatEqualsOracle() throws Exception {
    JsonObject c = out.getJsonObject("chatStream");
    assertFalse(c.getBoolean("thrown", false), c::encode);
    assertEquals("chat.completion.chunk", c.getString("object"));
    assertEquals("assistant", c.getString("role"));
    assertEquals(DoorsNode.oracle(), c.getString("text"));
    assertTrue(c.getInteger("chunks") > 10, c::encode);
    assertEquals(60, c.getJsonObject("usage").getInteger("completion_tokens"));
  }

  @Test
  void embeddingsAreUnitVectors() {
    JsonObject e = out.getJsonObject("embeddings");
    assertFalse(e.getBoolean("thrown", false), e::encode);
    assertEquals("list", e.getString("object"));
    assertEquals(2, e.getInteger("count"));
    assertEquals(384, e.getInteger("dim"));
    assertEquals(1.0, e.getDouble("norm"), 1e-3);
  }

  @Test
  void badRequestsAreApiErrorsWithTheRightStatus() {
    JsonObject empty = out.getJsonObject("badRequest");
    assertTrue(empty.getBoolean("isAPIError"), empty::encode);
    assertEquals("BadRequestError", empty.getString("name"));
    assertEquals(400, empty.getInteger("status"));
    assertEquals("messages", empty.getString("param"));
    JsonObject range = out.getJsonObject("outOfRange");
    assertEquals(400, range.getInteger("status"), range::encode);
    assertEquals("temperature", range.getString("param"));
    assertEquals("invalid_request_error", range.getString("type"));
    JsonObject unknown = out.getJsonObject("unknownModel");
    assertTrue(unknown.getBoolean("isAPIError"), unknown::encode);
    assertEquals("NotFoundError", unknown.getString("name"));
    assertEquals(404, unknown.getInteger("status"));
    assertEquals("model", unknown.getString("param"));
  }
}
