package ai.companion.router.bench;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.companion.api.WorkerInfo;
import ai.companion.api.spi.DomainProfile;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.NormalizedInput;
import ai.companion.api.spi.RoutePlan;
import ai.companion.embeddings.MiniLmEmbedder;
import ai.companion.router.RouterOptions;
import ai.companion.router.RouterVerticle;
import ai.companion.router.impl.FeatureRecognizer;
import ai.companion.router.impl.Policy;
import ai.companion.router.impl.TextFeatures;
import ai.companion.router.impl.TextInputProcessor;
import ai.companion.router.impl.ThompsonBandit;
import ai.companion.router.impl.WorkerView;
import ai.companion.router.impl.YamlRoutingPolicy;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.modelimport.ModelImporter;
import ai.companion.modelimport.ProgressListener;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import ai.companion.api.ModelPaths;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Decision latency of the router, p50/p99 by JMH sample time, over the 210 prompts of routing-set.jsonl,
 * with domain profiles the router learned from the real fixture models (setup imports them, starts a real
 * worker and the embedding service, and waits for the profiles).
 *
 * <ul>
 *   <li>{@code decide}: everything the router computes itself: input normalisation, features (length,
 *       language, question score, per-model calibrated tokens, lexical domain), the YAML policy, the Thompson
 *       bandit and the least-loaded worker choice.
 *   <li>{@code decideWithEmbedding}: the same plus the all-MiniLM-L6-v2 embedding of the query, run in-process,
 *       used for the domain (what the router asks the embedding service for).
 *   <li>{@code routeOverEventBus}: a full {@code companion.router.route} request through the event bus to the
 *       deployed RouterVerticle (embedding over the bus; no knowledge service deployed, so that call fails fast).
 * </ul>
 * Run: see {@link RouteDecisionBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgs = {"-Xmx1g"})
@Threads(1)
public class RouteDecisionBenchmark {

  List<GenerationRequest> requests;
  List<ModelInfo> models;
  Map<String, DomainProfile> profiles;
  List<WorkerInfo> live;
  YamlRoutingPolicy policy;
  ThompsonBandit bandit;
  WorkerView workers;
  MiniLmEmbedder embedder;
  Vertx vertx;
  Path dataDir;
  int next;

  @Setup(Level.Trial)
  public void setup() throws Exception {
    requests = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(
        RouteDecisionBenchmark.class.getResourceAsStream("/routing-set.jsonl"), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        JsonObject j = new JsonObject(line);
        String id = j.getString("id");
        requests.add(new GenerationRequest(id, "auto", j.getString("prompt"), null,
            SamplingParams.GREEDY.withMaxTokens(64), Addresses.streamAddress(id), List.of(), new JsonObject()));
      }
    }
    dataDir = Files.createTempDirectory("router-bench");
    Path shared = ModelPaths.sharedModels();
    Path modelsDir = ModelPaths.modelsDir(dataDir);
    Files.createDirectories(modelsDir);
    ModelImporter.importLlama2c(shared.resolve("stories260K/stories260K.bin"), shared.resolve("stories260K/tok512.bin"),
        "stories260k", modelsDir, ProgressListener.NONE);
    ModelImporter.importLlama2c(shared.resolve("aidreams260K/aidreams260K.bin"),
        shared.resolve("aidreams260K/tok512.bin"), "aidreams260k", modelsDir, ProgressListener.NONE);
    vertx = Vertx.vertx();
    RouterVerticle router = new RouterVerticle();
    vertx.deployVerticle(new EmbeddingVerticle(), new DeploymentOptions())
        .compose(id -> vertx.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(new JsonObject()
            .put("dataDir", dataDir.toString()).put("workerId", "bench-worker"))))
        .compose(id -> vertx.deployVerticle(router, new DeploymentOptions().setConfig(
            new RouterOptions().setDataDir(dataDir.toString()).setBanditSeed(1).toJson())))
        .compose(id -> router.profiles().awaitProfiles(List.of("stories260k", "aidreams260k"), 120_000))
        .toCompletionStage().toCompletableFuture().get(180, TimeUnit.SECONDS);
    profiles = router.profiles().snapshot();
    long now = System.currentTimeMillis();
    models = new ArrayList<>(List.of(
        new ModelInfo("stories260k", "llama", 512, 260_000, "fp32", ""),
        new ModelInfo("aidreams260k", "llama", 128, 233_000, "fp32", "")));
    models.sort(Comparator.comparing(ModelInfo::id));
    live = List.of(new WorkerInfo("w1", "n1", models, "cpu", 2, 0, 300, now),
        new WorkerInfo("w2", "n2", models, "cpu", 1, 1, 120, now),
        new WorkerInfo("w3", "n3", models.subList(0, 1), "cpu", 0, 0, 0, now));
    policy = YamlRoutingPolicy.of(Policy.parse(YamlRoutingPolicy.defaultPolicyText()));
    bandit = new ThompsonBandit(42);
    workers = new WorkerView(60_000);
    embedder = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  GenerationRequest nextRequest() {
    GenerationRequest r = requests.get(next);
    next = (next + 1) % requests.size();
    return r;
  }

  String decide(GenerationRequest r, float[] embedding) {
    NormalizedInput in = TextInputProcessor.normalize(r);
    Intent intent = FeatureRecognizer.build(in, models, profiles, TextFeatures.questionScore(in.query()),
        embedding, null);
    RoutePlan plan = policy.decideNow(intent, models, bandit);
    WorkerView.Choice c = workers.choose(live, plan.model(), Set.of());
    return c.load().worker().workerId() + plan.strategy();
  }

  @Benchmark
  public String decide() {
    return decide(nextRequest(), null);
  }

  @Benchmark
  public String decideWithEmbedding() {
    GenerationRequest r = nextRequest();
    String q = TextInputProcessor.normalize(r).query();
    float[] e = embedder.embed(q.length() > 1000 ? q.substring(0, 1000) : q);
    return decide(r, e);
  }

  @Benchmark
  public Object routeOverEventBus() throws Exception {
    GenerationRequest r = nextRequest();
    GenerationRequest fresh = new GenerationRequest(UUID.randomUUID().toString(), r.model(), r.prompt(), null,
        r.params(), r.streamAddress(), List.of(), r.hints());
    return vertx.eventBus().request(Addresses.ROUTER_ROUTE, fresh.toJson())
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).body();
  }
}
