package ai.companion.node.doors;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A WebSocket client on {@code /v1/chat/stream} that records every frame and waits for the ones a test needs. */
final class WsClient implements AutoCloseable {
  final WebSocketClient client;
  final WebSocket ws;
  // guarded by waiters: a slow-reader test receives a few hundred thousand frames, and a copy-on-write list
  // copied the whole list for each one (quadratic, gigabytes of garbage)
  private final List<JsonObject> frames = new ArrayList<>();
  private final List<Waiter> waiters = new ArrayList<>();

  private record Waiter(Predicate<JsonObject> match, CompletableFuture<JsonObject> result) {}

  private WsClient(WebSocketClient client, WebSocket ws) {
    this.client = client;
    this.ws = ws;
    ws.textMessageHandler(t -> {
      JsonObject f = new JsonObject(t);
      synchronized (waiters) {
        frames.add(f);
        waiters.removeIf(w -> w.match.test(f) && w.result.complete(f));
      }
    });
  }

  static WsClient connect(DoorsNode node, String apiKey) throws Exception {
    WebSocketClient client = node.vertx.createWebSocketClient();
    WebSocketConnectOptions opts = new WebSocketConnectOptions().setHost(DoorsNode.HOST).setPort(node.httpPort)
        .setURI("/v1/chat/stream");
    if (apiKey != null) opts.addHeader("Authorization", "Bearer " + apiKey);
    Future<WebSocket> f = client.connect(opts);
    return new WsClient(client, DoorsNode.await(f));
  }

  void send(JsonObject frame) throws Exception {
    DoorsNode.await(ws.writeTextMessage(frame.encode()));
  }

  void sendRaw(String text) throws Exception {
    DoorsNode.await(ws.writeTextMessage(text));
  }

  /** The first frame (already received or still to come) that matches. */
  JsonObject await(Predicate<JsonObject> match) throws Exception {
    return await(match, 60_000);
  }

  /** As {@link #await(Predicate)}, waiting at most {@code timeoutMs}. */
  JsonObject await(Predicate<JsonObject> match, long timeoutMs) throws Exception {
    CompletableFuture<JsonObject> result = new CompletableFuture<>();
    synchronized (waiters) {
      for (JsonObject f : frames) {
        if (match.test(f)) return f;
      }
      waiters.add(new Waiter(match, result));
    }
    try {
      return result.get(timeoutMs, TimeUnit.MILLISECONDS);
    } finally {
      synchronized (waiters) {
        waiters.removeIf(w -> w.result == result);
      }
    }
  }

  JsonObject awaitType(String type, String id) throws Exception {
    return await(f -> type.equals(f.getString("type")) && java.util.Objects.equals(id, f.getString("id")));
  }

  /** Every frame received so far, in order. */
  List<JsonObject> frames() {
    synchronized (waiters) {
      return List.copyOf(frames);
    }
  }

  /** The text of request {@code id}: every chunk's delta content, in order. */
  String text(String id) {
    StringBuilder sb = new StringBuilder();
    synchronized (waiters) {
      for (JsonObject f : frames) {
        if (!id.equals(f.getString("id")) || !"chunk".equals(f.getString("type"))) continue;
        sb.append(f.getJsonArray("choices").getJsonObject(0).getJsonObject("delta").getString("content", ""));
      }
    }
    return sb.toString();
  }

  static JsonObject chat(String id, int maxTokens) {
    return new JsonObject().put("id", id).put("model", DoorsNode.MODEL).put("temperature", 0).put("max_tokens", maxTokens)
        .put("messages", new io.vertx.core.json.JsonArray().add(new JsonObject().put("role", "user").put("content", "")));
  }

  @Override
  public void close() throws Exception {
    Promise<Void> closed = Promise.promise();
    ws.resume(); // a test that paused reading and then failed: the close handshake must get through the backlog
    if (!ws.isClosed()) ws.close().onComplete(closed);
    else closed.complete();
    closed.future().compose(v -> client.close()).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

}
