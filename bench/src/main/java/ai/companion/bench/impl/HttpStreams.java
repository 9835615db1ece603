package ai.companion.bench.impl;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

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

  /** The body of a streaming completion that asks for usage, without a seed. */
  public static JsonObject completionBody(String model, String prompt, int maxTokens, double temperature) {
    return new JsonObject().put("model", model).put("prompt", prompt).put("max_tokens", maxTokens)
        .put("temperature", temperature).put("stream", true)
        .put("stream_options", new JsonObject().put("include_usage", true));
  }

  /** One streaming completion; the future always succeeds, with the error (if any) in the timeline. */
  public Future<Timeline> complete(String model, String prompt, int maxTokens, double temperature, Long seed) {
    JsonObject body = completionBody(model, prompt, maxTokens, temperature);
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
    SseReader reader = new SseReader();
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
          resp.handler(buf -> reader.onData(t, buf));
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

  /** A POST of a JSON body; the future succeeds with the JSON answer of a 200, or fails with the status and body. */
  public Future<JsonObject> postJson(String uri, JsonObject body) {
    return client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(host).setPort(port).setURI(uri)
            .putHeader("content-type", "application/json").setIdleTimeout(300_000))
        .compose(req -> req.send(body.toBuffer()))
        .compose(HttpStreams::okBody).map(Buffer::toJsonObject);
  }

  /** A GET of a text body (a 200's, or a failure). */
  public Future<String> getText(String uri) {
    return getBody(uri).map(Buffer::toString);
  }

  /** A plain GET; the future succeeds with the milliseconds to the whole body, or fails. */
  public Future<Double> get(String uri) {
    long t0 = System.nanoTime();
    return getBody(uri).map(b -> (System.nanoTime() - t0) / 1e6);
  }

  private Future<Buffer> getBody(String uri) {
    return client.request(new RequestOptions().setMethod(HttpMethod.GET).setHost(host).setPort(port).setURI(uri))
        .compose(req -> req.send())
        .compose(HttpStreams::okBody);
  }

  /** The whole body of a 200; any other status fails with the status and the body. */
  private static Future<Buffer> okBody(HttpClientResponse resp) {
    return resp.body().map(b -> {
      if (resp.statusCode() != 200) throw new IllegalStateException("HTTP " + resp.statusCode() + ": " + b);
      return b;
    });
  }

  /** The failure with where it was thrown (an exception without a message says nothing on its own). */
  private static String describe(Throwable e) {
    StackTraceElement[] at = e.getStackTrace();
    return at.length == 0 ? e.toString() : e + " at " + at[0];
  }

  /**
   * One stream's SSE events as its buffers come, each event read where it lies in the bytes by a streaming JSON
   * parser: this client shares the node's cores, and turning each buffer into a String and each event into a
   * JsonObject was a quarter of its event loops' time (docs/benchmarks.md, "The bench's client on C1").
   */
  static final class SseReader {
    private static final byte[] NONE = new byte[0];
    private byte[] rest = NONE;     // an event begun in an earlier buffer

    void onData(Timeline t, Buffer buf) {
      long now = System.nanoTime();
      byte[] b = buf.getBytes();
      if (rest.length > 0) {
        byte[] joined = Arrays.copyOf(rest, rest.length + b.length);
        System.arraycopy(b, 0, joined, rest.length, b.length);
        b = joined;
      }
      int from = 0;
      for (int end = eventEnd(b, from); end >= 0; end = eventEnd(b, from)) {
        event(t, now, b, from, end);
        from = end + 2;
      }
      rest = from == b.length ? NONE : Arrays.copyOfRange(b, from, b.length);
    }
  }

  /** The index of the blank line ("\n\n") that ends the event starting at {@code from}, or -1. */
  static int eventEnd(byte[] b, int from) {
    for (int i = from; i + 1 < b.length; i++) if (b[i] == '\n' && b[i + 1] == '\n') return i;
    return -1;
  }

  private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DONE = "[DONE]".getBytes(StandardCharsets.US_ASCII);
  private static final JsonFactory JSON = new JsonFactory();

  /** One event, {@code b[from, end)}: "data: " and a chunk (or [DONE]); anything else is skipped. */
  static void event(Timeline t, long now, byte[] b, int from, int end) {
    if (!startsWith(b, from, end, DATA)) return;
    int at = from + DATA.length;
    if (startsWith(b, at, end, DONE)) return;
    try (JsonParser p = JSON.createParser(b, at, end - at)) {
      if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException("not a JSON object");
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        switch (name) {
          case "error" -> {
            t.fail(now, errorMessage(p));
            return;
          }
          case "usage" -> {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
              String field = p.currentName();
              p.nextToken();
              if (field.equals("completion_tokens")) t.totalTokens(p.getIntValue());
              else p.skipChildren();
            }
          }
          case "choices" -> firstChoice(t, now, p);
          default -> p.skipChildren();
        }
      }
    } catch (IOException e) {
      t.fail(now, "unreadable SSE event: " + e.getMessage() + ": "
          + new String(b, from, Math.min(end - from, 200), StandardCharsets.UTF_8));
    }
  }

  /** choices[0]: a token when its text is not empty, the end when it has a finish_reason; the rest skipped. */
  private static void firstChoice(Timeline t, long now, JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_ARRAY) {
      p.skipChildren();
      return;
    }
    boolean first = true;
    while (p.nextToken() == JsonToken.START_OBJECT) {
      String finish = null;
      boolean text = false;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken v = p.nextToken();
        if (field.equals("text") && v == JsonToken.VALUE_STRING) text = p.getTextLength() > 0;
        else if (field.equals("finish_reason") && v == JsonToken.VALUE_STRING) finish = p.getText();
        else p.skipChildren();
      }
      if (first) {
        if (text) t.tokens(now, 1);
        if (finish != null) t.finish(now, finish);
      }
      first = false;
    }
  }

  private static String errorMessage(JsonParser p) throws IOException {
    String message = "error event without a message";
    if (p.currentToken() != JsonToken.START_OBJECT) return message;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      p.nextToken();
      if (field.equals("message") && p.currentToken() == JsonToken.VALUE_STRING) message = p.getText();
      else p.skipChildren();
    }
    return message;
  }

  private static boolean startsWith(byte[] b, int from, int end, byte[] prefix) {
    if (end - from < prefix.length) return false;
    for (int i = 0; i < prefix.length; i++) if (b[from + i] != prefix[i]) return false;
    return true;
  }

  public Vertx vertx() { return vertx; }

  @Override public void close() {
    client.close();
  }
}
