package ai.companion.node.impl;

import ai.companion.api.Addresses;
import ai.companion.api.JsonBodies;
import ai.companion.api.ModelInfo;
import ai.companion.api.WorkerInfo;
import ai.companion.gateway.security.GatewaySecurity;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A node's own streaming requests through its HTTP door before it reports READY, sent in rounds of many at once, each
 * on a new connection, as a burst of new clients arrives.
 *
 * <p>Why: a young JVM runs the intake (Netty, HTTP parsing, the event-bus hops, SSE writes) as interpreted code and
 * with a young generation sized for an idle process; a young node's first burst of 2000 clients had its first tokens
 * about twice as late as a warm node's (docs/benchmarks.md). These requests compile that path and size the heap while
 * nobody waits.
 *
 * <p>Each request carries the node's one-time token in {@link GatewaySecurity#WARM_UP_HEADER}: it needs no API key,
 * stays on this node's workers and is left out of the metrics, the router's decisions and the knowledge log (see
 * {@link ai.companion.api.GenerationRequest#HINT_WARM_UP}). A failure here never stops the node: it is counted and
 * logged.
 */
public final class WarmUp {

  /** What the warm-up did. */
  public record Result(int sent, int failed, int rounds, long millis, String firstFailure) {}

  /**
   * The most requests in flight at once: the largest round, large enough for the heap to grow as a burst makes it
   * grow. Measured on 2 cores with 1500 streams (docs/benchmarks.md, "A warm-up before READY"): a 2000-client burst
   * right after READY had its TTFT p50 at 580 against 1190 ms without, p99 860 against 1210 ms (medians of six pairs).
   */
  public static final int ROUND = 500;
  /**
   * The first round; each next one is four times larger, up to {@link #ROUND}: a model too slow for hundreds of
   * streams at once shows it in the small rounds, and the budget ends the warm-up before a large one.
   */
  static final int FIRST_ROUND = 4;
  /** Tokens per warm-up stream: every SSE path (first chunk, text chunks, the end), the decode loop many times. */
  static final int MAX_TOKENS = 16;
  /** A warm-up stream idle this long fails (and the next round goes on). */
  static final long IDLE_TIMEOUT_MS = 30_000;
  /**
   * No round starts that would end past this, judged by the last one: the node reports READY however far its
   * warm-up got. stories260K does 1500 streams in about 2.6 s on 2 cores; the SmolLM2-135M shape stops after its
   * first small rounds.
   */
  public static final long BUDGET_MS = 5_000;

  /**
   * Prompts of different lengths, all shorter than the worker's prompt cache keeps ({@code PromptCache.MIN_TOKENS},
   * 16; stories260K's tokenizer: 4-12 tokens with BOS), so that the warm-up leaves nothing there and nothing in its
   * count on {@code /metrics}.
   */
  private static final String[] PROMPTS = {"Once upon a time", "The little dog wanted to", "The robot and the cat were",
      "Hello"};

  private final Vertx vertx;
  private final String host;
  private final int port;
  private final String token;
  private final String model;

  /** Warm-up streams to {@code host:port} for {@code model}, admitted by {@code token}. */
  public WarmUp(Vertx vertx, String host, int port, String token, String model) {
    this.vertx = vertx;
    this.host = host;
    this.port = port;
    this.token = token;
    this.model = model;
  }

  /**
   * The smallest generative model (fewest parameters) the workers of {@code nodeName} have registered, or null: the
   * warm-up is for the code around the models, which every model shares, so the quickest one serves it.
   */
  public static Future<ModelInfo> smallestLocalModel(Vertx vertx, String nodeName) {
    return vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> map.entries())
        .map(entries -> {
          ModelInfo smallest = null;
          for (Object entry : entries.values()) {
            WorkerInfo w = WorkerInfo.fromJson(JsonBodies.object(entry));
            if (!nodeName.equals(w.nodeName())) continue;
            for (ModelInfo m : w.models()) {
              if (smallest == null || m.parameters() < smallest.parameters()) smallest = m;
            }
          }
          return smallest;
        });
  }

  /**
   * Sends {@code streams} requests in rounds of {@link #FIRST_ROUND}, four times that, ... at most {@link #ROUND},
   * within {@link #BUDGET_MS}; always succeeds, with what happened.
   */
  public Future<Result> run(int streams) {
    Progress p = new Progress(streams, System.nanoTime());
    return next(p, FIRST_ROUND, 0, 0).map(v -> p.result());
  }

  /** Runs a round of {@code size} (fewer if fewer are left) unless it would end past the budget, then the next. */
  private Future<Void> next(Progress p, int size, long lastRoundMs, int lastRoundSize) {
    int count = Math.min(size, p.streams - p.sent);
    // a round of n streams takes at most about n / last times the last round: its streams share decode steps
    long projectedMs = lastRoundSize == 0 ? 0 : lastRoundMs * count / lastRoundSize;
    if (count <= 0 || p.elapsedMs() + projectedMs > BUDGET_MS) return Future.succeededFuture();
    int from = p.sent;
    p.sent += count;
    p.rounds++;
    long start = System.nanoTime();
    return round(from, count, p)
        .compose(v -> next(p, Math.min(ROUND, size * 4), (System.nanoTime() - start) / 1_000_000, count));
  }

  /** What a run has done so far; rounds follow one another, their streams' failures may come from any thread. */
  private static final class Progress {
    final int streams;
    final long startNanos;
    int sent;
    int rounds;
    final AtomicInteger failed = new AtomicInteger();
    final AtomicReference<String> firstFailure = new AtomicReference<>();

    Progress(int streams, long startNanos) {
      this.streams = streams;
      this.startNanos = startNanos;
    }

    long elapsedMs() {
      return (System.nanoTime() - startNanos) / 1_000_000;
    }

    Result result() {
      return new Result(sent, failed.get(), rounds, elapsedMs(), firstFailure.get());
    }
  }

  /** One round: {@code count} requests at once on a client of their own (a connection each), all finished. */
  private Future<Void> round(int from, int count, Progress p) {
    HttpClientAgent client = vertx.httpClientBuilder()
        .with(new HttpClientOptions().setDefaultHost(host).setDefaultPort(port).setConnectTimeout(30_000))
        .with(new PoolOptions().setHttp1MaxSize(count).setMaxWaitQueueSize(-1))
        .build();
    List<Future<Void>> all = new ArrayList<>(count);
    for (int i = from; i < from + count; i++) {
      all.add(stream(client, i).recover(err -> {
        p.failed.incrementAndGet();
        p.firstFailure.compareAndSet(null, err.getMessage() == null ? err.toString() : err.getMessage());
        return Future.succeededFuture();
      }));
    }
    return Future.join(all).transform(ar -> client.close());
  }

  /** Request {@code i}: a completion or a chat, sampled or greedy, prompts in turn; read to its end. */
  private Future<Void> stream(HttpClientAgent client, int i) {
    String prompt = PROMPTS[i % PROMPTS.length];
    boolean chat = i % 2 == 1;
    JsonObject body = new JsonObject().put("model", model).put("max_tokens", MAX_TOKENS).put("stream", true)
        .put("temperature", i % 4 == 0 ? 0.0 : 0.8).put("seed", i);
    if (chat) {
      body.put("messages", new JsonArray().add(new JsonObject().put("role", "user").put("content", prompt)));
    } else {
      body.put("prompt", prompt);
    }
    return client.request(new RequestOptions().setMethod(HttpMethod.POST)
            .setURI(chat ? "/v1/chat/completions" : "/v1/completions").putHeader("content-type", "application/json")
            .putHeader(GatewaySecurity.WARM_UP_HEADER, token).setIdleTimeout(IDLE_TIMEOUT_MS))
        .compose(req -> req.send(body.toBuffer()))
        .compose(resp -> resp.body().compose(b -> answered(resp.statusCode(), b)));
  }

  /** A stream counts as served when it was a 200 that ended with {@code [DONE]} and held no error event. */
  static Future<Void> answered(int status, Buffer body) {
    String text = body.toString();
    if (status != 200) return Future.failedFuture("HTTP " + status + ": " + abbreviate(text));
    if (text.contains("data: {\"error\"")) return Future.failedFuture("error event: " + abbreviate(text));
    if (!text.endsWith("data: [DONE]\n\n")) return Future.failedFuture("stream ended without [DONE]");
    return Future.succeededFuture();
  }

  private static String abbreviate(String s) {
    return s.length() <= 200 ? s : s.substring(0, 200) + "...";
  }
}
