package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.gateway.security.GatewaySecurity;
import ai.companion.node.impl.WarmUp;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node's warm-up ({@link WarmUp}) against a real node with API keys on: its streams need no key while the node's
 * token is in the local map, are served to the end, keep the readiness probe at 503, stay on the node's own worker
 * and leave no trace in the metrics, the router's decision log or the knowledge log; the header is worth nothing
 * once the token is gone, or with another value.
 */
class WarmUpTest {

  private static final String KEY = "sk-warm-000444";

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static List<JsonObject> routed;

  @BeforeAll
  static void start() throws Exception {
    node = DoorsNode.start(dataDir, new JsonObject().put("apiKeys", KEY + ":tenantW"));
    routed = node.routedRequests();
    // the router samples the model for its domain profile once: those generations count in the metrics, so the
    // test measures after they are done
    Path profiles = dataDir.resolve("router").resolve("profiles.json");
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (!(Files.exists(profiles) && Files.readString(profiles).contains("\"" + DoorsNode.MODEL + "\""))
        && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  @Test
  void warmUpStreamsAreServedWithoutAKeyAndLeaveNoTrace() throws Exception {
    String before = get("/metrics", null).body();
    double questionsBefore = questions();
    long decisionsBefore = decisionLines();
    int routedBefore = routed.size();
    var local = node.vertx.sharedData().getLocalMap("companion.node");
    local.put(GatewaySecurity.WARM_UP_TOKEN_KEY, "token-" + System.nanoTime());
    WarmUp.Result r;
    try {
      HttpResponse<String> ready = get("/health/ready", null);
      assertEquals(503, ready.statusCode(), ready.body());
      assertEquals("warming_up", new JsonObject(ready.body()).getString("status"));
      assertEquals(DoorsNode.MODEL, DoorsNode.await(WarmUp.smallestLocalModel(node.vertx, DoorsNode.NODE_NAME)).id());
      assertEquals(null, DoorsNode.await(WarmUp.smallestLocalModel(node.vertx, "another-node")));
      r = DoorsNode.await(new WarmUp(node.vertx, DoorsNode.HOST, node.httpPort,
          (String) local.get(GatewaySecurity.WARM_UP_TOKEN_KEY), DoorsNode.MODEL).run(24));
    } finally {
      local.remove(GatewaySecurity.WARM_UP_TOKEN_KEY);
    }
    assertEquals(0, r.failed(), "first failure: " + r.firstFailure());
    assertEquals(24, r.sent());
    assertEquals(3, r.rounds(), "4, 16, then the 4 left");
    List<JsonObject> warm = routed.subList(routedBefore, routed.size()).stream()
        .filter(j -> j.getJsonObject("hints").containsKey(GenerationRequest.HINT_WARM_UP)).toList();
    assertEquals(24, warm.size(), "warm-up requests the router saw");
    for (JsonObject j : warm) {
      assertEquals(DoorsNode.NODE_NAME, j.getJsonObject("hints").getString(GenerationRequest.HINT_WARM_UP));
    }
    assertEquals(200, get("/health/ready", null).statusCode());

    // one request of a user: it, and only it, is counted, decided and logged
    HttpResponse<String> user = post("/v1/completions", KEY, null);
    assertEquals(200, user.statusCode(), user.body());
    String id = new JsonObject(user.body()).getString("id");
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while ((questions() < questionsBefore + 1 || !decided(id)) && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertEquals(questionsBefore + 1, questions(), "questions the knowledge service logged");
    assertEquals(decisionsBefore + 1, decisionLines(), "decisions in the router's log");
    String after = get("/metrics", null).body();
    String[] completions = {"route=\"/v1/completions\"", "status=\"200\""};
    assertEquals(value(before, "companion_http_requests_seconds_count", completions) + 1,
        value(after, "companion_http_requests_seconds_count", completions), after);
    String[] model = {"model=\"" + DoorsNode.MODEL + "\"", "outcome=\"done\""};
    assertEquals(value(before, "companion_generations_total", model) + 1,
        value(after, "companion_generations_total", model), after);
    // its prompts are shorter than the prompt cache keeps: nothing copied, nothing counted
    assertEquals(value(before, "companion_prompt_cache_tokens_total"), value(after, "companion_prompt_cache_tokens_total"),
        after);
  }

  @Test
  void theHeaderIsWorthNothingWithoutTheToken() throws Exception {
    assertEquals(401, post("/v1/completions", null, "anything").statusCode(), "no token in the map");
    var local = node.vertx.sharedData().getLocalMap("companion.node");
    local.put(GatewaySecurity.WARM_UP_TOKEN_KEY, "the-real-token");
    try {
      HttpResponse<String> wrong = post("/v1/completions", null, "the-real-tokeN");
      assertEquals(401, wrong.statusCode(), wrong.body());
      assertEquals("invalid_api_key", new JsonObject(wrong.body()).getJsonObject("error").getString("code"));
      assertEquals(200, post("/v1/completions", null, "the-real-token").statusCode());
    } finally {
      local.remove(GatewaySecurity.WARM_UP_TOKEN_KEY);
    }
    assertEquals(401, post("/v1/completions", null, "the-real-token").statusCode(), "token removed");
  }

  private static HttpResponse<String> get(String path, String key) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.baseUrl() + path)).timeout(Duration.ofSeconds(60)).GET();
    if (key != null) b.header("Authorization", "Bearer " + key);
    return DoorsNode.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A short greedy completion, with a key or a warm-up header (or neither). */
  private static HttpResponse<String> post(String path, String key, String warmUpToken) throws Exception {
    JsonObject body = new JsonObject().put("model", DoorsNode.MODEL).put("prompt", "Once upon a time")
        .put("temperature", 0).put("max_tokens", 8);
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.baseUrl() + path)).timeout(Duration.ofSeconds(60))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.encode()));
    if (key != null) b.header("Authorization", "Bearer " + key);
    if (warmUpToken != null) b.header(GatewaySecurity.WARM_UP_HEADER, warmUpToken);
    return DoorsNode.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static double questions() throws Exception {
    JsonObject stats = DoorsNode.await(node.vertx.eventBus().<JsonObject>request(Addresses.KNOWLEDGE_STATS,
        new JsonObject())).body();
    return stats.getDouble("questions", 0.0);
  }

  private static Path decisions() {
    return dataDir.resolve("router").resolve("decisions.jsonl");
  }

  private static boolean decided(String requestId) throws Exception {
    return Files.exists(decisions()) && Files.readString(decisions()).contains(requestId);
  }

  private static long decisionLines() throws Exception {
    if (!Files.exists(decisions())) return 0;
    return Files.readAllLines(decisions()).stream().filter(l -> l.contains("\"t\":\"d\"")).count();
  }

  /** The first sample of {@code name} whose labels contain all of {@code labels}; 0 when there is none yet. */
  private static double value(String text, String name, String... labels) {
    return DoorsNode.sample(text, name, labels).orElse(0);
  }
}
