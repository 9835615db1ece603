package ai.companion.node.it;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

/** A blocking HTTP client for the tests (JDK's own: a real client, nothing of ours in between). */
public final class Http {
  private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private Http() {}

  public static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  public static JsonObject getJson(int port, String path) throws IOException, InterruptedException {
    HttpResponse<String> r = get(port, path);
    if (r.statusCode() != 200) throw new IOException(path + " answered " + r.statusCode() + ": " + r.body());
    return new JsonObject(r.body());
  }

  public static HttpResponse<String> post(int port, String path, JsonObject body) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(60)).header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.encode())).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A streamed completion: the concatenated text, the chunks, the route header and any error event. */
  public record Streamed(int status, String route, String text, List<JsonObject> chunks, JsonObject error, boolean done) {}

  /** POSTs a streaming request and reads its SSE events; {@code onChunk} sees each parsed chunk as it arrives. */
  public static Streamed stream(int port, String path, JsonObject body, Consumer<JsonObject> onChunk)
      throws IOException, InterruptedException {
    HttpResponse<Stream<String>> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(120)).header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.copy().put("stream", true).encode())).build(),
        HttpResponse.BodyHandlers.ofLines());
    StringBuilder text = new StringBuilder();
    List<JsonObject> chunks = new ArrayList<>();
    JsonObject error = null;
    boolean done = false;
    String route = r.headers().firstValue("x-companion-route").orElse(null);
    try (Stream<String> lines = r.body()) {
      for (String line : (Iterable<String>) lines::iterator) {
        if (!line.startsWith("data:")) continue;
        String data = line.substring(5).trim();
        if (data.equals("[DONE]")) {
          done = true;
          break;
        }
        JsonObject chunk = new JsonObject(data);
        if (chunk.containsKey("error")) {
          error = chunk.getJsonObject("error");
          continue;
        }
        chunks.add(chunk);
        var choices = chunk.getJsonArray("choices");
        if (choices != null && !choices.isEmpty()) {
          JsonObject c = choices.getJsonObject(0);
          String piece = c.getString("text");
          if (piece == null && c.getJsonObject("delta") != null) piece = c.getJsonObject("delta").getString("content");
          if (piece != null) text.append(piece);
        }
        onChunk.accept(chunk);
      }
    }
    return new Streamed(r.statusCode(), route, text.toString(), chunks, error, done);
  }
}
