package ai.companion.sdk.impl;

import ai.companion.api.grpc.AssistantGrpcClient;
import ai.companion.api.grpc.ChatChunk;
import ai.companion.api.grpc.ChatRequest;
import ai.companion.api.grpc.ListModelsRequest;
import ai.companion.api.grpc.ListModelsResponse;
import ai.companion.api.grpc.Message;
import ai.companion.api.grpc.ModelCard;
import ai.companion.api.grpc.Route;
import ai.companion.api.grpc.Sampling;
import ai.companion.sdk.Answer;
import ai.companion.sdk.Assistant;
import ai.companion.sdk.AssistantException;
import ai.companion.sdk.Streaming;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/** {@link Assistant} over the gateway's gRPC door ({@code companion.v1.Assistant/Chat}); both modes use it. */
public final class GrpcAssistant implements Assistant {

  /** What every question is asked with. */
  public record Settings(String model, double temperature, int maxTokens, Long seed, String apiKey, Duration timeout) {}

  private final Vertx vertx;
  private final boolean ownsVertx;
  private final Context context;
  private final GrpcClient client;
  private final SocketAddress server;
  private final Settings settings;
  private final String model;
  private final AutoCloseable embedded;

  private GrpcAssistant(Vertx vertx, boolean ownsVertx, SocketAddress server, Settings settings, String model,
                        AutoCloseable embedded, GrpcClient client) {
    this.vertx = vertx;
    this.ownsVertx = ownsVertx;
    this.context = vertx.getOrCreateContext();
    this.client = client;
    this.server = server;
    this.settings = settings;
    this.model = model;
    this.embedded = embedded;
  }

  /**
   * Connects and resolves the model against ListModels (case-insensitively; {@code auto} always works).
   * {@code vertx} null: a Vert.x instance of its own, closed with the assistant.
   */
  public static GrpcAssistant connect(Vertx vertx, String host, int port, Settings settings, AutoCloseable embedded) {
    boolean owns = vertx == null;
    Vertx v = owns ? Vertx.vertx() : vertx;
    GrpcClient client = GrpcClient.client(v);
    SocketAddress server = SocketAddress.inetSocketAddress(port, host);
    try {
      ListModelsResponse models = await(client.request(server, AssistantGrpcClient.ListModels)
          .compose(req -> {
            auth(req, settings.apiKey());
            return req.send(ListModelsRequest.getDefaultInstance());
          })
          .compose(resp -> resp.last().recover(err -> Future.failedFuture(failure(resp, err)))), settings.timeout());
      String resolved = models.getModelsList().stream().map(ModelCard::getId)
          .filter(id -> id.equalsIgnoreCase(settings.model())).findFirst()
          .orElseThrow(() -> new AssistantException("NOT_FOUND", "model '" + settings.model() + "' is not served at "
              + host + ":" + port + "; served: " + models.getModelsList().stream().map(ModelCard::getId).toList()
              + ". Import one with: ./companion model import FILE --tokenizer FILE --name NAME"));
      return new GrpcAssistant(v, owns, server, settings, resolved, embedded, client);
    } catch (RuntimeException e) {
      client.close();
      if (owns) v.close();
      closeQuietly(embedded);
      throw e;
    }
  }

  @Override
  public String model() {
    return model;
  }

  @Override
  public String grpcTarget() {
    return server.host() + ":" + server.port();
  }

  @Override
  public Answer ask(String question) {
    Streaming s = stream(question, text -> { });
    try {
      return s.answer().get(settings.timeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      s.cancel();
      throw new AssistantException("DEADLINE_EXCEEDED", "no answer within " + settings.timeout());
    } catch (ExecutionException e) {
      throw e.getCause() instanceof AssistantException ae ? ae
          : new AssistantException("UNKNOWN", String.valueOf(e.getCause()), e.getCause());
    } catch (InterruptedException e) {
      s.cancel();
      Thread.currentThread().interrupt();
      throw new AssistantException("CANCELLED", "interrupted");
    }
  }

  @Override
  public Streaming stream(String question, Consumer<String> onText) {
    CompletableFuture<Answer> answer = new CompletableFuture<>();
    CompletableFuture<GrpcClientRequest<ChatRequest, ChatChunk>> call = new CompletableFuture<>();
    context.runOnContext(x -> client.request(server, AssistantGrpcClient.Chat).onComplete(ar -> {
      if (ar.failed()) {
        answer.completeExceptionally(new AssistantException("UNAVAILABLE", ar.cause().getMessage(), ar.cause()));
        return;
      }
      GrpcClientRequest<ChatRequest, ChatChunk> req = ar.result();
      call.complete(req);
      auth(req, settings.apiKey());
      req.send(chat(question)).onFailure(err -> answer.completeExceptionally(
          new AssistantException("UNAVAILABLE", err.getMessage(), err))).onSuccess(resp -> {
        StringBuilder text = new StringBuilder();
        Route[] route = {Route.getDefaultInstance()};
        ChatChunk[] last = {ChatChunk.getDefaultInstance()};
        resp.handler(chunk -> {
          if (chunk.hasRoute()) route[0] = chunk.getRoute();
          if (!chunk.getDelta().isEmpty()) {
            text.append(chunk.getDelta());
            onText.accept(chunk.getDelta());
          }
          last[0] = chunk;
        });
        resp.exceptionHandler(err -> answer.completeExceptionally(failure(resp, err)));
        resp.endHandler(v -> {
          if (resp.status() != null && resp.status() != GrpcStatus.OK) {
            answer.completeExceptionally(failure(resp, null));
            return;
          }
          Route r = route[0];
          answer.complete(new Answer(text.toString(), r.getModel(), r.getStrategy(), r.getWorker(),
              r.getReasonsList(), last[0].getFinishReason(), last[0].getUsage().getPromptTokens(),
              last[0].getUsage().getCompletionTokens()));
        });
      });
    }));
    return new Streaming() {
      @Override public CompletableFuture<Answer> answer() {
        return answer;
      }

      @Override public void cancel() {
        call.thenAccept(req -> context.runOnContext(v -> {
          req.cancel();
          answer.completeExceptionally(new AssistantException("CANCELLED", "cancelled by the caller"));
        }));
      }
    };
  }

  @Override
  public Flow.Publisher<String> queryStream(String question) {
    return new ChatPublisher(context, client, server, chat(question), settings.apiKey());
  }

  ChatRequest chat(String question) {
    Sampling.Builder s = Sampling.newBuilder().setTemperature(settings.temperature()).setMaxTokens(settings.maxTokens());
    if (settings.seed() != null) s.setSeed(settings.seed());
    return ChatRequest.newBuilder().setModel(model)
        .addMessages(Message.newBuilder().setRole("user").setContent(question)).setSampling(s).build();
  }

  static void auth(GrpcClientRequest<?, ?> req, String apiKey) {
    if (apiKey != null && !apiKey.isBlank()) req.headers().set("authorization", "Bearer " + apiKey);
  }

  static AssistantException failure(GrpcClientResponse<?, ?> resp, Throwable err) {
    GrpcStatus status = resp.status();
    if (status != null && status != GrpcStatus.OK) {
      return new AssistantException(status.name(), resp.statusMessage() == null ? status.name() : resp.statusMessage());
    }
    return new AssistantException("UNKNOWN", err == null ? "stream ended without a status" : err.getMessage(), err);
  }

  private static <T> T await(Future<T> f, Duration timeout) {
    try {
      return f.toCompletionStage().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof AssistantException ae) throw ae;
      throw new AssistantException("UNAVAILABLE", "cannot reach the assistant: " + e.getCause().getMessage(), e);
    } catch (TimeoutException e) {
      throw new AssistantException("DEADLINE_EXCEEDED", "no answer within " + timeout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssistantException("CANCELLED", "interrupted");
    }
  }

  @Override
  public void close() {
    try {
      client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception ignored) {
      // closing anyway
    }
    if (ownsVertx) vertx.close();
    closeQuietly(embedded);
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) return;
    try {
      c.close();
    } catch (Exception ignored) {
      // best effort on the way out
    }
  }

}
