package ai.companion.bench.impl;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Streaming {@code /v1/completions} clients on loopback (Vert.x HttpClient, HTTP/1.1, one connection per stream):
 * each stream's token chunks are timed as they arrive. TTFT: the first chunk with text (not the role/route chunk).
 */
public final class HttpStreams implements AutoCloseable {
  private final Vertx vertx;
  private final HttpClientAgent client;
  private final String host;
  private final int port;

  public HttpStreams(Vertx vertx, String host, int port, int maxConnections) {
    this.vertx = vertx;
    this.host = host;
    this.port = port;
    this.client = vertx.httpClientBuilder()
        .with(new HttpClientOptions().setDefaultHost(host).setDefaultPort(port).setKeepAlive(true)
            .setConnectTimeout(60_000).setIdleTimeout(0))
        .with(new PoolOptions().setHttp1MaxSize(maxConnections).setMaxWaitQueueSize(-1))
        .build();
  }

  /** One streaming completion; the future always succeeds, with the error (if any) in the timeline. */
  public Future<Timeline> complete(String model, String prompt, int maxTokens, double temperature, Long seed) {
    JsonObject body = new JsonObject().put("model", model).put("prompt", prompt).put("max_tokens", maxTokens)
        .put("temperature", temperature).put("stream", true)
        .put("stream_options", new JsonObject().put("include_usage", true));
    if (seed != null) body.put("seed", seed);
    Timeline t = new Timeline(System.nanoTime());
    Promise<Timeline> done = Promise.promise();
    // on a Vert.x context of its own: called from a plain thread, the request's callbacks could run on another
    // event loop than its connection's, and a short stream could end before its data handler was set
    // (IllegalStateException from checkEnded, once in 2000 streams of a --rate 200 run)
    vertx.getOrCreateContext().runOnContext(v -> send(body, t, done));
    return done.future();
  }

  private void send(JsonObject body, Timeline t, Promise<Timeline> done) {
    StringBuilder pending = new StringBuilder();
    client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(host).setPort(port)
            .setURI("/v1/completions").putHeader("content-type", "application/json")
            .setIdleTimeout(120_000))
        .compose(req -> {
          t.connected(System.nanoTime());
          return req.send(body.toBuffer());
        })
        .compose(resp -> {
          if (resp.statusCode() != 200) {
            return resp.body().map(b -> {
              t.fail(System.nanoTime(), "HTTP " + resp.statusCode() + ": " + b.toString());
              return t;
            });
          }
          t.headers(System.nanoTime());
          resp.handler(buf -> onData(t, pending, buf));
          return resp.end().map(v -> {
            if (t.finishReason() == null && t.error() == null) t.fail(System.nanoTime(), "stream ended without a finish");
            return t;
          });
        })
        .onComplete(ar -> {
          if (ar.failed() && t.error() == null) t.fail(System.nanoTime(), describe(ar.cause()));
          done.complete(t);
        });
  }

  /** A plain GET; the future succeeds with the milliseconds to the whole body, or fails. */
  public Future<Double> get(String uri) {
    long t0 = System.nanoTime();
    return client.request(new RequestOptions().setMethod(HttpMethod.GET).setHost(host).setPort(port).setURI(uri))
        .compose(req -> req.send())
        .compose(resp -> resp.body().map(b -> {
          if (resp.statusCode() != 200) throw new IllegalStateException("HTTP " + resp.statusCode());
          return (System.nanoTime() - t0) / 1e6;
        }));
  }

  /** The failure with where it was thrown (an exception without a message says nothing on its own). */
  private static String describe(Throwable e) {
    StackTraceElement[] at = e.getStackTrace();
    return at.length == 0 ? e.toString() : e + " at " + at[0];
  }

  private static void onData(Timeline t, StringBuilder pending, Buffer buf) {
    long now = System.nanoTime();
    pending.append(buf.toString());
    int end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      String event = pending.substring(0, end);
      pending.delete(0, end + 2);
      if (!event.startsWith("data: ")) continue;
      String data = event.substring(6);
      if (data.equals("[DONE]")) continue;
      JsonObject chunk = new JsonObject(data);
      if (chunk.containsKey("error")) {
        t.fail(now, chunk.getJsonObject("error").getString("message"));
        continue;
      }
      JsonObject usage = chunk.getJsonObject("usage");
      if (usage != null) t.totalTokens(usage.getInteger("completion_tokens"));
      JsonArray choices = chunk.getJsonArray("choices");
      if (choices == null || choices.isEmpty()) continue;
      JsonObject c = choices.getJsonObject(0);
      String text = c.getString("text");
      if (text != null && !text.isEmpty()) t.tokens(now, 1);
      String finish = c.getString("finish_reason");
      if (finish != null) t.finish(now, finish);
    }
  }

  public Vertx vertx() { return vertx; }

  @Override public void close() {
    client.close();
  }
}
