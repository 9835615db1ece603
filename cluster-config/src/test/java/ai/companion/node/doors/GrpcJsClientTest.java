package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gRPC door with another stack's client: @grpc/grpc-js in Node.js, loading {@code assistant.proto} at run
 * time ({@code bench/js/grpc-client.mjs}), plus the standard health protocol as grpc_health_probe speaks it.
 */
class GrpcJsClientTest {

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static JsonObject out;

  @BeforeAll
  static void start() throws Exception {
    JsPeers.require("@grpc/grpc-js", "@grpc/proto-loader");
    node = DoorsNode.start(dataDir, null);
    Path proto = JsPeers.repoRoot().resolve("api/src/main/proto/companion/v1/assistant.proto");
    out = JsPeers.run("grpc-client.mjs", 180, node.grpcTarget(), proto.toString(), DoorsNode.MODEL);
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  @Test
  void listModels() {
    var models = out.getJsonObject("listModels").getJsonArray("models");
    assertTrue(models.stream().anyMatch(m -> DoorsNode.MODEL.equals(((JsonObject) m).getString("id"))), out::encode);
  }

  @Test
  void completeAndChatEqualTheOracle() throws Exception {
    JsonObject complete = out.getJsonObject("complete");
    assertEquals(DoorsNode.oracle(), complete.getString("text"), complete::encode);
    assertEquals(DoorsNode.MODEL, complete.getJsonObject("route").getString("model"));
    JsonObject chat = out.getJsonObject("chat");
    assertEquals(DoorsNode.oracle(), chat.getString("text"), chat::encode);
    assertTrue(chat.getInteger("chunks") > 10);
    assertEquals(DoorsNode.MODEL, chat.getJsonObject("first").getJsonObject("route").getString("model"));
    assertEquals("length", chat.getJsonObject("last").getString("finish_reason"));
    assertEquals(60, chat.getJsonObject("last").getJsonObject("usage").getInteger("completion_tokens"));
  }

  @Test
  void cancelEndsTheCallAsCancelled() {
    JsonObject c = out.getJsonObject("cancelled");
    assertEquals("CANCELLED", c.getString("codeName"), c::encode);
    assertTrue(c.getInteger("chunks") < 100, c::encode);
  }

  @Test
  void embed() {
    JsonObject e = out.getJsonObject("embed");
    assertFalse(e.getBoolean("thrown", false), e::encode);
    assertEquals(384, e.getInteger("dim"));
    assertEquals(1.0, e.getDouble("norm"), 1e-3);
  }

  @Test
  void errorsAreStatuses() {
    JsonObject bad = out.getJsonObject("badRequest");
    assertEquals("INVALID_ARGUMENT", bad.getString("codeName"), bad::encode);
    assertTrue(bad.getString("details").contains("temperature"), bad::encode);
    JsonObject unknown = out.getJsonObject("unknownModel");
    assertEquals("NOT_FOUND", unknown.getString("codeName"), unknown::encode);
  }

  @Test
  void healthServing() {
    assertEquals("SERVING", out.getJsonObject("health").getString("status"), out::encode);
  }
}
