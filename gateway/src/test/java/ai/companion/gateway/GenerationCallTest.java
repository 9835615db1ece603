package ai.companion.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.RouteDecision;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.gateway.impl.ApiException;
import ai.companion.gateway.impl.GenerationCall;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The gateway's side of the worker protocol, against scripted peers on a local event bus: a router that picks
 * the first worker not excluded, and workers that answer with exactly the event sequences under test
 * (reordered, duplicated, early, slow, silent). The real worker runs far too fast, and never reorders inside one
 * JVM, to show these cases; the end-to-end tests in cluster-config run the real one.
 */
@ExtendWith(VertxExtension.class)
class GenerationCallTest {

  private final List<MessageConsumer<?>> consumers = new ArrayList<>();

  @AfterEach
  void unregister() {
    consumers.forEach(MessageConsumer::unregister);
    consumers.clear();
  }

  @Test
  void eventsArriveOnceAndInOrderWhateverTheBusDoes(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1");
    worker(vertx, "w1", (req, msg) -> {
      String to = req.streamAddress();
      // two events before the accept, then the rest out of order with duplicates
      send(vertx, to, tok(req, 1, "b", 11));
      send(vertx, to, tok(req, 0, "a", 10));
      accept(msg, "w1");
      send(vertx, to, tok(req, 0, "a", 10));
      send(vertx, to, tok(req, 3, "d", 13));
      send(vertx, to, tok(req, 2, "c", 12));
      send(vertx, to, tok(req, 1, "b", 11));
      send(vertx, to, StreamEvent.done(req.requestId(), 4, "e", List.of(14), "length", 1, 5, "w1"));
      send(vertx, to, tok(req, 2, "c", 12));
    });
    Recorder rec = new Recorder();
    GenerationCall call = new GenerationCall(vertx, options(), request("r1"));
    register(vertx).compose(v -> call.start(rec)).onComplete(ctx.succeeding(acc -> {
      ctx.verify(() -> assertEquals("w1", acc.route().workerId()));
      rec.done.future().onComplete(ctx.succeeding(v -> ctx.verify(() -> {
        assertEquals("abcde", rec.text.toString());
        assertEquals(List.of(10, 11, 12, 13, 14), rec.ids);
        assertEquals("length 1 5", rec.finish);
        assertEquals(List.of(10, 11, 12, 13, 14), call.deliveredTokens());
        ctx.completeNow();
      })));
    }));
  }

  @Test
  void aSilentWorkerIsReplacedAndTheStreamResumesAfterTheDeliveredTokens(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1", "w2");
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      send(vertx, req.streamAddress(), tok(req, 0, "Once", 100));
      send(vertx, req.streamAddress(), tok(req, 1, " upon", 101));
      // then silence: no DONE, no ERROR
    });
    List<GenerationRequest> second = new CopyOnWriteArrayList<>();
    worker(vertx, "w2", (req, msg) -> {
      second.add(req);
      accept(msg, "w2");
      send(vertx, req.streamAddress(), tok(req, 0, " a", 102));
      send(vertx, req.streamAddress(), StreamEvent.done(req.requestId(), 1, " time", List.of(103), "length", 1, 4,
          "w2"));
    });
    List<String> cancels = cancels(vertx);
    Recorder rec = new Recorder();
    long t0 = System.currentTimeMillis();
    GenerationCall call = new GenerationCall(vertx, options().setRequestTimeoutMs(300), request("r2"));
    register(vertx).compose(v -> call.start(rec)).compose(acc -> rec.done.future())
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertEquals("Once upon a time", rec.text.toString());
          assertEquals(List.of(100, 101, 102, 103), rec.ids);
          assertEquals(1, second.size());
          GenerationRequest resumed = second.get(0);
          assertEquals(List.of(100, 101), resumed.resumeTokenIds(), "resent with the tokens already delivered");
          assertEquals("r2.r1", resumed.requestId(), "a new id, so a cancel for the old one cannot reach it");
          assertEquals(new JsonArray().add("w1"), resumed.hints().getJsonArray(GenerationCall.HINT_EXCLUDE_WORKERS));
          assertEquals(List.of("w2"), rec.failovers);
          assertEquals(List.of("r2"), cancels, "the silent worker is told to stop");
          assertTrue(System.currentTimeMillis() - t0 < 5_000);
          ctx.completeNow();
        })));
  }

  @Test
  void aWorkerThatLeavesTheRegistryIsReplacedBeforeTheTimeout(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1", "w2");
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      send(vertx, req.streamAddress(), tok(req, 0, "x", 7));
      vertx.setTimer(200, t -> vertx.sharedData().getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
          .compose(m -> m.remove("w1")));
    });
    worker(vertx, "w2", (req, msg) -> {
      accept(msg, "w2");
      send(vertx, req.streamAddress(), StreamEvent.done(req.requestId(), 0, "y", List.of(8), "stop", 1, 2, "w2"));
    });
    Recorder rec = new Recorder();
    long t0 = System.currentTimeMillis();
    // a long silence limit: only the registry can explain a quick failover
    GenerationCall call = new GenerationCall(vertx, options().setRequestTimeoutMs(30_000)
        .setWorkerCheckIntervalMs(50), request("r3"));
    register(vertx).compose(v -> call.start(rec)).compose(acc -> rec.done.future())
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertEquals("xy", rec.text.toString());
          assertEquals(List.of("w2"), rec.failovers);
          assertTrue(System.currentTimeMillis() - t0 < 5_000, "failed over on the registry, not the timeout");
          ctx.completeNow();
        })));
  }

  @Test
  void withNoOtherWorkerTheStreamFailsAtOnce(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1");
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      send(vertx, req.streamAddress(), tok(req, 0, "x", 7));
      send(vertx, req.streamAddress(), StreamEvent.error(req.requestId(), 1, ErrorCode.WORKER_LOST, "worker stopped",
          "w1"));
    });
    Recorder rec = new Recorder();
    GenerationCall call = new GenerationCall(vertx, options(), request("r4"));
    register(vertx).compose(v -> call.start(rec)).compose(acc -> rec.done.future())
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          ApiException e = (ApiException) err;
          assertEquals(503, e.status());
          assertEquals("worker_lost", e.code());
          assertTrue(e.getMessage().contains("w1"), e.getMessage());
          assertEquals("x", rec.text.toString());
          ctx.completeNow();
        })));
  }

  @Test
  void aPausedCallTakesNothingUntilResumed(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1");
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      for (int i = 0; i < 50; i++) send(vertx, req.streamAddress(), tok(req, i, "t" + i + " ", i));
      send(vertx, req.streamAddress(), StreamEvent.done(req.requestId(), 50, "", List.of(), "length", 1, 50, "w1"));
    });
    GenerationCall[] call = new GenerationCall[1];
    Recorder rec = new Recorder() {
      @Override
      public void onTokens(String text, List<Integer> tokenIds) {
        super.onTokens(text, tokenIds);
        if (ids.size() == 5) {
          // the client's write queue is full: nothing more may arrive until it drains
          call[0].pause();
          int seen = ids.size();
          vertx.setTimer(300, t -> ctx.verify(() -> {
            assertEquals(seen, ids.size(), "no delivery while paused");
            call[0].resume();
          }));
        }
      }
    };
    call[0] = new GenerationCall(vertx, options().setRequestTimeoutMs(200), request("r5"));
    register(vertx).compose(v -> call[0].start(rec)).compose(acc -> rec.done.future())
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertEquals(50, rec.ids.size());
          assertEquals(List.of(), rec.failovers, "a pause is not a silent worker");
          ctx.completeNow();
        })));
  }

  @Test
  void placementFailuresComeBackTyped(Vertx vertx, VertxTestContext ctx) {
    worker(vertx, "w1", (req, msg) -> msg.fail(ErrorCode.CONTEXT_LENGTH_EXCEEDED.wire(),
        "prompt of 900 tokens exceeds the context of 512 tokens"));
    router(vertx, "w1");
    Recorder rec = new Recorder();
    register(vertx).compose(v -> new GenerationCall(vertx, options(), request("r6")).start(rec))
        .onComplete(ctx.failing(err -> ctx.verify(() -> {
          assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, ErrorCode.of(err));
          assertTrue(err.getMessage().contains("512"));
          ctx.completeNow();
        })));
  }

  /** Over HTTP: a client that hangs up mid-stream gets its generation cancelled, once, by request id. */
  @Test
  void clientHangingUpCancelsTheWorker(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1");
    List<String> cancels = cancels(vertx);
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      long[] seq = {0};
      vertx.setPeriodic(20, t -> {
        if (cancels.contains(req.requestId()) || seq[0] == 500) {
          vertx.cancelTimer(t);
          return;
        }
        send(vertx, req.streamAddress(), tok(req, seq[0], "w ", (int) seq[0]++));
      });
    });
    GatewayVerticle gateway = new GatewayVerticle();
    register(vertx)
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).toJson())))
        .compose(dep -> vertx.createHttpClient().request(HttpMethod.POST, gateway.actualPort(), "127.0.0.1",
            "/v1/completions"))
        .compose(req -> req.send(Buffer.buffer("{\"model\":\"m\",\"prompt\":\"hi\",\"stream\":true}")))
        .onComplete(ctx.succeeding(resp -> {
          Buffer seen = Buffer.buffer();
          boolean[] hungUp = {false};
          resp.handler(buf -> {
            seen.appendBuffer(buf);
            String s = seen.toString();
            int text = s.indexOf("\"text\":\"w");
            if (hungUp[0] || text < 0 || s.indexOf("\n\n", text) < 0) return;
            hungUp[0] = true;
            String id = new JsonObject(s.substring(6, s.indexOf("\n\n"))).getString("id");
            resp.request().connection().close();
            once(vertx, () -> !cancels.isEmpty(), () -> ctx.verify(() -> {
              assertEquals(List.of(id), cancels);
              ctx.completeNow();
            }));
          });
        }));
  }

  /**
   * A client that stops reading: the response's write queue fills, the gateway stops taking events and (for a
   * worker that waits for each event's reply) the worker stops producing; when the client reads again every
   * event arrives, in order. Nothing piles up in between.
   */
  @Test
  void aSlowReaderHoldsTheWorkerBackAndLosesNothing(Vertx vertx, VertxTestContext ctx) {
    int total = 3000;
    String piece = "x".repeat(8 * 1024);
    router(vertx, "w1");
    int[] sent = {0};
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      // credit by reply: the next event goes out only once the gateway has taken the previous one
      Handler<Void>[] next = new Handler[1];
      next[0] = v -> {
        int seq = sent[0]++;
        StreamEvent ev = seq == total
            ? StreamEvent.done(req.requestId(), seq, "", List.of(), "length", 1, total, "w1")
            : tok(req, seq, piece + "|" + seq + "|", seq);
        vertx.eventBus().request(req.streamAddress(), ev.toJson()).onSuccess(r -> {
          if (seq < total) next[0].handle(null);
        });
      };
      next[0].handle(null);
    });
    GatewayVerticle gateway = new GatewayVerticle();
    register(vertx)
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).setRequestTimeoutMs(60_000).toJson())))
        .compose(dep -> vertx.createHttpClient().request(HttpMethod.POST, gateway.actualPort(), "127.0.0.1",
            "/v1/completions"))
        .compose(req -> req.send(Buffer.buffer("{\"model\":\"m\",\"prompt\":\"hi\",\"stream\":true}")))
        .onComplete(ctx.succeeding(resp -> {
          Buffer body = Buffer.buffer();
          resp.pause();
          // the client reads nothing for a while: the worker must stall before the end, and stay stalled (how many
          // events the kernel's socket buffers take first depends on the machine's network stack)
          int[] early = {-1};
          vertx.setTimer(1000, t -> early[0] = sent[0]);
          vertx.setTimer(1500, t -> {
            int whileStalled = sent[0];
            ctx.verify(() -> assertTrue(whileStalled == early[0] && whileStalled < total,
                "worker stalled by the slow reader: " + early[0] + " then " + whileStalled + " of " + total
                    + " events sent"));
            resp.handler(body::appendBuffer);
            resp.endHandler(v -> ctx.verify(() -> {
              StringBuilder text = new StringBuilder();
              for (String ev : body.toString().split("\n\n")) {
                if (ev.equals("data: [DONE]")) continue;
                JsonObject c = new JsonObject(ev.substring(6));
                if (!c.getJsonArray("choices").isEmpty()) {
                  text.append(c.getJsonArray("choices").getJsonObject(0).getString("text"));
                }
              }
              String[] parts = text.toString().split("\\|");
              int seen = 0;
              for (int i = 1; i < parts.length; i += 2) {
                assertEquals(String.valueOf(seen), parts[i], "event order");
                seen++;
              }
              assertEquals(total, seen, "every event arrived once");
              ctx.completeNow();
            }));
            resp.resume();
          });
        }));
  }

  /**
   * Two generations paused on one WebSocket whose reader stopped: when it reads again and the socket drains, the
   * first one resumed delivers its held DONE and leaves the socket's map while the drain is still going through it.
   * The second must be resumed all the same: an iteration over the live map ended there (and threw), and the
   * second, with nothing left to fill the queue, waited for a drain that never came (seen on CI and here: 7 of 48
   * streams stopped 20 tokens before their ends).
   */
  @Test
  void aDrainResumesEveryPausedGenerationOfTheSocket(Vertx vertx, VertxTestContext ctx) {
    int total = 3000;
    String piece = "x".repeat(8 * 1024);
    router(vertx, "w1");
    GenerationRequest[] a = new GenerationRequest[1];
    int[] sentB = {0};
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      if (req.messages().get(0).content().equals("a")) {
        a[0] = req; // its token and DONE come once the other one has filled the socket
        return;
      }
      // credit by reply, as a worker's checkpoints: held events are not answered, so this one stalls when paused
      Handler<Void>[] next = new Handler[1];
      next[0] = v -> {
        int seq = sentB[0]++;
        StreamEvent ev = seq == total
            ? StreamEvent.done(req.requestId(), seq, "", List.of(), "length", 1, total, "w1")
            : tok(req, seq, piece, seq);
        vertx.eventBus().request(req.streamAddress(), ev.toJson()).onSuccess(r -> {
          if (seq < total) next[0].handle(null);
        });
      };
      next[0].handle(null);
    });
    GatewayVerticle gateway = new GatewayVerticle();
    List<JsonObject> frames = new CopyOnWriteArrayList<>();
    io.vertx.core.http.WebSocket[] socket = new io.vertx.core.http.WebSocket[1];
    io.vertx.core.http.WebSocketClient client = vertx.createWebSocketClient(); // held: an unreferenced one is closed
    Function<String, String> chat = id -> new JsonObject().put("id", id).put("model", "m").put("max_tokens", 4000)
        .put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", id))).encode();
    register(vertx)
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).setRequestTimeoutMs(60_000).toJson())))
        .compose(dep -> client.connect(gateway.actualPort(), "127.0.0.1", "/v1/chat/stream"))
        .compose(ws -> {
          socket[0] = ws;
          // chunk frames carry 8 KB each: keep only the small ones and a count
          ws.textMessageHandler(t -> frames.add(t.length() > 4096 ? new JsonObject().put("big", true)
              : new JsonObject(t)));
          ws.pause(); // the reader stops reading
          return ws.writeTextMessage(chat.apply("a"));
        })
        .compose(v -> {
          Promise<Void> accepted = Promise.promise();
          once(vertx, () -> a[0] != null, accepted::complete);
          return accepted.future();
        })
        .compose(v -> socket[0].writeTextMessage(chat.apply("b")))
        .compose(v -> {
          // b fills the socket and stalls: its count stops moving
          Promise<Void> stalled = Promise.promise();
          int[] seen = {-1};
          long poll = vertx.setPeriodic(300, t -> {
            if (sentB[0] > 100 && sentB[0] == seen[0]) stalled.tryComplete();
            seen[0] = sentB[0];
          });
          return stalled.future().onComplete(x -> vertx.cancelTimer(poll));
        })
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertTrue(sentB[0] < total, "b stalled before its end: " + sentB[0]);
          // a's token meets the full queue and pauses a; its DONE is held
          send(vertx, a[0].streamAddress(), tok(a[0], 0, "A", 1));
          send(vertx, a[0].streamAddress(), StreamEvent.done(a[0].requestId(), 1, "", List.of(), "stop", 1, 1, "w1"));
          vertx.setTimer(300, t -> {
            socket[0].resume();
            // within the test's 30 s: the reader takes b's 24 MB in about a second here
            long deadline = System.nanoTime() + 20_000_000_000L;
            vertx.setPeriodic(100, p -> {
              boolean aDone = frames.stream().anyMatch(f -> "a".equals(f.getString("id")) && "done".equals(f.getString("type")));
              boolean bDone = frames.stream().anyMatch(f -> "b".equals(f.getString("id")) && "done".equals(f.getString("type")));
              if (aDone && bDone) {
                vertx.cancelTimer(p);
                ctx.verify(() -> {
                  assertEquals(total, frames.stream().filter(f -> f.containsKey("big")).count(), "every chunk of b");
                  client.close().onComplete(x -> ctx.completeNow());
                });
              } else if (System.nanoTime() > deadline) {
                vertx.cancelTimer(p);
                ctx.failNow(new AssertionError("after the reader resumed: a done " + aDone + ", b done " + bDone
                    + ", b's worker sent " + sentB[0] + " of " + total + " events"));
              }
            });
          });
        })));
  }

  /**
   * The finish signal goes to the router that decided, when its reply names it (any other router would have to
   * ask around); a reply that names none sends it to the shared address, as before.
   */
  @Test
  void theFinishSignalGoesToTheRouterThatDecided(Vertx vertx, VertxTestContext ctx) {
    List<String> signals = new CopyOnWriteArrayList<>();
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.ROUTER_ROUTE, msg -> {
      GenerationRequest req = GenerationRequest.fromJson(msg.body());
      JsonObject reply = new RouteDecision("m", "w1", "n", "direct", List.of("scripted")).toJson();
      // the first request's router says who it is, the second's does not
      if (req.requestId().equals("named")) reply.put(Addresses.ROUTE_ROUTER_FIELD, "router-7");
      msg.reply(reply);
    }));
    for (String address : List.of(Addresses.routerFeedback("router-7"), Addresses.ROUTER_FEEDBACK)) {
      consumers.add(vertx.eventBus().<JsonObject>consumer(address, msg -> signals.add(address + " "
          + msg.body().getString("requestId") + " " + msg.body().getJsonObject("signal").getString("finishReason"))));
    }
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      send(vertx, req.streamAddress(), StreamEvent.done(req.requestId(), 0, "ok", List.of(1), "stop", 1, 1, "w1"));
    });
    Recorder named = new Recorder();
    Recorder unnamed = new Recorder();
    register(vertx)
        .compose(v -> new GenerationCall(vertx, options(), request("named")).start(named))
        .compose(v -> named.done.future())
        .compose(v -> new GenerationCall(vertx, options(), request("unnamed")).start(unnamed))
        .compose(v -> unnamed.done.future())
        .compose(v -> {
          // the signals are sent, not requested: wait for them on the bus
          Promise<Void> later = Promise.promise();
          once(vertx, () -> signals.size() >= 2, later::complete);
          return later.future();
        })
        .onComplete(ctx.succeeding(v -> ctx.verify(() -> {
          assertEquals(List.of(Addresses.routerFeedback("router-7") + " named stop",
              Addresses.ROUTER_FEEDBACK + " unnamed stop"), signals);
          ctx.completeNow();
        })));
  }

  /** Reasons are free text (policy rule names, model descriptions): the header stays a valid one. */
  @Test
  void routeHeaderSurvivesAnyReasonText(Vertx vertx, VertxTestContext ctx) {
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.ROUTER_ROUTE, msg -> msg.reply(new RouteDecision("m",
        "w1", "n\u00f6de", "direct", List.of("regel \u00bbgr\u00f6\u00dfer\u00ab \u2192 m\r\nX-Evil: 1", "\u6a21\u578b"))
        .toJson())));
    worker(vertx, "w1", (req, msg) -> {
      accept(msg, "w1");
      send(vertx, req.streamAddress(), StreamEvent.done(req.requestId(), 0, "ok", List.of(1), "stop", 1, 1, "w1"));
    });
    GatewayVerticle gateway = new GatewayVerticle();
    register(vertx)
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).toJson())))
        .compose(dep -> io.vertx.ext.web.client.WebClient.create(vertx).post(gateway.actualPort(), "127.0.0.1",
            "/v1/completions").sendJsonObject(new JsonObject().put("model", "m").put("prompt", "hi")))
        .onComplete(ctx.succeeding(resp -> ctx.verify(() -> {
          assertEquals(200, resp.statusCode(), resp.bodyAsString());
          String header = resp.getHeader("x-companion-route");
          assertTrue(header.chars().allMatch(ch -> ch >= 0x20 && ch < 0x7f), header);
          assertNull(resp.getHeader("X-Evil"));
          JsonObject route = resp.bodyAsJsonObject().getJsonObject("companion").getJsonObject("route");
          assertEquals("\u6a21\u578b", route.getJsonArray("reasons").getString(1), "the JSON keeps the text as it is");
          ctx.completeNow();
        })));
  }

  /**
   * With several HTTP event loops the connections are spread over them: each loop has its own stream sink, so
   * the sink addresses that requests name tell how many loops took connections. Six streams on six connections
   * at once: three loops take two each; with one loop every stream names the same sink. Every stream gets its
   * text either way.
   */
  @Test
  void connectionsAreSpreadOverTheHttpEventLoops(Vertx vertx, VertxTestContext ctx) {
    router(vertx, "w1");
    List<GenerationRequest> held = new CopyOnWriteArrayList<>();
    List<Message<JsonObject>> heldMsgs = new CopyOnWriteArrayList<>();
    int streams = 6;
    worker(vertx, "w1", (req, msg) -> {
      held.add(req);
      heldMsgs.add(msg);
      if (held.size() % streams != 0) return;      // answer once all of this round are in, so all six connections are open together
      for (int i = held.size() - streams; i < held.size(); i++) {
        GenerationRequest r = held.get(i);
        accept(heldMsgs.get(i), "w1");
        send(vertx, r.streamAddress(), tok(r, 0, "x" + i % streams, 10));
        send(vertx, r.streamAddress(), StreamEvent.done(r.requestId(), 1, "!", List.of(11), "length", 1, 2, "w1"));
      }
    });
    io.vertx.core.http.HttpClientAgent client = vertx.httpClientBuilder()
        .with(new io.vertx.core.http.PoolOptions().setHttp1MaxSize(streams)).build();
    Future<Integer> three = register(vertx).compose(v -> sinksUsed(vertx, client, 3, held, streams));
    three.compose(n3 -> sinksUsed(vertx, client, 1, held, streams).map(n1 -> List.of(n3, n1)))
        .onComplete(ctx.succeeding(n -> ctx.verify(() -> {
          assertEquals(3, n.get(0), "three loops: the sinks the streams named");
          assertEquals(1, n.get(1), "one loop");
          ctx.completeNow();
        })));
  }

  /** Deploys a gateway with {@code loops} HTTP event loops, runs six streams at once, counts the sinks named. */
  private Future<Integer> sinksUsed(Vertx vertx, io.vertx.core.http.HttpClientAgent client, int loops,
                                    List<GenerationRequest> held, int streams) {
    GatewayVerticle gateway = new GatewayVerticle();
    int from = held.size();
    return vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost("127.0.0.1").setHttpPort(0).setGrpcPort(0).setHttpEventLoops(loops).toJson()))
        .compose(dep -> {
          List<Future<String>> bodies = new ArrayList<>();
          for (int i = 0; i < streams; i++) {
            bodies.add(client.request(HttpMethod.POST, gateway.actualPort(), "127.0.0.1", "/v1/completions")
                .compose(req -> req.putHeader("content-type", "application/json")
                    .send(new JsonObject().put("model", "m").put("prompt", "hi").put("stream", true).toBuffer()))
                .compose(resp -> resp.body().map(Buffer::toString)));
          }
          return Future.all(bodies).map(all -> {
            for (Future<String> b : bodies) {
              assertTrue(b.result().contains("\"text\":\"!\"") && b.result().endsWith("data: [DONE]\n\n"),
                  b.result());
            }
            return (int) held.subList(from, held.size()).stream().map(GenerationRequest::streamAddress).distinct()
                .count();
          }).eventually(() -> vertx.undeploy(dep));
        });
  }

  // ---- scripted peers

  private Future<Void> register(Vertx vertx) {
    return Future.all(consumers.stream().map(c -> (Future<?>) c.completion()).toList()).mapEmpty();
  }

  /** A router that offers the first of {@code workers} not excluded, and registers them all in the map. */
  private void router(Vertx vertx, String... workers) {
    for (String w : workers) {
      vertx.sharedData().getAsyncMap(Addresses.WORKER_REGISTRY_MAP).compose(m -> m.put(w,
          new JsonObject().put("workerId", w).put("nodeName", "n").put("models", new JsonArray())));
    }
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.ROUTER_ROUTE, msg -> {
      GenerationRequest req = GenerationRequest.fromJson(msg.body());
      JsonArray ex = req.hints().getJsonArray(GenerationCall.HINT_EXCLUDE_WORKERS, new JsonArray());
      for (String w : workers) {
        if (!ex.contains(w)) {
          msg.reply(new RouteDecision("m", w, "n", "direct", List.of("scripted")).toJson());
          return;
        }
      }
      msg.fail(ErrorCode.NO_WORKER.wire(), "no worker other than " + ex.encode());
    }));
  }

  private void worker(Vertx vertx, String id, BiConsumer<GenerationRequest, Message<JsonObject>> script) {
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.workerGenerate(id),
        msg -> script.accept(GenerationRequest.fromJson(msg.body()), msg)));
  }

  /**
   * Runs {@code then} once {@code ready} holds (looked at every 20 ms, for at most 10 s) and 100 ms more have
   * passed, so that a second delivery of what was awaited would be seen too. A fixed wait instead failed whenever
   * the machine stalled past it.
   */
  private static void once(Vertx vertx, java.util.function.BooleanSupplier ready, Runnable then) {
    long deadline = System.nanoTime() + 10_000_000_000L;
    vertx.setPeriodic(20, id -> {
      if (!ready.getAsBoolean() && System.nanoTime() < deadline) return;
      vertx.cancelTimer(id);
      vertx.setTimer(100, t -> then.run());
    });
  }

  private List<String> cancels(Vertx vertx) {
    List<String> out = new CopyOnWriteArrayList<>();
    consumers.add(vertx.eventBus().<JsonObject>consumer(Addresses.WORKER_CANCEL,
        m -> out.add(m.body().getString("requestId"))));
    return out;
  }

  private static void accept(Message<JsonObject> msg, String worker) {
    msg.reply(new JsonObject().put("accepted", true).put("workerId", worker).put("promptTokens", 1));
  }

  private static void send(Vertx vertx, String address, StreamEvent ev) {
    vertx.eventBus().send(address, ev.toJson());
  }

  private static StreamEvent tok(GenerationRequest req, long seq, String text, int id) {
    return StreamEvent.token(req.requestId(), seq, text, List.of(id), "w");
  }

  private static GatewayOptions options() {
    return new GatewayOptions().setWorkerCheckIntervalMs(50);
  }

  private static GenerationRequest request(String id) {
    return new GenerationRequest(id, "m", "", null, SamplingParams.GREEDY, Addresses.streamAddress(id), List.of(),
        new JsonObject());
  }

  /** Records what the client side would see. */
  private static class Recorder implements GenerationCall.Listener {
    final StringBuilder text = new StringBuilder();
    final List<Integer> ids = new ArrayList<>();
    final List<String> failovers = new ArrayList<>();
    final Promise<Void> done = Promise.promise();
    String finish;

    @Override
    public void onTokens(String t, List<Integer> tokenIds) {
      text.append(t);
      ids.addAll(tokenIds);
    }

    @Override
    public void onFailover(RouteDecision route, String reason) {
      failovers.add(route.workerId());
    }

    @Override
    public void onDone(String finishReason, int promptTokens, int completionTokens) {
      assertNull(finish, "one end");
      finish = finishReason + " " + promptTokens + " " + completionTokens;
      done.complete();
    }

    @Override
    public void onError(ApiException error) {
      done.fail(error);
    }
  }
}
