package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.RouteDecision;
import ai.companion.gateway.GatewayOptions;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.List;

/** {@code POST /v1/embeddings}: OpenAI's shape over {@link Addresses#EMBEDDINGS_EMBED}. */
public final class EmbeddingsEndpoint {

  private final Vertx vertx;
  private final GatewayOptions options;

  public EmbeddingsEndpoint(Vertx vertx, GatewayOptions options) {
    this.vertx = vertx;
    this.options = options;
  }

  public void embeddings(RoutingContext ctx) {
    OpenAiRequests.Embeddings req = OpenAiRequests.embeddings(ctx.body().buffer());
    JsonObject msg = new JsonObject().put("input", new JsonArray(List.copyOf(req.input()))).put("model", req.model());
    vertx.eventBus().<Object>request(Addresses.EMBEDDINGS_EMBED, msg,
            new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs()))
        .onFailure(err -> ctx.fail(Failures.fromBus(err, null)))
        .onSuccess(reply -> {
          JsonObject body = GenerationCall.json(reply.body());
          String model = body.getString("model", req.model());
          JsonArray vectors = body.getJsonArray("data", new JsonArray());
          JsonArray data = new JsonArray();
          for (int i = 0; i < vectors.size(); i++) {
            JsonArray v = vectors.getJsonArray(i);
            data.add(new JsonObject().put("object", "embedding").put("index", i)
                .put("embedding", req.base64() ? base64(v) : v));
          }
          int tokens = body.getInteger("prompt_tokens", 0);
          RouteDecision route = new RouteDecision(model, null, body.getString("node", options.getNodeName()),
              "embeddings", List.of("served by the embedding model " + model));
          JsonObject out = new JsonObject().put("object", "list").put("data", data).put("model", model)
              .put("usage", new JsonObject().put("prompt_tokens", tokens).put("total_tokens", tokens))
              .put("companion", OpenAiResponses.companion(route, null));
          ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
              .putHeader(OpenAiResponses.ROUTE_HEADER, OpenAiResponses.headerValue(route)).end(out.encode());
        });
  }

  /** OpenAI's base64 encoding: little-endian float32 values. */
  static String base64(JsonArray v) {
    ByteBuffer buf = ByteBuffer.allocate(v.size() * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < v.size(); i++) buf.putFloat(((Number) v.getValue(i)).floatValue());
    return Base64.getEncoder().encodeToString(buf.array());
  }
}
