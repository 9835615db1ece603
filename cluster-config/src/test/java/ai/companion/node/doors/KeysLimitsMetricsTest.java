package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * API keys, per-key limits, CORS and {@code /metrics} on a real node that has keys configured: probes, metrics
 * and the page stay open, the API needs a key (401 in OpenAI's shape otherwise), the key's tenant reaches the
 * router, too many requests or concurrent generations get 429 with Retry-After, and the Prometheus text shows
 * what happened.
 */
class KeysLimitsMetricsTest {

  private static final String KEY_A = "sk-alpha-000111";
  private static final String KEY_RATE = "sk-rate-000222";
  private static final String KEY_STREAMS = "sk-streams-000333";
  // each test that spends requests has its own key: with a burst of 5, one key shared by several tests ran out of
  // requests on a fast machine (a 429 where a test expected 200). One request a second refills a bucket: the 12
  // quick requests of the rate test meet their 429 even on a slow machine (at 600 a minute they had to come
  // within 0.7 s), and no other key spends more than its burst.
  private static final String KEY_OTHER = "sk-other-000444";
  private static final String KEY_METRICS = "sk-metrics-000555";

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static final HttpClient http = DoorsNode.HTTP;
  private static List<JsonObject> routed;

  @BeforeAll
  static void start() throws Exception {
    node = DoorsNode.start(dataDir, new JsonObject()
        .put("apiKeys", KEY_A + ":tenantA," + KEY_RATE + ":tenantB," + KEY_STREAMS + ":tenantC,"
            + KEY_OTHER + ":tenantD," + KEY_METRICS + ":tenantE")
        .put("rateLimitPerMinute", 60).put("rateLimitBurst", 5).put("maxConcurrentStreams", 1));
    routed = node.routedRequests();
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  private static HttpResponse<String> get(String path, String key) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.baseUrl() + path)).timeout(java.time.Duration.ofSeconds(60)).GET();
    if (key != null) b.header("Authorization", "Bearer " + key);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> post(String path, String key, JsonObject body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.baseUrl() + path)).timeout(java.time.Duration.ofSeconds(60))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.encode()));
    if (key != null) b.header("Authorization", "Bearer " + key);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void probesMetricsAndPageStayOpen() throws Exception {
    assertEquals(200, get("/health/live", null).statusCode());
    HttpResponse<String> metrics = get("/metrics", null);
    assertEquals(200, metrics.statusCode());
    assertTrue(metrics.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
    HttpResponse<String> page = get("/", null);
    assertEquals(200, page.statusCode());
    assertTrue(page.body().contains("<title>AI-Companion</title>"));
  }

  @Test
  void theApiNeedsAKey() throws Exception {
    for (String key : new String[] {null, "sk-wrong-key-999"}) {
      HttpResponse<String> r = get("/v1/models", key);
      assertEquals(401, r.statusCode(), r.body());
      JsonObject err = new JsonObject(r.body()).getJsonObject("error");
      assertEquals("authentication_error", err.getString("type"));
      assertEquals("invalid_api_key", err.getString("code"));
      assertNotNull(err.getString("message"));
    }
    assertEquals(200, get("/v1/models", KEY_A).statusCode());
  }

  @Test
  void theKeysTenantReachesTheRouter() throws Exception {
    HttpResponse<String> r = post("/v1/completions", KEY_A, new JsonObject().put("model", DoorsNode.MODEL)
        .put("prompt", "").put("temperature", 0).put("max_tokens", 60));
    assertEquals(200, r.statusCode(), r.body());
    JsonObject body = new JsonObject(r.body());
    assertEquals(DoorsNode.oracle(), body.getJsonArray("choices").getJsonObject(0).getString("text"));
    String id = body.getString("id");
    JsonObject request = routed.stream().filter(j -> id.equals(j.getString("requestId"))).findFirst()
        .orElseThrow(() -> new AssertionError("request " + id + " not seen on " + Addresses.ROUTER_ROUTE + ": " + routed));
    assertEquals("tenantA", request.getJsonObject("hints").getString("tenant"));
  }

  @Test
  void tooManyRequestsGet429WithRetryAfter() throws Exception {
    List<HttpResponse<String>> answers = new ArrayList<>();
    for (int i = 0; i < 12; i++) answers.add(get("/v1/models", KEY_RATE));
    for (int i = 0; i < 5; i++) assertEquals(200, answers.get(i).statusCode(), "within the burst: " + i);
    HttpResponse<String> limited = answers.stream().filter(r -> r.statusCode() == 429).findFirst()
        .orElseThrow(() -> new AssertionError("no 429 in 12 quick requests with a burst of 5"));
    assertTrue(Integer.parseInt(limited.headers().firstValue("retry-after").orElseThrow()) >= 1);
    JsonObject err = new JsonObject(limited.body()).getJsonObject("error");
    assertEquals("rate_limit_error", err.getString("type"));
    // another key has its own bucket
    assertEquals(200, get("/v1/models", KEY_OTHER).statusCode());
  }

  @Test
  void concurrentGenerationsAreLimitedPerKey() throws Exception {
    try (WsClient c = WsClient.connect(node, KEY_STREAMS)) {
      // both frames arrive before the first generation can end: the second finds the key's one slot taken
      c.send(WsClient.chat("one", 200));
      c.send(WsClient.chat("two", 5));
      JsonObject refused = c.awaitType("error", "two");
      assertEquals("rate_limit_error", refused.getJsonObject("error").getString("type"), refused::encode);
      assertEquals(1, refused.getInteger("retry_after"));
      c.awaitType("done", "one");
      // the slot is free again once the first one is done
      c.send(WsClient.chat("three", 5));
      c.awaitType("done", "three");
    }
  }

  @Test
  void grpcNeedsTheKeyToo() throws Exception {
    io.vertx.grpc.client.GrpcClient grpc = io.vertx.grpc.client.GrpcClient.client(node.vertx);
    try {
      io.vertx.core.net.SocketAddress server = io.vertx.core.net.SocketAddress.inetSocketAddress(node.grpcPort, DoorsNode.HOST);
      for (String key : new String[] {null, "sk-wrong-key-999", KEY_A}) {
        var resp = DoorsNode.await(grpc.request(server, ai.companion.api.grpc.AssistantGrpcClient.ListModels)
            .compose(req -> {
              if (key != null) req.headers().set("authorization", "Bearer " + key);
              return req.send(ai.companion.api.grpc.ListModelsRequest.getDefaultInstance());
            }));
        DoorsNode.await(resp.end().recover(err -> io.vertx.core.Future.succeededFuture()));
        io.vertx.grpc.common.GrpcStatus expected = KEY_A.equals(key) ? io.vertx.grpc.common.GrpcStatus.OK
            : io.vertx.grpc.common.GrpcStatus.UNAUTHENTICATED;
        assertEquals(expected, resp.status(), "key " + key + ": " + resp.statusMessage());
      }
    } finally {
      DoorsNode.await(grpc.close());
    }
  }

  @Test
  void corsPreflightAllowsTheApi() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(node.baseUrl() + "/v1/chat/completions"))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://example.test")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type").build(),
        HttpResponse.BodyHandlers.ofString());
    assertTrue(r.statusCode() == 200 || r.statusCode() == 204, "preflight status " + r.statusCode());
    assertEquals("*", r.headers().firstValue("access-control-allow-origin").orElse(""));
    assertTrue(r.headers().firstValue("access-control-allow-headers").orElse("").toLowerCase().contains("authorization"));
  }

  @Test
  void metricsShowRequestsTokensAndTheCluster() throws Exception {
    assertEquals(401, get("/v1/models", null).statusCode());
    HttpResponse<String> gen = post("/v1/chat/completions", KEY_METRICS, new JsonObject().put("model", DoorsNode.MODEL)
        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "")))
        .put("temperature", 0).put("max_tokens", 60).put("stream", true));
    assertEquals(200, gen.statusCode(), gen.body());
    String m = get("/metrics", null).body();
    assertTrue(value(m, "companion_http_requests_seconds_count", "route=\"/v1/chat/completions\"", "status=\"200\"") >= 1, m);
    assertTrue(value(m, "companion_http_requests_seconds_count", "route=\"/v1/models\"", "status=\"401\"") >= 1, m);
    assertTrue(m.contains("companion_http_requests_seconds_bucket{"), "latency histogram");
    assertTrue(value(m, "companion_time_to_first_token_seconds_count", "model=\"" + DoorsNode.MODEL + "\"") >= 1, m);
    assertTrue(m.contains("companion_time_to_first_token_seconds_bucket{"), "TTFT histogram");
    assertTrue(value(m, "companion_tokens_generated_total", "model=\"" + DoorsNode.MODEL + "\"") >= 60, m);
    assertTrue(value(m, "companion_tokens_per_second_count", "model=\"" + DoorsNode.MODEL + "\"") >= 1, m);
    assertTrue(value(m, "companion_tokens_per_second_last", "model=\"" + DoorsNode.MODEL + "\"") > 0, m);
    assertEquals(1.0, value(m, "companion_cluster_size"), m);
    assertTrue(value(m, "companion_queue_depth") >= 0, m);
    assertTrue(m.contains("companion_knowledge_coverage "), m);
    assertTrue(value(m, "companion_knowledge_documents") >= 0, "the knowledge service answered the scrape: " + m);
    assertFalse(m.contains(KEY_METRICS), "no key in the metrics");
  }

  /**
   * The second time a long prompt comes, the worker copies all but its last token from its prompt cache, and the
   * metrics count them (the worker's status carries its count; the gateway sums the live workers').
   */
  @Test
  void promptTokensFromThePromptCacheAreCounted() throws Exception {
    String content = "Lily and Ben went to the park with their dog Spot. They played with a big red ball near the "
        + "pond, and then they sat under a tree to eat apples";
    double before = value(get("/metrics", null).body(), "companion_prompt_cache_tokens_total");
    int promptTokens = 0;
    for (int i = 0; i < 2; i++) {
      HttpResponse<String> r = post("/v1/chat/completions", KEY_METRICS, new JsonObject().put("model", DoorsNode.MODEL)
          .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", content)))
          .put("temperature", 0).put("max_tokens", 5));
      assertEquals(200, r.statusCode(), r.body());
      promptTokens = new JsonObject(r.body()).getJsonObject("usage").getInteger("prompt_tokens");
    }
    assertTrue(promptTokens > 2 * 16, promptTokens + " prompt tokens");
    double after = before;
    long deadline = System.currentTimeMillis() + 10_000;
    while (after - before < promptTokens - 1 && System.currentTimeMillis() < deadline) {
      Thread.sleep(100);
      after = value(get("/metrics", null).body(), "companion_prompt_cache_tokens_total");
    }
    assertEquals(promptTokens - 1, after - before, 0.0, "all but the last prompt token came from the cache");
  }

  /** The value of the first sample of {@code name} whose labels contain every one of {@code labels}. */
  private static double value(String text, String name, String... labels) {
    return DoorsNode.sample(text, name, labels)
        .orElseThrow(() -> new AssertionError("no sample " + name + " with " + List.of(labels)));
  }
}
