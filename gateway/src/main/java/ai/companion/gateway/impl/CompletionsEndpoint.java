package ai.companion.gateway.impl;

import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.RouteDecision;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.security.GatewaySecurity;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}: validate into a request record, run a
 * {@link GenerationCall}, answer as one JSON body or as Server-Sent Events.
 */
public final class CompletionsEndpoint {
  private static final Logger LOG = LoggerFactory.getLogger(CompletionsEndpoint.class);

  private final Vertx vertx;
  private final GatewayOptions options;

  public CompletionsEndpoint(Vertx vertx, GatewayOptions options) {
    this.vertx = vertx;
    this.options = options;
  }

  public void completions(RoutingContext ctx) {
    handle(ctx, false);
  }

  public void chat(RoutingContext ctx) {
    handle(ctx, true);
  }

  private void handle(RoutingContext ctx, boolean chat) {
    String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    OpenAiRequests.Generation g = chat ? OpenAiRequests.chat(ctx.body().buffer(), id)
        : OpenAiRequests.completion(ctx.body().buffer(), id);
    GatewaySecurity.tagTenant(ctx, g.request());
    var principal = GatewaySecurity.principal(ctx);
    if (principal == GatewaySecurity.WARM_UP) {
      g.request().hints().put(GenerationRequest.HINT_WARM_UP, options.getNodeName());
    } else if (principal != GatewaySecurity.ANONYMOUS) {
      // the routing policy's per-key latency default reads this (a hash prefix, never the key)
      g.request().hints().put("apiKeyId", principal.keyId());
    }
    LOG.debug("Request {} model {} stream {}", id, g.request().model(), g.stream());
    GenerationCall call = new GenerationCall(vertx, options, g.request());
    Answer answer = g.stream() ? new StreamAnswer(ctx, id, chat, g.includeUsage(), call)
        : new JsonAnswer(ctx, id, chat);
    ctx.response().closeHandler(v -> call.cancel());
    call.start(answer).onSuccess(answer::started).onFailure(err -> {
      if (ctx.response().closed()) return;
      if (KnowledgeAnswers.noGenerativeModel(g.request(), err)) {
        // "auto" with no generative model to run: the knowledge base answers, extractively
        KnowledgeAnswers.instead(vertx, options, g.request(), err)
            .onSuccess(e -> KnowledgeAnswers.respond(ctx, id, chat, g.stream(), g.includeUsage(), e))
            .onFailure(same -> {
              if (!ctx.response().closed()) ctx.fail(Failures.fromBus(err, null));
            });
        return;
      }
      // OpenAI names the field at fault for an over-long input
      String param = ErrorCode.of(err) == ErrorCode.CONTEXT_LENGTH_EXCEEDED ? (chat ? "messages" : "prompt") : null;
      ctx.fail(err instanceof ApiException ? err : Failures.fromBus(err, param));
    });
  }

  /** The client side of one call. */
  private abstract static class Answer implements GenerationCall.Listener {
    final RoutingContext ctx;
    final HttpServerResponse resp;
    final String id;
    final boolean chat;
    final long created = System.currentTimeMillis() / 1000;
    final List<String> failovers = new ArrayList<>();
    RouteDecision route;

    Answer(RoutingContext ctx, String id, boolean chat) {
      this.ctx = ctx;
      this.resp = ctx.response();
      this.id = id;
      this.chat = chat;
    }

    void started(GenerationCall.Accepted accepted) {
      route = accepted.route();
    }

    @Override
    public void onFailover(RouteDecision newRoute, String reason) {
      route = newRoute;
      failovers.add(reason + "; resumed on worker " + newRoute.workerId() + " (" + newRoute.workerNode() + ")");
    }
  }

  /** {@code stream: false}: collect, then one JSON body. */
  private static final class JsonAnswer extends Answer {
    private final StringBuilder text = new StringBuilder();

    JsonAnswer(RoutingContext ctx, String id, boolean chat) {
      super(ctx, id, chat);
    }

    @Override
    public void onTokens(String t, List<Integer> tokenIds) {
      text.append(t);
    }

    @Override
    public void onDone(String finishReason, int promptTokens, int completionTokens) {
      if (resp.closed() || resp.ended()) return;
      JsonObject usage = OpenAiResponses.usage(promptTokens, completionTokens);
      JsonObject body = chat
          ? OpenAiResponses.chatCompletion(id, created, route.model(), text.toString(), finishReason, usage)
          : OpenAiResponses.completion(id, created, route.model(), text.toString(), finishReason, usage);
      body.put("companion", OpenAiResponses.companion(route, failovers));
      resp.putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
          .putHeader(OpenAiResponses.ROUTE_HEADER, OpenAiResponses.headerValue(route)).end(body.encode());
    }

    @Override
    public void onError(ApiException error) {
      if (!resp.closed()) ctx.fail(error);
    }
  }

  /** {@code stream: true}: Server-Sent Events, paced by the client's write queue. */
  private static final class StreamAnswer extends Answer {
    private final boolean includeUsage;
    private final GenerationCall call;
    private boolean routePending;
    private TokenChunks tokenChunks;

    StreamAnswer(RoutingContext ctx, String id, boolean chat, boolean includeUsage, GenerationCall call) {
      super(ctx, id, chat);
      this.includeUsage = includeUsage;
      this.call = call;
    }

    @Override
    void started(GenerationCall.Accepted accepted) {
      super.started(accepted);
      if (resp.closed()) return;
      resp.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, Sse.CONTENT_TYPE)
          .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache").putHeader("x-accel-buffering", "no")
          .putHeader(OpenAiResponses.ROUTE_HEADER, OpenAiResponses.headerValue(route));
      resp.drainHandler(v -> call.resume());
      // the first chunk: chat's role delta, or an empty text; either carries the route
      JsonObject first = chat
          ? OpenAiResponses.chatChunk(id, created, route.model(),
              new JsonObject().put("role", "assistant").put("content", ""), null)
          : OpenAiResponses.completionChunk(id, created, route.model(), "", null);
      write(first.put("companion", OpenAiResponses.companion(route, failovers)));
    }

    @Override
    public void onFailover(RouteDecision newRoute, String reason) {
      super.onFailover(newRoute, reason);
      routePending = true;
    }

    @Override
    public void onTokens(String text, List<Integer> tokenIds) {
      if (text.isEmpty()) return;
      if (!routePending) {
        if (tokenChunks == null || !tokenChunks.model().equals(route.model())) {
          tokenChunks = new TokenChunks(id, created, route.model(), chat, includeUsage);
        }
        writeEvent(tokenChunks.event(text));
        return;
      }
      JsonObject chunk = chat
          ? OpenAiResponses.chatChunk(id, created, route.model(), new JsonObject().put("content", text), null)
          : OpenAiResponses.completionChunk(id, created, route.model(), text, null);
      if (routePending) {
        chunk.put("companion", OpenAiResponses.companion(route, failovers));
        routePending = false;
      }
      write(chunk);
    }

    @Override
    public void onDone(String finishReason, int promptTokens, int completionTokens) {
      JsonObject last = chat
          ? OpenAiResponses.chatChunk(id, created, route.model(), new JsonObject(), finishReason)
          : OpenAiResponses.completionChunk(id, created, route.model(), "", finishReason);
      if (routePending) last.put("companion", OpenAiResponses.companion(route, failovers));
      if (resp.closed() || resp.ended()) return;
      // the last chunks and [DONE] leave in one write: the response's end
      Buffer tail = event(last);
      if (includeUsage) {
        JsonObject usage = chat ? OpenAiResponses.chatChunk(id, created, route.model(), null, null)
            : OpenAiResponses.completionChunk(id, created, route.model(), null, null);
        tail.appendBuffer(event(usage.put("usage", OpenAiResponses.usage(promptTokens, completionTokens))));
      }
      resp.end(tail.appendBuffer(Sse.DONE));
    }

    @Override
    public void onError(ApiException error) {
      if (resp.closed() || resp.ended()) return;
      resp.write(Sse.event(Failures.body(error)));
      resp.end(Sse.DONE);
    }

    private void write(JsonObject chunk) {
      writeEvent(event(chunk));
    }

    /** A chunk as an SSE event; with include_usage every chunk names its usage (null but in the last). */
    private Buffer event(JsonObject chunk) {
      if (includeUsage && !chunk.containsKey("usage")) chunk.putNull("usage");
      return Sse.event(chunk);
    }

    /** Every chunk goes out here; nothing is written to a closed or ended response. */
    private void writeEvent(Buffer event) {
      if (resp.closed() || resp.ended()) return;
      resp.write(event);
      if (resp.writeQueueFull()) call.pause();
    }
  }
}
