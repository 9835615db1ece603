package ai.companion.node.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.GatewayVerticle;
import ai.companion.router.RouterVerticle;
import ai.companion.testing.ModelFixtures;
import ai.companion.worker.WorkerVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A worker that goes away in the middle of a stream, in one JVM with the real verticles: two inference workers
 * serve stories260K; the one streaming is undeployed as soon as the client has its first chunk. The gateway
 * must move the stream to the other worker (which prefills prompt + tokens already sent) so that the client's
 * greedy text equals the uninterrupted text byte for byte; with no other worker the client gets an error event
 * at once and the stream ends. (The multi-process kill -9 version lives with the cluster tests.)
 */
@ExtendWith(VertxExtension.class)
class FailoverEndToEndTest {

  private static final String HOST = "127.0.0.1";
  private static final String MODEL = "stories260K";
  /** Long enough that the stream is still running when its worker is undeployed; stories260K holds 512. */
  private static final int TOKENS = 400;

  @TempDir
  static Path dataDir;

  private static int port;
  private static final Map<String, String> deployments = new HashMap<>();

  @BeforeAll
  @Timeout(value = 180, timeUnit = TimeUnit.SECONDS)
  static void startNode(Vertx vertx, VertxTestContext ctx) throws Exception {
    ModelFixtures.importModel(MODEL, ModelPaths.modelsDir(dataDir));
    GatewayVerticle gateway = new GatewayVerticle();
    JsonObject node = node();
    vertx.deployVerticle(new RouterVerticle(), new DeploymentOptions().setConfig(node))
        .compose(v -> vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new GatewayOptions()
            .setHost(HOST).setHttpPort(0).setGrpcPort(0).setNodeName("failover-node").toJson())))
        .onComplete(ctx.succeeding(v -> {
          port = gateway.actualPort();
          ctx.completeNow();
        }));
  }

  private static JsonObject node() {
    return new JsonObject().put("dataDir", dataDir.toString()).put("nodeName", "failover-node");
  }

  private static Future<Void> ensureWorkers(Vertx vertx, String... ids) {
    Future<Void> f = Future.succeededFuture();
    for (String id : ids) {
      if (deployments.containsKey(id)) continue;
      f = f.compose(v -> vertx.deployVerticle(new WorkerVerticle(),
          new DeploymentOptions().setConfig(node().put("workerId", id))).map(dep -> {
            deployments.put(id, dep);
            return null;
          }));
    }
    return f;
  }

  private static Future<Void> undeployWorker(Vertx vertx, String id) {
    String dep = deployments.remove(id);
    return dep == null ? Future.succeededFuture() : vertx.undeploy(dep);
  }

  private static Future<Void> undeployAllWorkers(Vertx vertx) {
    Future<Void> f = Future.succeededFuture();
    for (String id : List.copyOf(deployments.keySet())) f = f.compose(v -> undeployWorker(vertx, id));
    return f;
  }

  @Test
  @Timeout(value = 120, timeUnit = TimeUnit.SECONDS)
  void streamSurvivesItsWorkerGoingAway(Vertx vertx, VertxTestContext ctx) {
    WebClient web = WebClient.create(vertx);
    JsonObject req = new JsonObject().put("model", MODEL).put("prompt", "").put("temperature", 0)
        .put("max_tokens", TOKENS);
    ensureWorkers(vertx, "worker-a", "worker-b")
        .compose(v -> web.post(port, HOST, "/v1/completions").sendJsonObject(req))
        .compose(plain -> {
          assertEquals(200, plain.statusCode(), plain.bodyAsString());
          String reference = plain.bodyAsJsonObject().getJsonArray("choices").getJsonObject(0).getString("text");
          return attempt(vertx, req, reference, 3);
        })
        .onComplete(ctx.succeeding(v -> ctx.completeNow()));
  }

  /** One streamed run with the serving worker undeployed at the first chunk; retried if the stream outran it. */
  private Future<Void> attempt(Vertx vertx, JsonObject req, String reference, int left) {
    return ensureWorkers(vertx, "worker-a", "worker-b")
        .compose(v -> streamAndUndeploy(vertx, req.copy().put("stream", true)))
        .compose(body -> {
          List<JsonObject> chunks = OpenAiEndToEndTest.sse(body);
          String first = chunks.get(0).getJsonObject("companion").getJsonObject("route").getString("workerId");
          JsonObject moved = null;
          StringBuilder text = new StringBuilder();
          for (JsonObject c : chunks) {
            if (moved == null && c.containsKey("companion") && c.getJsonObject("companion").containsKey("failovers")) {
              moved = c;
            }
            if (!c.getJsonArray("choices").isEmpty()) {
              text.append(c.getJsonArray("choices").getJsonObject(0).getString("text"));
            }
          }
          if (moved == null) {
            if (left > 1) return attempt(vertx, req, reference, left - 1);
            return Future.failedFuture(new AssertionError("the stream never failed over: it ended before its "
                + "worker " + first + " was undeployed, " + left + " tries"));
          }
          String second = moved.getJsonObject("companion").getJsonObject("route").getString("workerId");
          assertNotEquals(first, second, "resumed on another worker");
          assertEquals(reference, text.toString(), "text across the failover equals the uninterrupted text");
          return Future.succeededFuture();
        });
  }

  @Test
  @Timeout(value = 90, timeUnit = TimeUnit.SECONDS)
  void withNoOtherWorkerTheClientGetsAnErrorAtOnce(Vertx vertx, VertxTestContext ctx) {
    undeployAllWorkers(vertx)
        .compose(v -> soloAttempt(vertx, 3))
        .onComplete(ctx.succeeding(outcome -> {
          ctx.verify(() -> assertEquals("error", outcome, "the worker was undeployed mid-stream"));
          ctx.completeNow();
        }));
  }

  /** One stream on the only worker, undeployed at the first chunk; retried when the stream outran it. */
  private Future<String> soloAttempt(Vertx vertx, int left) {
    JsonObject req = new JsonObject().put("model", MODEL).put("prompt", "").put("temperature", 0)
        .put("max_tokens", TOKENS).put("stream", true);
    return ensureWorkers(vertx, "worker-solo").compose(v -> {
      long t0 = System.currentTimeMillis();
      return streamAndUndeploy(vertx, req).map(body -> {
        long ms = System.currentTimeMillis() - t0;
        String[] events = body.split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        String last = events[events.length - 2];
        if (!last.contains("\"error\"")) {
          // the stream outran the undeploy: then it must have ended normally
          assertTrue(last.contains("finish_reason\":\"length"), last);
          return "raced";
        }
        JsonObject err = new JsonObject(last.substring(6)).getJsonObject("error");
        assertEquals("worker_lost", err.getString("code"), err.encode());
        assertTrue(err.getString("message").contains("worker-solo"), err.encode());
        assertTrue(ms < 10_000, "error within seconds, took " + ms + " ms");
        return "error";
      });
    }).compose(outcome -> outcome.equals("raced") && left > 1 ? soloAttempt(vertx, left - 1)
        : Future.succeededFuture(outcome));
  }

  /** Streams a request; when the first chunk names its worker, that worker is undeployed. Returns the SSE body. */
  private Future<String> streamAndUndeploy(Vertx vertx, JsonObject req) {
    HttpClient http = vertx.createHttpClient();
    Promise<String> body = Promise.promise();
    Buffer all = Buffer.buffer();
    boolean[] undeployed = {false};
    http.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(HOST).setPort(port)
            .setURI("/v1/completions").putHeader("content-type", "application/json"))
        .compose(r -> r.send(req.toBuffer()))
        .onFailure(body::tryFail)
        .onSuccess((HttpClientResponse resp) -> {
          assertEquals(200, resp.statusCode());
          resp.handler(buf -> {
            all.appendBuffer(buf);
            if (!undeployed[0]) {
              String s = all.toString();
              int at = s.indexOf("\"workerId\":\"");
              if (at >= 0 && s.indexOf('"', at + 12) > 0) {
                undeployed[0] = true;
                String worker = s.substring(at + 12, s.indexOf('"', at + 12));
                undeployWorker(vertx, worker);
              }
            }
          });
          resp.endHandler(v -> body.tryComplete(all.toString()));
          resp.exceptionHandler(body::tryFail);
        });
    return body.future().eventually(() -> http.close());
  }
}
