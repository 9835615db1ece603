package ai.companion.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.Addresses;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import ai.companion.api.spi.DomainProfile;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance check with every part real: the two fixture models imported with no hints, domain
 * profiles learned by the router from the models' own sampled generations embedded with all-MiniLM-L6-v2,
 * and {@code model: "auto"} sending a children's story to stories260k and a machine's dream to aidreams260k.
 */
@ExtendWith(VertxExtension.class)
class AutoRoutingRealModelsTest {

  @TempDir Path dataDir;

  static GenerationRequest auto(String prompt) {
    String id = UUID.randomUUID().toString();
    return new GenerationRequest(id, "auto", prompt, null, SamplingParams.GREEDY.withMaxTokens(40),
        Addresses.streamAddress(id), List.of(), new JsonObject());
  }

  static Future<JsonObject> route(Vertx vertx, GenerationRequest r) {
    return vertx.eventBus().<JsonObject>request(Addresses.ROUTER_ROUTE, r.toJson()).map(m -> m.body());
  }

  @Test
  @Timeout(value = 5, timeUnit = TimeUnit.MINUTES)
  void autoSendsStoriesAndDreamsToTheirModels(Vertx vertx, VertxTestContext ctx) throws Exception {
    RealStack.importModels(dataDir);
    RealStack.deploy(vertx, dataDir, null)
        .compose(router -> {
          DomainProfile s = router.profiles().snapshot().get(RealStack.STORIES);
          DomainProfile d = router.profiles().snapshot().get(RealStack.DREAMS);
          ctx.verify(() -> {
            assertEquals("sampled", s.source());
            assertEquals("sampled", d.source());
            assertTrue(s.charsPerToken() > 1 && d.charsPerToken() > 1, s.charsPerToken() + " " + d.charsPerToken());
          });
          return route(vertx, auto("Write a children's story about a little girl who finds a puppy in the park."))
              .compose(story -> route(vertx,
                      auto("Describe the dream of a machine: circuits humming, data flowing, a robot that wakes up."))
                  .map(dream -> List.of(story, dream)));
        })
        .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
          JsonObject story = both.get(0);
          JsonObject dream = both.get(1);
          System.out.println("story -> " + story.encodePrettily());
          System.out.println("dream -> " + dream.encodePrettily());
          assertEquals(RealStack.STORIES, story.getString("model"), story.encode());
          assertEquals(RealStack.DREAMS, dream.getString("model"), dream.encode());
          assertEquals("worker-1", story.getString("workerId"));
          assertEquals("specialist", story.getString("strategy"));
          assertEquals("embedding", story.getJsonObject("features").getString("domainSource"));
          assertTrue(story.getJsonArray("reasons").getString(0).contains("domain-specialist"), story.encode());
          ctx.completeNow();
        })));
  }
}
