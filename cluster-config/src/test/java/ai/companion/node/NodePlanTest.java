package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.embeddings.EmbeddingOptions;
import ai.companion.knowledge.KnowledgeOptions;
import ai.companion.node.cli.StartCommand;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** What a node deploys for a command line: each service gets the settings meant for it. */
class NodePlanTest {

  private static List<Node.Deployment> plan(String... args) {
    CommandLine cli = CompanionCli.commandLine(Map.of(), Map.of());
    StartCommand start = (StartCommand) cli.parseArgs(args).subcommand().commandSpec().userObject();
    return Node.plan(start.toOptions(), "n1", 2);
  }

  private static JsonObject config(List<Node.Deployment> plan, String verticle) {
    return plan.stream().filter(d -> d.verticle().equals(verticle)).findFirst()
        .orElseThrow(() -> new AssertionError(verticle + " not in " + plan)).config();
  }

  @Test
  void everyRoleDeploysInOrderWithTheGatewayLast() {
    List<String> verticles = plan("start").stream().map(Node.Deployment::verticle).toList();
    assertEquals(List.of(Node.WORKER_VERTICLE, Node.EMBEDDING_VERTICLE, Node.KNOWLEDGE_VERTICLE, Node.ROUTER_VERTICLE,
        Node.GATEWAY_VERTICLE), verticles);
  }

  @Test
  void embeddingsServeFp32AndTheKnowledgeStoreEmbedsWithInt8ByDefault() {
    List<Node.Deployment> p = plan("start");
    assertEquals("fp32", new EmbeddingOptions(config(p, Node.EMBEDDING_VERTICLE)).getVariant().label());
    assertEquals("int8", new KnowledgeOptions(config(p, Node.KNOWLEDGE_VERTICLE)).getEmbeddingVariant());
  }

  @Test
  void eachEmbeddingVariantFlagReachesItsOwnService() {
    List<Node.Deployment> p = plan("start", "--knowledge-embedding-variant", "fp32");
    assertEquals("fp32", new KnowledgeOptions(config(p, Node.KNOWLEDGE_VERTICLE)).getEmbeddingVariant());
    assertEquals("fp32", new EmbeddingOptions(config(p, Node.EMBEDDING_VERTICLE)).getVariant().label());
    p = plan("start", "--embedding-variant", "int8");
    assertEquals("int8", new EmbeddingOptions(config(p, Node.EMBEDDING_VERTICLE)).getVariant().label());
    assertEquals("int8", new KnowledgeOptions(config(p, Node.KNOWLEDGE_VERTICLE)).getEmbeddingVariant());
    p = plan("start", "--embedding-variant", "int8", "--knowledge-embedding-variant", "fp32");
    assertEquals("int8", new EmbeddingOptions(config(p, Node.EMBEDDING_VERTICLE)).getVariant().label());
    assertEquals("fp32", new KnowledgeOptions(config(p, Node.KNOWLEDGE_VERTICLE)).getEmbeddingVariant());
  }

  @Test
  void thePromptCacheFlagReachesTheWorker() {
    assertEquals(ai.companion.worker.WorkerOptions.DEFAULT_PROMPT_CACHE_MB,
        new ai.companion.worker.WorkerOptions(config(plan("start"), Node.WORKER_VERTICLE)).getPromptCacheMb());
    assertEquals(0, new ai.companion.worker.WorkerOptions(config(plan("start", "--prompt-cache-mb", "0"),
        Node.WORKER_VERTICLE)).getPromptCacheMb());
    assertEquals(512, new ai.companion.worker.WorkerOptions(config(plan("start", "--prompt-cache-mb", "512"),
        Node.WORKER_VERTICLE)).getPromptCacheMb());
  }

  @Test
  void thePrefillSliceFlagReachesTheWorker() {
    assertEquals(ai.companion.worker.WorkerOptions.DEFAULT_PREFILL_SLICE_MS,
        new ai.companion.worker.WorkerOptions(config(plan("start"), Node.WORKER_VERTICLE)).getPrefillSliceMs());
    assertEquals(0, new ai.companion.worker.WorkerOptions(config(plan("start", "--prefill-slice-ms", "0"),
        Node.WORKER_VERTICLE)).getPrefillSliceMs());
  }

  @Test
  void thePrefillFirstFlagReachesTheWorker() {
    assertEquals(ai.companion.worker.WorkerOptions.DEFAULT_PREFILL_FIRST_MS,
        new ai.companion.worker.WorkerOptions(config(plan("start"), Node.WORKER_VERTICLE)).getPrefillFirstMs());
    assertEquals(300, new ai.companion.worker.WorkerOptions(config(plan("start", "--prefill-first-ms", "300"),
        Node.WORKER_VERTICLE)).getPrefillFirstMs());
  }

  @Test
  void theAffinityFlagReachesTheRouter() {
    assertEquals(ai.companion.router.RouterOptions.DEFAULT_AFFINITY_SLACK,
        new ai.companion.router.RouterOptions(config(plan("start"), Node.ROUTER_VERTICLE)).getAffinitySlack());
    assertEquals(0, new ai.companion.router.RouterOptions(config(plan("start", "--affinity-slack", "0"),
        Node.ROUTER_VERTICLE)).getAffinitySlack());
  }
}
