package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ai.companion.node.it.Polls;

/**
 * WebSocket {@code /v1/chat/stream} against a real node: several requests share one socket (frames carry their
 * ids), a bad frame gets an error frame and the socket goes on, cancel stops the worker, and closing the socket
 * stops every generation it started.
 */
class WebSocketDoorTest {

  @TempDir
  static Path dataDir;
  private static DoorsNode node;

  @BeforeAll
  static void start() throws Exception {
    node = DoorsNode.start(dataDir, null);
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) node.close();
  }

  @Test
  void twoRequestsShareOneSocket() throws Exception {
    try (WsClient c = WsClient.connect(node, null)) {
      c.send(WsClient.chat("a", 60));
      c.send(WsClient.chat("b", 20));
      JsonObject doneA = c.awaitType("done", "a");
      JsonObject doneB = c.awaitType("done", "b");
      String oracle = DoorsNode.oracle();
      assertEquals(oracle, c.text("a"));
      assertFalse(c.text("b").isEmpty());
      assertTrue(oracle.startsWith(c.text("b")), c.text("b"));
      assertEquals(60, doneA.getJsonObject("usage").getInteger("completion_tokens"));
      assertEquals(20, doneB.getJsonObject("usage").getInteger("completion_tokens"));
      assertEquals("length", doneA.getJsonArray("choices").getJsonObject(0).getString("finish_reason"));
      JsonObject firstA = c.awaitType("chunk", "a");
      assertEquals(DoorsNode.MODEL, firstA.getJsonObject("companion").getJsonObject("route").getString("model"));
      assertEquals("assistant", firstA.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("role"));
      assertEquals("chat.completion.chunk", firstA.getString("object"));
    }
  }

  @Test
  void badFramesGetErrorFramesAndTheSocketStaysOpen() throws Exception {
    try (WsClient c = WsClient.connect(node, null)) {
      c.sendRaw("this is not json");
      JsonObject notJson = c.await(f -> "error".equals(f.getString("type")));
      assertEquals("invalid_json", notJson.getJsonObject("error").getString("code"));
      c.send(new JsonObject().put("id", "empty").put("model", DoorsNode.MODEL).put("messages", new io.vertx.core.json.JsonArray()));
      JsonObject empty = c.awaitType("error", "empty");
      assertEquals("messages", empty.getJsonObject("error").getString("param"));
      assertEquals(400, empty.getInteger("status"));
      c.send(WsClient.chat("unknown", 5).put("model", "no-such-model"));
      JsonObject unknown = c.awaitType("error", "unknown");
      assertEquals(404, unknown.getInteger("status"), unknown::encode);
      c.send(new JsonObject().put("type", "dance").put("id", "d"));
      assertEquals("type", c.awaitType("error", "d").getJsonObject("error").getString("param"));
      // still open: a good request is answered in full
      c.send(WsClient.chat("ok", 60));
      c.awaitType("done", "ok");
      assertEquals(DoorsNode.oracle(), c.text("ok"));
      assertFalse(c.ws.isClosed());
    }
  }

  @Test
  void cancelStopsTheWorker() throws Exception {
    Promise<String> cancelled = Promise.promise();
    var consumer = node.vertx.eventBus().<JsonObject>consumer(Addresses.WORKER_CANCEL,
        m -> cancelled.tryComplete(m.body().getString("requestId")));
    DoorsNode.await(consumer.completion());
    try (WsClient c = WsClient.connect(node, null)) {
      c.send(WsClient.chat("long", 500));
      JsonObject first = c.awaitType("chunk", "long");
      String requestId = first.getJsonObject("companion").getString("request_id");
      assertNotNull(requestId);
      c.send(new JsonObject().put("type", "cancel").put("id", "long"));
      c.awaitType("cancelled", "long");
      assertEquals(requestId, cancelled.future().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS));
      assertTrue(c.frames().stream().noneMatch(f -> "done".equals(f.getString("type"))), "no done after a cancel");
      // cancelling what is not running is an error frame, not a closed socket
      c.send(new JsonObject().put("type", "cancel").put("id", "long"));
      assertEquals("unknown_request", c.awaitType("error", "long").getJsonObject("error").getString("code"));
    } finally {
      DoorsNode.await(consumer.unregister());
    }
  }

  @Test
  void closingTheSocketStopsItsGenerations() throws Exception {
    java.util.Set<String> cancelled = java.util.concurrent.ConcurrentHashMap.newKeySet();
    var consumer = node.vertx.eventBus().<JsonObject>consumer(Addresses.WORKER_CANCEL,
        m -> cancelled.add(m.body().getString("requestId")));
    DoorsNode.await(consumer.completion());
    try {
      java.util.Set<String> ours = new java.util.HashSet<>();
      try (WsClient c = WsClient.connect(node, null)) {
        // several long generations, so that some are surely still running when the socket goes
        for (int i = 0; i < 8; i++) c.send(WsClient.chat("g" + i, 500).put("temperature", 1.0).put("seed", i));
        for (int i = 0; i < 8; i++) {
          ours.add(c.awaitType("chunk", "g" + i).getJsonObject("companion").getString("request_id"));
        }
      } // closed mid-stream
      io.vertx.core.Future<Void> some = io.vertx.core.Future.future(p -> node.vertx.setPeriodic(50, t -> {
        if (cancelled.stream().anyMatch(ours::contains)) {
          node.vertx.cancelTimer(t);
          p.tryComplete();
        }
      }));
      some.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertTrue(cancelled.stream().filter(ours::contains).count() >= 1, "cancels " + cancelled + " for " + ours);
    } finally {
      DoorsNode.await(consumer.unregister());
    }
  }

  @Test
  void aSlowReaderPausesItsGenerationsAndLosesNothing() throws Exception {
    // a reader that stops reading; the kernel's buffers take the first megabytes, so keep sending batches of long
    // generations until the gateway's own write queue fills and it pauses them. (No tiny receive window: a
    // network stack that acknowledges a 4 KB window slowly could make the backlog take minutes after resuming.)
    List<String> ids = new ArrayList<>();
    try (WsClient c = WsClient.connect(node, null)) {
      c.ws.pause();
      double paused = 0;
      // requests this socket ended with a done frame, counted by the gateway when it sends the frame: a batch is
      // over when all of its requests have one (the requests in flight cannot tell: a request counts there only
      // once the router is asked, and a batch sent next while one still ran would meet the socket's limit of 16)
      double doneBefore = metric("companion_websocket_requests_total", "outcome=\"done\"");
      // one deadline for the whole test: batches that run to the end (kernel buffers took them) must not add up
      long deadline = System.currentTimeMillis() + 180_000;
      for (int batch = 0; batch < 30 && paused < 1; batch++) {
        long left = deadline - System.currentTimeMillis();
        assertTrue(left > 0, "no pause within 180 s, after " + batch + " batches of 16");
        for (int i = 0; i < 16; i++) {
          String id = "b" + batch + "-" + i;
          ids.add(id);
          c.send(slowChat(id, batch, i));
        }
        paused = Polls.eventually(Math.min(60_000, left), () -> {
          double p = metric("companion_stream_pauses_total", "door=\"websocket\"");
          double done = metric("companion_websocket_requests_total", "outcome=\"done\"") - doneBefore;
          assertTrue(p >= 1 || done >= ids.size(), "batch still running: " + done + " of " + ids.size() + " done");
          return p;
        });
      }
      assertTrue(paused >= 1, "the gateway never paused a generation for the slow reader");
      System.out.println("slow reader: the gateway paused after " + ids.size() + " requests");
      assertTrue(metric("companion_websocket_requests_total", "outcome=\"done\"") - doneBefore < ids.size(),
          "paused generations wait, unfinished");
      c.ws.resume();
      long resumedAt = System.currentTimeMillis();
      long doneBy = resumedAt + 120_000;
      for (String id : ids) {
        JsonObject end;
        try {
          // an error frame ends a request too: fail on it at once, saying what it was
          end = c.await(f -> id.equals(f.getString("id"))
              && ("done".equals(f.getString("type")) || "error".equals(f.getString("type"))),
              Math.max(1, doneBy - System.currentTimeMillis()));
        } catch (java.util.concurrent.TimeoutException e) {
          throw new AssertionError("not every request finished within 120 s of the reader resuming: "
              + unfinished(c, ids), e);
        }
        assertEquals("done", end.getString("type"), () -> "request " + id + " ended with " + end.encode());
      }
      System.out.println("slow reader: all " + ids.size() + " done " + (System.currentTimeMillis() - resumedAt)
          + " ms after the reader resumed");
      // nothing lost or reordered while paused: the same greedy text as the REST API gives for the same request
      for (String id : ids.subList(ids.size() - 4, ids.size())) {
        String[] parts = id.substring(1).split("-");
        String content = slowChat(id, Integer.parseInt(parts[0]), Integer.parseInt(parts[1]))
            .getJsonArray("messages").getJsonObject(0).getString("content");
        assertEquals(node.restGreedyChat(content, 480), c.text(id), "request " + id);
      }
    }
  }

  /** What a failure needs to say: the requests without a done frame, their frame counts and last frames. */
  private static String unfinished(WsClient c, List<String> ids) throws Exception {
    java.util.Map<String, List<JsonObject>> byId = new java.util.LinkedHashMap<>();
    for (String id : ids) byId.put(id, new ArrayList<>());
    List<JsonObject> frames = c.frames();
    for (JsonObject f : frames) {
      List<JsonObject> mine = byId.get(f.getString("id"));
      if (mine != null) mine.add(f);
    }
    StringBuilder sb = new StringBuilder();
    int open = 0;
    for (var e : byId.entrySet()) {
      List<JsonObject> mine = e.getValue();
      if (!mine.isEmpty() && "done".equals(mine.get(mine.size() - 1).getString("type"))) continue;
      if (open++ < 8) {
        sb.append("\n  ").append(e.getKey()).append(": ").append(mine.size()).append(" frame(s), last ")
            .append(mine.isEmpty() ? "none" : abbreviate(mine.get(mine.size() - 1).encode()));
      }
    }
    return open + " of " + ids.size() + " unfinished, " + frames.size() + " frames received, inflight "
        + metric("companion_generations_inflight", "") + ", pauses "
        + metric("companion_stream_pauses_total", "door=\"websocket\"") + sb;
  }

  private static String abbreviate(String s) {
    return s.length() <= 300 ? s : s.substring(0, 300) + "...";
  }

  /** Greedy, a different prompt each, as long as the context allows. */
  private static JsonObject slowChat(String id, int batch, int i) {
    JsonObject chat = WsClient.chat(id, 480);
    chat.getJsonArray("messages").getJsonObject(0).put("content", "Story " + batch + " number " + i + ":");
    return chat;
  }

  private static double metric(String name, String label) throws Exception {
    String text = DoorsNode.HTTP.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(node.baseUrl() + "/metrics")).timeout(java.time.Duration.ofSeconds(30)).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    for (String line : text.split("\n")) {
      if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && line.contains(label)) return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }
}
