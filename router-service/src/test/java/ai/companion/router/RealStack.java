package ai.companion.router;

import ai.companion.api.ModelPaths;
import ai.companion.api.Addresses;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.knowledge.KnowledgeVerticle;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The real parts, in one Vert.x: the two fixture models imported with no hints (no description), one
 * inference worker serving both, the all-MiniLM-L6-v2 embedding service, and a router.
 */
final class RealStack {
  static final String STORIES = "stories260k";
  static final String DREAMS = "aidreams260k";

  private RealStack() {}

  /** Imports both fixtures into {@code dataDir/models} (blocking). */
  static void importModels(Path dataDir) throws Exception {
    Path models = ModelPaths.modelsDir(dataDir);
    Files.createDirectories(models);
    ModelFixtures.importModel(ModelFixtures.STORIES, STORIES, models);
    ModelFixtures.importModel(ModelFixtures.AIDREAMS, DREAMS, models);
  }

  /** Deploys the knowledge service on {@code dataDir} and ingests the test corpus (knowledge-docs.json). */
  static Future<Void> deployKnowledge(Vertx vertx, Path dataDir) {
    JsonObject docs;
    try (var in = RealStack.class.getResourceAsStream("/knowledge-docs.json")) {
      docs = new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (Exception e) {
      return Future.failedFuture(e);
    }
    return vertx.deployVerticle(new KnowledgeVerticle(), new DeploymentOptions().setConfig(new JsonObject()
            .put("dataDir", dataDir.toString()).put("seedPaths", new io.vertx.core.json.JsonArray())))
        .compose(id -> vertx.eventBus().request(Addresses.KNOWLEDGE_INGEST, docs))
        .mapEmpty();
  }

  /** Deploys embeddings, a worker and a router; completes with the router once both profiles are learned. */
  static Future<RouterVerticle> deploy(Vertx vertx, Path dataDir, JsonObject routerConfig) {
    RouterVerticle router = new RouterVerticle();
    JsonObject rc = new RouterOptions().setDataDir(dataDir.toString()).setNodeName("test").setBanditSeed(7)
        .toJson().mergeIn(routerConfig == null ? new JsonObject() : routerConfig);
    return vertx.deployVerticle(new EmbeddingVerticle(), new DeploymentOptions())
        .compose(id -> vertx.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(
            new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "test").put("workerId", "worker-1")
                .put("statusIntervalMs", 500))))
        .compose(id -> vertx.deployVerticle(router, new DeploymentOptions().setConfig(rc)))
        .compose(id -> router.profiles().awaitProfiles(List.of(STORIES, DREAMS), 180_000))
        .map(v -> router);
  }
}
