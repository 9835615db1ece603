package ai.companion.router.bench;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.ModelPaths;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.embeddings.EmbeddingVerticle;
import ai.companion.embeddings.MiniLmEmbedder;
import ai.companion.knowledge.KnowledgeVerticle;
import ai.companion.modelimport.ModelImporter;
import ai.companion.modelimport.ProgressListener;
import ai.companion.router.RouterOptions;
import ai.companion.router.RouterVerticle;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Mixed workload, routing against always-the-largest-model, in one run on the same stack: the 210 prompts of
 * routing-set.jsonl (stories, dreams, knowledge questions, long documents), each generated for real by the
 * inference worker (64 new tokens, seed per request), with {@code concurrency} requests in flight.
 *
 * <p>Routing mode asks the router and executes its strategy: direct/specialist as is; knowledge with the
 * plan's passages put before the question (trimmed to the model's context); chunked as map (one generation
 * per chunk of plan.chunkChars) then reduce (one generation over the chunk outputs). It also sends the
 * finish-reason signal to the router's feedback address. Largest mode sends every prompt to the model with
 * the most parameters, as is.
 *
 * <p>Quality, without hand labels: the share of requests that got an answer (a prompt longer than the
 * model's context is refused by the worker) and relevance, the all-MiniLM-L6-v2 cosine between the request
 * and the answer (0 for a refused request). Run like {@link RouteDecisionBench} with this class's name.
 */
public final class MixedWorkloadBench {

  record Item(String id, String category, String prompt) {}

  record Outcome(String category, boolean ok, String answer, int tokens, String model, String strategy) {}

  static final int MAX_TOKENS = 64;

  final Vertx vertx = Vertx.vertx();
  final MiniLmEmbedder embedder = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32);
  Map<String, ModelInfo> models = new LinkedHashMap<>();

  public static void main(String[] args) throws Exception {
    int concurrency = args.length > 0 ? Integer.parseInt(args[0]) : 4;
    MixedWorkloadBench b = new MixedWorkloadBench();
    try {
      b.run(concurrency);
    } finally {
      b.vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    System.exit(0);
  }

  void run(int concurrency) throws Exception {
    List<Item> items = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(
        MixedWorkloadBench.class.getResourceAsStream("/routing-set.jsonl"), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        JsonObject j = new JsonObject(line);
        items.add(new Item(j.getString("id"), j.getString("category"), j.getString("prompt")));
      }
    }
    // interleave the categories, as a real mix would arrive
    items.sort(Comparator.comparing(i -> Math.abs((i.id().hashCode() * 31) % 1000)));
    Path dataDir = Files.createTempDirectory("router-mixed");
    Path shared = ModelPaths.sharedModels();
    Path modelsDir = ModelPaths.modelsDir(dataDir);
    Files.createDirectories(modelsDir);
    ModelImporter.importLlama2c(shared.resolve("stories260K/stories260K.bin"), shared.resolve("stories260K/tok512.bin"),
        "stories260k", modelsDir, ProgressListener.NONE);
    ModelImporter.importLlama2c(shared.resolve("aidreams260K/aidreams260K.bin"),
        shared.resolve("aidreams260K/tok512.bin"), "aidreams260k", modelsDir, ProgressListener.NONE);
    JsonObject docs;
    try (var in = MixedWorkloadBench.class.getResourceAsStream("/knowledge-docs.json")) {
      docs = new JsonObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
    RouterVerticle router = new RouterVerticle();
    await(vertx.deployVerticle(new EmbeddingVerticle(), new DeploymentOptions())
        .compose(id -> vertx.deployVerticle(new KnowledgeVerticle(), new DeploymentOptions().setConfig(new JsonObject()
            .put("dataDir", dataDir.toString()).put("seedPaths", new JsonArray()))))
        .compose(id -> vertx.eventBus().request(Addresses.KNOWLEDGE_INGEST, docs))
        .compose(id -> vertx.deployVerticle(new WorkerVerticle(), new DeploymentOptions().setConfig(new JsonObject()
            .put("dataDir", dataDir.toString()).put("workerId", "mixed-worker"))))
        .compose(id -> vertx.deployVerticle(router, new DeploymentOptions().setConfig(
            new RouterOptions().setDataDir(dataDir.toString()).setBanditSeed(3).setKnowledgeTimeoutMs(1000).toJson())))
        .compose(id -> router.profiles().awaitProfiles(List.of("stories260k", "aidreams260k"), 120_000))
        .compose(v -> vertx.eventBus().<JsonObject>request(Addresses.ROUTER_MODELS, new JsonObject())));
    JsonObject listed = await(vertx.eventBus().<JsonObject>request(Addresses.ROUTER_MODELS, new JsonObject())).body();
    for (Object o : listed.getJsonArray("models")) {
      ModelInfo m = ModelInfo.fromJson((JsonObject) o);
      models.put(m.id(), m);
    }
    String largest = models.values().stream().max(Comparator.comparingLong(ModelInfo::parameters)).get().id();
    System.out.println("models: " + models.values() + "; largest: " + largest);

    // warm-up: a few of each mode, not counted
    runMode("routing", items.subList(0, 10), concurrency, largest);
    runMode("largest", items.subList(0, 10), concurrency, largest);

    List<String> lines = new ArrayList<>();
    for (String mode : List.of("routing", "largest")) {
      long t0 = System.nanoTime();
      List<Outcome> out = runMode(mode, items, concurrency, largest);
      double secs = (System.nanoTime() - t0) / 1e9;
      lines.addAll(report(mode, items, out, secs));
    }
    System.out.println("\nMixed workload: " + items.size() + " requests, " + MAX_TOKENS + " new tokens each, concurrency "
        + concurrency);
    lines.forEach(System.out::println);
  }

  List<String> report(String mode, List<Item> items, List<Outcome> out, double secs) {
    List<String> lines = new ArrayList<>();
    int ok = 0;
    long tokens = 0;
    Map<String, double[]> byCat = new LinkedHashMap<>();   // n, ok, relevance sum
    List<String> prompts = new ArrayList<>();
    List<String> answers = new ArrayList<>();
    for (int i = 0; i < items.size(); i++) {
      Outcome o = out.get(i);
      if (o.ok()) {
        prompts.add(truncate(items.get(i).prompt()));
        answers.add(o.answer().isBlank() ? "." : truncate(o.answer()));
      }
    }
    float[][] pe = prompts.isEmpty() ? new float[0][] : embedder.embed(prompts);
    float[][] ae = answers.isEmpty() ? new float[0][] : embedder.embed(answers);
    int k = 0;
    double relAll = 0;
    Map<String, Integer> modelsUsed = new LinkedHashMap<>();
    for (int i = 0; i < items.size(); i++) {
      Outcome o = out.get(i);
      double[] c = byCat.computeIfAbsent(items.get(i).category(), x -> new double[3]);
      c[0]++;
      modelsUsed.merge(o.model() + "/" + o.strategy(), 1, Integer::sum);
      if (o.ok()) {
        ok++;
        tokens += o.tokens();
        double rel = dot(pe[k], ae[k]);
        k++;
        c[1]++;
        c[2] += rel;
        relAll += rel;
      }
    }
    lines.add(String.format(Locale.ROOT, "%-8s wall %.1f s, %.2f requests/s, %.0f generated tokens/s, answered %d/%d, "
        + "mean relevance %.3f", mode, secs, items.size() / secs, tokens / secs, ok, items.size(), relAll / items.size()));
    for (var e : byCat.entrySet()) {
      double[] c = e.getValue();
      lines.add(String.format(Locale.ROOT, "         %-10s answered %3.0f/%-3.0f relevance %.3f", e.getKey(), c[1], c[0],
          c[2] / c[0]));
    }
    lines.add("         model/strategy used: " + modelsUsed);
    return lines;
  }

  List<Outcome> runMode(String mode, List<Item> items, int concurrency, String largest) throws Exception {
    Outcome[] out = new Outcome[items.size()];
    AtomicInteger next = new AtomicInteger();
    Promise<Void> all = Promise.promise();
    AtomicInteger running = new AtomicInteger(concurrency);
    for (int w = 0; w < concurrency; w++) {
      vertx.runOnContext(v -> pump(mode, items, out, next, largest, all, running));
    }
    await(all.future());
    return List.of(out);
  }

  void pump(String mode, List<Item> items, Outcome[] out, AtomicInteger next, String largest, Promise<Void> all,
            AtomicInteger running) {
    int i = next.getAndIncrement();
    if (i >= items.size()) {
      if (running.decrementAndGet() == 0) all.tryComplete();
      return;
    }
    Item it = items.get(i);
    Future<Outcome> f = mode.equals("largest")
        ? generate(largest, it.prompt(), i).map(g -> new Outcome(it.category(), true, g.text, g.tokens, largest, "direct"))
        : routed(it, i);
    f.recover(err -> Future.succeededFuture(new Outcome(it.category(), false, "", 0,
            mode.equals("largest") ? largest : "?", "error: " + err.getMessage().split(":")[0])))
        .onComplete(ar -> {
          out[i] = ar.result();
          pump(mode, items, out, next, largest, all, running);
        });
  }

  Future<Outcome> routed(Item it, int seed) {
    String id = UUID.randomUUID().toString();
    GenerationRequest req = new GenerationRequest(id, "auto", it.prompt(), null,
        SamplingParams.GREEDY.withMaxTokens(MAX_TOKENS), Addresses.streamAddress(id), List.of(), new JsonObject());
    return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, req.toJson()).compose(m -> {
      JsonObject d = m.body();
      String model = d.getString("model");
      String strategy = d.getString("strategy");
      JsonObject plan = d.getJsonObject("plan", new JsonObject());
      Future<Gen> g;
      switch (strategy) {
        case "knowledge" -> g = generate(model, withPassages(it.prompt(), plan, models.get(model)), seed);
        case "chunked" -> g = mapReduce(model, it.prompt(), plan, seed);
        default -> g = generate(model, it.prompt(), seed);
      }
      boolean asIs = !strategy.equals("knowledge") && !strategy.equals("chunked");
      return g.compose(res -> vertx.eventBus().request(Addresses.ROUTER_FEEDBACK, new JsonObject().put("requestId", id)
              .put("signal", new JsonObject().put("finishReason", res.finish)
                  .put("promptTokens", asIs ? res.promptTokens : 0)))
          .transform(x -> Future.succeededFuture(new Outcome(it.category(), true, res.text, res.tokens, model, strategy))));
    });
  }

  /** The plan's passages (already trimmed by the router to what fits the model's context) before the question. */
  static String withPassages(String question, JsonObject plan, ModelInfo m) {
    StringBuilder ctx = new StringBuilder();
    for (Object o : plan.getJsonArray("passages", new JsonArray())) {
      if (o instanceof JsonObject p) ctx.append(p.getString("text", "")).append(' ');
    }
    return ctx.toString().isBlank() ? question : ctx.toString().strip() + "\n" + question;
  }

  Future<Gen> mapReduce(String model, String document, JsonObject plan, int seed) {
    int chunkChars = plan.getInteger("chunkChars", 600);
    List<String> chunks = new ArrayList<>();
    for (int p = 0; p < document.length(); p += chunkChars) {
      chunks.add(document.substring(p, Math.min(document.length(), p + chunkChars)));
    }
    List<Future<Gen>> maps = new ArrayList<>();
    for (String c : chunks) maps.add(generate(model, c, seed));
    return Future.all(maps).compose(x -> {
      StringBuilder joined = new StringBuilder();
      long mapTokens = 0;
      for (Future<Gen> f : maps) {
        joined.append(f.result().text.strip()).append(' ');
        mapTokens += f.result().tokens;
      }
      String reduce = joined.length() > chunkChars ? joined.substring(0, chunkChars) : joined.toString();
      long mt = mapTokens;
      return generate(model, reduce, seed).map(r -> new Gen(r.text, (int) (r.tokens + mt), r.finish, 0));
    });
  }

  record Gen(String text, int tokens, String finish, int promptTokens) {}

  Future<Gen> generate(String model, String prompt, int seed) {
    String id = UUID.randomUUID().toString();
    String address = Addresses.streamAddress(id);
    StringBuilder text = new StringBuilder();
    Promise<Gen> done = Promise.promise();
    MessageConsumer<JsonObject> c = vertx.eventBus().consumer(address, msg -> {
      StreamEvent e = StreamEvent.fromJson(msg.body());
      text.append(e.text());
      if (e.type() == StreamEvent.Type.DONE) {
        done.tryComplete(new Gen(text.toString(), e.completionTokens(), e.finishReason(), e.promptTokens()));
      }
      else if (e.type() == StreamEvent.Type.ERROR) done.tryFail(e.errorMessage());
    });
    SamplingParams params = new SamplingParams(0.8, 0.95, 0, (long) seed, MAX_TOKENS, List.of(), 1.0);
    GenerationRequest req = new GenerationRequest(id, model, prompt, null, params, address, List.of(), new JsonObject());
    c.completion()
        .compose(v -> vertx.eventBus().request(Addresses.workerGenerate("mixed-worker"), req.toJson(),
            new DeliveryOptions().setSendTimeout(60_000)))
        .onFailure(done::tryFail);
    return done.future().onComplete(x -> c.unregister());
  }

  static String truncate(String s) {
    return s.length() > 1000 ? s.substring(0, 1000) : s;
  }

  static double dot(float[] a, float[] b) {
    double d = 0;
    for (int i = 0; i < a.length; i++) d += a[i] * b[i];
    return d;
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(600, TimeUnit.SECONDS);
  }
}
