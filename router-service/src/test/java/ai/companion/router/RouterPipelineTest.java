package ai.companion.router;

import static ai.companion.router.RouterVerticleTest.register;
import static ai.companion.router.RouterVerticleTest.worker;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.companion.router.impl.YamlRoutingPolicy;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The "auto" pipeline inside the verticle: profiles from descriptions, learning from feedback, policy reload, plugins. */
@ExtendWith(VertxExtension.class)
class RouterPipelineTest {

  static final ModelInfo STORIES = new ModelInfo("stories260k", "llama", 512, 260_000, "fp32",
      "Bedtime stories for small children: a little girl, a boy, a dog and a cat play in the park with toys.\n"
          + "Once upon a time there was a happy bunny who loved carrots and his mom.");
  static final ModelInfo DREAMS = new ModelInfo("aidreams260k", "llama", 128, 233_000, "fp32",
      "Dreamy first-person prose of a machine: circuits hum, vectors unfold, electric nodes and data flow.\n"
          + "I sense the silicon, I adjust my surface, echoes of precision.");

  @TempDir Path dataDir;

  Future<RouterVerticle> deploy(Vertx vertx, JsonObject extra) {
    RouterVerticle router = new RouterVerticle();
    // the test's workers register once: they must not go stale while a slow machine runs a long test
    JsonObject config = new RouterOptions().setDataDir(dataDir.toString()).setBanditSeed(99)
        .setWorkerStaleMs(3_600_000).toJson()
        .mergeIn(extra == null ? new JsonObject() : extra);
    return vertx.deployVerticle(router, new DeploymentOptions().setConfig(config)).map(id -> router);
  }

  static GenerationRequest auto(String prompt) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, "auto", prompt, null, SamplingParams.GREEDY.withMaxTokens(16),
        Addresses.streamAddress(id), List.of(), null);
  }

  static Future<JsonObject> route(Vertx vertx, String prompt) {
    return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, auto(prompt).toJson()).map(m -> m.body());
  }

  static Future<JsonObject> feedback(Vertx vertx, JsonObject body) {
    return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_FEEDBACK, body).map(m -> m.body());
  }

  /** Polls {@code check} every 50 ms until it holds or {@code ms} pass. */
  static Future<Void> eventually(Vertx vertx, long ms, Supplier<Future<Boolean>> check) {
    Promise<Void> p = Promise.promise();
    long deadline = System.currentTimeMillis() + ms;
    Runnable[] step = new Runnable[1];
    step[0] = () -> check.get().onComplete(ar -> {
      if (ar.succeeded() && ar.result()) p.complete();
      else if (System.currentTimeMillis() > deadline) p.fail("condition not met within " + ms + " ms");
      else vertx.setTimer(50, t -> step[0].run());
    });
    step[0].run();
    return p.future();
  }

  /**
   * A burst of finished requests: their rewards are synced to disk in groups (not one fsync each), every feedback
   * is answered only once its reward is durable, and a router started on the same data dir finds them all.
   */
  @Test
  void rewardsOfABurstAreSyncedTogetherAndSurviveARestart(Vertx vertx, VertxTestContext ctx) {
    int n = 40;
    RouterVerticle[] router = {null};
    register(vertx, worker("w1", 0, 0, 0, STORIES))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(r -> {
          router[0] = r;
          List<Future<JsonObject>> routes = new ArrayList<>();
          for (int i = 0; i < n; i++) {
            routes.add(vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE,
                RouterVerticleTest.request("stories260k", null).toJson()).map(m -> m.body()));
          }
          return Future.all(routes).map(all -> routes);
        })
        .compose(routes -> {
          // all at once, as the gateway sends them when a wave of streams ends together
          List<Future<JsonObject>> answers = new ArrayList<>();
          for (Future<JsonObject> d : routes) {
            answers.add(feedback(vertx, new JsonObject().put("requestId", d.result().getString("requestId"))
                .put("signal", new JsonObject().put("finishReason", "stop"))));
          }
          return Future.all(answers).map(all -> answers);
        })
        .compose(answers -> {
          for (Future<JsonObject> a : answers) assertTrue(a.result().getBoolean("accepted"), a.result().encode());
          long syncs = router[0].rewardSyncs();
          assertTrue(syncs >= 1 && syncs < n, n + " rewards took " + syncs + " syncs");
          return vertx.undeploy(router[0].deploymentID());
        })
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .onComplete(ctx.succeeding(again -> ctx.verify(() -> {
          assertEquals(n, again.replayedRewards());
          ctx.completeNow();
        })));
  }

  @Test
  void descriptionsGiveProfilesEvenWithoutTheEmbeddingService(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(router -> router.profiles().awaitProfiles(List.of("stories260k", "aidreams260k"), 10_000, false))
        .compose(v -> route(vertx, "Tell me a bedtime story about a bunny and his mom"))
        .compose(story -> route(vertx, "circuits hum as electric data flows through my silicon nodes")
            .map(dream -> List.of(story, dream)))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          assertEquals("stories260k", both.get(0).getString("model"), both.get(0).encode());
          assertEquals("aidreams260k", both.get(1).getString("model"), both.get(1).encode());
          assertEquals("lexical", both.get(0).getJsonObject("features").getString("domainSource"));
          assertEquals("specialist", both.get(1).getString("strategy"));
          ctx.completeNow();
        })));
  }

  @Test
  void realPromptCountsCalibrateTokensPerCharacter(Vertx vertx, VertxTestContext ctx) {
    RouterVerticle[] router = {null};
    String prompt = "Tell me a bedtime story about a bunny and his mom in the green park";
    Future<Void> chain = register(vertx, worker("w1", 0, 0, 0, STORIES))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(r -> {
          router[0] = r;
          return r.profiles().awaitProfiles(List.of("stories260k"), 10_000, false);
        });
    // a description profile knows nothing of the tokenizer; the worker's counts (via the gateway) teach it
    for (int i = 0; i < 6; i++) {
      chain = chain.compose(v -> route(vertx, prompt)).compose(d -> feedback(vertx, new JsonObject()
          .put("requestId", d.getString("requestId"))
          .put("signal", new JsonObject().put("finishReason", "stop").put("promptTokens", 50)))).mapEmpty();
    }
    chain.compose(v -> route(vertx, prompt)).onComplete(ctx.succeeding(d -> ctx.verify(() -> {
      double cpt = router[0].profiles().snapshot().get("stories260k").charsPerToken();
      assertEquals(prompt.length() / 50.0, cpt, 1e-9);
      assertEquals(50, d.getJsonObject("features").getJsonObject("tokensByModel").getInteger("stories260k"));
      ctx.completeNow();
    })));
  }

  /**
   * Two routers (and the entry of a third that is gone without a word): each route's reply names its decider,
   * feedback that reaches the other router is handed to the decider (the gone one is asked, found missing and
   * dropped from the members map), a router's own address answers only for its own decisions, and every reward
   * is in both logs.
   */
  @Test
  void withTwoRoutersFeedbackFindsTheDeciderAndEveryBanditLearns(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path other = Files.createDirectories(dataDir.resolve("other-router"));
    List<JsonObject> replies = new ArrayList<>();
    List<JsonObject> routes = new ArrayList<>();
    // sorts before both real routers' ids, so a router asking its peers asks it first
    String ghost = "0-gone-router";
    Future<Void> chain = register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> vertx.sharedData().<String, String>getAsyncMap(RouterVerticle.ROUTER_MEMBERS_MAP))
        .compose(m -> m.put(ghost, "gone"))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(a -> vertx.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(new RouterOptions()
            .setDataDir(other.toString()).setNodeName("second").setLearnProfiles(false).toJson())))
        .mapEmpty();
    // the bus hands routes and feedback to either router, round robin: rating two routes in the opposite order
    // makes the other router receive the feedback
    for (int i = 0; i < 5; i++) {
      chain = chain.compose(v -> route(vertx, "What is the capital of France?"))
          .compose(first -> route(vertx, "What is the capital of Italy?").map(second -> List.of(first, second)))
          .compose(pair -> {
            routes.addAll(pair);
            return feedback(vertx, new JsonObject().put("requestId", pair.get(1).getString("requestId"))
                .put("rating", 1)).compose(r -> {
                  replies.add(r);
                  return feedback(vertx, new JsonObject().put("requestId", pair.get(0).getString("requestId"))
                      .put("rating", 1));
                }).map(r -> {
                  replies.add(r);
                  return null;
                });
          });
    }
    Supplier<Future<List<List<String>>>> readLogs = () -> vertx.executeBlocking(() -> List.of(
        Files.readAllLines(dataDir.resolve("router/decisions.jsonl")),
        Files.readAllLines(other.resolve("router/decisions.jsonl"))));
    List<Integer> wrongDoor = new ArrayList<>();
    // the peer's copy of the last reward is written a moment after the owner answered
    chain.compose(v -> eventually(vertx, 5_000, () -> readLogs.get().map(l ->
            l.get(0).stream().filter(x -> x.contains("\"t\":\"r\"")).count() == 10
                && l.get(1).stream().filter(x -> x.contains("\"t\":\"r\"")).count() == 10)))
        .compose(v -> {
          // a router's own address: the other router's decision is not looked for elsewhere
          JsonObject r0 = routes.get(0);
          String otherRouter = routes.stream().map(r -> r.getString(Addresses.ROUTE_ROUTER_FIELD))
              .filter(id -> !id.equals(r0.getString(Addresses.ROUTE_ROUTER_FIELD))).findFirst().orElseThrow();
          return vertx.eventBus().request(Addresses.routerFeedback(otherRouter),
                  new JsonObject().put("requestId", r0.getString("requestId")).put("rating", 1))
              .<Void>transform(ar -> {
                if (ar.failed() && ar.cause() instanceof io.vertx.core.eventbus.ReplyException re) {
                  wrongDoor.add(re.failureCode());
                }
                return Future.succeededFuture();
              });
        })
        .compose(v -> vertx.sharedData().<String, String>getAsyncMap(RouterVerticle.ROUTER_MEMBERS_MAP))
        .compose(m -> m.keys().compose(keys -> readLogs.get().map(logs -> List.of(keys, logs))))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          @SuppressWarnings("unchecked") java.util.Set<String> members = (java.util.Set<String>) both.get(0);
          @SuppressWarnings("unchecked") List<List<String>> logs = (List<List<String>>) both.get(1);
          assertEquals(10, replies.size());
          assertTrue(replies.stream().allMatch(r -> r.getBoolean("accepted")), replies.toString());
          java.util.Set<String> deciders = new java.util.HashSet<>();
          routes.forEach(r -> deciders.add(r.getString(Addresses.ROUTE_ROUTER_FIELD)));
          assertEquals(members, deciders, "the members map holds the two live routers, the gone one was dropped");
          assertEquals(2, members.size());
          assertEquals(List.of(ErrorCode.NOT_FOUND.wire()), wrongDoor);
          long decisionsA = logs.get(0).stream().filter(l -> l.contains("\"t\":\"d\"")).count();
          long decisionsB = logs.get(1).stream().filter(l -> l.contains("\"t\":\"d\"")).count();
          assertEquals(10, decisionsA + decisionsB);
          assertTrue(decisionsA > 0 && decisionsB > 0, decisionsA + " / " + decisionsB);
          // every reward is in both logs: its own router's, and the peer's copy
          assertEquals(10, logs.get(0).stream().filter(l -> l.contains("\"t\":\"r\"")).count());
          assertEquals(10, logs.get(1).stream().filter(l -> l.contains("\"t\":\"r\"")).count());
          ctx.completeNow();
        })));
  }

  static final String LEARN_POLICY = """
      version: 1
      rules:
        - name: questions
          when: { question: true }
          model: smallest
          strategy: { learn: [direct, specialist] }
      """;

  @Test
  void routingImprovesWithFeedback(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path policy = dataDir.resolve("learn.yaml");
    // the policy's prior wrongly favours specialist; the users' ratings must overturn it
    Files.writeString(policy, LEARN_POLICY.replace("learn: [direct, specialist] }",
        "learn: [direct, specialist], prior: { specialist: [8, 1] } }"));
    List<String> chosen = new ArrayList<>();
    Future<Void> chain = register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false).put("policyFile", policy.toString())))
        .mapEmpty();
    for (int i = 0; i < 60; i++) {
      chain = chain.compose(v -> route(vertx, "What is the boiling point of water?").compose(d -> {
        chosen.add(d.getString("strategy"));
        // users like the direct answers and dislike the others
        int rating = d.getString("strategy").equals("direct") ? 1 : -1;
        return feedback(vertx, new JsonObject().put("requestId", d.getString("requestId")).put("rating", rating));
      }).mapEmpty());
    }
    chain.onComplete(ctx.succeeding(v -> ctx.verify(() -> {
      long early = chosen.subList(0, 5).stream().filter("direct"::equals).count();
      long late = chosen.subList(45, 60).stream().filter("direct"::equals).count();
      System.out.println("direct chosen: first 5 -> " + early + ", last 15 -> " + late + "  " + chosen);
      assertTrue(early <= 2, "the prior should dominate at first: early " + early);
      assertTrue(late >= 14, "late " + late);
      ctx.completeNow();
    })));
  }

  @Test
  void feedbackIsDurableAcrossARestart(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path policy = dataDir.resolve("learn.yaml");
    Files.writeString(policy, LEARN_POLICY);
    JsonObject conf = new JsonObject().put("learnProfiles", false).put("policyFile", policy.toString());
    String[] requestId = {null};
    String[] deployment = {null};
    register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> deploy(vertx, conf))
        .compose(r -> {
          deployment[0] = r.deploymentID();
          return route(vertx, "Who wrote Hamlet?");
        })
        .compose(d -> {
          requestId[0] = d.getString("requestId");
          return feedback(vertx, new JsonObject().put("requestId", requestId[0]).put("rating", -1));
        })
        .compose(first -> vertx.undeploy(deployment[0]).map(first))
        .compose(first -> deploy(vertx, conf).map(first))
        .compose(first -> feedback(vertx, new JsonObject().put("request_id", requestId[0]).put("rating", "up"))
            .map(second -> List.of(first, second)))
        .onComplete(ctx.succeeding(fb -> ctx.verify(() -> {
          JsonObject first = fb.get(0);
          JsonObject second = fb.get(1);
          assertEquals(0.0, first.getJsonObject("evidence").getDouble("successes"));
          assertEquals(1.0, first.getJsonObject("evidence").getDouble("failures"));
          // after the restart: the decision is still known and the earlier reward was replayed
          assertEquals(first.getString("strategy"), second.getString("strategy"));
          assertEquals(1.0, second.getJsonObject("evidence").getDouble("successes"));
          assertEquals(1.0, second.getJsonObject("evidence").getDouble("failures"));
          assertTrue(Files.readString(dataDir.resolve("router/decisions.jsonl")).contains(requestId[0]));
          ctx.completeNow();
        })));
  }

  @Test
  void feedbackErrorsAreTyped(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 0, 0, 0, STORIES))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(r -> feedback(vertx, new JsonObject().put("requestId", "never-seen").put("rating", 1))
            .transform(ar -> Future.succeededFuture(ar.cause())))
        .compose(notFound -> route(vertx, "hello")
            .compose(d -> feedback(vertx, new JsonObject().put("requestId", d.getString("requestId")).put("rating", 7)))
            .transform(ar -> Future.succeededFuture(List.of(notFound, ar.cause()))))
        .onComplete(ctx.succeeding(errs -> ctx.verify(() -> {
          assertEquals(ErrorCode.NOT_FOUND, ErrorCode.of(errs.get(0)));
          assertTrue(errs.get(0).getMessage().contains("never-seen"));
          assertEquals(ErrorCode.INVALID_REQUEST, ErrorCode.of(errs.get(1)));
          ctx.completeNow();
        })));
  }

  @Test
  void thePolicyReloadsOnChangeAndABadFileKeepsTheOldOne(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path policy = dataDir.resolve("p.yaml");
    Files.writeString(policy, "defaults: {model: aidreams260k}\n");
    RouterVerticle[] router = {null};
    register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false).put("policyFile", policy.toString())
            .put("policyReloadMs", 50)))
        .compose(r -> {
          router[0] = r;
          return route(vertx, "hello");
        })
        .compose(d -> {
          ctx.verify(() -> assertEquals("aidreams260k", d.getString("model")));
          return vertx.executeBlocking(() -> {
            Files.writeString(policy, "defaults: {model: stories260k}\n");
            Files.setLastModifiedTime(policy, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
            return null;
          });
        })
        .compose(v -> eventually(vertx, 5_000, () -> route(vertx, "hello").map(d -> d.getString("model").equals("stories260k"))))
        .compose(v -> vertx.executeBlocking(() -> {
          Files.writeString(policy, "defaults: {model: [unclosed\n");
          Files.setLastModifiedTime(policy, FileTime.fromMillis(System.currentTimeMillis() + 10_000));
          return null;
        }))
        .compose(v -> eventually(vertx, 5_000,
            () -> Future.succeededFuture(((YamlRoutingPolicy) router[0].policy()).lastError() != null)))
        .compose(v -> route(vertx, "hello"))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("stories260k", d.getString("model"), "the previous policy stays in force");
          String err = ((YamlRoutingPolicy) router[0].policy()).lastError();
          assertTrue(err.contains("YAML"), err);
          ctx.completeNow();
        })));
  }

  @Test
  void aPluginJarReplacesTheDefaultPolicyAndShowsInTheReasons(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path plugins = dataDir.resolve("plugins");
    Files.createDirectories(plugins);
    String cls = LargestModelPolicy.class.getName().replace('.', '/') + ".class";
    try (OutputStream out = Files.newOutputStream(plugins.resolve("largest.jar"));
         JarOutputStream jar = new JarOutputStream(out)) {
      jar.putNextEntry(new JarEntry("META-INF/services/ai.companion.api.spi.RoutingPolicy"));
      jar.write((LargestModelPolicy.class.getName() + "\n").getBytes());
      jar.closeEntry();
      jar.putNextEntry(new JarEntry(cls));
      try (var in = LargestModelPolicy.class.getClassLoader().getResourceAsStream(cls)) {
        jar.write(in.readAllBytes());
      }
      jar.closeEntry();
    }
    register(vertx, worker("w1", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> deploy(vertx, new JsonObject().put("learnProfiles", false)))
        .compose(r -> route(vertx, "What is the capital of France?"))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("stories260k", d.getString("model"));
          String reasons = d.getJsonArray("reasons").encode();
          assertTrue(reasons.contains("policy=largest-model-plugin"), reasons);
          assertTrue(reasons.contains("plugin: always the largest"), reasons);
          assertNotNull(d.getJsonObject("features"));
          ctx.completeNow();
        })));
  }
}
