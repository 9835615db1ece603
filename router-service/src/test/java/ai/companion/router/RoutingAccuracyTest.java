package ai.companion.router;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Routing accuracy on the labelled set (src/test/resources/routing-set.jsonl: stories, machine dreams,
 * knowledge questions, long documents, each with the expected model and strategy), with every part real:
 * the fixture models imported with no hints, profiles learned from their own generations, MiniLM
 * embeddings and the knowledge service holding a small corpus. Prints the figures per category.
 */
@ExtendWith(VertxExtension.class)
class RoutingAccuracyTest {

  @TempDir Path dataDir;

  record Item(String id, String category, String prompt, String model, String strategy, JsonObject hints,
              Integer maxTokens) {}

  static List<Item> load() throws Exception {
    List<Item> items = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(
        RoutingAccuracyTest.class.getResourceAsStream("/routing-set.jsonl"), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (line.isBlank()) continue;
        JsonObject j = new JsonObject(line);
        items.add(new Item(j.getString("id"), j.getString("category"), j.getString("prompt"),
            j.getString("expected_model"), j.getString("expected_strategy"), j.getJsonObject("hints", new JsonObject()),
            j.getInteger("max_tokens")));
      }
    }
    return items;
  }

  @Test
  @Timeout(value = 10, timeUnit = TimeUnit.MINUTES)
  void routingAccuracyOnTheLabelledSet(Vertx vertx, VertxTestContext ctx) throws Exception {
    List<Item> items = load();
    assertTrue(items.size() >= 200, "the labelled set has " + items.size() + " items");
    RealStack.importModels(dataDir);
    long timeoutMs = Long.getLong("companion.router.knowledgeTimeoutMs", 1000);
    List<JsonObject> decisions = new ArrayList<>();
    List<Long> micros = new ArrayList<>();
    Future<Void> chain = RealStack.deployKnowledge(vertx, dataDir)
        .compose(v -> RealStack.deploy(vertx, dataDir, new JsonObject().put("knowledgeTimeoutMs", timeoutMs)
            .put("lexicalShortcutMargin", Double.parseDouble(System.getProperty("companion.router.lexicalShortcut", "0")))))
        .mapEmpty();
    for (Item it : items) {
      chain = chain.compose(v -> {
        long t0 = System.nanoTime();
        GenerationRequest req = new GenerationRequest(it.id(), "auto", it.prompt(), null,
            SamplingParams.GREEDY.withMaxTokens(it.maxTokens()), Addresses.streamAddress(it.id()), List.of(), it.hints());
        return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, req.toJson()).map(m -> {
          micros.add((System.nanoTime() - t0) / 1000);
          decisions.add(m.body());
          return null;
        });
      });
    }
    chain.onComplete(ctx.succeeding(v -> ctx.verify(() -> {
      Map<String, int[]> byCat = new LinkedHashMap<>();   // total, model ok, strategy ok, both ok
      List<String> misses = new ArrayList<>();
      for (int i = 0; i < items.size(); i++) {
        Item it = items.get(i);
        JsonObject d = decisions.get(i);
        boolean m = it.model().equals(d.getString("model"));
        boolean s = it.strategy().equals(d.getString("strategy"));
        int[] c = byCat.computeIfAbsent(it.category(), k -> new int[4]);
        c[0]++;
        if (m) c[1]++;
        if (s) c[2]++;
        if (m && s) c[3]++;
        if (!(m && s)) {
          misses.add(it.id() + ": expected " + it.model() + "/" + it.strategy() + ", got " + d.getString("model")
              + "/" + d.getString("strategy") + " | " + d.getJsonArray("reasons").getString(0) + " | "
              + d.getJsonObject("features").getJsonObject("domainScores").encode() + " q="
              + d.getJsonObject("features").getDouble("questionScore") + " k="
              + d.getJsonObject("features").getValue("knowledgeScore"));
        }
      }
      int[] all = new int[4];
      StringBuilder table = new StringBuilder("\nRouting accuracy on routing-set.jsonl (" + items.size() + " requests)\n");
      table.append(String.format(Locale.ROOT, "%-10s %5s %8s %9s %7s%n", "category", "n", "model", "strategy", "both"));
      for (var e : byCat.entrySet()) {
        int[] c = e.getValue();
        for (int k = 0; k < 4; k++) all[k] += c[k];
        table.append(String.format(Locale.ROOT, "%-10s %5d %7.1f%% %8.1f%% %6.1f%%%n", e.getKey(), c[0],
            100.0 * c[1] / c[0], 100.0 * c[2] / c[0], 100.0 * c[3] / c[0]));
      }
      table.append(String.format(Locale.ROOT, "%-10s %5d %7.1f%% %8.1f%% %6.1f%%%n", "all", all[0],
          100.0 * all[1] / all[0], 100.0 * all[2] / all[0], 100.0 * all[3] / all[0]));
      List<Long> sorted = new ArrayList<>(micros);
      sorted.sort(null);
      table.append(String.format(Locale.ROOT, "route round trip over the bus (with embedding + knowledge calls): "
          + "p50 %.2f ms, p99 %.2f ms%n", sorted.get(sorted.size() / 2) / 1000.0,
          sorted.get((int) Math.floor(sorted.size() * 0.99)) / 1000.0));
      long lexical = decisions.stream().filter(d -> "lexical".equals(d.getJsonObject("features").getString("domainSource"))).count();
      table.append("domain by hashed words (embedding skipped): " + lexical + " of " + decisions.size() + "\n");
      table.append("misses (" + misses.size() + "):\n");
      misses.forEach(x -> table.append("  ").append(x).append('\n'));
      System.out.println(table);
      assertTrue(all[1] >= 0.9 * all[0], "model accuracy " + all[1] + "/" + all[0]);
      assertTrue(all[3] >= 0.8 * all[0], "model+strategy accuracy " + all[3] + "/" + all[0]);
      ctx.completeNow();
    })));
  }
}
