package ai.companion.knowledge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The knowledge service over a local event bus with the real embedder and a real index. The test thread is not an
 * event loop, so it waits on replies directly.
 */
class KnowledgeVerticleTest {
  @TempDir Path dataDir;
  private Vertx vertx;
  private String deployment;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    deploy(new KnowledgeOptions().setDataDir(dataDir.toString()));
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private void deploy(KnowledgeOptions o) throws Exception {
    deployment = vertx.deployVerticle(new KnowledgeVerticle(), new DeploymentOptions().setConfig(o.toJson()))
        .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private void redeploy(KnowledgeOptions o) throws Exception {
    vertx.undeploy(deployment).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    deploy(o);
  }

  private JsonObject call(String address, JsonObject body) throws Exception {
    Message<JsonObject> m = vertx.eventBus().<JsonObject>request(address, body, new DeliveryOptions().setSendTimeout(60_000))
        .toCompletionStage().toCompletableFuture().get(70, TimeUnit.SECONDS);
    return m.body();
  }

  private ErrorCode failure(String address, JsonObject body) throws Exception {
    try {
      call(address, body);
      fail("should have failed: " + body);
      return null;
    } catch (ExecutionException e) {
      return ErrorCode.of(e.getCause());
    }
  }

  private static JsonObject doc(KnowledgeStore.SourceDocument d) {
    return new JsonObject().put("id", d.id()).put("text", d.text()).put("format", d.format());
  }

  private JsonObject ingest(String tenant, List<KnowledgeStore.SourceDocument> docs) throws Exception {
    JsonArray arr = new JsonArray();
    docs.forEach(d -> arr.add(doc(d)));
    JsonObject body = new JsonObject().put("documents", arr);
    if (tenant != null) body.put("tenant", tenant);
    return call(Addresses.KNOWLEDGE_INGEST, body);
  }

  @Test
  void ingestSearchAndAnswerOverTheBus() throws Exception {
    JsonObject ack = ingest(null, QaCorpus.documents());
    assertEquals(new JsonArray(QaCorpus.DOCS), ack.getJsonArray("ingested"));
    JsonObject r = call(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "What is the default port of a Hazelcast member?").put("k", "3"));
    JsonArray results = r.getJsonArray("results");
    assertEquals(3, results.size());
    JsonObject top = results.getJsonObject(0);
    assertEquals("hazelcast.md", top.getString("document_id"));
    assertTrue(top.getString("chunk_id").startsWith("hazelcast.md#"));
    assertTrue(top.getString("text").contains("5701"));
    assertNotNull(top.getDouble("score"));
    assertNotNull(top.getJsonArray("graph"));

    JsonObject a = call(Addresses.KNOWLEDGE_ANSWER, new JsonObject().put("question", "Which coffee species has more caffeine?"));
    assertTrue(a.getBoolean("answered"), a.encodePrettily());
    assertTrue(a.getString("answer").contains("Robusta"), a.getString("answer"));
    assertTrue(a.getString("answer").contains("[1]"), a.getString("answer"));
    JsonObject cite = a.getJsonArray("citations").getJsonObject(0);
    assertEquals("coffee.md", cite.getString("document_id"));
    assertTrue(cite.getString("chunk_id").startsWith("coffee.md#"));
    assertNotNull(a.getString("interaction_id"));

    JsonObject stats = call(Addresses.KNOWLEDGE_STATS, new JsonObject());
    assertEquals(QaCorpus.DOCS.size(), stats.getInteger("documents"));
    assertEquals("all-MiniLM-L6-v2/int8", stats.getString("embedder"));   // the default
    assertEquals(1, stats.getInteger("questions"));
    // the searched question, logged afterwards as an interaction, reuses the search's vector: no embedding of its own
    JsonObject before = stats.getJsonObject("question_vectors");
    call(Addresses.KNOWLEDGE_INTERACTION, new JsonObject().put("question",
        "What is the default port of a Hazelcast member?").put("route", "test"));
    JsonObject after = call(Addresses.KNOWLEDGE_STATS, new JsonObject()).getJsonObject("question_vectors");
    assertEquals(before.getLong("misses"), after.getLong("misses"), after.encode());
    assertEquals(before.getLong("hits") + 1, after.getLong("hits"), after.encode());
    // one never searched is embedded
    call(Addresses.KNOWLEDGE_INTERACTION, new JsonObject().put("question", "Is the canteen open on Sundays?")
        .put("route", "test"));
    assertEquals(before.getLong("misses") + 1,
        call(Addresses.KNOWLEDGE_STATS, new JsonObject()).getJsonObject("question_vectors").getLong("misses"));
    assertEquals(1.0, stats.getDouble("coverage"), 1e-9);
  }

  @Test
  void badRequestsGetTypedErrors() throws Exception {
    List<JsonObject> badIngest = List.of(new JsonObject(), new JsonObject().put("documents", new JsonArray()),
        new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "x"))),
        new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "x").put("text", "t").put("format", "pdf"))),
        new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "").put("text", "t"))),
        new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", "x").put("text", "t")))
            .put("tenant", "bad tenant/../x"));
    for (JsonObject b : badIngest) assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_INGEST, b), b.encode());
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_SEARCH, new JsonObject()));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", " ")));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "x").put("k", 0)));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "x").put("k", "lots")));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_ANSWER, new JsonObject().put("question", 5)));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_FEEDBACK, new JsonObject().put("interaction_id", "x").put("rating", 5)));
    assertEquals(ErrorCode.NOT_FOUND, failure(Addresses.KNOWLEDGE_FEEDBACK, new JsonObject().put("interaction_id", "nope").put("rating", 1)));
    // the service is still fine afterwards
    assertEquals(0, call(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "anything")).getJsonArray("results").size());
  }

  @Test
  void gapsAppearAndCloseWhenKnowledgeArrives() throws Exception {
    ingest(null, QaCorpus.documents());
    List<String> asks = List.of("How do I bake sourdough bread?", "How should I bake bread with a sourdough starter?",
        "What is the recipe for a sourdough loaf?", "How do bees make honey?", "How is honey produced by bees?",
        "Who created Lucene?");
    for (String q : asks) {
      JsonObject a = call(Addresses.KNOWLEDGE_ANSWER, new JsonObject().put("question", q));
      assertEquals(q.contains("Lucene"), a.getBoolean("answered"), q + " -> " + a.getString("answer"));
    }
    JsonObject g = call(Addresses.KNOWLEDGE_GAPS, new JsonObject());
    JsonArray gaps = g.getJsonArray("gaps");
    assertEquals(2, gaps.size(), g.encodePrettily());
    assertEquals("How do I bake sourdough bread?", gaps.getJsonObject(0).getString("question"));
    assertEquals(3, gaps.getJsonObject(0).getInteger("count"));   // most frequent first
    assertEquals(2, gaps.getJsonObject(1).getInteger("count"));
    assertTrue(gaps.getJsonObject(0).getDouble("best_score") < KnowledgeOptions.DEFAULT_ANSWER_THRESHOLD);
    assertEquals(1.0 / 6, g.getDouble("coverage"), 1e-9);

    // learning survives a restart (the log is replayed)
    redeploy(new KnowledgeOptions().setDataDir(dataDir.toString()));
    assertEquals(2, call(Addresses.KNOWLEDGE_GAPS, new JsonObject()).getJsonArray("gaps").size());

    ingest(null, List.of(QaCorpus.fill("sourdough.md")));
    gaps = call(Addresses.KNOWLEDGE_GAPS, new JsonObject()).getJsonArray("gaps");
    assertEquals(1, gaps.size(), gaps.encodePrettily());
    assertEquals("How do bees make honey?", gaps.getJsonObject(0).getString("question"));
    JsonObject a = call(Addresses.KNOWLEDGE_ANSWER, new JsonObject().put("question", "How do I bake sourdough bread?"));
    assertTrue(a.getBoolean("answered"));
    assertEquals("sourdough.md", a.getJsonArray("citations").getJsonObject(0).getString("document_id"));
    redeploy(new KnowledgeOptions().setDataDir(dataDir.toString()));
    assertEquals(1, call(Addresses.KNOWLEDGE_GAPS, new JsonObject()).getJsonArray("gaps").size(), "closure is durable");
  }

  @Test
  void patternsClusterParaphrases() throws Exception {
    List<String> importQs = List.of("How do I import a model?", "How can I import a new model?",
        "What is the command to import a model?");
    List<String> portQs = List.of("Which port does Hazelcast use?", "What port do Hazelcast members listen on?");
    for (String q : List.of(importQs.get(0), portQs.get(0), importQs.get(1), "Why is the sky blue?", portQs.get(1),
        importQs.get(2))) {
      JsonObject r = call(Addresses.KNOWLEDGE_INTERACTION, new JsonObject().put("question", q).put("route", "test"));
      assertNotNull(r.getString("interaction_id"));
    }
    JsonArray patterns = call(Addresses.KNOWLEDGE_PATTERNS, new JsonObject()).getJsonArray("patterns");
    assertEquals(3, patterns.size(), patterns.encodePrettily());
    assertEquals(3, patterns.getJsonObject(0).getInteger("count"));
    assertEquals(new JsonArray(importQs), patterns.getJsonObject(0).getJsonArray("examples"));
    assertEquals(2, patterns.getJsonObject(1).getInteger("count"));
    assertEquals(new JsonArray(portQs), patterns.getJsonObject(1).getJsonArray("examples"));
    assertEquals(1, patterns.getJsonObject(2).getInteger("count"));
    // another tenant's questions are its own
    assertEquals(0, call(Addresses.KNOWLEDGE_PATTERNS, new JsonObject().put("tenant", "acme")).getJsonArray("patterns").size());
  }

  @Test
  void positiveFeedbackPromotesAnAnswerIntoKnowledge() throws Exception {
    String q = "What is the office wifi password policy?";
    JsonObject logged = call(Addresses.KNOWLEDGE_INTERACTION, new JsonObject().put("question", q).put("route", "model:x")
        .put("answer", "The office wifi password rotates every Monday and is posted at reception.").put("tenant", "acme"));
    String id = logged.getString("interaction_id");
    assertFalse(logged.getBoolean("answered"));
    JsonObject wrongTenant = new JsonObject().put("interaction_id", id).put("rating", 1).put("promote", true);
    assertEquals(ErrorCode.NOT_FOUND, failure(Addresses.KNOWLEDGE_FEEDBACK, wrongTenant));
    assertEquals(ErrorCode.INVALID_REQUEST, failure(Addresses.KNOWLEDGE_FEEDBACK, new JsonObject().put("interaction_id", id)
        .put("rating", -1).put("promote", true).put("tenant", "acme")));
    assertTrue(call(Addresses.KNOWLEDGE_FEEDBACK, new JsonObject().put("interaction_id", id).put("rating", 0)
        .put("tenant", "acme")).getBoolean("recorded"));
    JsonObject fb = call(Addresses.KNOWLEDGE_FEEDBACK, new JsonObject().put("interaction_id", id).put("rating", 1)
        .put("promote", true).put("tenant", "acme"));
    assertTrue(fb.getBoolean("recorded"));
    String docId = fb.getString("promoted_document_id");
    assertNotNull(docId);
    JsonObject top = call(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "When does the wifi password change?")
        .put("tenant", "acme")).getJsonArray("results").getJsonObject(0);
    assertEquals(docId, top.getString("document_id"));
    assertTrue(top.getString("text").contains("every Monday"));
    // promoted into acme's space, not the public one
    for (Object o : call(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "When does the wifi password change?"))
        .getJsonArray("results")) {
      assertFalse(((JsonObject) o).getString("text").contains("every Monday"));
    }
  }

  @Test
  void seedsAnEmptyStoreOnce() throws Exception {
    Path repo = Files.createDirectories(dataDir.resolve("repo"));
    Files.writeString(repo.resolve("README.md"), "# AI-Companion\n\nImport a model with `./companion model import FILE --name NAME`.\n");
    Path docs = Files.createDirectories(repo.resolve("docs"));
    Files.writeString(docs.resolve("knowledge.md"), "# Knowledge\n\nIngest documents with `./companion ingest PATH`.\n");
    Files.write(docs.resolve("diagram.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 1, 2});
    KnowledgeOptions o = new KnowledgeOptions().setDataDir(dataDir.resolve("seeded").toString())
        .setSeedPaths(List.of(repo.resolve("README.md").toString(), docs.toString()));
    redeploy(o);
    JsonObject stats = call(Addresses.KNOWLEDGE_STATS, new JsonObject());
    assertEquals(2, stats.getInteger("documents"));
    JsonObject a = call(Addresses.KNOWLEDGE_ANSWER, new JsonObject().put("question", "How do I import a model?"));
    assertTrue(a.getBoolean("answered"), a.encodePrettily());
    assertEquals("README.md", a.getJsonArray("citations").getJsonObject(0).getString("document_id"));
    assertTrue(a.getString("answer").contains("./companion model import"), a.getString("answer"));
    // a second start does not ingest again (the store is not empty): an edit to README is not picked up silently
    Files.writeString(repo.resolve("README.md"), "# Changed\n\nNothing here.\n");
    redeploy(o);
    assertEquals(2, call(Addresses.KNOWLEDGE_STATS, new JsonObject()).getInteger("documents"));
    assertTrue(call(Addresses.KNOWLEDGE_SEARCH, new JsonObject().put("q", "import a model")).getJsonArray("results")
        .getJsonObject(0).getString("text").contains("model import"));
  }
}
