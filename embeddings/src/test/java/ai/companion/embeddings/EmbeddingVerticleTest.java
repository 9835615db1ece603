package ai.companion.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.spi.Embedder;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The verticle over a local event bus, with the real model. */
@ExtendWith(VertxExtension.class)
class EmbeddingVerticleTest {

  @BeforeEach
  void deploy(Vertx vertx, VertxTestContext ctx) {
    vertx.deployVerticle(new EmbeddingVerticle(), new io.vertx.core.DeploymentOptions()
        .setConfig(new EmbeddingOptions().setVariant(MiniLmEmbedder.Variant.FP32).toJson()))
        .onComplete(ctx.succeedingThenComplete());
  }

  @Test
  void embedsABatch(Vertx vertx, VertxTestContext ctx) {
    JsonObject req = new JsonObject().put("input", new JsonArray().add("A man is eating food.")
        .add("A man is eating a piece of bread.").add("A man is riding a horse.")).put("model", "all-MiniLM-L6-v2");
    vertx.eventBus().<JsonObject>request(Addresses.EMBEDDINGS_EMBED, req)
        .onComplete(ctx.succeeding(msg -> ctx.verify(() -> {
          JsonObject body = msg.body();
          assertEquals("all-MiniLM-L6-v2", body.getString("model"));
          JsonArray data = body.getJsonArray("data");
          assertEquals(3, data.size());
          float[][] v = new float[3][];
          for (int i = 0; i < 3; i++) {
            JsonArray row = data.getJsonArray(i);
            assertEquals(384, row.size());
            v[i] = new float[384];
            for (int d = 0; d < 384; d++) v[i][d] = row.getFloat(d);
          }
          assertTrue(Embedder.cosine(v[0], v[1]) > Embedder.cosine(v[0], v[2]));
          // [CLS] + word pieces + [SEP]: "a man is eating food ." 6, "a man is eating a piece of bread ." 9, "a man is riding a horse ." 7
          assertEquals(8 + 11 + 9, body.getInteger("prompt_tokens"));
          float[] direct = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32).embed("A man is eating food.");
          assertEquals(1.0, Embedder.cosine(direct, v[0]), 1e-6);
          ctx.completeNow();
        })));
  }

  @Test
  void aSingleStringIsOneInput(Vertx vertx, VertxTestContext ctx) {
    vertx.eventBus().<JsonObject>request(Addresses.EMBEDDINGS_EMBED, new JsonObject().put("input", "hello world"))
        .onComplete(ctx.succeeding(msg -> ctx.verify(() -> {
          assertEquals(1, msg.body().getJsonArray("data").size());
          assertEquals(4, msg.body().getInteger("prompt_tokens"));
          ctx.completeNow();
        })));
  }

  @Test
  void badInputFailsWithTypedCodes(Vertx vertx, VertxTestContext ctx) {
    List<JsonObject> bad = List.of(
        new JsonObject(),
        new JsonObject().put("input", 42),
        new JsonObject().put("input", new JsonArray()),
        new JsonObject().put("input", new JsonArray().add("ok").add(7)),
        new JsonObject().put("input", new JsonArray().add(new JsonArray().add(1).add(2))),
        new JsonObject().put("input", ""),
        new JsonObject().put("input", "x").put("model", 3));
    Future<?> chain = Future.succeededFuture();
    for (JsonObject b : bad) {
      chain = chain.compose(v -> vertx.eventBus().request(Addresses.EMBEDDINGS_EMBED, b)
          .transform(ar -> {
            ctx.verify(() -> {
              assertTrue(ar.failed(), "should fail: " + b);
              assertEquals(ErrorCode.INVALID_REQUEST, ErrorCode.of(ar.cause()), b + " -> " + ar.cause());
            });
            return Future.succeededFuture();
          }));
    }
    chain.compose(v -> vertx.eventBus().request(Addresses.EMBEDDINGS_EMBED,
            new JsonObject().put("input", "x").put("model", "text-embedding-3-small")))
        .onComplete(ar -> ctx.verify(() -> {
          assertTrue(ar.failed());
          ReplyException re = (ReplyException) ar.cause();
          assertEquals(ErrorCode.MODEL_NOT_FOUND.wire(), re.failureCode());
          assertTrue(re.getMessage().contains("text-embedding-3-small"), re.getMessage());
          ctx.completeNow();
        }));
  }
}
