package ai.companion.gateway.grpc;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.RouteDecision;
import ai.companion.api.grpc.AssistantGrpcService;
import ai.companion.api.grpc.ChatChunk;
import ai.companion.api.grpc.Citation;
import ai.companion.api.grpc.ChatRequest;
import ai.companion.api.grpc.CompletionRequest;
import ai.companion.api.grpc.CompletionResponse;
import ai.companion.api.grpc.EmbedRequest;
import ai.companion.api.grpc.EmbedResponse;
import ai.companion.api.grpc.Embedding;
import ai.companion.api.grpc.ListModelsRequest;
import ai.companion.api.grpc.ListModelsResponse;
import ai.companion.api.grpc.Message;
import ai.companion.api.grpc.ModelCard;
import ai.companion.api.grpc.Route;
import ai.companion.api.grpc.Sampling;
import ai.companion.api.grpc.Usage;
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
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.health.HealthService;
import io.vertx.grpc.reflection.ReflectionService;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.Service;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC door: {@code companion.v1.Assistant} on its own port (HTTP/2, cleartext), with server reflection
 * and {@code grpc.health.v1.Health}, so stock tools (grpcurl, grpc_health_probe) work.
 *
 * <p>Requests are turned into OpenAI request bodies and parsed by {@link OpenAiRequests}, and generations run
 * through {@link GenerationCall}, exactly as on the REST door: same validation and messages, same routing,
 * failover and cancel. Errors end the call with a gRPC status (see {@link #status(ApiException)}); a 429 adds
 * a {@code retry-after} trailer. Keys travel as {@code authorization: Bearer <key>} metadata.
 *
 * <p>{@code "auto"} with no generative model in the cluster is answered extractively from the knowledge base
 * (see {@link KnowledgeAnswers#instead}), as on REST: Chat streams it (route and citations on the first chunk),
 * Complete returns it; the route names model and strategy {@code extractive}.
 */
public final class AssistantGrpcServer {
  private static final Logger LOG = LoggerFactory.getLogger(AssistantGrpcServer.class);

  /** The local map where the launcher and tests read bound ports. */
  public static final String NODE_MAP = "companion.node";

  private final Vertx vertx;
  private final GatewayOptions options;
  private final GatewaySecurity security;
  private final GatewayMetrics metrics;
  private HttpServer server;

  public AssistantGrpcServer(Vertx vertx, GatewayOptions options, GatewaySecurity security, GatewayMetrics metrics) {
    this.vertx = vertx;
    this.options = options;
    this.security = security;
    this.metrics = metrics;
  }

  /** Binds {@code port} (0: any free one) and publishes the bound port as {@code grpcPort} in {@link #NODE_MAP}. */
  public Future<Integer> start(String host, int port) {
    GrpcServer grpc = GrpcServer.server(vertx);
    Service assistant = Service.service(AssistantGrpcService.SERVICE_NAME, AssistantGrpcService.SERVICE_DESCRIPTOR)
        .bind(AssistantGrpcService.Chat, this::chat)
        .bind(AssistantGrpcService.Complete, this::complete)
        .bind(AssistantGrpcService.Embed, this::embed)
        .bind(AssistantGrpcService.ListModels, this::listModels)
        .build();
    HealthService health = HealthService.create(vertx);
    // serving as long as some router answers: the same question /health/ready asks
    health.register(AssistantGrpcService.SERVICE_NAME, () -> vertx.eventBus()
        .request(Addresses.ROUTER_MODELS, new JsonObject(), new DeliveryOptions().setSendTimeout(2000))
        .map(m -> true).otherwise(false));
    grpc.addService(assistant).addService(ReflectionService.v1()).addService(health);
    server = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port)
        .setHttp2ClearTextEnabled(true));
    return server.requestHandler(grpc).listen().map(s -> {
      int bound = s.actualPort();
      vertx.sharedData().getLocalMap(NODE_MAP).put("grpcPort", bound);
      LOG.info("gRPC companion.v1.Assistant listening on {}:{} (reflection, health)", host, bound);
      return bound;
    });
  }

  public Future<Void> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  // ---- Chat: server streaming

  private void chat(GrpcServerRequest<ChatRequest, ChatChunk> call) {
    long start = System.nanoTime();
    call.handler(req -> {
      GrpcServerResponse<ChatRequest, ChatChunk> resp = call.response();
      Principal principal = admit(call, "Chat", start);
      if (principal == null) return;
      String id = "chatcmpl-" + UUID.randomUUID();
      GenerationRequest gen;
      try {
        gen = OpenAiRequests.chat(chatBody(req).toBuffer(), id).request();
      } catch (ApiException e) {
        fail(resp, "Chat", start, e);
        return;
      }
      Denial slot = security.acquireStream(principal);
      if (slot != null) {
        fail(resp, "Chat", start, deniedException(slot), slot.retryAfterSeconds());
        return;
      }
      hints(gen, principal);
      GenerationCall generation = new GenerationCall(vertx, options, gen);
      boolean[] done = {false};
      Runnable release = () -> {
        if (!done[0]) {
          done[0] = true;
          security.releaseStream(principal);
        }
      };
      // the client cancelled, hit its deadline or dropped the connection: stop the worker
      call.errorHandler(err -> {
        LOG.debug("gRPC Chat {} ended by the client: {}", id, err);
        generation.cancel();
        release.run();
      });
      call.exceptionHandler(err -> {
        generation.cancel();
        release.run();
      });
      resp.exceptionHandler(err -> {
        generation.cancel();
        release.run();
      });
      boolean[] paused = {false};
      resp.drainHandler(v -> {
        paused[0] = false;
        generation.resume();
      });
      RouteDecision[] route = {null};
      generation.start(new GenerationCall.Listener() {
        @Override public void onTokens(String text, List<Integer> tokenIds) {
          if (text.isEmpty()) return;
          resp.write(ChatChunk.newBuilder().setId(id).setModel(model(route[0], gen)).setDelta(text).build());
          if (resp.writeQueueFull() && !paused[0]) {
            paused[0] = true;
            generation.pause();
            metrics.streamPaused("grpc");
          }
        }

        @Override public void onFailover(RouteDecision newRoute, String reason) {
          route[0] = newRoute;
          resp.write(ChatChunk.newBuilder().setId(id).setModel(newRoute.model()).setRoute(route(newRoute)).build());
        }

        @Override public void onDone(String finishReason, int promptTokens, int completionTokens) {
          release.run();
          resp.end(ChatChunk.newBuilder().setId(id).setModel(model(route[0], gen)).setFinishReason(finishReason)
              .setUsage(usage(promptTokens, completionTokens)).build());
          metrics.grpcCall("Chat", "OK", System.nanoTime() - start);
        }

        @Override public void onError(ApiException error) {
          release.run();
          fail(resp, "Chat", start, error);
        }
      }).onSuccess(accepted -> {
        route[0] = accepted.route();
        resp.write(ChatChunk.newBuilder().setId(id).setModel(accepted.route().model())
            .setRoute(route(accepted.route())).build());
      }).onFailure(err -> KnowledgeAnswers.instead(vertx, options, gen, err).onComplete(ar -> {
        if (done[0]) return; // the client went away meanwhile
        release.run();
        if (ar.failed()) {
          fail(resp, "Chat", start, err instanceof ApiException ae ? ae : Failures.fromBus(err, null));
          return;
        }
        // "auto" and no generative model: the knowledge base's answer, streamed as a generation would be
        KnowledgeAnswers.Extractive e = ar.result();
        String model = e.route().model();
        resp.write(ChatChunk.newBuilder().setId(id).setModel(model).setRoute(route(e.route()))
            .addAllCitations(citations(e)).build());
        for (String piece : e.pieces()) {
          resp.write(ChatChunk.newBuilder().setId(id).setModel(model).setDelta(piece).build());
        }
        resp.end(ChatChunk.newBuilder().setId(id).setModel(model).setFinishReason("stop").setUsage(usage(0, 0))
            .build());
        metrics.grpcCall("Chat", "OK", System.nanoTime() - start);
      }));
    });
  }

  // ---- Complete: unary, the whole text

  private void complete(GrpcServerRequest<CompletionRequest, CompletionResponse> call) {
    long start = System.nanoTime();
    call.handler(req -> {
      GrpcServerResponse<CompletionRequest, CompletionResponse> resp = call.response();
      Principal principal = admit(call, "Complete", start);
      if (principal == null) return;
      String id = "cmpl-" + UUID.randomUUID();
      GenerationRequest gen;
      try {
        JsonObject body = new JsonObject().put("model", req.getModel().isEmpty() ? "auto" : req.getModel())
            .put("prompt", req.getPrompt());
        sampling(body, req.hasSampling() ? req.getSampling() : Sampling.getDefaultInstance());
        gen = OpenAiRequests.completion(body.toBuffer(), id).request();
      } catch (ApiException e) {
        fail(resp, "Complete", start, e);
        return;
      }
      Denial slot = security.acquireStream(principal);
      if (slot != null) {
        fail(resp, "Complete", start, deniedException(slot), slot.retryAfterSeconds());
        return;
      }
      hints(gen, principal);
      GenerationCall generation = new GenerationCall(vertx, options, gen);
      boolean[] released = {false};
      Runnable release = () -> {
        if (!released[0]) {
          released[0] = true;
          security.releaseStream(principal);
        }
      };
      call.errorHandler(err -> {
        generation.cancel();
        release.run();
      });
      StringBuilder text = new StringBuilder();
      RouteDecision[] route = {null};
      generation.start(new GenerationCall.Listener() {
        @Override public void onTokens(String t, List<Integer> tokenIds) { text.append(t); }

        @Override public void onFailover(RouteDecision newRoute, String reason) { route[0] = newRoute; }

        @Override public void onDone(String finishReason, int promptTokens, int completionTokens) {
          release.run();
          resp.end(CompletionResponse.newBuilder().setId(id).setModel(model(route[0], gen)).setText(text.toString())
              .setFinishReason(finishReason).setUsage(usage(promptTokens, completionTokens))
              .setRoute(route(route[0])).build());
          metrics.grpcCall("Complete", "OK", System.nanoTime() - start);
        }

        @Override public void onError(ApiException error) {
          release.run();
          fail(resp, "Complete", start, error);
        }
      }).onSuccess(accepted -> route[0] = accepted.route()).onFailure(err -> KnowledgeAnswers.instead(vertx, options,
          gen, err).onComplete(ar -> {
        if (released[0]) return; // the client went away meanwhile
        release.run();
        if (ar.failed()) {
          fail(resp, "Complete", start, err instanceof ApiException ae ? ae : Failures.fromBus(err, null));
          return;
        }
        // "auto" and no generative model: the knowledge base's answer
        KnowledgeAnswers.Extractive e = ar.result();
        resp.end(CompletionResponse.newBuilder().setId(id).setModel(e.route().model()).setText(e.text())
            .setFinishReason("stop").setUsage(usage(0, 0)).setRoute(route(e.route())).addAllCitations(citations(e))
            .build());
        metrics.grpcCall("Complete", "OK", System.nanoTime() - start);
      }));
    });
  }

  // ---- Embed and ListModels: one bus request each

  private void embed(GrpcServerRequest<EmbedRequest, EmbedResponse> call) {
    long start = System.nanoTime();
    call.handler(req -> {
      GrpcServerResponse<EmbedRequest, EmbedResponse> resp = call.response();
      if (admit(call, "Embed", start) == null) return;
      if (req.getInputCount() == 0) {
        fail(resp, "Embed", start, ApiException.invalid("empty_array", "input", "'input' must hold at least one text"));
        return;
      }
      JsonObject body = new JsonObject().put("input", new JsonArray(List.copyOf(req.getInputList())));
      if (!req.getModel().isEmpty()) body.put("model", req.getModel());
      vertx.eventBus().<JsonObject>request(Addresses.EMBEDDINGS_EMBED, body,
              new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs()))
          .onSuccess(msg -> {
            JsonObject r = msg.body();
            EmbedResponse.Builder out = EmbedResponse.newBuilder().setModel(r.getString("model", ""))
                .setPromptTokens(r.getInteger("prompt_tokens", 0));
            for (Object v : r.getJsonArray("data", new JsonArray())) {
              Embedding.Builder e = Embedding.newBuilder();
              for (Object f : (JsonArray) v) e.addValues(((Number) f).floatValue());
              out.addData(e);
            }
            resp.end(out.build());
            metrics.grpcCall("Embed", "OK", System.nanoTime() - start);
          })
          .onFailure(err -> fail(resp, "Embed", start, Failures.fromBus(err, null)));
    });
  }

  private void listModels(GrpcServerRequest<ListModelsRequest, ListModelsResponse> call) {
    long start = System.nanoTime();
    call.handler(req -> {
      GrpcServerResponse<ListModelsRequest, ListModelsResponse> resp = call.response();
      if (admit(call, "ListModels", start) == null) return;
      vertx.eventBus().<Object>request(Addresses.ROUTER_MODELS, new JsonObject(),
              new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs()))
          .onSuccess(msg -> {
            JsonObject r = msg.body() instanceof JsonObject j ? j : new JsonObject(String.valueOf(msg.body()));
            ListModelsResponse.Builder out = ListModelsResponse.newBuilder();
            out.addModels(ModelCard.newBuilder().setId("auto").setFamily("router")
                .setDescription("The router picks the model for each request"));
            for (Object o : r.getJsonArray("models", new JsonArray())) {
              ModelInfo m = ModelInfo.fromJson((JsonObject) o);
              if ("auto".equals(m.id())) continue;
              out.addModels(ModelCard.newBuilder().setId(m.id()).setFamily(nz(m.family()))
                  .setContextLength(m.contextLength()).setParameters(m.parameters()).setVariant(nz(m.variant()))
                  .setDescription(nz(m.description())));
            }
            resp.end(out.build());
            metrics.grpcCall("ListModels", "OK", System.nanoTime() - start);
          })
          .onFailure(err -> fail(resp, "ListModels", start, Failures.fromBus(err, null)));
    });
  }

  // ---- shared pieces

  /** Checks the key in the call's metadata; on refusal ends the call and returns null. */
  private Principal admit(GrpcServerRequest<?, ?> call, String method, long start) {
    Admission a = security.authenticate(call.headers().get("authorization"));
    if (a.allowed()) return a.principal();
    fail(call.response(), method, start, deniedException(a.denial()), a.denial().retryAfterSeconds());
    return null;
  }

  private static ApiException deniedException(Denial d) {
    return ApiException.of(d.code(), null, d.message());
  }

  private static void hints(GenerationRequest gen, Principal principal) {
    if (principal.tenant() != null) gen.hints().put("tenant", principal.tenant());
    gen.hints().put("door", "grpc");
  }

  private void fail(GrpcServerResponse<?, ?> resp, String method, long start, ApiException e) {
    fail(resp, method, start, e, 0);
  }

  private void fail(GrpcServerResponse<?, ?> resp, String method, long start, ApiException e, long retryAfter) {
    GrpcStatus status = status(e);
    metrics.grpcCall(method, status.name(), System.nanoTime() - start);
    try {
      if (retryAfter > 0) resp.trailers().set("retry-after", Long.toString(retryAfter));
      resp.status(status).statusMessage(e.getMessage()).end();
    } catch (IllegalStateException alreadyEnded) {
      LOG.debug("gRPC {} already ended, status {} not sent: {}", method, status, e.getMessage());
    }
  }

  /** The one mapping from the gateway's errors to gRPC status codes. */
  static GrpcStatus status(ApiException e) {
    return switch (e.status()) {
      case 400, 413, 422 -> "context_length_exceeded".equals(e.code()) ? GrpcStatus.OUT_OF_RANGE
          : GrpcStatus.INVALID_ARGUMENT;
      case 401 -> GrpcStatus.UNAUTHENTICATED;
      case 403 -> GrpcStatus.PERMISSION_DENIED;
      case 404 -> GrpcStatus.NOT_FOUND;
      case 429 -> GrpcStatus.RESOURCE_EXHAUSTED;
      case 503 -> GrpcStatus.UNAVAILABLE;
      case 504 -> GrpcStatus.DEADLINE_EXCEEDED;
      case 501 -> GrpcStatus.UNIMPLEMENTED;
      default -> GrpcStatus.INTERNAL;
    };
  }

  /** The OpenAI chat body for a gRPC ChatRequest, so that {@link OpenAiRequests} validates it once, as on REST. */
  static JsonObject chatBody(ChatRequest req) {
    JsonArray messages = new JsonArray();
    for (Message m : req.getMessagesList()) {
      messages.add(new JsonObject().put("role", m.getRole()).put("content", m.getContent()));
    }
    JsonObject body = new JsonObject().put("model", req.getModel().isEmpty() ? "auto" : req.getModel())
        .put("messages", messages);
    sampling(body, req.hasSampling() ? req.getSampling() : Sampling.getDefaultInstance());
    return body;
  }

  static void sampling(JsonObject body, Sampling s) {
    if (s.hasTemperature()) body.put("temperature", s.getTemperature());
    if (s.hasTopP()) body.put("top_p", s.getTopP());
    if (s.hasTopK()) body.put("top_k", s.getTopK());
    if (s.hasSeed()) body.put("seed", s.getSeed());
    if (s.hasMaxTokens()) body.put("max_tokens", s.getMaxTokens());
    if (s.getStopCount() > 0) body.put("stop", new JsonArray(List.copyOf(s.getStopList())));
    if (s.hasRepetitionPenalty()) body.put("repetition_penalty", s.getRepetitionPenalty());
  }

  static Route route(RouteDecision r) {
    if (r == null) return Route.getDefaultInstance();
    return Route.newBuilder().setModel(nz(r.model())).setWorker(nz(r.workerNode())).setWorkerId(nz(r.workerId()))
        .setStrategy(nz(r.strategy())).addAllReasons(r.reasons()).build();
  }

  /** An extractive answer's citations, as the REST API's {@code companion.citations}. */
  static List<Citation> citations(KnowledgeAnswers.Extractive e) {
    List<Citation> out = new ArrayList<>();
    for (Object o : e.citations()) {
      JsonObject c = (JsonObject) o;
      out.add(Citation.newBuilder().setN(c.getInteger("n", 0)).setDocumentId(nz(c.getString("document_id")))
          .setChunkId(nz(c.getString("chunk_id"))).setTitle(nz(c.getString("title")))
          .setSentence(nz(c.getString("sentence"))).setScore(c.getDouble("score", 0.0)).build());
    }
    return out;
  }

  /** The routed model, or the asked one before the route is known. */
  private static String model(RouteDecision route, GenerationRequest gen) {
    return route == null ? gen.model() : route.model();
  }

  static Usage usage(int prompt, int completion) {
    return Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(completion)
        .setTotalTokens(prompt + completion).build();
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }

}
