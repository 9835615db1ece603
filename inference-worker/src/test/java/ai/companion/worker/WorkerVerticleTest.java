package ai.companion.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.api.WorkerInfo;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.impl.StreamCredit;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The worker verticle over a local event bus, with both fixture models imported and one broken folder beside them. */
@ExtendWith(VertxExtension.class)
class WorkerVerticleTest {
  private static final String WORKER = "test-node-w1";

  @TempDir static Path dataDir;
  static String deploymentId;
  static WorkerVerticle worker;

  @BeforeAll static void deploy(Vertx vertx, VertxTestContext ctx) throws Exception {
    Path modelsDir = dataDir.resolve("models");
    ModelFixtures.importModel(ModelFixtures.STORIES, modelsDir);
    ModelFixtures.importModel(ModelFixtures.AIDREAMS, modelsDir);
    Path broken = Files.createDirectories(modelsDir.resolve("broken"));
    Files.writeString(broken.resolve("config.json"), "{ not json");
    JsonObject config = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "test-node")
        .put("workerId", WORKER).put("statusIntervalMs", 200);
    worker = new WorkerVerticle();
    vertx.deployVerticle(worker, new DeploymentOptions().setConfig(config))
        .onComplete(ctx.succeeding(id -> {
          deploymentId = id;
          ctx.completeNow();
        }));
    assertTrue(ctx.awaitCompletion(60, TimeUnit.SECONDS));
  }

  /** Sends a request and collects its stream; completes with the accepted reply and every event. */
  record Run(JsonObject reply, List<StreamEvent> events) {
    String text() {
      StringBuilder sb = new StringBuilder();
      events.forEach(e -> sb.append(e.text()));
      return sb.toString();
    }

    StreamEvent last() { return events.get(events.size() - 1); }
  }

  static Future<Run> generate(Vertx vertx, String model, String prompt, SamplingParams params,
                              java.util.function.Consumer<StreamEvent> onEvent) {
    String requestId = UUID.randomUUID().toString();
    String address = Addresses.streamAddress(requestId);
    GenerationRequest req = new GenerationRequest(requestId, model, prompt, null, params, address, List.of(), null);
    List<StreamEvent> events = new ArrayList<>();
    Promise<Void> ended = Promise.promise();
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(address, m -> {
      StreamEvent e = StreamEvent.fromJson(m.body());
      events.add(e);
      if (onEvent != null) onEvent.accept(e);
      if (e.terminal()) ended.tryComplete();
    });
    return consumer.completion()
        .compose(v -> vertx.eventBus().<JsonObject>request(Addresses.workerGenerate(WORKER), req.toJson()))
        .compose(reply -> ended.future().map(v -> new Run(reply.body(), events)))
        .eventually(() -> consumer.unregister());
  }

  @Test void acceptsStreamsInOrderAndEndsWithUsage(Vertx vertx, VertxTestContext ctx) {
    generate(vertx, ModelFixtures.STORIES, "", SamplingParams.GREEDY.withMaxTokens(60), null)
        .onComplete(ctx.succeeding(run -> ctx.verify(() -> {
          assertEquals(true, run.reply().getBoolean("accepted"));
          assertEquals(WORKER, run.reply().getString("workerId"));
          assertEquals(1, run.reply().getInteger("promptTokens"));
          for (int i = 0; i < run.events().size(); i++) assertEquals(i, run.events().get(i).seq());
          StreamEvent done = run.last();
          assertEquals(StreamEvent.Type.DONE, done.type());
          assertEquals(1, run.events().stream().filter(StreamEvent::terminal).count());
          assertEquals("length", done.finishReason());
          assertEquals(1, done.promptTokens());
          assertEquals(60, done.completionTokens());
          assertEquals(WORKER, done.workerId());
          assertEquals(ModelFixtures.STORIES_TEXT, run.text());
          List<Integer> ids = new ArrayList<>();
          run.events().forEach(e -> ids.addAll(e.tokenIds()));
          assertEquals(60, ids.size());
          for (int i = 0; i < 60; i++) assertEquals(ModelFixtures.STORIES_ORACLE[i], ids.get(i));
          ctx.completeNow();
        })));
  }

  /**
   * A gateway's shared sink address: the worker sends the events of many streams there in batches (fewer
   * messages than events), every stream's events arrive complete (in seq order once the lone checkpoints are put
   * back in place) with the oracle text, and a checkpoint the sink answers NOT_FOUND stops its stream.
   */
  @Test void aSinkAddressGetsBatchesAndItsNotFoundStopsAStream(Vertx vertx, VertxTestContext ctx) {
    String sink = Addresses.sinkAddress("test-" + UUID.randomUUID());
    int n = 24;
    String orphan = "orphan-" + UUID.randomUUID();
    java.util.Map<String, java.util.TreeMap<Long, StreamEvent>> streams = new java.util.HashMap<>();
    int[] messages = {0};
    int[] largestBatch = {0};
    List<StreamEvent> orphanEvents = new ArrayList<>();
    List<Message<JsonObject>> heldCheckpoints = new ArrayList<>();
    Promise<StreamEvent> orphanEnded = Promise.promise();
    Promise<Void> allDone = Promise.promise();
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(sink, m -> {
      messages[0]++;
      List<JsonObject> events = StreamEvent.eventsOf(m.body());
      largestBatch[0] = Math.max(largestBatch[0], events.size());
      for (JsonObject j : events) {
        StreamEvent e = StreamEvent.fromJson(j);
        if (e.requestId().equals(orphan)) {
          // the sink knew this stream at first (its first checkpoint answered, which arms flow control), then lost
          // it (a client gone). It holds the next checkpoints, so the stream parks once WINDOW are unanswered, and
          // then answers the first one held "not found". Still parked (the others stay unanswered), the stream can
          // end only by the cancel that answer asks for: how far the decode ran meanwhile does not matter.
          orphanEvents.add(e);
          if (m.replyAddress() != null) {
            if (e.seq() < StreamCredit.CHECKPOINT_EVERY) {
              m.reply(new JsonObject());
            } else {
              heldCheckpoints.add(m);
              if (heldCheckpoints.size() == StreamCredit.WINDOW) {
                heldCheckpoints.get(0).fail(ErrorCode.NOT_FOUND.wire(), "no stream " + orphan);
              }
            }
          }
          if (e.terminal()) orphanEnded.tryComplete(e);
          continue;
        }
        if (m.replyAddress() != null) m.reply(new JsonObject());
        streams.computeIfAbsent(e.requestId(), k -> new java.util.TreeMap<>()).put(e.seq(), e);
      }
      // a checkpoint travels alone (a request) and a batch may overtake it, or it the batch (the gateway orders
      // events by seq): a stream is complete once its terminal event and every seq before it are in
      long done = streams.values().stream()
          .filter(t -> !t.isEmpty() && t.lastEntry().getValue().terminal() && t.size() == t.lastKey() + 1).count();
      if (done == n) allDone.tryComplete();
    });
    List<String> ids = new ArrayList<>();
    consumer.completion().compose(v -> {
      List<Future<?>> accepted = new ArrayList<>();
      for (int i = 0; i <= n; i++) {
        String id = i == n ? orphan : UUID.randomUUID().toString();
        if (i < n) ids.add(id);
        accepted.add(vertx.eventBus().request(Addresses.workerGenerate(WORKER), new GenerationRequest(id,
            ModelFixtures.STORIES, "", null, SamplingParams.GREEDY.withMaxTokens(i == n ? 400 : 60), sink, List.of(),
            null).toJson()));
      }
      return Future.all(accepted);
    }).compose(v -> allDone.future()).compose(v -> orphanEnded.future())
        .onComplete(ctx.succeeding(orphanEnd -> ctx.verify(() -> {
          consumer.unregister();
          long events = 0;
          for (String id : ids) {
            java.util.TreeMap<Long, StreamEvent> t = streams.get(id);
            assertNotNull(t, "stream " + id);
            assertEquals(t.size() - 1, t.lastKey(), "no gap in stream " + id);
            StringBuilder text = new StringBuilder();
            t.values().forEach(e -> text.append(e.text()));
            assertEquals(ModelFixtures.STORIES_TEXT, text.toString());
            events += t.size();
          }
          assertTrue(largestBatch[0] > 1, "the largest message carried " + largestBatch[0] + " event(s)");
          assertTrue(messages[0] < events, messages[0] + " messages for " + events + " events");
          // stopped by the "not found", not run to its 400 tokens (its held checkpoints would have timed out after
          // 30 s, and the stream run on)
          assertEquals("cancelled", orphanEnd.finishReason());
          assertTrue(heldCheckpoints.size() >= StreamCredit.WINDOW, heldCheckpoints.size() + " checkpoints held");
          assertTrue(orphanEnd.seq() < 400, "the orphan stream's end came at seq " + orphanEnd.seq());
          heldCheckpoints.subList(1, heldCheckpoints.size()).forEach(h -> h.fail(ErrorCode.NOT_FOUND.wire(), "gone"));
          ctx.completeNow();
        })));
  }

  @Test void aidreamsOracleOverTheBus(Vertx vertx, VertxTestContext ctx) {
    generate(vertx, ModelFixtures.AIDREAMS, "", SamplingParams.GREEDY.withMaxTokens(60), null)
        .onComplete(ctx.succeeding(run -> ctx.verify(() -> {
          assertEquals(ModelFixtures.AIDREAMS_TEXT, run.text());
          assertEquals(60, run.last().completionTokens());
          ctx.completeNow();
        })));
  }

  @Test void unknownModelFailsWithModelNotFound(Vertx vertx, VertxTestContext ctx) {
    generate(vertx, "no-such-model", "hi", SamplingParams.GREEDY, null)
        .onComplete(ctx.failing(t -> ctx.verify(() -> {
          assertTrue(t instanceof ReplyException, t.toString());
          assertEquals(ErrorCode.MODEL_NOT_FOUND.wire(), ((ReplyException) t).failureCode());
          assertEquals(ErrorCode.MODEL_NOT_FOUND, ErrorCode.of(t));
          assertTrue(t.getMessage().contains("no-such-model"), t.getMessage());
          ctx.completeNow();
        })));
  }

  @Test void promptLongerThanContextFailsNamingTheLimit(Vertx vertx, VertxTestContext ctx) {
    String prompt = "I sense the nodes and the gentle hum of precision. ".repeat(20);
    generate(vertx, ModelFixtures.AIDREAMS, prompt, SamplingParams.GREEDY.withMaxTokens(10), null)
        .onComplete(ctx.failing(t -> ctx.verify(() -> {
          assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.of(t));
          assertTrue(t.getMessage().startsWith("This model's maximum context length is 128 tokens, but the prompt has "),
              t.getMessage());
          ctx.completeNow();
        })));
  }

  @Test void promptPlusMaxTokensOverContextFails(Vertx vertx, VertxTestContext ctx) {
    generate(vertx, ModelFixtures.AIDREAMS, "Echoes", SamplingParams.GREEDY.withMaxTokens(200), null)
        .onComplete(ctx.failing(t -> ctx.verify(() -> {
          assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.of(t));
          assertTrue(t.getMessage().contains("128 tokens") && t.getMessage().contains("200 for the completion"),
              t.getMessage());
          ctx.completeNow();
        })));
  }

  @Test void cancelOverTheBusStopsEarly(Vertx vertx, VertxTestContext ctx) {
    generate(vertx, ModelFixtures.STORIES, "", SamplingParams.GREEDY.withMaxTokens(500), e -> {
      if (e.seq() == 0) vertx.eventBus().publish(Addresses.WORKER_CANCEL, new JsonObject().put("requestId", e.requestId()));
    }).onComplete(ctx.succeeding(run -> ctx.verify(() -> {
      StreamEvent done = run.last();
      assertEquals(StreamEvent.Type.DONE, done.type());
      assertEquals("cancelled", done.finishReason());
      assertTrue(done.completionTokens() < 500, "generated " + done.completionTokens());
      ctx.completeNow();
    })));
  }

  @Test void cancelBeforeTheRequestArrivesIsHonoured(Vertx vertx, VertxTestContext ctx) {
    String requestId = UUID.randomUUID().toString();
    GenerationRequest req = new GenerationRequest(requestId, ModelFixtures.STORIES, "", null,
        SamplingParams.GREEDY.withMaxTokens(50), Addresses.streamAddress(requestId), List.of(), null);
    vertx.eventBus().publish(Addresses.WORKER_CANCEL, new JsonObject().put("requestId", requestId));
    vertx.eventBus().<JsonObject>request(Addresses.workerGenerate(WORKER), req.toJson())
        .onComplete(ctx.failing(t -> ctx.verify(() -> {
          assertTrue(t.getMessage().contains("cancelled"), t.getMessage());
          ctx.completeNow();
        })));
  }

  @Test void slowConsumerParksItsStreamUntilItCatchesUp(Vertx vertx, VertxTestContext ctx) throws Exception {
    ai.companion.worker.impl.LoadedModel model = worker.models().get(ModelFixtures.STORIES);
    String requestId = UUID.randomUUID().toString();
    String address = Addresses.streamAddress(requestId);
    List<StreamEvent> events = new ArrayList<>();
    long heapCopiesBefore = model.cacheHeapCopies();
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(address);
    consumer.handler(m -> {
      StreamEvent e = StreamEvent.fromJson(m.body());
      events.add(e);
      if (m.replyAddress() != null) m.reply(new JsonObject().put("seq", e.seq()));   // delivered: credit back
      if (e.seq() == 12) {
        consumer.pause();      // the client stops reading
        long[] before = new long[1];
        // wait until the worker has parked the stream, check it stopped generating, then read again
        long deadline = System.currentTimeMillis() + 20_000;
        vertx.setPeriodic(20, t -> {
          if (model.parked() == 1) {
            vertx.cancelTimer(t);
            before[0] = model.tokensGenerated();
            vertx.setTimer(300, t2 -> ctx.verify(() -> {
              assertEquals(1, model.parked());
              assertEquals(before[0], model.tokensGenerated());
              consumer.resume();
            }));
          } else if (System.currentTimeMillis() > deadline) {
            vertx.cancelTimer(t);
            ctx.failNow("the stream was never parked");
          }
        });
      }
      if (e.terminal()) {
        ctx.verify(() -> {
          assertEquals("length", e.finishReason());
          assertEquals(200, e.completionTokens());
          StringBuilder text = new StringBuilder();
          events.forEach(x -> text.append(x.text()));
          assertTrue(text.toString().startsWith(ModelFixtures.STORIES_TEXT + ".\nLily's mom said"), text.toString());
          assertTrue(text.toString().endsWith("Lily didn't want to help her mom, so she"), text.toString());
          for (int i = 0; i < events.size(); i++) assertEquals(i, events.get(i).seq());
          assertEquals(0, model.parked());
          // parking copied the rows into direct buffers, and joining again read them there: no heap copies
          assertEquals(heapCopiesBefore, model.cacheHeapCopies());
        });
        consumer.unregister();
        ctx.completeNow();
      }
    });
    GenerationRequest req = new GenerationRequest(requestId, ModelFixtures.STORIES, "", null,
        SamplingParams.GREEDY.withMaxTokens(200), address, List.of(), null);
    consumer.completion()
        .compose(v -> vertx.eventBus().<JsonObject>request(Addresses.workerGenerate(WORKER), req.toJson()))
        .onFailure(ctx::failNow);
  }

  @Test void streamWithNobodyListeningIsStopped(Vertx vertx, VertxTestContext ctx) {
    ai.companion.worker.impl.LoadedModel model = worker.models().get(ModelFixtures.STORIES);
    String requestId = UUID.randomUUID().toString();
    String address = Addresses.streamAddress(requestId);
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(address);
    long before = model.tokensGenerated();
    consumer.handler(m -> {
      // the client vanished without a cancel: its stream consumer is simply gone
      consumer.unregister();
    });
    GenerationRequest req = new GenerationRequest(requestId, ModelFixtures.STORIES, "", null,
        SamplingParams.GREEDY.withMaxTokens(500), address, List.of(), null);
    consumer.completion()
        .compose(v -> vertx.eventBus().<JsonObject>request(Addresses.workerGenerate(WORKER), req.toJson()))
        .onComplete(ctx.succeeding(reply -> {
          long deadline = System.currentTimeMillis() + 20_000;
          vertx.setPeriodic(20, t -> {
            if (model.active() == 0) {
              vertx.cancelTimer(t);
              ctx.verify(() -> {
                long made = model.tokensGenerated() - before;
                assertTrue(made < 500, "generated " + made + " tokens for nobody");
              });
              ctx.completeNow();
            } else if (System.currentTimeMillis() > deadline) {
              vertx.cancelTimer(t);
              ctx.failNow("the stream kept running");
            }
          });
        }));
  }

  @Test void registersInTheSharedMapAndPublishesStatus(Vertx vertx, VertxTestContext ctx) {
    MessageConsumer<JsonObject> status = vertx.eventBus().consumer(Addresses.WORKER_STATUS);
    status.handler(m -> ctx.verify(() -> {
      WorkerInfo info = WorkerInfo.fromJson(m.body());
      if (!info.workerId().equals(WORKER)) return;
      assertTrue(info.serves(ModelFixtures.STORIES) && info.serves(ModelFixtures.AIDREAMS));
      status.unregister();
      vertx.sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
          .compose(map -> map.get(WORKER))
          .onComplete(ctx.succeeding(json -> ctx.verify(() -> {
            assertNotNull(json);
            WorkerInfo reg = WorkerInfo.fromJson(json);
            assertEquals("test-node", reg.nodeName());
            assertEquals("cpu", reg.device());
            // the broken folder was skipped, the others serve
            assertEquals(List.of(ModelFixtures.AIDREAMS, ModelFixtures.STORIES),
                reg.models().stream().map(mi -> mi.id()).toList());
            assertEquals(128, reg.models().get(0).contextLength());
            assertEquals(512, reg.models().get(1).contextLength());
            assertTrue(reg.models().get(1).parameters() > 200_000, "parameters " + reg.models().get(1).parameters());
            ctx.completeNow();
          })));
    }));
  }

  @Test void registryEntryIsRefreshedAndOutlivesItsTtl(Vertx vertx, VertxTestContext ctx) {
    // ttl = 3 x 200 ms + 1 s; after 2.5 s the entry must still be there, refreshed within the last interval or so
    vertx.setTimer(2500, t -> vertx.sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> map.get(WORKER))
        .onComplete(ctx.succeeding(json -> ctx.verify(() -> {
          assertNotNull(json);
          long age = System.currentTimeMillis() - WorkerInfo.fromJson(json).updatedAt();
          assertTrue(age < 1000, "last refresh " + age + " ms ago");
          ctx.completeNow();
        }))));
  }

  @Test void undeployEndsRunningStreamsWithWorkerLost(Vertx vertx, VertxTestContext ctx) {
    JsonObject config = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "leaving")
        .put("statusIntervalMs", 200);
    WorkerVerticle w = new WorkerVerticle();
    String requestId = UUID.randomUUID().toString();
    String address = Addresses.streamAddress(requestId);
    String[] deployment = new String[1];
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(address);
    consumer.handler(m -> {
      StreamEvent e = StreamEvent.fromJson(m.body());
      if (e.seq() == 0) vertx.undeploy(deployment[0]);     // the worker goes away mid-stream
      if (e.terminal()) {
        ctx.verify(() -> {
          assertEquals(StreamEvent.Type.ERROR, e.type());
          assertEquals(ErrorCode.WORKER_LOST.wire(), e.errorCode());
        });
        consumer.unregister();
        ctx.completeNow();
      }
    });
    GenerationRequest req = new GenerationRequest(requestId, ModelFixtures.STORIES, "", null,
        SamplingParams.GREEDY.withMaxTokens(500), address, List.of(), null);
    consumer.completion()
        .compose(v -> vertx.deployVerticle(w, new DeploymentOptions().setConfig(config)))
        .compose(id -> {
          deployment[0] = id;
          return vertx.eventBus().<JsonObject>request(Addresses.workerGenerate(w.workerId()), req.toJson());
        })
        .onFailure(ctx::failNow);
  }

  /** {@code promptCacheMb} sizes each model's prompt cache; 0 leaves it out (the default worker has the default). */
  @Test void thePromptCacheBudgetComesFromTheConfig(Vertx vertx, VertxTestContext ctx) {
    assertEquals(WorkerOptions.DEFAULT_PROMPT_CACHE_MB << 20,
        worker.models().get(ModelFixtures.STORIES).promptCache().capacityBytes());
    WorkerVerticle three = new WorkerVerticle();
    WorkerVerticle none = new WorkerVerticle();
    JsonObject config = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "cached")
        .put("statusIntervalMs", 200);
    vertx.deployVerticle(three, new DeploymentOptions().setConfig(config.copy().put("promptCacheMb", 3)))
        .compose(a -> vertx.deployVerticle(none, new DeploymentOptions().setConfig(config.copy()
            .put("promptCacheMb", 0))).compose(b -> {
              ctx.verify(() -> {
                assertEquals(3L << 20, three.models().get(ModelFixtures.STORIES).promptCache().capacityBytes());
                assertNull(none.models().get(ModelFixtures.STORIES).promptCache());
              });
              return vertx.undeploy(a).compose(v -> vertx.undeploy(b));
            }))
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test void undeployRemovesTheRegistryEntry(Vertx vertx, VertxTestContext ctx) {
    // a second worker on the same bus, deployed and undeployed on its own
    JsonObject config = new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "other")
        .put("statusIntervalMs", 200);
    WorkerVerticle w = new WorkerVerticle();
    vertx.deployVerticle(w, new DeploymentOptions().setConfig(config))
        .compose(id -> vertx.sharedData().<String, JsonObject>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
            .compose(map -> map.get(w.workerId()).compose(before -> {
              ctx.verify(() -> {
                assertNotNull(before);
                assertTrue(w.workerId().startsWith("other-"), w.workerId());
              });
              return vertx.undeploy(id).compose(v -> map.get(w.workerId()));
            })))
        .onComplete(ctx.succeeding(after -> ctx.verify(() -> {
          assertNull(after);
          ctx.completeNow();
        })));
  }
}
