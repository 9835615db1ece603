package ai.companion.bench.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.gateway.impl.OpenAiResponses;
import ai.companion.gateway.impl.Sse;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C load generator, built with the machine's cc, against a Vert.x server that streams the gateway's own chunks
 * (the builders the gateway writes them with) in odd-sized pieces: what it reports of each stream is what was sent.
 */
class NativeClientsTest {
  private static Vertx vertx;
  private static HttpServer server;

  @BeforeAll static void serve() throws Exception {
    vertx = Vertx.vertx();
    server = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(b -> {
      JsonObject body = b.toJsonObject();
      HttpServerResponse resp = req.response();
      if (!"m".equals(body.getString("model"))) {
        resp.setStatusCode(404).end(new JsonObject().put("error", new JsonObject().put("message", "no model")).encode());
        return;
      }
      long seed = body.getLong("seed");
      // client n gets n % 4 + 1 tokens; seed 7 an error event after its first token
      int n = (int) (seed % 4) + 1;
      Buffer all = Buffer.buffer();
      all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("c", 1, "m", "", null).putNull("usage")
          .put("companion", new JsonObject().put("reason", "\"text\":\"x\" said " + body.getString("prompt")))));
      for (int i = 0; i < n; i++) {
        all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("c", 1, "m", i == 0 ? "Once" : " \"t\"\n\n", null)
            .putNull("usage")));
        if (seed == 7) {
          all.appendBuffer(Sse.event(new JsonObject().put("error",
              new JsonObject().put("message", "worker lost").put("type", "server_error"))));
        }
      }
      all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("c", 1, "m", "", "length").putNull("usage")));
      all.appendBuffer(Sse.event(OpenAiResponses.completionChunk("c", 1, "m", null, null)
          .put("usage", OpenAiResponses.usage(3, n))));
      all.appendBuffer(Sse.DONE);
      resp.setChunked(true).putHeader("content-type", Sse.CONTENT_TYPE);
      // pieces of 1 to 13 bytes, each its own HTTP chunk
      int piece = (int) (seed % 13) + 1;
      for (int at = 0; at < all.length(); at += piece) resp.write(all.getBuffer(at, Math.min(all.length(), at + piece)));
      resp.end();
    })).listen(0, "127.0.0.1").await(30, TimeUnit.SECONDS);
  }

  @AfterAll static void close() throws Exception {
    vertx.close().await(30, TimeUnit.SECONDS);
  }

  @Test void eachStreamReportsItsTokensFinishAndErrors(@TempDir Path out) throws Exception {
    NativeClients c = NativeClients.build(benchDir(), out);
    String body = "{\"model\":\"m\",\"prompt\":\"Once %1$d\",\"stream\":true,\"seed\":%1$d}";
    NativeClients.Wave w = c.wave("127.0.0.1", server.actualPort(), "/v1/completions", 40, 0, 30, body);
    assertEquals(40, w.streams().size());
    assertTrue(w.cpuMillis() >= 0);
    for (int i = 0; i < 40; i++) {
      Timeline t = w.streams().get(i);
      if (i == 7) {
        assertEquals("worker lost", t.error());
        continue;
      }
      assertNull(t.error(), "stream " + i);
      assertEquals("length", t.finishReason(), "stream " + i);
      assertEquals(i % 4 + 1, t.tokens(), "stream " + i);
      assertTrue(t.connectedMs() > 0 && t.headersMs() >= t.connectedMs() && t.ttftMs() >= t.headersMs(),
          "stream " + i + ": " + t.connectedMs() + ", " + t.headersMs() + ", " + t.ttftMs());
    }
  }

  @Test void aRefusedRequestIsAnErrorWithItsStatus(@TempDir Path out) throws Exception {
    NativeClients c = NativeClients.build(benchDir(), out);
    List<Timeline> streams = c.wave("127.0.0.1", server.actualPort(), "/v1/completions", 2, 0, 30,
        "{\"model\":\"other\",\"seed\":%1$d}").streams();
    for (Timeline t : streams) {
      assertEquals("HTTP 404", t.error());
      assertTrue(Double.isNaN(t.ttftMs()));
    }
  }

  @Test void anOutputLineReadsAsATimeline() {
    Timeline t = NativeClients.timeline(1_000, "3 10 20 30 40 32 length -");
    assertEquals(32, t.tokens());
    assertEquals("length", t.finishReason());
    assertEquals(30e-6, t.ttftMs(), 1e-12);
    assertEquals(1_040, t.endNs());
    Timeline failed = NativeClients.timeline(0, "0 5 0 0 9 0 - connection_closed_before_the_end_of_the_stream");
    assertEquals("connection closed before the end of the stream", failed.error());
  }

  private static Path benchDir() {
    // the tests run in the bench module's folder
    Path dir = Path.of("").toAbsolutePath();
    assertTrue(Files.isRegularFile(dir.resolve(NativeClients.SOURCE)), "run from the bench module, not " + dir);
    return dir;
  }
}
