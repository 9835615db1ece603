package ai.companion.node.it;

import ai.companion.api.ModelPaths;
import ai.companion.node.cluster.Ports;
import ai.companion.testing.ModelFixtures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code companion start} with no flags but ports and an empty data dir: a one-member cluster with every role on
 * 127.0.0.1 that says how to import a model and still serves health, the model list and embeddings; a second node
 * on the same cluster port is refused with a clear error, not a hang.
 */
class EmbeddedNodeIT {

  @Test
  void emptyDataDirStillServesAndSaysHowToImport(@TempDir Path dataDir) throws Exception {
    int clusterPort = Ports.free();
    try (ChildNode node = ChildNode.start("embedded", clusterPort, List.of("--data-dir", dataDir.toString(),
        "--http-port", String.valueOf(Ports.free()), "--grpc-port", String.valueOf(Ports.free())))) {
      int http = node.awaitReady(180);
      assertTrue(node.logContains("READY http=" + http + " grpc="), node.tail(5));
      assertTrue(node.logContains("roles=gateway,router,worker,knowledge"));
      assertTrue(node.logContains("./companion model import"), "tells how to import a model");
      assertTrue(node.logContains("warm-up skipped: this node's worker serves no model yet"), node.tail(20));
      assertTrue(node.logContains("WITHOUT TLS"), "says the single node runs without event-bus TLS");
      assertEquals(200, Http.get(http, "/health/live").statusCode());
      assertEquals(200, Http.get(http, "/health/ready").statusCode());
      JsonArray models = Http.getJson(http, "/v1/models").getJsonArray("data");
      assertEquals(List.of("auto"), models.stream().map(m -> ((JsonObject) m).getString("id")).toList());
      HttpResponse<String> emb = Http.post(http, "/v1/embeddings", new JsonObject().put("model", "all-MiniLM-L6-v2").put("input", new JsonArray().add("hello")));
      assertEquals(200, emb.statusCode(), emb.body());
      assertEquals(384, new JsonObject(emb.body()).getJsonArray("data").getJsonObject(0).getJsonArray("embedding").size());
      assertFalse(node.logContains("ERROR"), node.tail(30));

      // the same cluster port again: a clear failure and a non-zero exit
      try (ChildNode second = ChildNode.start("second", clusterPort, List.of("--data-dir", dataDir.resolve("2").toString(),
          "--http-port", String.valueOf(Ports.free()), "--grpc-port", String.valueOf(Ports.free())))) {
        AssertionError refused = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, () -> second.awaitReady(120));
        assertTrue(refused.getMessage().contains("exit"), refused.getMessage());
        assertNotEquals(0, second.exitCode());
      }
    }
  }

  /**
   * With a model, {@code companion start} warms itself up before READY: the log says so, with no stream failed,
   * before the READY line; the node then reports ready and its metrics count none of those streams.
   */
  @Test
  void aNodeWithAModelWarmsUpBeforeItIsReady(@TempDir Path dataDir) throws Exception {
    ModelFixtures.importStories(ModelPaths.modelsDir(dataDir));
    try (ChildNode node = ChildNode.start("warm", Ports.free(), List.of("--data-dir", dataDir.toString(),
        "--roles", "gateway,router,worker", "--warm-up", "120",
        "--http-port", String.valueOf(Ports.free()), "--grpc-port", String.valueOf(Ports.free())))) {
      int http = node.awaitReady(180);
      String log = node.tail(400);
      int warm = log.indexOf("warm-up: 120 streams");
      assertTrue(warm >= 0, log);
      assertTrue(warm < log.indexOf("READY http="), "the warm-up ends before READY: " + log);
      assertFalse(node.logContains("streams failed"), log);
      assertEquals(200, Http.get(http, "/health/ready").statusCode());
      String metrics = Http.get(http, "/metrics").body();
      // the router's own samples of the model (its domain profile) may count; 120 more would not fit under 120
      java.util.regex.Matcher done = java.util.regex.Pattern.compile(
          "(?m)^companion_generations_total\\{[^}]*outcome=\"done\"[^}]*} (\\S+)$").matcher(metrics);
      assertTrue(!done.find() || Double.parseDouble(done.group(1)) < 120, metrics);
      assertFalse(metrics.contains("route=\"/v1/completions\""), metrics);
      assertFalse(node.logContains("ERROR"), node.tail(30));
    }
  }
}
