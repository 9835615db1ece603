package ai.companion.node.cli;

import ai.companion.node.impl.ProgressBar;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code companion ingest PATH...}: sends documents to a node's knowledge service over HTTP. */
@Command(name = "ingest", description = "Send documents (text, Markdown, HTML; folders recursively) to the knowledge service.")
public class IngestCommand implements Callable<Integer> {

  @Parameters(arity = "1..*", paramLabel = "PATH", description = "Files or folders.")
  List<Path> paths;

  @Option(names = "--url", description = "A node with the gateway role (default: ${DEFAULT-VALUE}).")
  String url = "http://127.0.0.1:8080";

  @Option(names = "--batch-bytes", description = "Most text per request (default: ${DEFAULT-VALUE}).")
  int batchBytes = 1_000_000;

  @Override
  public Integer call() throws Exception {
    List<Path> files = new ArrayList<>();
    for (Path p : paths) {
      if (!Files.exists(p)) {
        System.err.println("companion ingest: " + p + " does not exist");
        return 2;
      }
      try (Stream<Path> s = Files.walk(p)) {
        s.filter(Files::isRegularFile).filter(f -> format(f) != null).sorted().forEach(files::add);
      }
    }
    if (files.isEmpty()) {
      System.err.println("companion ingest: no .txt, .md or .html files under " + paths);
      return 2;
    }
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    URI endpoint = URI.create(url.replaceAll("/+$", "") + "/v1/knowledge/documents");
    ProgressBar bar = new ProgressBar(System.err, "ingest", files.size());
    JsonArray batch = new JsonArray();
    int batchSize = 0;
    int sent = 0;
    int ingested = 0;
    for (Path f : files) {
      String text = Files.readString(f, StandardCharsets.UTF_8);
      batch.add(new JsonObject().put("id", f.toAbsolutePath().normalize().toString())
          .put("title", f.getFileName().toString()).put("text", text).put("format", format(f)));
      batchSize += text.length();
      if (batchSize >= batchBytes) {
        ingested += post(http, endpoint, batch);
        sent += batch.size();
        bar.update(sent, f.getFileName().toString());
        batch = new JsonArray();
        batchSize = 0;
      }
    }
    if (!batch.isEmpty()) {
      ingested += post(http, endpoint, batch);
      sent += batch.size();
      bar.update(sent, "");
    }
    bar.finish();
    System.out.println("ingested " + ingested + " document(s) into " + url);
    return 0;
  }

  private static int post(HttpClient http, URI endpoint, JsonArray docs) throws IOException, InterruptedException {
    HttpRequest req = HttpRequest.newBuilder(endpoint).timeout(Duration.ofMinutes(5))
        .header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("documents", docs).encode())).build();
    HttpResponse<String> res;
    try {
      res = http.send(req, HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IOException("cannot reach " + endpoint + ": " + e.getMessage(), e);
    }
    if (res.statusCode() != 200) {
      String message = res.body();
      try {
        message = new JsonObject(res.body()).getJsonObject("error").getString("message");
      } catch (RuntimeException ignored) {
        // not the OpenAI error shape: show the body as it is
      }
      throw new IOException(endpoint + " answered " + res.statusCode() + ": " + message);
    }
    return new JsonObject(res.body()).getJsonArray("ingested", new JsonArray()).size();
  }

  static String format(Path f) {
    String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
    if (n.endsWith(".md") || n.endsWith(".markdown")) return "markdown";
    if (n.endsWith(".html") || n.endsWith(".htm")) return "html";
    if (n.endsWith(".txt") || n.endsWith(".text")) return "text";
    return null;
  }
}
