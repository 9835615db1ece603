package ai.companion.node.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.GatewayVerticle;
import ai.companion.knowledge.KnowledgeVerticle;
import ai.companion.router.RouterVerticle;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One node's roles in one JVM (local, unclustered Vert.x), each the real verticle: gateway, router, inference
 * worker and embeddings, over a data dir into which the shared llama2.c fixtures are imported with the real
 * importer. Everything is asked through HTTP as a client would, and greedy output must equal the oracles in the
 * fixtures' SOURCE.md byte for byte.
 */
@ExtendWith(VertxExtension.class)
class OpenAiEndToEndTest {

  private static final String HOST = "127.0.0.1";
  private static final List<String> MODELS = List.of("stories260K", "aidreams260K");

  @TempDir
  static Path dataDir;

  private static WebClient client;
  private static int port;

  @BeforeAll
  @Timeout(value = 180, timeUnit = TimeUnit.SECONDS)
  static void startNode(Vertx vertx, VertxTestContext ctx) throws Exception {
    for (String m : MODELS) ModelFixtures.importModel(m, ModelPaths.modelsDir(dataDir));
    JsonObject node = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "e2e-node");
    // the shipped policy learns between knowledge and direct by sampling; this one decides, so tests can check
    Path policy = dataDir.resolve("e2e-policy.yaml");
    Files.writeString(policy, String.join("\n",
        "version: 1",
        "defaults: { model: domain, strategy: direct, latency: interactive, question_threshold: 0.5 }",
        "latency_by_key: {}",
        "rules:",
        "  - name: long-document",
        "    when: { exceeds_context: true }",
        "    model: largest-context",
        "    strategy: chunked",
        "  - name: short-question",
        "    when: { question: true, max_tokens: 64 }",
        "    model: stories260K",
        "    strategy: knowledge",
        ""));
    GatewayVerticle gateway = new GatewayVerticle();
    deploy(vertx, new RouterVerticle(), node.copy().put("policyFile", policy.toString()))
        .compose(v -> deploy(vertx, new WorkerVerticle(), node))
        .compose(v -> deploy(vertx, new EmbeddingVerticle(), node))
        .compose(v -> deploy(vertx, new KnowledgeVerticle(), node))
        .compose(v -> deploy(vertx, gateway, new GatewayOptions().setHost(HOST).setHttpPort(0).setGrpcPort(0)
            .setNodeName("e2e-node").toJson()))
        .onComplete(ctx.succeeding(v -> {
          port = gateway.actualPort();
          client = WebClient.create(vertx);
          ctx.completeNow();
        }));
  }

  private static Future<String> deploy(Vertx vertx, io.vertx.core.VerticleBase v, JsonObject config) {
    return vertx.deployVerticle(v, new DeploymentOptions().setConfig(config));
  }

  @AfterAll
  static void close() {
    if (client != null) client.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"stories260K", "aidreams260K"})
  void greedyCompletionEqualsOracle(String model, VertxTestContext ctx) throws Exception {
    String oracle = ModelFixtures.oracleText(model);
    post("/v1/completions", greedy(model)).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      assertEquals("text_completion", body.getString("object"));
      assertEquals(model, body.getString("model"));
      JsonObject choice = body.getJsonArray("choices").getJsonObject(0);
      assertEquals(oracle, choice.getString("text"));
      assertEquals("length", choice.getString("finish_reason"));
      assertEquals(60, body.getJsonObject("usage").getInteger("completion_tokens"));
      assertEquals(60 + body.getJsonObject("usage").getInteger("prompt_tokens"),
          body.getJsonObject("usage").getInteger("total_tokens"));
      assertRoute(resp, body, model);
      ctx.completeNow();
    })));
  }

  @ParameterizedTest
  @ValueSource(strings = {"stories260K", "aidreams260K"})
  void greedyStreamedCompletionEqualsOracle(String model, VertxTestContext ctx) throws Exception {
    String oracle = ModelFixtures.oracleText(model);
    JsonObject req = greedy(model).put("stream", true).put("stream_options", new JsonObject().put("include_usage", true));
    post("/v1/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      assertTrue(resp.getHeader("content-type").startsWith("text/event-stream"));
      List<JsonObject> chunks = sse(resp.bodyAsString());
      assertTrue(chunks.get(0).containsKey("companion"), "first chunk carries the route");
      assertEquals(model, chunks.get(0).getJsonObject("companion").getJsonObject("route").getString("model"));
      StringBuilder text = new StringBuilder();
      String finish = null;
      JsonObject usage = null;
      for (JsonObject c : chunks) {
        assertEquals("text_completion", c.getString("object"));
        JsonArray choices = c.getJsonArray("choices");
        if (choices.isEmpty()) {
          usage = c.getJsonObject("usage");
          continue;
        }
        assertNull(finish, "nothing after the finishing chunk but usage");
        text.append(choices.getJsonObject(0).getString("text"));
        finish = choices.getJsonObject(0).getString("finish_reason");
      }
      assertEquals(oracle, text.toString());
      assertEquals("length", finish);
      assertNotNull(usage, "include_usage gives a last chunk with usage");
      assertEquals(60, usage.getInteger("completion_tokens"));
      assertTrue(chunks.size() > 10, "streamed in pieces, got " + chunks.size() + " chunks");
      ctx.completeNow();
    })));
  }

  @Test
  void chatStreamedEqualsChatUnstreamed(VertxTestContext ctx) {
    JsonObject req = new JsonObject().put("model", "stories260K").put("temperature", 0).put("max_tokens", 40)
        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", "Tell me a story")));
    post("/v1/chat/completions", req).compose(plain -> post("/v1/chat/completions", req.copy().put("stream", true))
            .map(streamed -> List.of(plain, streamed)))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          HttpResponse<Buffer> plain = both.get(0);
          HttpResponse<Buffer> streamed = both.get(1);
          assertEquals(200, plain.statusCode(), plain::bodyAsString);
          JsonObject body = plain.bodyAsJsonObject();
          assertEquals("chat.completion", body.getString("object"));
          JsonObject message = body.getJsonArray("choices").getJsonObject(0).getJsonObject("message");
          assertEquals("assistant", message.getString("role"));
          String content = message.getString("content");
          assertFalse(content.isEmpty());
          assertRoute(plain, body, "stories260K");

          assertEquals(200, streamed.statusCode(), streamed::bodyAsString);
          assertNotNull(streamed.getHeader("x-companion-route"));
          List<JsonObject> chunks = sse(streamed.bodyAsString());
          JsonObject first = chunks.get(0);
          assertEquals("chat.completion.chunk", first.getString("object"));
          assertEquals("assistant",
              first.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("role"));
          assertNotNull(first.getJsonObject("companion").getJsonObject("route"));
          StringBuilder text = new StringBuilder();
          for (JsonObject c : chunks) {
            JsonObject delta = c.getJsonArray("choices").getJsonObject(0).getJsonObject("delta");
            text.append(delta.getString("content", ""));
          }
          JsonObject last = chunks.get(chunks.size() - 1).getJsonArray("choices").getJsonObject(0);
          assertEquals(body.getJsonArray("choices").getJsonObject(0).getString("finish_reason"),
              last.getString("finish_reason"));
          assertEquals(content, text.toString(), "greedy chat: streamed text equals the unstreamed one");
          ctx.completeNow();
        })));
  }

  @Test
  void modelsListsBothAndAuto(VertxTestContext ctx) {
    client.get(port, HOST, "/v1/models").send().onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      assertEquals("list", body.getString("object"));
      List<String> ids = new ArrayList<>();
      for (Object o : body.getJsonArray("data")) {
        JsonObject m = (JsonObject) o;
        assertEquals("model", m.getString("object"));
        assertNotNull(m.getLong("created"));
        assertNotNull(m.getString("owned_by"));
        ids.add(m.getString("id"));
      }
      assertTrue(ids.containsAll(List.of("auto", "stories260K", "aidreams260K")), ids::toString);
      ctx.completeNow();
    })));
  }

  @Test
  void embeddingsAreUnitVectorsInBothEncodings(VertxTestContext ctx) {
    JsonObject req = new JsonObject().put("model", "all-MiniLM-L6-v2")
        .put("input", new JsonArray().add("How do I import a model?").add("A cat sat on the mat."));
    post("/v1/embeddings", req).compose(f -> post("/v1/embeddings", req.copy().put("encoding_format", "base64"))
            .map(b -> List.of(f, b)))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          assertEquals(200, both.get(0).statusCode(), both.get(0)::bodyAsString);
          assertEquals(200, both.get(1).statusCode(), both.get(1)::bodyAsString);
          JsonObject floats = both.get(0).bodyAsJsonObject();
          JsonObject base64 = both.get(1).bodyAsJsonObject();
          assertEquals("list", floats.getString("object"));
          assertTrue(floats.getJsonObject("usage").getInteger("prompt_tokens") > 0);
          assertNotNull(both.get(0).getHeader("x-companion-route"));
          JsonArray data = floats.getJsonArray("data");
          assertEquals(2, data.size());
          for (int i = 0; i < 2; i++) {
            JsonObject d = data.getJsonObject(i);
            assertEquals("embedding", d.getString("object"));
            assertEquals(i, d.getInteger("index"));
            JsonArray v = d.getJsonArray("embedding");
            assertEquals(384, v.size());
            double norm = 0;
            for (Object x : v) norm += ((Number) x).doubleValue() * ((Number) x).doubleValue();
            assertEquals(1.0, Math.sqrt(norm), 1e-4, "unit norm");
            byte[] raw = Base64.getDecoder().decode(base64.getJsonArray("data").getJsonObject(i).getString("embedding"));
            ByteBuffer bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(384 * 4, raw.length);
            for (int k = 0; k < 384; k++) {
              assertEquals(v.getDouble(k).floatValue(), bb.getFloat(), 1e-6f, "base64 value " + k);
            }
          }
          ctx.completeNow();
        })));
  }

  @Test
  void promptLongerThanContextNamesTheLimit(VertxTestContext ctx) {
    // aidreams260K holds 128 tokens; this prompt is several hundred
    JsonObject req = greedy("aidreams260K").put("prompt", "the dream of the machine ".repeat(60));
    post("/v1/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(400, resp.statusCode(), resp::bodyAsString);
      JsonObject err = resp.bodyAsJsonObject().getJsonObject("error");
      assertEquals("context_length_exceeded", err.getString("code"));
      assertEquals("prompt", err.getString("param"));
      assertEquals("invalid_request_error", err.getString("type"));
      assertTrue(err.getString("message").contains("128"), err::encode);
      ctx.completeNow();
    })));
  }

  @Test
  void unknownModelIs404(VertxTestContext ctx) {
    post("/v1/completions", greedy("no-such-model")).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(404, resp.statusCode(), resp::bodyAsString);
      JsonObject err = resp.bodyAsJsonObject().getJsonObject("error");
      assertEquals("model_not_found", err.getString("code"));
      assertEquals("model", err.getString("param"));
      assertTrue(err.getString("message").contains("no-such-model"), err::encode);
      ctx.completeNow();
    })));
  }

  @Test
  void autoIsRoutedAndExplained(VertxTestContext ctx) {
    post("/v1/completions", greedy("auto").put("max_tokens", 5)).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      String model = body.getString("model");
      assertTrue(MODELS.contains(model), model);
      assertRoute(resp, body, model);
      ctx.completeNow();
    })));
  }

  @Test
  void clusterNodesShowsTheWorker(VertxTestContext ctx) {
    client.get(port, HOST, "/v1/cluster/nodes").send().onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonArray nodes = resp.bodyAsJsonObject().getJsonArray("nodes");
      assertEquals(1, nodes.size(), nodes::encode);
      JsonObject n = nodes.getJsonObject(0);
      assertEquals("e2e-node", n.getString("name"));
      assertTrue(n.getJsonArray("roles").getList().containsAll(List.of("gateway", "worker")), n::encode);
      assertTrue(n.getJsonArray("models").getList().containsAll(MODELS), n::encode);
      assertNotNull(n.getString("device"));
      ctx.completeNow();
    })));
  }

  @Test
  void readyOnceARouterAnswers(VertxTestContext ctx) {
    client.get(port, HOST, "/health/ready").send().onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      assertEquals("ready", resp.bodyAsJsonObject().getString("status"));
      assertEquals(2, resp.bodyAsJsonObject().getInteger("models"));
      ctx.completeNow();
    })));
  }

  @Test
  void knowledgeDoorIngestsAndFinds(VertxTestContext ctx) {
    JsonObject docs = new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "import-doc")
        .put("title", "Importing a model").put("format", "markdown")
        .put("text", "# Importing a model\n\nRun `./companion model import stories260K.bin --tokenizer tok512.bin "
            + "--name stories260K` and the model folder gets config.json, model.onnx and tokenizer.json."))
        .add(new JsonObject().put("id", "cats").put("text", "Cats sleep for most of the day and purr when content.")));
    post("/v1/knowledge/documents", docs)
        .compose(ing -> {
          ctx.verify(() -> {
            assertEquals(200, ing.statusCode(), ing::bodyAsString);
            assertEquals(new JsonArray().add("import-doc").add("cats"), ing.bodyAsJsonObject().getJsonArray("ingested"));
          });
          return client.get(port, HOST, "/v1/knowledge/search").addQueryParam("q", "how do I import a model?")
              .addQueryParam("k", "2").send();
        })
        .compose(search -> {
          ctx.verify(() -> {
            assertEquals(200, search.statusCode(), search::bodyAsString);
            JsonArray results = search.bodyAsJsonObject().getJsonArray("results");
            assertFalse(results.isEmpty());
            assertEquals("import-doc", results.getJsonObject(0).getString("document_id"), results::encode);
          });
          return Future.all(client.get(port, HOST, "/v1/knowledge/gaps").send(),
              client.get(port, HOST, "/v1/knowledge/patterns").send(),
              post("/v1/feedback", new JsonObject().put("interaction_id", "no-such-interaction").put("rating", 1)));
        })
        .onComplete(ctx.succeeding(all -> ctx.verify(() -> {
          HttpResponse<Buffer> gaps = all.resultAt(0);
          HttpResponse<Buffer> patterns = all.resultAt(1);
          HttpResponse<Buffer> feedback = all.resultAt(2);
          assertEquals(200, gaps.statusCode(), gaps::bodyAsString);
          assertNotNull(gaps.bodyAsJsonObject().getJsonArray("gaps"));
          assertEquals(200, patterns.statusCode(), patterns::bodyAsString);
          assertNotNull(patterns.bodyAsJsonObject().getJsonArray("patterns"));
          assertEquals(404, feedback.statusCode(), feedback::bodyAsString);
          assertNotNull(feedback.bodyAsJsonObject().getJsonObject("error"));
          ctx.completeNow();
        })));
  }

  @Test
  void feedbackOnACompletionReachesTheRouter(VertxTestContext ctx) {
    post("/v1/completions", greedy("stories260K").put("max_tokens", 5))
        .compose(done -> post("/v1/feedback", new JsonObject()
            .put("request_id", done.bodyAsJsonObject().getString("id")).put("rating", 1)))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode(), resp::bodyAsString);
          JsonObject body = resp.bodyAsJsonObject();
          assertEquals(true, body.getBoolean("recorded"));
          assertEquals(true, body.getJsonObject("router").getBoolean("accepted"), body::encode);
          ctx.completeNow();
        })));
  }

  /** A document longer than every model's context: the router plans chunks, the gateway maps and reduces. */
  @Test
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void longDocumentIsChunkedMappedAndReduced(VertxTestContext ctx) {
    StringBuilder doc = new StringBuilder();
    for (int i = 0; doc.length() < 4000; i++) {
      doc.append("Once upon a time there was a little dog named Max number ").append(i)
          .append(". He liked to run in the park with his friends and eat big red apples. ");
    }
    JsonObject req = new JsonObject().put("model", "auto").put("prompt", doc.toString()).put("temperature", 0)
        .put("max_tokens", 20);
    post("/v1/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      JsonObject route = body.getJsonObject("companion").getJsonObject("route");
      assertEquals("chunked", route.getString("strategy"), route::encode);
      assertTrue(route.getJsonArray("reasons").stream().anyMatch(r -> String.valueOf(r).contains("summarised (map)")),
          route::encode);
      assertTrue(resp.getHeader("x-companion-route").contains("strategy=chunked"));
      int completion = body.getJsonObject("usage").getInteger("completion_tokens");
      assertTrue(completion >= 1 && completion <= 20, body::encode);
      ctx.completeNow();
    })));
  }

  /** A short question the knowledge store can answer: the passages the router found ground the prompt. */
  @Test
  void questionIsGroundedInKnowledge(VertxTestContext ctx) {
    JsonObject docs = new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "import-howto")
        .put("text", "To import a model, run ./companion model import with the checkpoint, the tokenizer and a name.")));
    JsonObject req = new JsonObject().put("model", "auto").put("temperature", 0).put("max_tokens", 8)
        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content",
            "How do I import a model?")));
    post("/v1/knowledge/documents", docs).compose(ing -> post("/v1/chat/completions", req))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode(), resp::bodyAsString);
          JsonObject route = resp.bodyAsJsonObject().getJsonObject("companion").getJsonObject("route");
          assertEquals("stories260K", route.getString("model"), route::encode);
          assertEquals("knowledge", route.getString("strategy"), route::encode);
          assertTrue(route.getJsonArray("reasons").stream().anyMatch(r -> String.valueOf(r).contains("passage(s) added")),
              route::encode);
          ctx.completeNow();
        })));
  }

  @Test
  void latencyClassReachesTheRouter(VertxTestContext ctx) {
    post("/v1/completions", greedy("auto").put("max_tokens", 3)
            .put("companion", new JsonObject().put("latency", "batch")))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode(), resp::bodyAsString);
          JsonObject route = resp.bodyAsJsonObject().getJsonObject("companion").getJsonObject("route");
          assertTrue(route.getJsonArray("reasons").stream().anyMatch(r -> String.valueOf(r).contains("latency batch")),
              route::encode);
          ctx.completeNow();
        })));
  }

  // ---- helpers

  private static JsonObject greedy(String model) {
    return new JsonObject().put("model", model).put("prompt", "").put("temperature", 0).put("max_tokens", 60);
  }

  private static Future<HttpResponse<Buffer>> post(String path, JsonObject body) {
    return client.post(port, HOST, path).sendJsonObject(body);
  }

  private static void assertRoute(HttpResponse<Buffer> resp, JsonObject body, String model) {
    String header = resp.getHeader("x-companion-route");
    assertNotNull(header, "x-companion-route header");
    assertTrue(header.startsWith("model=" + model + ";"), header);
    JsonObject route = body.getJsonObject("companion").getJsonObject("route");
    assertEquals(model, route.getString("model"));
    assertNotNull(route.getString("workerId"));
    assertEquals("e2e-node", route.getString("worker"));
    assertFalse(route.getJsonArray("reasons").isEmpty());
  }

  /** The data events of an SSE body; asserts it ends with exactly one {@code [DONE]}. */
  static List<JsonObject> sse(String body) {
    List<JsonObject> out = new ArrayList<>();
    String[] events = body.split("\n\n");
    assertEquals("data: [DONE]", events[events.length - 1], "stream ends with [DONE]");
    for (int i = 0; i < events.length - 1; i++) {
      assertTrue(events[i].startsWith("data: "), events[i]);
      JsonObject chunk = new JsonObject(events[i].substring(6));
      assertFalse(chunk.containsKey("error"), chunk::encode);
      out.add(chunk);
    }
    return out;
  }
}
