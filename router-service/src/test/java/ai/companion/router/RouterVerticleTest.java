package ai.companion.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.RouteDecision;
import ai.companion.api.SamplingParams;
import ai.companion.api.WorkerInfo;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The router verticle against the real registry contract: WorkerInfo records in the shared async map. */
@ExtendWith(VertxExtension.class)
class RouterVerticleTest {

  static final ModelInfo STORIES = new ModelInfo("stories260k", "llama", 512, 260_000, "fp32", "");
  static final ModelInfo DREAMS = new ModelInfo("aidreams260k", "llama", 128, 233_000, "fp32", "");

  @TempDir Path dataDir;

  @BeforeEach
  void deploy(Vertx vertx, VertxTestContext ctx) {
    JsonObject config = new RouterOptions().setDataDir(dataDir.toString()).setNodeName("test-node")
        .setLearnProfiles(false).toJson();
    vertx.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(config))
        .onComplete(ctx.succeedingThenComplete());
  }

  static WorkerInfo worker(String id, long outstanding, int queued, int active, ModelInfo... models) {
    return new WorkerInfo(id, "node-" + id, List.of(models), "cpu", active, queued, outstanding,
        System.currentTimeMillis());
  }

  static Future<Void> register(Vertx vertx, WorkerInfo... ws) {
    return vertx.sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> Future.all(List.of(ws).stream().map(w -> map.put(w.workerId(), w.toJson())).toList()))
        .mapEmpty();
  }

  static GenerationRequest request(String model, JsonObject hints) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, model, "Once upon a time", null, SamplingParams.GREEDY.withMaxTokens(32),
        Addresses.streamAddress(id), List.of(), hints);
  }

  static Future<RouteDecision> route(Vertx vertx, GenerationRequest r) {
    return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, r.toJson())
        .map(m -> RouteDecision.fromJson(m.body()));
  }

  @Test
  void namedModelGoesToTheWorkerWithFewestOutstandingTokens(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 500, 0, 1, STORIES), worker("w2", 20, 3, 4, STORIES, DREAMS),
        worker("w3", 0, 0, 0, DREAMS))
        .compose(v -> route(vertx, request("stories260k", null)))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("stories260k", d.model());
          assertEquals("w2", d.workerId());
          assertEquals("node-w2", d.workerNode());
          assertEquals("direct", d.strategy());
          assertTrue(d.reasons().stream().anyMatch(r -> r.contains("least loaded of 2")), d.reasons().toString());
          ctx.completeNow();
        })));
  }

  @Test
  void tiesOnTokensAreBrokenByQueueThenActiveSequences(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("a", 100, 2, 0, STORIES), worker("b", 100, 1, 9, STORIES),
        worker("c", 100, 1, 5, STORIES))
        .compose(v -> route(vertx, request("stories260k", null)))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("c", d.workerId());
          ctx.completeNow();
        })));
  }

  @Test
  void aBurstIsSpreadBecauseTheRouterCountsWhatItSent(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("a", 0, 0, 0, STORIES), worker("b", 10, 0, 0, STORIES))
        .compose(v -> route(vertx, request("stories260k", null)))
        .compose(first -> route(vertx, request("stories260k", null)).map(second -> List.of(first, second)))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          // a is chosen first; its 32 assigned tokens then make b (10 outstanding) the lighter one
          assertEquals("a", both.get(0).workerId());
          assertEquals("b", both.get(1).workerId());
          ctx.completeNow();
        })));
  }

  /**
   * A request's end (the gateway's finish signal) takes it out of its worker's count at once, before the worker's
   * next snapshot: the next request sees that worker as idle again.
   */
  @Test
  void anEndedRequestNoLongerCountsOnItsWorker(Vertx vertx, VertxTestContext ctx) {
    GenerationRequest first = request("stories260k", null);
    register(vertx, worker("a", 0, 0, 0, STORIES), worker("b", 10, 0, 0, STORIES))
        .compose(v -> route(vertx, first))
        .compose(d -> vertx.eventBus().request(Addresses.ROUTER_FEEDBACK, new JsonObject()
            .put("requestId", first.requestId()).put("signal", new JsonObject().put("finishReason", "stop")
                .put("completionTokens", 32).put("maxTokens", 32))).map(x -> d))
        .compose(d -> route(vertx, request("stories260k", null)).map(second -> List.of(d, second)))
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          assertEquals("a", both.get(0).workerId());
          // without the end, a's 32 assigned tokens would make b (10 outstanding) the lighter one, as above
          assertEquals("a", both.get(1).workerId());
          ctx.completeNow();
        })));
  }

  @Test
  void excludedWorkersAreSkippedForFailover(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("lost", 0, 0, 0, STORIES), worker("busy", 900, 5, 5, STORIES))
        .compose(v -> route(vertx, request("stories260k",
            new JsonObject().put(RouterVerticle.HINT_EXCLUDE_WORKERS, new JsonArray().add("lost")))))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("busy", d.workerId());
          assertTrue(d.reasons().stream().anyMatch(r -> r.contains("1 excluded")), d.reasons().toString());
          ctx.completeNow();
        })));
  }

  @Test
  void aNodesWarmUpStaysOnItsWorkersAndLeavesNoDecision(Vertx vertx, VertxTestContext ctx) {
    // "home" is the busier one: a user's request goes away, node-home's own warm-up stays home
    GenerationRequest warm = request("stories260k", new JsonObject().put(GenerationRequest.HINT_WARM_UP, "node-home"));
    GenerationRequest user = request("stories260k", null);
    register(vertx, worker("home", 900, 5, 5, STORIES), worker("away", 0, 0, 0, STORIES))
        .compose(v -> route(vertx, warm))
        .compose(w -> route(vertx, user).map(u -> List.of(w, u)))
        .compose(both -> {
          ctx.verify(() -> {
            assertEquals("home", both.get(0).workerId());
            assertEquals("away", both.get(1).workerId());
          });
          return feedback(vertx, user);
        })
        // the user's decision takes a rating; the warm-up left none to rate
        .compose(v -> feedback(vertx, warm).map(x -> (Throwable) null).otherwise(err -> err))
        .onComplete(ctx.succeeding(err -> ctx.verify(() -> {
          assertTrue(err != null, "feedback on a warm-up request was accepted");
          assertEquals(ErrorCode.NOT_FOUND, ErrorCode.of(err), err.toString());
          ctx.completeNow();
        })));
  }

  /** A chat's turn {@code turns}: the first question, then an answer and a question per turn before. */
  static GenerationRequest chatTurn(String firstQuestion, int turns) {
    List<ai.companion.api.ChatMessage> messages = new java.util.ArrayList<>();
    messages.add(new ai.companion.api.ChatMessage("system", "You tell short stories to small children."));
    messages.add(new ai.companion.api.ChatMessage("user", firstQuestion));
    for (int t = 1; t < turns; t++) {
      messages.add(new ai.companion.api.ChatMessage("assistant", "Once upon a time there was a dog named Spot " + t));
      messages.add(new ai.companion.api.ChatMessage("user", "And what happened next, in part " + t + "?"));
    }
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, "stories260k", null, messages, SamplingParams.GREEDY.withMaxTokens(32),
        Addresses.streamAddress(id), List.of(), null);
  }

  static final String LONG_QUESTION = "Please tell me a story about a little girl who finds a red ball in the park";

  /**
   * Every turn of a conversation goes to the worker its beginning belongs to (whose prompt cache holds the turn
   * before), not to whichever is least loaded; different conversations spread over the workers.
   */
  @Test
  void aConversationsTurnsStayWithTheWorkerItsBeginningBelongsTo(Vertx vertx, VertxTestContext ctx) {
    Future<List<RouteDecision>> turns = register(vertx, worker("a", 0, 0, 0, STORIES), worker("b", 0, 0, 0, STORIES),
        worker("c", 0, 0, 0, STORIES)).map(v -> new java.util.ArrayList<>());
    for (int t = 1; t <= 4; t++) {
      final int turn = t;
      turns = turns.compose(list -> route(vertx, chatTurn(LONG_QUESTION, turn)).map(d -> {
        list.add(d);
        return list;
      }));
    }
    Future<java.util.Set<String>> spread = turns.compose(list -> {
      ctx.verify(() -> {
        assertEquals(1, list.stream().map(RouteDecision::workerId).distinct().count(), list.toString());
        // with equal loads the id order would have picked "a" every time; the turns after it were not the least loaded
        assertTrue(list.get(3).reasons().stream().anyMatch(r -> r.contains("beginning belongs to")),
            list.get(3).reasons().toString());
      });
      Future<java.util.Set<String>> workers = Future.succeededFuture(new java.util.TreeSet<>());
      for (int c = 0; c < 12; c++) {
        final int conversation = c;
        workers = workers.compose(set -> route(vertx, chatTurn(LONG_QUESTION + ", number " + conversation, 1))
            .map(d -> {
              set.add(d.workerId());
              return set;
            }));
      }
      return workers;
    });
    spread.onComplete(ctx.succeeding(set -> ctx.verify(() -> {
      assertTrue(set.size() >= 2, "twelve conversations on " + set);
      ctx.completeNow();
    })));
  }

  /**
   * The worker a conversation belongs to takes its next turn while it holds at most 4 more requests, running or
   * queued, than the least loaded (the router's default slack), however many more tokens it has to make; past that
   * the least loaded takes it. (Loads change by status publishes, as workers send them.)
   */
  @Test
  void aConversationsWorkerTakesItsTurnsWithinTheSlack(Vertx vertx, VertxTestContext ctx) {
    String[] owner = new String[2];
    long t0 = System.currentTimeMillis();
    register(vertx, worker("a", 0, 0, 0, STORIES), worker("b", 0, 0, 0, STORIES))
        .compose(v -> route(vertx, chatTurn(LONG_QUESTION, 1)))
        .compose(first -> {
          owner[0] = first.workerId();
          owner[1] = owner[0].equals("a") ? "b" : "a";
          status(vertx, owner[0], 500, 0, 3, t0 + 100);
          status(vertx, owner[1], 0, 0, 0, t0 + 100);
          return route(vertx, chatTurn(LONG_QUESTION, 2));
        })
        .compose(second -> {
          ctx.verify(() -> {
            assertEquals(owner[0], second.workerId(), "3 more requests: within the slack");
            assertTrue(second.reasons().stream().anyMatch(r -> r.contains("within 4 requests of the least loaded")),
                second.reasons().toString());
          });
          status(vertx, owner[0], 500, 2, 3, t0 + 200);
          status(vertx, owner[1], 0, 0, 0, t0 + 200);
          return route(vertx, chatTurn(LONG_QUESTION, 3));
        })
        .compose(third -> {
          ctx.verify(() -> {
            assertEquals(owner[1], third.workerId(), "3 running and 2 queued on the owner: 5 more");
            assertTrue(third.reasons().stream().anyMatch(r -> r.contains("least loaded of 2")),
                third.reasons().toString());
          });
          status(vertx, owner[0], 500, 0, 5, t0 + 300);
          status(vertx, owner[1], 0, 0, 0, t0 + 300);
          return route(vertx, chatTurn(LONG_QUESTION, 4));
        })
        .onComplete(ctx.succeeding(fourth -> ctx.verify(() -> {
          assertEquals(owner[1], fourth.workerId(), "5 more running than the least loaded");
          ctx.completeNow();
        })));
  }

  /** A worker's status publish (a request-reply sent after it on the same bus arrives after it). */
  private static void status(Vertx vertx, String id, long outstanding, int queued, int active, long updatedAt) {
    vertx.eventBus().publish(Addresses.WORKER_STATUS, new WorkerInfo(id, "node-" + id, List.of(STORIES), "cpu",
        active, queued, outstanding, updatedAt).toJson());
  }

  /** A prompt too short for any worker to cache has no affinity: the least loaded takes it, as before. */
  @Test
  void aShortChatGoesToTheLeastLoaded(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("a", 10, 0, 1, STORIES), worker("b", 0, 0, 0, STORIES))
        .compose(v -> route(vertx, chatTurn("A story?", 1)))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("b", d.workerId());
          ctx.completeNow();
        })));
  }

  private static Future<Void> feedback(Vertx vertx, GenerationRequest r) {
    return vertx.eventBus().request(Addresses.ROUTER_FEEDBACK, new JsonObject().put("requestId", r.requestId())
        .put("rating", 1)).mapEmpty();
  }

  @Test
  void aWarmUpOnANodeWithoutTheModelFindsNone(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("away", 0, 0, 0, STORIES), worker("home", 0, 0, 0, DREAMS))
        .compose(v -> route(vertx, request("stories260k",
            new JsonObject().put(GenerationRequest.HINT_WARM_UP, "node-home"))))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.MODEL_NOT_FOUND, ErrorCode.of(err));
          ctx.completeNow();
        })));
  }

  @Test
  void allServingWorkersExcludedIsNoWorker(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("only", 0, 0, 0, STORIES), worker("other", 0, 0, 0, DREAMS))
        .compose(v -> route(vertx, request("stories260k",
            new JsonObject().put(RouterVerticle.HINT_EXCLUDE_WORKERS, new JsonArray().add("only")))))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.NO_WORKER, ErrorCode.of(err));
          ctx.completeNow();
        })));
  }

  @Test
  void unknownModelIsModelNotFound(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 0, 0, 0, STORIES))
        .compose(v -> route(vertx, request("gpt-17", null)))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.MODEL_NOT_FOUND, ErrorCode.of(err));
          assertEquals(ErrorCode.MODEL_NOT_FOUND.wire(), ((ReplyException) err).failureCode());
          assertEquals("The model 'gpt-17' does not exist", err.getMessage());
          ctx.completeNow();
        })));
  }

  @Test
  void noWorkerAtAllIsNoWorkerForAuto(Vertx vertx, VertxTestContext ctx) {
    route(vertx, request("auto", null))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.NO_WORKER, ErrorCode.of(err));
          ctx.completeNow();
        })));
  }

  @Test
  void noWorkerAtAllIsModelNotFoundForANamedModel(Vertx vertx, VertxTestContext ctx) {
    route(vertx, request("stories260k", null))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.MODEL_NOT_FOUND, ErrorCode.of(err));
          ctx.completeNow();
        })));
  }

  @Test
  void autoWithWorkersServingNoModelIsNoWorker(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("empty", 0, 0, 0))
        .compose(v -> route(vertx, request("auto", null)))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.NO_WORKER, ErrorCode.of(err));
          assertEquals("No live worker serves a generative model", err.getMessage());
          ctx.completeNow();
        })));
  }

  @Test
  void staleRegistryEntriesAreIgnored(Vertx vertx, VertxTestContext ctx) {
    WorkerInfo stale = new WorkerInfo("dead", "n", List.of(STORIES), "cpu", 0, 0, 0,
        System.currentTimeMillis() - 60_000);
    register(vertx, stale, worker("alive", 700, 1, 1, STORIES))
        .compose(v -> route(vertx, request("stories260k", null)))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("alive", d.workerId());
          ctx.completeNow();
        })));
  }

  @Test
  void aFresherStatusPublishWinsOverTheRegistrySnapshot(Vertx vertx, VertxTestContext ctx) {
    WorkerInfo a = worker("a", 0, 0, 0, STORIES);
    WorkerInfo b = worker("b", 50, 0, 0, STORIES);
    register(vertx, a, b)
        .compose(v -> {
          // a became busy after its registry write; its status publish says so
          WorkerInfo busyA = new WorkerInfo("a", "node-a", List.of(STORIES), "cpu", 3, 2, 4000,
              a.updatedAt() + 500);
          vertx.eventBus().publish(Addresses.WORKER_STATUS, busyA.toJson());
          // a request-reply behind the publish on the same bus: the publish is delivered first
          return route(vertx, request("stories260k", null));
        })
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertEquals("b", d.workerId());
          ctx.completeNow();
        })));
  }

  @Test
  void modelsAreListedOnceAcrossWorkers(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 0, 0, 0, STORIES), worker("w2", 0, 0, 0, STORIES, DREAMS))
        .compose(v -> vertx.eventBus().<JsonObject>request(Addresses.ROUTER_MODELS, new JsonObject()))
        .onComplete(ctx.succeeding(m -> ctx.verify(() -> {
          JsonArray models = m.body().getJsonArray("models");
          assertEquals(2, models.size(), models.encode());
          assertEquals("aidreams260k", models.getJsonObject(0).getString("id"));
          assertEquals(128, models.getJsonObject(0).getInteger("contextLength"));
          assertEquals("stories260k", models.getJsonObject(1).getString("id"));
          ctx.completeNow();
        })));
  }

  @Test
  void malformedRequestIsInvalidRequest(Vertx vertx, VertxTestContext ctx) {
    vertx.eventBus().request(Addresses.ROUTER_ROUTE, new JsonObject().put("messages", "not a list"))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.INVALID_REQUEST, ErrorCode.of(err));
          ctx.completeNow();
        })));
  }

  @Test
  void autoPicksAServedModel(Vertx vertx, VertxTestContext ctx) {
    register(vertx, worker("w1", 0, 0, 0, STORIES), worker("w2", 0, 0, 0, DREAMS))
        .compose(v -> route(vertx, request("auto", null)))
        .onComplete(ctx.succeeding(d -> ctx.verify(() -> {
          assertTrue(List.of("stories260k", "aidreams260k").contains(d.model()), d.model());
          assertNotEquals(null, d.workerId());
          assertTrue(!d.reasons().isEmpty());
          ctx.completeNow();
        })));
  }
}
