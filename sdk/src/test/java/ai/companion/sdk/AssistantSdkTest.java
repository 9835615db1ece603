package ai.companion.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SDK end to end: an embedded node (real verticles, the stories260K fixture imported by the builder) asked
 * through every SDK call, and the same node asked again as a remote one over gRPC. Greedy answers equal the
 * fixture's oracle.
 */
class AssistantSdkTest {

  @TempDir
  static Path dataDir;
  private static Assistant embedded;
  private static String oracle;

  @BeforeAll
  static void deploy() throws Exception {
    Path bin = ModelFixtures.checkpoint(ModelFixtures.STORIES);
    oracle = ModelFixtures.oracleText(ModelFixtures.STORIES);
    embedded = AssistantBuilder.modelType("stories260k").device("auto").optimizationLevel(OptimizationLevel.HIGH)
        .dataDir(dataDir).importModel(bin, ModelFixtures.file(ModelFixtures.STORIES, ModelFixtures.TOKENIZER))
        .maxTokens(60).deploy();
  }

  @AfterAll
  static void close() {
    if (embedded != null) embedded.close();
  }

  @Test
  void queryGivesTheOracle() {
    assertEquals("stories260k", embedded.model());
    assertEquals(oracle, embedded.query(""));
    Answer a = embedded.ask("");
    assertEquals(oracle, a.text());
    assertEquals("stories260k", a.model());
    assertEquals("length", a.finishReason());
    assertEquals(60, a.completionTokens());
    assertFalse(a.strategy().isEmpty());
    assertFalse(a.reasons().isEmpty());
  }

  @Test
  void streamHandsOverPiecesAsTheyCome() throws Exception {
    List<String> pieces = new CopyOnWriteArrayList<>();
    Answer a = embedded.stream("", pieces::add).answer().get(60, TimeUnit.SECONDS); // join() ignores interrupts
    assertTrue(pieces.size() > 10, "pieces: " + pieces.size());
    assertEquals(oracle, String.join("", pieces));
    assertEquals(oracle, a.text());
  }

  @Test
  void publisherFollowsDemand() throws Exception {
    List<String> got = new CopyOnWriteArrayList<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    CompletableFuture<Flow.Subscription> sub = new CompletableFuture<>();
    CompletableFuture<Void> first = new CompletableFuture<>();
    embedded.queryStream("").subscribe(new Flow.Subscriber<>() {
      @Override public void onSubscribe(Flow.Subscription s) {
        sub.complete(s);
        s.request(1);
      }

      @Override public void onNext(String item) {
        got.add(item);
        first.complete(null);
      }

      @Override public void onError(Throwable t) {
        done.completeExceptionally(t);
      }

      @Override public void onComplete() {
        done.complete(null);
      }
    });
    first.get(60, TimeUnit.SECONDS);
    Thread.sleep(300); // nothing more may come while the subscriber asked for one
    assertEquals(1, got.size(), "only what was requested: " + got);
    sub.get().request(Long.MAX_VALUE);
    done.get(60, TimeUnit.SECONDS);
    assertEquals(oracle, String.join("", got));
  }

  @Test
  void remoteOverGrpcGivesTheSameAnswer() {
    try (Assistant remote = AssistantBuilder.remote(embedded.grpcTarget()).model("STORIES260K").maxTokens(60).deploy()) {
      assertEquals("stories260k", remote.model());
      assertEquals(oracle, remote.query(""));
    }
  }

  @Test
  void clearErrors() {
    AssistantException unknown = assertThrows(AssistantException.class,
        () -> AssistantBuilder.remote(embedded.grpcTarget()).model("no-such-model").deploy());
    assertEquals("NOT_FOUND", unknown.status());
    assertTrue(unknown.getMessage().contains("stories260k"), unknown.getMessage());
    try (Assistant remote = AssistantBuilder.remote(embedded.grpcTarget()).model("stories260k").deploy()) {
      // longer than the model's 512-token context
      AssistantException tooLong = assertThrows(AssistantException.class, () -> remote.ask("x ".repeat(3000)));
      assertEquals("OUT_OF_RANGE", tooLong.status(), tooLong.getMessage());
    }
    AssistantException down = assertThrows(AssistantException.class,
        () -> AssistantBuilder.remote("127.0.0.1:1").timeout(java.time.Duration.ofSeconds(10)).deploy());
    assertEquals("UNAVAILABLE", down.status(), down.getMessage());
    assertThrows(IllegalArgumentException.class, () -> AssistantBuilder.modelType("m").device("tpu"));
  }
}
