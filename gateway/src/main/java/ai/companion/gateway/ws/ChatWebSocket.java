package ai.companion.gateway.ws;

import ai.companion.api.GenerationRequest;
import ai.companion.api.RouteDecision;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.impl.ApiException;
import ai.companion.gateway.impl.Failures;
import ai.companion.gateway.impl.GenerationCall;
import ai.companion.gateway.impl.KnowledgeAnswers;
import ai.companion.gateway.impl.OpenAiRequests;
import ai.companion.gateway.metrics.GatewayMetrics;
import ai.companion.gateway.security.GatewaySecurity;
import ai.companion.gateway.security.GatewaySecurity.Admission;
import ai.companion.gateway.security.GatewaySecurity.Denial;
import ai.companion.gateway.security.GatewaySecurity.Principal;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * WebSocket {@code /v1/chat/stream}: chat over one long-lived socket.
 *
 * <p>Client frames (text, JSON): a chat request is an OpenAI chat body plus an {@code id} the client picks
 * ({@code {"id":"q1","model":"auto","messages":[...]}}; {@code "type":"chat"} optional); {@code
 * {"type":"cancel","id":"q1"}} stops that request. Several requests may run at once on one socket.
 *
 * <p>Server frames: {@code {"type":"chunk","id",...}} in the shape of OpenAI's {@code chat.completion.chunk} (the
 * first one carries {@code companion.route}), then one {@code {"type":"done","id",...,"usage",...}}; or {@code
 * {"type":"error","id","error":{message,type,param,code}}} (OpenAI's error object). A bad frame gets an error
 * frame and the socket stays open. {@code {"type":"cancelled","id"}} confirms a cancel.
 *
 * <p>Backpressure: while the socket's write queue is full, every generation on it has its event-bus stream
 * paused (see {@link GenerationCall#pause()}); the drain handler resumes them. The node never buffers without
 * bound for a slow reader. A closed socket cancels every generation it started.
 *
 * <p>{@code "auto"} with no generative model in the cluster is answered extractively from the knowledge base
 * (see {@link KnowledgeAnswers#instead}): the same chunk and done frames, {@code companion.route} with model and
 * strategy {@code extractive}, and {@code companion.citations} on the first and the done frame.
 */
public final class ChatWebSocket {
  private static final Logger LOG = LoggerFactory.getLogger(ChatWebSocket.class);

  public static final String PATH = "/v1/chat/stream";
  /** Generations one socket may run at once; more get an error frame (the socket stays open). */
  public static final int MAX_REQUESTS_PER_SOCKET = 16;
  /** Bytes of queued frames before the socket counts as full (the generations then pause). */
  public static final int WRITE_QUEUE_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final GatewayOptions options;
  private final GatewaySecurity security;
  private final GatewayMetrics metrics;

  public ChatWebSocket(Vertx vertx, GatewayOptions options, GatewaySecurity security, GatewayMetrics metrics) {
    this.vertx = vertx;
    this.options = options;
    this.security = security;
    this.metrics = metrics;
  }

  /** Route handler for {@code GET /v1/chat/stream}; the security handler has already admitted the upgrade. */
  public Handler<RoutingContext> handler() {
    return ctx -> {
      String auth = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
      String token = ctx.request().getParam("access_token");
      if (auth == null && token != null) auth = "Bearer " + token;
      String authorization = auth;
      ctx.request().toWebSocket()
          .onSuccess(ws -> new Session(ws, authorization).open())
          .onFailure(err -> {
            if (!ctx.response().ended()) {
              ctx.fail(ApiException.invalid("websocket_required", null,
                  PATH + " is a WebSocket endpoint: open it with a WebSocket client (" + err.getMessage() + ")"));
            }
          });
    };
  }

  /** One socket and the generations it runs; everything here runs on the socket's event loop. */
  private final class Session {
    final ServerWebSocket ws;
    final String authorization;
    final Map<String, Running> running = new LinkedHashMap<>();
    boolean closed;

    Session(ServerWebSocket ws, String authorization) {
      this.ws = ws;
      this.authorization = authorization;
    }

    void open() {
      metrics.websocketOpened();
      ws.setWriteQueueMaxSize(WRITE_QUEUE_BYTES);
      ws.textMessageHandler(this::onText);
      ws.binaryMessageHandler(b -> sendError(null, ApiException.invalid("invalid_frame", null,
          "Binary frames are not understood; send JSON text frames")));
      // over a copy: a resumed generation can deliver its held DONE and leave the map at once, and an iteration
      // that threw there left every later paused generation waiting for a drain that would never come
      ws.drainHandler(v -> {
        for (Running r : List.copyOf(running.values())) r.resume();
      });
      ws.exceptionHandler(err -> LOG.debug("WebSocket error: {}", err.toString()));
      ws.closeHandler(v -> onClose());
    }

    void onClose() {
      if (closed) return;
      closed = true;
      metrics.websocketClosed();
      for (Running r : List.copyOf(running.values())) {
        r.call.cancel();
        r.release();
      }
      running.clear();
    }

    void onText(String text) {
      JsonObject frame;
      try {
        Object v = io.vertx.core.json.Json.decodeValue(text);
        if (!(v instanceof JsonObject j)) throw new IllegalArgumentException("a frame must be a JSON object");
        frame = j;
      } catch (RuntimeException e) {
        metrics.websocketRequest("bad_frame");
        sendError(null, ApiException.invalid("invalid_json", null,
            "We could not parse this frame as a JSON object: " + firstLine(e.getMessage())));
        return;
      }
      Object idValue = frame.getValue("id");
      if (idValue != null && !(idValue instanceof String) && !(idValue instanceof Number)) {
        sendError(null, ApiException.invalid("invalid_type", "id", "'id' must be a string or a number"));
        return;
      }
      String id = idValue == null ? null : String.valueOf(idValue);
      Object type = frame.getValue("type", "chat");
      if ("cancel".equals(type)) {
        onCancel(id);
      } else if ("chat".equals(type)) {
        onChat(id, frame);
      } else if ("ping".equals(type)) {
        send(new JsonObject().put("type", "pong").put("id", id));
      } else {
        sendError(id, ApiException.invalid("invalid_value", "type",
            "Unknown frame type " + type + "; expected chat, cancel or ping"));
      }
    }

    void onCancel(String id) {
      Running r = id == null ? null : running.remove(id);
      if (r == null) {
        sendError(id, ApiException.invalid("unknown_request", "id", "No running request with id " + id));
        return;
      }
      r.call.cancel();
      r.release();
      metrics.websocketRequest("cancelled");
      send(new JsonObject().put("type", "cancelled").put("id", id));
    }

    void onChat(String clientId, JsonObject frame) {
      String requestId = "chatcmpl-" + UUID.randomUUID();
      String id = clientId == null ? requestId : clientId;
      if (running.containsKey(id)) {
        sendError(id, ApiException.invalid("duplicate_id", "id", "A request with id " + id + " is still running"));
        return;
      }
      if (running.size() >= MAX_REQUESTS_PER_SOCKET) {
        sendError(id, ApiException.of(ai.companion.api.ErrorCode.RATE_LIMITED, null,
            "At most " + MAX_REQUESTS_PER_SOCKET + " requests may run at once on one socket"));
        return;
      }
      Admission admission = security.authenticate(authorization);
      if (!admission.allowed()) {
        sendDenial(id, admission.denial());
        return;
      }
      JsonObject body = frame.copy();
      body.remove("id");
      body.remove("type");
      body.remove("stream"); // a socket always streams
      GenerationRequest req;
      try {
        req = OpenAiRequests.chat(body.toBuffer(), requestId).request();
      } catch (ApiException e) {
        metrics.websocketRequest("invalid");
        sendError(id, e);
        return;
      }
      Principal principal = admission.principal();
      Denial slot = security.acquireStream(principal);
      if (slot != null) {
        sendDenial(id, slot);
        return;
      }
      if (principal.tenant() != null) req.hints().put("tenant", principal.tenant());
      req.hints().put("door", "websocket");
      Running r = new Running(id, req, principal);
      running.put(id, r);
      r.start();
    }

    /** One generation on this socket. */
    final class Running {
      final String id;
      final GenerationRequest request;
      final Principal principal;
      final GenerationCall call;
      final long created = System.currentTimeMillis() / 1000;
      RouteDecision route;
      boolean released;
      boolean paused;

      Running(String id, GenerationRequest request, Principal principal) {
        this.id = id;
        this.request = request;
        this.principal = principal;
        this.call = new GenerationCall(vertx, options, request);
      }

      void release() {
        if (released) return;
        released = true;
        security.releaseStream(principal);
      }

      void start() {
        call.start(new GenerationCall.Listener() {
          @Override public void onTokens(String text, List<Integer> tokenIds) {
            if (text.isEmpty()) return;
            write(chunk(new JsonObject().put("content", text), null));
          }

          @Override public void onFailover(RouteDecision newRoute, String reason) {
            route = newRoute;
            JsonObject c = chunk(new JsonObject(), null);
            c.put("companion", companion().put("failover", reason));
            write(c);
          }

          @Override public void onDone(String finishReason, int promptTokens, int completionTokens) {
            JsonObject done = chunk(new JsonObject(), finishReason).put("type", "done")
                .put("usage", new JsonObject().put("prompt_tokens", promptTokens)
                    .put("completion_tokens", completionTokens).put("total_tokens", promptTokens + completionTokens))
                .put("companion", companion());
            end("done");
            send(done);
          }

          @Override public void onError(ApiException error) {
            end("error");
            sendError(id, error);
          }
        }).onSuccess(accepted -> {
          route = accepted.route();
          if (running.get(id) != this) return; // cancelled while the router and worker answered
          JsonObject first = chunk(new JsonObject().put("role", "assistant").put("content", ""), null)
              .put("companion", companion());
          write(first);
        }).onFailure(err -> KnowledgeAnswers.instead(vertx, options, request, err)
            .onSuccess(this::extractive)
            .onFailure(same -> {
              if (running.get(id) != this) return;
              end("error");
              sendError(id, err instanceof ApiException ae ? ae : Failures.fromBus(err, null));
            }));
      }

      /** "auto" and no generative model: the knowledge base's answer, in the frames a generation uses. */
      void extractive(KnowledgeAnswers.Extractive e) {
        if (running.get(id) != this) return; // cancelled while the knowledge service answered
        route = e.route();
        JsonObject companion = companion().mergeIn(e.companion());
        send(chunk(new JsonObject().put("role", "assistant").put("content", ""), null).put("companion", companion));
        // the whole answer is known: a few kilobytes, written at once
        for (String piece : e.pieces()) send(chunk(new JsonObject().put("content", piece), null));
        JsonObject done = chunk(new JsonObject(), "stop").put("type", "done")
            .put("usage", new JsonObject().put("prompt_tokens", 0).put("completion_tokens", 0).put("total_tokens", 0))
            .put("companion", companion);
        end("done");
        send(done);
      }

      void end(String outcome) {
        running.remove(id);
        release();
        metrics.websocketRequest(outcome);
      }

      JsonObject companion() {
        JsonObject c = new JsonObject().put("request_id", request.requestId());
        if (route != null) c.put("route", route.toJson());
        return c;
      }

      JsonObject chunk(JsonObject delta, String finishReason) {
        return new JsonObject().put("type", "chunk").put("id", id).put("object", "chat.completion.chunk")
            .put("created", created).put("model", route == null ? request.model() : route.model())
            .put("choices", new JsonArray().add(new JsonObject().put("index", 0).put("delta", delta)
                .put("finish_reason", finishReason)));
      }

      /** Writes a chunk; a full write queue pauses this generation until the socket drains. */
      void write(JsonObject frame) {
        // a socket the peer has closed throws from writeQueueFull() until its close handler has run; that
        // exception would escape into GenerationCall mid-delivery (a DONE never finishing the call)
        if (closed || ws.isClosed()) return;
        send(frame);
        if (!paused && ws.writeQueueFull()) {
          paused = true;
          call.pause();
          metrics.streamPaused("websocket");
        }
      }

      void resume() {
        if (!paused) return;
        paused = false;
        call.resume();
      }
    }

    void sendDenial(String id, Denial d) {
      metrics.websocketRequest(d.code().code());
      JsonObject err = d.openAiBody().put("type", "error").put("id", id);
      if (d.retryAfterSeconds() > 0) err.put("retry_after", d.retryAfterSeconds());
      send(err);
    }

    void sendError(String id, ApiException e) {
      send(Failures.body(e).put("type", "error").put("id", id).put("status", e.status()));
    }

    void send(JsonObject frame) {
      if (closed || ws.isClosed()) return;
      ws.writeTextMessage(frame.encode()).onFailure(err -> LOG.debug("WebSocket write failed: {}", err.toString()));
    }
  }

  private static String firstLine(String s) {
    if (s == null) return "malformed JSON";
    int nl = s.indexOf('\n');
    String line = nl < 0 ? s : s.substring(0, nl);
    return line.length() > 300 ? line.substring(0, 300) + "..." : line;
  }

}
