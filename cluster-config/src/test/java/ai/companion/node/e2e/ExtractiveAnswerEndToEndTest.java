package ai.companion.node.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.api.grpc.AssistantGrpcClient;
import ai.companion.api.grpc.ChatChunk;
import ai.companion.api.grpc.ChatRequest;
import ai.companion.api.grpc.CompletionRequest;
import ai.companion.api.grpc.Message;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.GatewayVerticle;
import ai.companion.gateway.grpc.AssistantGrpcServer;
import ai.companion.knowledge.KnowledgeVerticle;
import ai.companion.router.RouterVerticle;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fresh machine: one node's gateway, router, knowledge service and embeddings in one JVM, each the real verticle
 * (real MiniLM, real Lucene), and no inference worker, so no generative model. {@code "auto"} completions are
 * answered extractively from documents ingested through the HTTP door, with citations, on every door (REST,
 * WebSocket, gRPC), while a named model that does not exist is still not found; a question nobody can
 * answer gets "I don't know", becomes a gap once asked twice and closes when a document that answers it arrives.
 * Last, a worker with a real model joins, and its completions show up in what the knowledge service learns.
 * The tests run in order: each builds on the knowledge the previous ones left.
 */
@ExtendWith(VertxExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ExtractiveAnswerEndToEndTest {

  private static final String HOST = "127.0.0.1";
  private static final String NODE = "fresh-node";
  private static final String LIGHTHOUSE = "Who built the Aldmere lighthouse?";
  private static final String SOURDOUGH = "Why does sourdough bread rise?";
  private static final String UNANSWERED = "How long does Titan take to orbit Saturn?";

  @TempDir
  static Path dataDir;

  private static WebClient client;
  private static int port;
  private static int grpcPort;

  @BeforeAll
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  static void startNode(Vertx vertx, VertxTestContext ctx) {
    JsonObject node = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", NODE);
    GatewayVerticle gateway = new GatewayVerticle();
    deploy(vertx, new RouterVerticle(), node)
        .compose(v -> deploy(vertx, new EmbeddingVerticle(), node))
        .compose(v -> deploy(vertx, new KnowledgeVerticle(), node))
        .compose(v -> deploy(vertx, gateway, new GatewayOptions().setHost(HOST).setHttpPort(0).setGrpcPort(0).setNodeName(NODE)
            .toJson()))
        .onComplete(ctx.succeeding(v -> {
          port = gateway.actualPort();
          grpcPort = (Integer) vertx.sharedData().getLocalMap(AssistantGrpcServer.NODE_MAP).get("grpcPort");
          client = WebClient.create(vertx);
          ctx.completeNow();
        }));
  }

  @AfterAll
  static void close() {
    if (client != null) client.close();
  }

  @Test
  @Order(1)
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void ingestTwoDocuments(VertxTestContext ctx) {
    JsonObject docs = new JsonObject().put("documents", new JsonArray()
        .add(new JsonObject().put("id", "aldmere-lighthouse").put("title", "The Aldmere lighthouse").put("text",
            "The Aldmere lighthouse stands on the northern cliffs above the harbour. "
                + "The Aldmere lighthouse was built in 1887 by the engineer Thomas Varley. "
                + "Its lamp can be seen from twenty-two nautical miles away on a clear night. "
                + "Since 1962 the light has run automatically and no keeper lives there."))
        .add(new JsonObject().put("id", "sourdough").put("title", "Baking sourdough").put("format", "markdown")
            .put("text", "# Sourdough\n\nSourdough bread is made from flour, water, salt and a starter. "
                + "Sourdough bread rises because wild yeast in the starter ferments the dough and releases carbon "
                + "dioxide gas. Lactic acid bacteria in the starter give the bread its sour taste. "
                + "A loaf usually proves for several hours before baking.")));
    post("/v1/knowledge/documents", docs).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      assertEquals(new JsonArray().add("aldmere-lighthouse").add("sourdough"),
          resp.bodyAsJsonObject().getJsonArray("ingested"));
      ctx.completeNow();
    })));
  }

  @Test
  @Order(2)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void modelsListOnlyAuto(VertxTestContext ctx) {
    client.get(port, HOST, "/v1/models").send().onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonArray data = resp.bodyAsJsonObject().getJsonArray("data");
      assertEquals(1, data.size(), data::encode);
      assertEquals("auto", data.getJsonObject(0).getString("id"));
      ctx.completeNow();
    })));
  }

  @Test
  @Order(3)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void chatAutoAnswersExtractivelyWithCitations(VertxTestContext ctx) {
    post("/v1/chat/completions", chat(LIGHTHOUSE)).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      assertEquals("chat.completion", body.getString("object"));
      assertEquals("extractive", body.getString("model"));
      JsonObject choice = body.getJsonArray("choices").getJsonObject(0);
      assertEquals("stop", choice.getString("finish_reason"));
      assertEquals("assistant", choice.getJsonObject("message").getString("role"));
      String answer = choice.getJsonObject("message").getString("content");
      assertTrue(answer.contains("built in 1887 by the engineer Thomas Varley"), answer);
      assertNotNull(body.getJsonObject("usage"));
      JsonObject companion = body.getJsonObject("companion");
      assertExtractiveRoute(resp, companion);
      assertTrue(companion.getBoolean("answered"), companion::encode);
      assertNotNull(companion.getString("interaction_id"));
      // the supporting sentence is cited, with its document and chunk
      JsonObject cited = companion.getJsonArray("citations").stream().map(JsonObject.class::cast)
          .filter(c -> c.getString("sentence").contains("Thomas Varley")).findFirst().orElse(null);
      assertNotNull(cited, companion::encode);
      assertEquals("aldmere-lighthouse", cited.getString("document_id"), companion::encode);
      assertTrue(cited.getString("chunk_id").startsWith("aldmere-lighthouse"), cited::encode);
      assertTrue(answer.contains("[" + cited.getInteger("n") + "]"), answer);
      assertTrue(companion.getJsonObject("route").getJsonArray("reasons").encode().contains("aldmere-lighthouse"));
      ctx.completeNow();
    })));
  }

  @Test
  @Order(4)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void streamedChatAutoAnswersExtractively(VertxTestContext ctx) {
    JsonObject req = chat(SOURDOUGH).put("stream", true)
        .put("stream_options", new JsonObject().put("include_usage", true));
    post("/v1/chat/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      assertTrue(resp.getHeader("content-type").startsWith("text/event-stream"));
      List<JsonObject> chunks = OpenAiEndToEndTest.sse(resp.bodyAsString());
      JsonObject companion = chunks.get(0).getJsonObject("companion");
      assertNotNull(companion, "first chunk carries the route");
      assertExtractiveRoute(resp, companion);
      assertEquals("sourdough", companion.getJsonArray("citations").getJsonObject(0).getString("document_id"));
      StringBuilder text = new StringBuilder();
      String finish = null;
      int contentChunks = 0;
      for (JsonObject c : chunks) {
        assertEquals("chat.completion.chunk", c.getString("object"));
        JsonArray choices = c.getJsonArray("choices");
        if (choices.isEmpty()) continue;
        JsonObject ch = choices.getJsonObject(0);
        String piece = ch.getJsonObject("delta").getString("content");
        if (piece != null && !piece.isEmpty()) {
          text.append(piece);
          contentChunks++;
        }
        if (ch.getString("finish_reason") != null) finish = ch.getString("finish_reason");
      }
      assertEquals("stop", finish);
      assertTrue(contentChunks > 1, "the answer arrives in several chunks: " + contentChunks);
      assertTrue(text.toString().contains("wild yeast in the starter ferments the dough"), text::toString);
      assertNotNull(chunks.get(chunks.size() - 1).getJsonObject("usage"), "usage chunk last");
      ctx.completeNow();
    })));
  }

  @Test
  @Order(5)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void completionsAutoAnswersExtractively(VertxTestContext ctx) {
    JsonObject req = new JsonObject().put("model", "auto").put("prompt", LIGHTHOUSE).put("max_tokens", 32);
    post("/v1/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(200, resp.statusCode(), resp::bodyAsString);
      JsonObject body = resp.bodyAsJsonObject();
      assertEquals("text_completion", body.getString("object"));
      assertTrue(body.getJsonArray("choices").getJsonObject(0).getString("text").contains("Thomas Varley"));
      assertExtractiveRoute(resp, body.getJsonObject("companion"));
      assertEquals("aldmere-lighthouse", body.getJsonObject("companion").getJsonArray("citations").getJsonObject(0)
          .getString("document_id"));
      ctx.completeNow();
    })));
  }

  @Test
  @Order(6)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void websocketAutoAnswersExtractively(Vertx vertx, VertxTestContext ctx) {
    WebSocketClient wsClient = vertx.createWebSocketClient();
    List<JsonObject> frames = new ArrayList<>();
    wsClient.connect(port, HOST, "/v1/chat/stream").onComplete(ctx.succeeding(ws -> {
      ws.textMessageHandler(t -> {
        frames.add(new JsonObject(t));
        boolean answered = frames.stream().anyMatch(f -> "q1".equals(f.getString("id"))
            && ("done".equals(f.getString("type")) || "error".equals(f.getString("type"))));
        boolean refused = frames.stream().anyMatch(f -> "q2".equals(f.getString("id"))
            && "error".equals(f.getString("type")));
        if (!answered || !refused) return;
        ctx.verify(() -> {
          List<JsonObject> q1 = frames.stream().filter(f -> "q1".equals(f.getString("id"))).toList();
          assertTrue(q1.stream().noneMatch(f -> "error".equals(f.getString("type"))), q1::toString);
          JsonObject companion = q1.get(0).getJsonObject("companion");
          assertNotNull(companion, "the first chunk carries the route: " + q1.get(0).encode());
          assertExtractiveRoute(companion);
          assertEquals("sourdough", companion.getJsonArray("citations").getJsonObject(0).getString("document_id"));
          StringBuilder text = new StringBuilder();
          int contentChunks = 0;
          for (JsonObject f : q1) {
            assertEquals("chat.completion.chunk", f.getString("object"), f::encode);
            assertEquals("extractive", f.getString("model"), f::encode);
            String piece = f.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("content");
            if (piece != null && !piece.isEmpty()) {
              text.append(piece);
              contentChunks++;
            }
          }
          assertTrue(contentChunks > 1, "the answer arrives in several chunks: " + contentChunks);
          assertTrue(text.toString().contains("wild yeast in the starter ferments the dough"), text::toString);
          JsonObject done = q1.get(q1.size() - 1);
          assertEquals("done", done.getString("type"), done::encode);
          assertEquals("stop", done.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
          assertNotNull(done.getJsonObject("usage"), done::encode);
          assertExtractiveRoute(done.getJsonObject("companion"));
          // a named model that does not exist is still not found
          JsonObject error = frames.stream().filter(f -> "q2".equals(f.getString("id"))).findFirst().orElseThrow();
          assertEquals("model_not_found", error.getJsonObject("error").getString("code"), error::encode);
        });
        ws.close().onComplete(v -> wsClient.close()).onComplete(v -> ctx.completeNow());
      });
      ws.writeTextMessage(chat(SOURDOUGH).put("id", "q1").encode())
          .compose(v -> ws.writeTextMessage(chat(SOURDOUGH).put("id", "q2").put("model", "gpt-17").encode()))
          .onFailure(ctx::failNow);
    }));
  }

  @Test
  @Order(7)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void grpcAutoAnswersExtractively(Vertx vertx, VertxTestContext ctx) {
    GrpcClient grpc = GrpcClient.client(vertx);
    SocketAddress server = SocketAddress.inetSocketAddress(grpcPort, HOST);
    AssistantGrpcClient assistant = AssistantGrpcClient.create(grpc, server);
    ChatRequest chatReq = ChatRequest.newBuilder().setModel("auto")
        .addMessages(Message.newBuilder().setRole("user").setContent(SOURDOUGH)).build();
    List<ChatChunk> chunks = new ArrayList<>();
    Promise<Void> streamed = Promise.promise();
    vertx.runOnContext(x -> assistant.chat(chatReq).onComplete(ar -> {
      if (ar.failed()) {
        streamed.tryFail(ar.cause());
        return;
      }
      ar.result().handler(chunks::add).endHandler(v -> streamed.tryComplete()).exceptionHandler(streamed::tryFail);
    }));
    streamed.future()
        .compose(v -> {
          ctx.verify(() -> {
            assertTrue(chunks.size() > 2, "streamed in several chunks: " + chunks.size());
            ChatChunk first = chunks.get(0);
            assertEquals("extractive", first.getRoute().getModel(), first::toString);
            assertEquals("extractive", first.getRoute().getStrategy());
            assertEquals(NODE, first.getRoute().getWorker());
            assertTrue(first.getRoute().getReasonsList().toString().contains("no generative model"));
            assertEquals("sourdough", first.getCitations(0).getDocumentId(), first::toString);
            StringBuilder text = new StringBuilder();
            chunks.forEach(c -> text.append(c.getDelta()));
            assertTrue(text.toString().contains("wild yeast in the starter ferments the dough"), text::toString);
            ChatChunk last = chunks.get(chunks.size() - 1);
            assertEquals("stop", last.getFinishReason());
            assertTrue(last.hasUsage());
            assertEquals(1, chunks.stream().map(ChatChunk::getId).distinct().count());
          });
          return assistant.complete(CompletionRequest.newBuilder().setModel("auto").setPrompt(LIGHTHOUSE).build());
        })
        .compose(r -> {
          ctx.verify(() -> {
            assertTrue(r.getText().contains("built in 1887 by the engineer Thomas Varley"), r::toString);
            assertEquals("extractive", r.getModel());
            assertEquals("extractive", r.getRoute().getModel());
            assertEquals("extractive", r.getRoute().getStrategy());
            assertEquals(NODE, r.getRoute().getWorker());
            assertTrue(r.getRoute().getReasonsList().toString().contains("aldmere-lighthouse"), r::toString);
            assertEquals("stop", r.getFinishReason());
            assertTrue(r.getCitationsList().stream().anyMatch(c -> c.getDocumentId().equals("aldmere-lighthouse")
                && c.getSentence().contains("Thomas Varley") && r.getText().contains("[" + c.getN() + "]")),
                r::toString);
          });
          // a named model that does not exist is still not found
          CompletionRequest missing = CompletionRequest.newBuilder().setModel("gpt-17").setPrompt(LIGHTHOUSE).build();
          return grpc.request(server, AssistantGrpcClient.Complete).compose(req -> req.send(missing));
        })
        .compose(resp -> resp.end().recover(err -> Future.succeededFuture()).map(v -> resp))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(GrpcStatus.NOT_FOUND, resp.status(), resp.statusMessage());
          assertTrue(resp.statusMessage().contains("gpt-17"), resp.statusMessage());
          grpc.close().onComplete(v -> ctx.completeNow());
        })));
  }

  @Test
  @Order(8)
  @Timeout(value = 60, timeUnit = TimeUnit.SECONDS)
  void namedModelThatDoesNotExistIs404(VertxTestContext ctx) {
    JsonObject req = chat(LIGHTHOUSE).put("model", "gpt-17");
    post("/v1/chat/completions", req).onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
      assertEquals(404, resp.statusCode(), resp::bodyAsString);
      assertEquals("model_not_found", resp.bodyAsJsonObject().getJsonObject("error").getString("code"));
      ctx.completeNow();
    })));
  }

  @Test
  @Order(9)
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void unansweredQuestionSaysSoAndBecomesAGap(VertxTestContext ctx) {
    post("/v1/chat/completions", chat(UNANSWERED))
        .compose(resp -> {
          ctx.verify(() -> {
            assertEquals(200, resp.statusCode(), resp::bodyAsString);
            JsonObject body = resp.bodyAsJsonObject();
            String answer = body.getJsonArray("choices").getJsonObject(0).getJsonObject("message")
                .getString("content");
            assertTrue(answer.startsWith("I don't know"), answer);
            JsonObject companion = body.getJsonObject("companion");
            assertExtractiveRoute(resp, companion);
            assertFalse(companion.getBoolean("answered"));
            assertTrue(companion.getJsonArray("citations").isEmpty(), companion::encode);
          });
          return get("/v1/knowledge/gaps");
        })
        .compose(gaps -> {
          // asked once: not yet a gap
          ctx.verify(() -> assertNull(gap(gaps.bodyAsJsonObject()), gaps::bodyAsString));
          // the same question again, through the other door and streamed
          return post("/v1/completions", new JsonObject().put("model", "auto").put("prompt", UNANSWERED)
              .put("stream", true));
        })
        .compose(resp -> {
          ctx.verify(() -> {
            assertEquals(200, resp.statusCode(), resp::bodyAsString);
            StringBuilder text = new StringBuilder();
            for (JsonObject c : OpenAiEndToEndTest.sse(resp.bodyAsString())) {
              JsonArray choices = c.getJsonArray("choices");
              if (!choices.isEmpty()) text.append(choices.getJsonObject(0).getString("text"));
            }
            assertTrue(text.toString().startsWith("I don't know"), text::toString);
          });
          return get("/v1/knowledge/gaps");
        })
        .onComplete(ctx.succeeding(gaps -> ctx.verify(() -> {
          assertEquals(200, gaps.statusCode(), gaps::bodyAsString);
          JsonObject gap = gap(gaps.bodyAsJsonObject());
          assertNotNull(gap, gaps::bodyAsString);
          assertTrue(gap.getInteger("count") >= 2, gap::encode);
          assertTrue(gap.getDouble("best_score") < 0.35, gap::encode);
          ctx.completeNow();
        })));
  }

  @Test
  @Order(10)
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void documentThatAnswersItClosesTheGap(VertxTestContext ctx) {
    JsonObject docs = new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "titan")
        .put("title", "Titan").put("text", "Titan is the largest moon of Saturn. "
            + "Titan takes about 15.9 days to orbit Saturn once. Its thick atmosphere is mostly nitrogen.")));
    post("/v1/knowledge/documents", docs)
        .compose(resp -> {
          ctx.verify(() -> assertEquals(200, resp.statusCode(), resp::bodyAsString));
          return get("/v1/knowledge/gaps");
        })
        .compose(gaps -> {
          ctx.verify(() -> assertNull(gap(gaps.bodyAsJsonObject()), gaps::bodyAsString));
          return post("/v1/chat/completions", chat(UNANSWERED));
        })
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode(), resp::bodyAsString);
          JsonObject body = resp.bodyAsJsonObject();
          String answer = body.getJsonArray("choices").getJsonObject(0).getJsonObject("message").getString("content");
          assertTrue(answer.contains("15.9 days"), answer);
          assertTrue(body.getJsonObject("companion").getBoolean("answered"));
          assertEquals("titan", body.getJsonObject("companion").getJsonArray("citations").getJsonObject(0)
              .getString("document_id"));
          ctx.completeNow();
        })));
  }

  /** A worker with a real model joins: "auto" now generates, and the interaction reaches the knowledge service. */
  @Test
  @Order(11)
  @Timeout(value = 180, timeUnit = TimeUnit.SECONDS)
  void generatedCompletionIsLoggedAsAnInteraction(Vertx vertx, VertxTestContext ctx) throws Exception {
    ModelFixtures.importStories(ModelPaths.modelsDir(dataDir));
    String prompt = "Once upon a time a little dragon wanted to learn how to bake muffins";
    JsonObject node = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", NODE);
    int[] before = new int[1];
    get("/v1/knowledge/gaps")
        .compose(gaps -> {
          before[0] = gaps.bodyAsJsonObject().getInteger("recent_questions");
          return deploy(vertx, new WorkerVerticle(), node);
        })
        .compose(v -> post("/v1/completions", new JsonObject().put("model", "auto").put("prompt", prompt)
            .put("temperature", 0).put("max_tokens", 16)))
        .compose(resp -> {
          ctx.verify(() -> {
            assertEquals(200, resp.statusCode(), resp::bodyAsString);
            JsonObject route = resp.bodyAsJsonObject().getJsonObject("companion").getJsonObject("route");
            assertEquals("stories260K", route.getString("model"), route::encode);
            assertNotEquals("extractive", route.getString("strategy"));
            assertNotNull(route.getString("workerId"));
          });
          // logged fire-and-forget: wait until the knowledge service has it
          return poll(vertx, "/v1/knowledge/patterns", p -> p.getJsonArray("patterns").stream()
              .map(JsonObject.class::cast).anyMatch(x -> x.getJsonArray("examples").contains(prompt)), 20_000);
        })
        .compose(patterns -> get("/v1/knowledge/gaps"))
        .onComplete(ctx.succeeding(gaps -> ctx.verify(() -> {
          assertEquals(before[0] + 1, gaps.bodyAsJsonObject().getInteger("recent_questions"), gaps::bodyAsString);
          ctx.completeNow();
        })));
  }

  // ---- helpers

  private static void assertExtractiveRoute(HttpResponse<Buffer> resp, JsonObject companion) {
    String header = resp.getHeader("x-companion-route");
    assertNotNull(header, "x-companion-route header");
    assertTrue(header.startsWith("model=extractive; worker=" + NODE + "; strategy=extractive;"), header);
    assertExtractiveRoute(companion);
  }

  private static void assertExtractiveRoute(JsonObject companion) {
    JsonObject route = companion.getJsonObject("route");
    assertEquals("extractive", route.getString("model"));
    assertEquals("extractive", route.getString("strategy"));
    assertEquals(NODE, route.getString("worker"));
    String reasons = route.getJsonArray("reasons").encode();
    assertTrue(reasons.contains("no generative model"), reasons);
    assertTrue(reasons.contains("best score"), reasons);
    assertNotNull(companion.getJsonArray("citations"));
  }

  private static JsonObject gap(JsonObject gaps) {
    return gaps.getJsonArray("gaps").stream().map(JsonObject.class::cast)
        .filter(g -> UNANSWERED.equals(g.getString("question"))
            || g.getJsonArray("examples", new JsonArray()).contains(UNANSWERED))
        .findFirst().orElse(null);
  }

  private static JsonObject chat(String question) {
    return new JsonObject().put("model", "auto").put("messages", new JsonArray()
        .add(new JsonObject().put("role", "system").put("content", "Answer briefly."))
        .add(new JsonObject().put("role", "user").put("content", question)));
  }

  private static Future<HttpResponse<Buffer>> post(String path, JsonObject body) {
    return client.post(port, HOST, path).sendJsonObject(body);
  }

  private static Future<HttpResponse<Buffer>> get(String path) {
    return client.get(port, HOST, path).send();
  }

  private static Future<JsonObject> poll(Vertx vertx, String path, Predicate<JsonObject> done, long withinMs) {
    long deadline = System.currentTimeMillis() + withinMs;
    return get(path).compose(resp -> {
      JsonObject body = resp.bodyAsJsonObject();
      if (resp.statusCode() == 200 && done.test(body)) return Future.succeededFuture(body);
      if (System.currentTimeMillis() > deadline) {
        return Future.failedFuture(new AssertionError(path + " never matched: " + resp.bodyAsString()));
      }
      return vertx.timer(200).compose(t -> poll(vertx, path, done, deadline - System.currentTimeMillis()));
    });
  }

  private static Future<String> deploy(Vertx vertx, io.vertx.core.VerticleBase v, JsonObject config) {
    return vertx.deployVerticle(v, new DeploymentOptions().setConfig(config));
  }
}
