package ai.companion.node.doors;

import static ai.companion.node.doors.DoorsNode.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.grpc.AssistantGrpcClient;
import ai.companion.api.grpc.ChatChunk;
import ai.companion.api.grpc.ChatRequest;
import ai.companion.api.grpc.CompletionRequest;
import ai.companion.api.grpc.CompletionResponse;
import ai.companion.api.grpc.EmbedRequest;
import ai.companion.api.grpc.EmbedResponse;
import ai.companion.api.grpc.ListModelsRequest;
import ai.companion.api.grpc.ListModelsResponse;
import ai.companion.api.grpc.Message;
import ai.companion.api.grpc.ModelCard;
import ai.companion.api.grpc.Sampling;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.health.v1.HealthCheckRequest;
import io.vertx.grpc.health.v1.HealthCheckResponse;
import io.vertx.grpc.reflection.v1.ServerReflectionRequest;
import io.vertx.grpc.reflection.v1.ServerReflectionResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gRPC door with a real client (vertx-grpc-client and the stubs generated from {@code assistant.proto})
 * against a real node: greedy output equals the oracle, the route travels with the answer, errors are gRPC
 * statuses, a cancelled stream stops its worker, and reflection and the health service answer.
 */
class GrpcDoorTest {

  @TempDir
  static Path dataDir;
  private static DoorsNode node;
  private static GrpcClient grpc;
  private static SocketAddress server;
  private static AssistantGrpcClient assistant;

  @BeforeAll
  static void start() throws Exception {
    node = DoorsNode.start(dataDir, null);
    grpc = GrpcClient.client(node.vertx);
    server = SocketAddress.inetSocketAddress(node.grpcPort, DoorsNode.HOST);
    assistant = AssistantGrpcClient.create(grpc, server);
  }

  @AfterAll
  static void stop() throws Exception {
    if (grpc != null) await(grpc.close());
    if (node != null) node.close();
  }

  private static Sampling greedy(int maxTokens) {
    return Sampling.newBuilder().setTemperature(0).setMaxTokens(maxTokens).build();
  }

  private static ChatRequest chat(int maxTokens) {
    return ChatRequest.newBuilder().setModel(DoorsNode.MODEL)
        .addMessages(Message.newBuilder().setRole("user").setContent("")).setSampling(greedy(maxTokens)).build();
  }

  @Test
  void listModelsHasTheModelAndAuto() throws Exception {
    ListModelsResponse r = await(assistant.listModels(ListModelsRequest.getDefaultInstance()));
    List<String> ids = r.getModelsList().stream().map(ModelCard::getId).toList();
    assertTrue(ids.contains("auto"), ids::toString);
    ModelCard m = r.getModelsList().stream().filter(c -> c.getId().equals(DoorsNode.MODEL)).findFirst().orElseThrow();
    assertEquals(512, m.getContextLength());
    assertEquals("llama", m.getFamily());
  }

  @Test
  void completeEqualsOracleWithRoute() throws Exception {
    CompletionResponse r = await(assistant.complete(CompletionRequest.newBuilder().setModel(DoorsNode.MODEL)
        .setPrompt("").setSampling(greedy(60)).build()));
    assertEquals(DoorsNode.oracle(), r.getText());
    assertEquals("length", r.getFinishReason());
    assertEquals(60, r.getUsage().getCompletionTokens());
    assertEquals(DoorsNode.MODEL, r.getRoute().getModel());
    assertEquals(DoorsNode.NODE_NAME, r.getRoute().getWorker());
    assertFalse(r.getRoute().getReasonsList().isEmpty());
  }

  @Test
  void chatStreamsTheOracle() throws Exception {
    List<ChatChunk> chunks = new CopyOnWriteArrayList<>();
    Promise<Void> end = Promise.promise();
    node.vertx.runOnContext(v -> assistant.chat(chat(60)).onComplete(ar -> {
      if (ar.failed()) {
        end.tryFail(ar.cause());
        return;
      }
      ar.result().handler(chunks::add).endHandler(x -> end.tryComplete()).exceptionHandler(end::tryFail);
    }));
    await(end.future());
    assertTrue(chunks.size() > 10, "streamed in many chunks: " + chunks.size());
    assertEquals(DoorsNode.MODEL, chunks.get(0).getRoute().getModel(), "the first chunk carries the route");
    assertFalse(chunks.get(0).getRoute().getStrategy().isEmpty());
    StringBuilder text = new StringBuilder();
    chunks.forEach(c -> text.append(c.getDelta()));
    assertEquals(DoorsNode.oracle(), text.toString());
    ChatChunk last = chunks.get(chunks.size() - 1);
    assertEquals("length", last.getFinishReason());
    assertEquals(60, last.getUsage().getCompletionTokens());
    assertEquals(1, chunks.stream().map(ChatChunk::getId).distinct().count());
  }

  /**
   * A client that stops reading its streams: HTTP/2's flow-control windows fill, the server's streams report a full
   * write queue, and the gateway pauses their generations; when the client reads again every stream ends with the
   * greedy text the REST API gives for the same chat (nothing lost or reordered while paused).
   */
  @Test
  void aSlowReaderPausesItsStreamsAndLosesNothing() throws Exception {
    int n = 16;
    // its own client, so its own HTTP/2 connection: a paused stream holds the connection's window too
    GrpcClient slow = GrpcClient.client(node.vertx);
    try {
      slowReader(slow, n);
    } finally {
      await(slow.close());
    }
  }

  private static void slowReader(GrpcClient slow, int n) throws Exception {
    List<List<ChatChunk>> got = new ArrayList<>();
    List<GrpcClientResponse<ChatRequest, ChatChunk>> responses = new CopyOnWriteArrayList<>();
    List<Promise<Void>> ends = new ArrayList<>();
    double before = pauses();
    for (int i = 0; i < n; i++) {
      List<ChatChunk> chunks = new CopyOnWriteArrayList<>();
      Promise<Void> end = Promise.promise();
      got.add(chunks);
      ends.add(end);
      ChatRequest req = slowChat(i);
      node.vertx.runOnContext(v -> slow.request(server, AssistantGrpcClient.Chat)
          .compose(r -> r.send(req)).onComplete(ar -> {
            if (ar.failed()) {
              end.tryFail(ar.cause());
              return;
            }
            GrpcClientResponse<ChatRequest, ChatChunk> resp = ar.result();
            resp.pause(); // the reader stops reading
            resp.handler(chunks::add).endHandler(x -> end.tryComplete()).exceptionHandler(end::tryFail);
            responses.add(resp);
          }));
    }
    // every response paused before any is resumed (one that came later would stay paused, and hold the connection)
    ai.companion.node.it.Polls.eventually(60_000, () -> {
      assertEquals(n, responses.size(), "responses");
      return null;
    });
    double paused = ai.companion.node.it.Polls.eventually(60_000, () -> {
      double p = pauses() - before;
      assertTrue(p >= 1, "no gRPC stream paused yet");
      return p;
    });
    System.out.println("gRPC slow reader: " + paused + " pause(s) with " + n + " streams");
    node.vertx.runOnContext(v -> responses.forEach(GrpcClientResponse::resume));
    for (int i = 0; i < n; i++) {
      await(ends.get(i).future());
      StringBuilder text = new StringBuilder();
      got.get(i).forEach(c -> text.append(c.getDelta()));
      ChatChunk last = got.get(i).get(got.get(i).size() - 1);
      assertEquals("length", last.getFinishReason(), "stream " + i);
      assertEquals(480, last.getUsage().getCompletionTokens(), "stream " + i);
      if (i >= n - 2) {
        // the same chat through the REST API, not paused: the same greedy text
        assertEquals(node.restGreedyChat(slowChat(i).getMessages(0).getContent(), 480), text.toString(), "stream " + i);
      }
    }
  }

  private static ChatRequest slowChat(int i) {
    return ChatRequest.newBuilder().setModel(DoorsNode.MODEL)
        .addMessages(Message.newBuilder().setRole("user").setContent("Story number " + i + ":"))
        .setSampling(greedy(480)).build();
  }

  private static double pauses() throws Exception {
    String text = DoorsNode.HTTP.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(node.baseUrl()
        + "/metrics")).timeout(java.time.Duration.ofSeconds(30)).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    return DoorsNode.sample(text, "companion_stream_pauses_total", "door=\"grpc\"").orElse(0);
  }

  @Test
  void embedGivesUnitVectors() throws Exception {
    EmbedResponse r = await(assistant.embed(EmbedRequest.newBuilder().addInput("hello").addInput("world").build()));
    assertEquals(2, r.getDataCount());
    assertEquals(384, r.getData(0).getValuesCount());
    double norm = 0;
    for (float f : r.getData(0).getValuesList()) norm += f * f;
    assertEquals(1.0, Math.sqrt(norm), 1e-3);
  }

  @Test
  void errorsAreGrpcStatuses() throws Exception {
    assertStatus(GrpcStatus.INVALID_ARGUMENT, "temperature", CompletionRequest.newBuilder().setModel(DoorsNode.MODEL)
        .setPrompt("x").setSampling(Sampling.newBuilder().setTemperature(9)).build());
    assertStatus(GrpcStatus.NOT_FOUND, "no-such-model", CompletionRequest.newBuilder().setModel("no-such-model")
        .setPrompt("x").setSampling(greedy(5)).build());
    assertStatus(GrpcStatus.INVALID_ARGUMENT, "input", null);
  }

  private static void assertStatus(GrpcStatus expected, String inMessage, CompletionRequest req) throws Exception {
    GrpcClientResponse<?, ?> resp;
    if (req != null) {
      resp = await(grpc.request(server, AssistantGrpcClient.Complete).compose(r -> r.send(req)));
    } else {
      resp = await(grpc.request(server, AssistantGrpcClient.Embed).compose(r -> r.send(EmbedRequest.getDefaultInstance())));
    }
    await(resp.end().recover(err -> io.vertx.core.Future.succeededFuture()));
    assertEquals(expected, resp.status(), resp.statusMessage());
    assertTrue(resp.statusMessage().contains(inMessage), resp.statusMessage());
  }

  @Test
  void cancellingTheStreamStopsTheWorker() throws Exception {
    Promise<String> cancelled = Promise.promise();
    node.vertx.eventBus().<JsonObject>consumer(Addresses.WORKER_CANCEL, m -> cancelled.tryComplete(m.body().getString("requestId")));
    List<ChatChunk> chunks = new CopyOnWriteArrayList<>();
    node.vertx.runOnContext(v -> grpc.request(server, AssistantGrpcClient.Chat).onSuccess(req -> {
      req.send(chat(400)).onSuccess(resp -> resp.handler(c -> {
        chunks.add(c);
        if (chunks.size() == 3) req.cancel(); // the client gives up after a few tokens
      }));
    }));
    String requestId = cancelled.future().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertEquals(chunks.get(0).getId(), requestId, "the cancel names the stream's request");
    assertTrue(chunks.size() < 100, "stopped early: " + chunks.size() + " chunks");
  }

  @Test
  void reflectionListsTheAssistantService() throws Exception {
    ServiceName reflection = ServiceName.create("grpc.reflection.v1", "ServerReflection");
    ServiceMethod<ServerReflectionResponse, ServerReflectionRequest> info = ServiceMethod.client(reflection,
        "ServerReflectionInfo", GrpcMessageEncoder.encoder(),
        GrpcMessageDecoder.decoder(ServerReflectionResponse.newBuilder()));
    var resp = await(grpc.request(server, info).compose(r -> r.send(
        ServerReflectionRequest.newBuilder().setListServices("").build())));
    ServerReflectionResponse r = await(resp.last());
    List<String> services = new ArrayList<>();
    r.getListServicesResponse().getServiceList().forEach(s -> services.add(s.getName()));
    assertTrue(services.contains("companion.v1.Assistant"), services::toString);
    assertTrue(services.contains("grpc.health.v1.Health"), services::toString);
  }

  @Test
  void healthServiceSaysServing() throws Exception {
    ServiceMethod<HealthCheckResponse, HealthCheckRequest> check = ServiceMethod.client(
        ServiceName.create("grpc.health.v1", "Health"), "Check", GrpcMessageEncoder.encoder(),
        GrpcMessageDecoder.decoder(HealthCheckResponse.newBuilder()));
    var resp = await(grpc.request(server, check).compose(r -> r.send(
        HealthCheckRequest.newBuilder().setService("companion.v1.Assistant").build())));
    HealthCheckResponse r = await(resp.last());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, r.getStatus());
  }
}
