package ai.companion.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ModelInfo;
import ai.companion.api.WorkerInfo;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The gateway alone, with no router, worker or embedding model deployed: validation runs before anything is
 * asked of the cluster, so every bad request is answered here, in OpenAI's error shape; a valid one finds no
 * service behind the gateway and gets 503.
 */
@ExtendWith(VertxExtension.class)
class GatewayValidationTest {

  private static final int MAX_BODY = 4096;
  private static WebClient client;
  private static int port;

  @BeforeAll
  static void deploy(Vertx vertx, VertxTestContext ctx) {
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new io.vertx.core.DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).setNodeName("test-node").setMaxBodyBytes(MAX_BODY)
            .setRequestTimeoutMs(2000).toJson()))
        .onComplete(ctx.succeeding(id -> {
          port = gateway.actualPort();
          client = WebClient.create(vertx);
          ctx.verify(() -> assertEquals(port, vertx.sharedData().getLocalMap("companion.node").get("httpPort")));
          ctx.completeNow();
        }));
  }

  @AfterAll
  static void close() {
    if (client != null) client.close();
  }

  static Stream<Arguments> badRequests() {
    String c = "/v1/completions";
    String chat = "/v1/chat/completions";
    String e = "/v1/embeddings";
    String k = "/v1/knowledge/documents";
    String f = "/v1/feedback";
    return Stream.of(
        // path, body, status, param, code
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":", 400, null, "invalid_json"),
        Arguments.of(c, "not json at all", 400, null, "invalid_json"),
        Arguments.of(c, "[1,2]", 400, null, "invalid_json"),
        Arguments.of(c, "", 400, null, "invalid_json"),
        Arguments.of(c, "{\"prompt\":\"x\"}", 400, "model", "missing_required_parameter"),
        Arguments.of(c, "{\"model\":42,\"prompt\":\"x\"}", 400, "model", "invalid_type"),
        Arguments.of(c, "{\"model\":\"\",\"prompt\":\"x\"}", 400, "model", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\"}", 400, "prompt", "missing_required_parameter"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":{}}", 400, "prompt", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", 400, "prompt", "unsupported_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":[1,2,3]}", 400, "prompt", "unsupported_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":\"hot\"}", 400, "temperature", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":2.5}", 400, "temperature", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":-0.1}", 400, "temperature", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":0}", 400, "top_p", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":1.01}", 400, "top_p", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":-1}", 400, "top_k", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"top_k\":2.5}", 400, "top_k", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":1.5}", 400, "max_tokens", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":\"10\"}", 400, "max_tokens", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":2}", 400, "n", "unsupported_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop",
            "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[1]}", 400, "stop[0]", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":5}", 400, "stop", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"repetition_penalty\":0}", 400, "repetition_penalty",
            "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"frequency_penalty\":0.5}", 400, "frequency_penalty",
            "unsupported_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"presence_penalty\":3}", 400, "presence_penalty",
            "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":1.5}", 400, "seed", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "stream", "invalid_type"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", 400,
            "stream_options", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}", 400, "echo", "unsupported_parameter"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"companion\":{\"latency\":\"soon\"}}", 400,
            "companion.latency", "invalid_value"),
        Arguments.of(c, "{\"model\":\"m\",\"prompt\":\"x\",\"companion\":\"batch\"}", 400, "companion",
            "invalid_type"),
        Arguments.of(chat, "{\"model\":\"m\"}", 400, "messages", "missing_required_parameter"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":\"hi\"}", 400, "messages", "invalid_type"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[]}", 400, "messages", "empty_array"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[\"hi\"]}", 400, "messages[0]", "invalid_type"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", 400,
            "messages[0].role", "invalid_value"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"content\":\"hi\"}]}", 400, "messages[0].role",
            "missing_required_parameter"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400,
            "messages[0].content", "invalid_type"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content",
            "missing_required_parameter"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"}",
            400, "temperature", "invalid_type"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
            + "\"max_completion_tokens\":0}", 400, "max_completion_tokens", "invalid_value"),
        Arguments.of(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
            + "\"tools\":[{\"type\":\"function\"}]}", 400, "tools", "unsupported_parameter"),
        Arguments.of(e, "{\"model\":\"m\"}", 400, "input", "missing_required_parameter"),
        Arguments.of(e, "{\"input\":\"x\"}", 400, "model", "missing_required_parameter"),
        Arguments.of(e, "{\"model\":\"m\",\"input\":5}", 400, "input", "invalid_type"),
        Arguments.of(e, "{\"model\":\"m\",\"input\":[]}", 400, "input", "empty_array"),
        Arguments.of(e, "{\"model\":\"m\",\"input\":[1,2]}", 400, "input", "unsupported_value"),
        Arguments.of(e, "{\"model\":\"m\",\"input\":[\"a\",{}]}", 400, "input[1]", "invalid_type"),
        Arguments.of(e, "{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":\"hex\"}", 400, "encoding_format",
            "invalid_value"),
        Arguments.of(k, "{}", 400, "documents", "missing_required_parameter"),
        Arguments.of(k, "{\"documents\":{}}", 400, "documents", "invalid_type"),
        Arguments.of(k, "{\"documents\":[{\"text\":\"t\"}]}", 400, "documents[0].id", "missing_required_parameter"),
        Arguments.of(k, "{\"documents\":[{\"id\":\"a\",\"text\":7}]}", 400, "documents[0].text", "invalid_type"),
        Arguments.of(k, "{\"documents\":[{\"id\":\"a\",\"text\":\"t\",\"format\":\"pdf\"}]}", 400,
            "documents[0].format", "invalid_value"),
        Arguments.of(f, "{\"request_id\":\"x\"}", 400, "rating", "missing_required_parameter"),
        Arguments.of(f, "{\"request_id\":\"x\",\"rating\":5}", 400, "rating", "invalid_value"),
        Arguments.of(f, "{\"rating\":1}", 400, "request_id", "missing_required_parameter"));
  }

  @ParameterizedTest(name = "[{index}] {0} {1} -> {2} {3}")
  @MethodSource("badRequests")
  void badRequestGetsOpenAiError(String path, String body, int status, String param, String code,
                                 VertxTestContext ctx) {
    client.post(port, "127.0.0.1", path).putHeader("content-type", "application/json")
        .sendBuffer(Buffer.buffer(body))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          JsonObject err = assertOpenAiError(resp, status);
          assertEquals(param, err.getString("param"), () -> "param in " + err);
          assertEquals(code, err.getString("code"), () -> "code in " + err);
          assertEquals("invalid_request_error", err.getString("type"));
          if (param != null) {
            String root = param.replaceAll("[\\[.].*$", "");
            assertTrue(err.getString("message").contains(root), () -> "message names " + root + ": " + err);
          }
          ctx.completeNow();
        })));
  }

  /** Unknown fields are ignored: the request passes validation and finds no service (none is deployed). */
  @ParameterizedTest(name = "[{index}] {0} valid -> 503")
  @MethodSource("validRequests")
  void validRequestWithoutBackendIs503(String path, String body, VertxTestContext ctx) {
    (body == null ? client.get(port, "127.0.0.1", path).send()
        : client.post(port, "127.0.0.1", path).sendBuffer(Buffer.buffer(body)))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          JsonObject err = assertOpenAiError(resp, 503);
          assertEquals("server_error", err.getString("type"));
          ctx.completeNow();
        })));
  }

  static Stream<Arguments> validRequests() {
    return Stream.of(
        Arguments.of("/v1/completions", "{\"model\":\"auto\",\"prompt\":\"\",\"temperature\":0,\"max_tokens\":60,"
            + "\"some_future_field\":{\"x\":1},\"stop\":\"\\n\",\"frequency_penalty\":0,\"user\":\"u1\"}"),
        Arguments.of("/v1/completions", "{\"model\":\"auto\",\"prompt\":\"x\",\"companion\":{\"latency\":\"batch\"}}"),
        Arguments.of("/v1/completions", "{\"model\":\"m\",\"prompt\":[\"one\"],\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},\"top_p\":1,\"top_k\":0,\"seed\":7,\"max_tokens\":60.0}"),
        Arguments.of("/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be"
            + " brief\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},{\"role\":\"assistant\","
            + "\"content\":null}],\"repetition_penalty\":1.1,\"n\":1,\"stream\":false,\"extra\":[1]}"),
        Arguments.of("/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":[\"a\",\"b\"],"
            + "\"encoding_format\":\"base64\",\"dimensions\":384}"),
        Arguments.of("/v1/models", null));
  }

  @ParameterizedTest(name = "[{index}] GET {0} -> 400 {1}")
  @MethodSource("badQueries")
  void badQueryGetsOpenAiError(String uri, String param, String code, VertxTestContext ctx) {
    client.get(port, "127.0.0.1", uri).send().onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      JsonObject err = assertOpenAiError(resp, 400);
      assertEquals(param, err.getString("param"));
      assertEquals(code, err.getString("code"));
      ctx.completeNow();
    })));
  }

  static Stream<Arguments> badQueries() {
    return Stream.of(Arguments.of("/v1/knowledge/search", "q", "missing_required_parameter"),
        Arguments.of("/v1/knowledge/search?q=%20", "q", "missing_required_parameter"),
        Arguments.of("/v1/knowledge/search?q=models&k=abc", "k", "invalid_type"),
        Arguments.of("/v1/knowledge/search?q=models&k=0", "k", "invalid_value"),
        Arguments.of("/v1/knowledge/gaps?limit=-1", "limit", "invalid_value"));
  }

  @Test
  void bodyTooLargeIs413(VertxTestContext ctx) {
    String big = "{\"model\":\"m\",\"prompt\":\"" + "x".repeat(MAX_BODY * 2) + "\"}";
    client.post(port, "127.0.0.1", "/v1/completions").sendBuffer(Buffer.buffer(big))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          JsonObject err = assertOpenAiError(resp, 413);
          assertEquals("request_too_large", err.getString("code"));
          ctx.completeNow();
        })));
  }

  @Test
  void unknownPathIs404InOpenAiShape(VertxTestContext ctx) {
    client.get(port, "127.0.0.1", "/v1/nothing-here").send()
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          JsonObject err = assertOpenAiError(resp, 404);
          assertEquals("invalid_request_error", err.getString("type"));
          assertTrue(err.getString("message").contains("/v1/nothing-here"), err::encode);
          ctx.completeNow();
        })));
  }

  @ParameterizedTest(name = "[{index}] {0} {1} -> 405")
  @MethodSource("wrongMethods")
  void wrongMethodIs405(HttpMethod method, String path, String allow, VertxTestContext ctx) {
    client.request(method, port, "127.0.0.1", path).send()
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          JsonObject err = assertOpenAiError(resp, 405);
          assertEquals("method_not_allowed", err.getString("code"));
          assertEquals(allow, resp.getHeader("allow"));
          ctx.completeNow();
        })));
  }

  static Stream<Arguments> wrongMethods() {
    return Stream.of(Arguments.of(HttpMethod.GET, "/v1/completions", "POST"),
        Arguments.of(HttpMethod.GET, "/v1/chat/completions", "POST"),
        Arguments.of(HttpMethod.DELETE, "/v1/embeddings", "POST"),
        Arguments.of(HttpMethod.POST, "/v1/models", "GET"),
        Arguments.of(HttpMethod.PUT, "/health/live", "GET"));
  }

  @Test
  void liveIs200(VertxTestContext ctx) {
    client.get(port, "127.0.0.1", "/health/live").send()
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode());
          assertEquals("live", resp.bodyAsJsonObject().getString("status"));
          ctx.completeNow();
        })));
  }

  /** With no router anywhere nothing can be served: not ready (what a Kubernetes readiness probe wants). */
  @Test
  void readyIs503WithoutRouter(VertxTestContext ctx) {
    client.get(port, "127.0.0.1", "/health/ready").send()
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(503, resp.statusCode());
          assertEquals("not_ready", resp.bodyAsJsonObject().getString("status"));
          ctx.completeNow();
        })));
  }

  /** Without the launcher's node registry: this gateway alone; with it: every registered node, workers merged in. */
  @Test
  void clusterNodesListsThisGatewayThenEveryRegisteredNode(Vertx vertx, VertxTestContext ctx) {
    JsonObject worker = new WorkerInfo("w-1", "worker-node", List.of(new ModelInfo("stories260K", "llama", 512,
        260_000, "fp32", "")), "cpu", 2, 1, 40, System.currentTimeMillis()).toJson();
    client.get(port, "127.0.0.1", "/v1/cluster/nodes").send()
        .map(resp -> {
          ctx.verify(() -> {
            assertEquals(200, resp.statusCode());
            JsonArray nodes = resp.bodyAsJsonObject().getJsonArray("nodes");
            assertEquals(1, nodes.size(), nodes::encode);
            JsonObject n = nodes.getJsonObject(0);
            assertEquals("test-node", n.getString("name"));
            assertTrue(n.getJsonArray("roles").contains("gateway"));
            assertNotNull(n.getJsonObject("load"));
          });
          return resp;
        })
        .compose(r -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.NODE_REGISTRY_MAP))
        .compose(map -> map.put("test-node", new JsonObject().put("name", "test-node")
                .put("roles", new JsonArray().add("gateway").add("router")))
            .compose(v -> map.put("knowledge-node", new JsonObject().put("name", "knowledge-node")
                .put("roles", new JsonArray().add("knowledge"))))
            .compose(v -> map.put("worker-node", new JsonObject().put("name", "worker-node")
                .put("roles", new JsonArray().add("worker")))))
        .compose(v -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP))
        .compose(map -> map.put("w-1", worker))
        .compose(v -> client.get(port, "127.0.0.1", "/v1/cluster/nodes").send())
        .map(resp -> {
          ctx.verify(() -> {
            assertEquals(200, resp.statusCode());
            JsonArray nodes = resp.bodyAsJsonObject().getJsonArray("nodes");
            assertEquals(List.of("knowledge-node", "test-node", "worker-node"),
                nodes.stream().map(o -> ((JsonObject) o).getString("name")).toList(), nodes::encode);
            JsonObject knowledge = nodes.getJsonObject(0);
            assertEquals(new JsonArray().add("knowledge"), knowledge.getJsonArray("roles"));
            assertEquals(new JsonArray(), knowledge.getJsonArray("models"));
            assertEquals(null, knowledge.getString("device"));
            assertEquals(0, knowledge.getJsonObject("load").getInteger("workers"));
            assertTrue(nodes.getJsonObject(1).getJsonArray("roles").getList().containsAll(List.of("gateway", "router")));
            JsonObject w = nodes.getJsonObject(2);
            assertEquals(new JsonArray().add("worker"), w.getJsonArray("roles"));
            assertEquals(new JsonArray().add("stories260K"), w.getJsonArray("models"));
            assertEquals("cpu", w.getString("device"));
            assertEquals(2, w.getJsonObject("load").getInteger("activeSequences"));
            assertEquals(1, w.getJsonObject("load").getInteger("queuedRequests"));
          });
          return resp;
        })
        // leave the maps as found for the other tests of this class
        .compose(r -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.NODE_REGISTRY_MAP))
        .compose(map -> map.clear())
        .compose(v -> vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP))
        .compose(map -> map.clear())
        .onComplete(ctx.succeedingThenComplete());
  }

  static JsonObject assertOpenAiError(HttpResponse<Buffer> resp, int status) {
    assertEquals(status, resp.statusCode(), () -> "status; body " + resp.bodyAsString());
    assertTrue(resp.getHeader("content-type").startsWith("application/json"), resp.getHeader("content-type"));
    JsonObject body = resp.bodyAsJsonObject();
    assertEquals(1, body.size(), body::encode);
    JsonObject err = body.getJsonObject("error");
    assertNotNull(err, body::encode);
    for (String k : new String[] {"message", "type", "param", "code"}) {
      assertTrue(err.containsKey(k), () -> "field " + k + " in " + err);
    }
    assertTrue(!err.getString("message").isBlank());
    return err;
  }
}
