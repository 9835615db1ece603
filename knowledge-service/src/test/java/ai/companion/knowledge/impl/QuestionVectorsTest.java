package ai.companion.knowledge.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.spi.Embedder;
import ai.companion.embeddings.MiniLmEmbedder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Logged questions through the real MiniLM: a repeat is not embedded again and gets the vector its text gets. */
class QuestionVectorsTest {

  /** The real embedder, counting the texts it embeds. */
  private static final class Counting implements Embedder {
    final Embedder real = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32);
    final AtomicInteger texts = new AtomicInteger();

    @Override public String model() { return real.model(); }
    @Override public int dimension() { return real.dimension(); }
    @Override public Result embedWithUsage(List<String> t) {
      texts.addAndGet(t.size());
      return real.embedWithUsage(t);
    }
    @Override public void close() {}
  }

  /** The vector, the drain (if any) run at once on this thread. */
  private static float[] of(QuestionVectors vectors, String question) {
    return vectors.ofAsync(question, Runnable::run).join();
  }

  @Test void repeatsAreRememberedAndTheLeastRecentLeavesFirst() {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 2);
    String a = "How do I reset my password?";
    String b = "What is the refund policy?";
    String c = "Where is the office?";
    float[] va = of(vectors, a);
    assertArrayEquals(embedder.real.embed(a), va, 1e-6f, "the vector embedding gives");
    assertEquals(1, embedder.texts.get());
    assertArrayEquals(va, of(vectors, a));
    assertEquals(1, embedder.texts.get(), "a repeat is not embedded again");
    of(vectors, b);
    of(vectors, a);                 // a is now the most recent, b the least
    of(vectors, c);                 // evicts b
    assertEquals(3, embedder.texts.get());
    of(vectors, a);
    assertEquals(3, embedder.texts.get(), "a stayed");
    assertArrayEquals(embedder.real.embed(b), of(vectors, b), 1e-6f);
    assertEquals(4, embedder.texts.get(), "b had left and was embedded again");
    assertEquals(2, vectors.size());
    assertEquals(3, vectors.hits());
    assertEquals(4, vectors.misses());
    // a different text, even by a space, is another question
    of(vectors, a + " ");
    assertEquals(5, embedder.texts.get());
  }

  @Test void aVectorEmbeddedElsewhereIsRememberedForItsText() {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 10);
    float[] searched = embedder.real.embed("How long is the warranty?");
    vectors.remember("How long is the warranty?", searched);
    assertSame(searched, of(vectors, "How long is the warranty?"));
    assertEquals(0, embedder.texts.get());
    assertEquals(1, vectors.hits());
    new QuestionVectors(embedder, 0).remember("x", searched);   // capacity 0: nothing kept, nothing fails
  }

  @Test void capacityZeroRemembersNothing() {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 0);
    of(vectors, "same");
    of(vectors, "same");
    assertEquals(2, embedder.texts.get());
    assertEquals(0, vectors.size());
  }

  /**
   * Questions that wait together are embedded together: 40 distinct ones and a repeat of each queued before the
   * drain runs go out as two runs (32 and 8), each text once; every vector is the text's own (within the float
   * rounding a batch's padding brings), a repeat gets the same vector, and afterwards all are remembered.
   */
  @Test void waitingQuestionsAreEmbeddedInBatches() throws Exception {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 100);
    List<Runnable> drains = new ArrayList<>();
    Executor held = drains::add;                    // the drain runs when the test says so
    List<String> questions = new ArrayList<>();
    for (int i = 0; i < 40; i++) questions.add("question number " + i + " about topic " + (i * 7 % 13) + "?");
    List<CompletableFuture<float[]>> first = new ArrayList<>();
    List<CompletableFuture<float[]>> again = new ArrayList<>();
    for (String q : questions) first.add(vectors.ofAsync(q, held));
    for (String q : questions) again.add(vectors.ofAsync(q, held));
    assertEquals(1, drains.size(), "one drain at a time");
    assertEquals(0, embedder.texts.get());
    drains.get(0).run();
    assertEquals(40, embedder.texts.get(), "each distinct text once");
    assertEquals(2, vectors.batches(), "32, then 8");
    for (int i = 0; i < questions.size(); i++) {
      float[] v = first.get(i).get(0, TimeUnit.SECONDS);
      assertArrayEquals(embedder.real.embed(questions.get(i)), v, 1e-4f, questions.get(i));
      assertSame(v, again.get(i).get(0, TimeUnit.SECONDS), "a repeat gets the same vector");
    }
    CompletableFuture<float[]> later = vectors.ofAsync(questions.get(3), held);
    assertTrue(later.isDone(), "remembered: no drain needed");
    assertEquals(1, drains.size());
  }

  /**
   * With the int8 MiniLM, whose vectors move with the texts run beside them, logged questions still go out together
   * (a log can bear that noise): one run for 20 questions, each vector close to its text's own.
   */
  @Test void int8QuestionsAreEmbeddedTogetherAllowingItsBatchNoise() {
    MiniLmEmbedder int8 = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.INT8);
    AtomicInteger together = new AtomicInteger();
    Embedder watched = new Embedder() {
      @Override public String model() { return int8.model(); }
      @Override public int dimension() { return int8.dimension(); }
      @Override public Result embedWithUsage(List<String> t) { return int8.embedWithUsage(t); }
      @Override public float[][] embedAllowingBatchNoise(List<String> t) {
        together.incrementAndGet();
        return int8.embedAllowingBatchNoise(t);
      }
      @Override public void close() {}
    };
    QuestionVectors vectors = new QuestionVectors(watched, 100);
    List<Runnable> drains = new ArrayList<>();
    List<String> questions = new ArrayList<>();
    List<CompletableFuture<float[]>> futures = new ArrayList<>();
    for (int i = 0; i < 20; i++) questions.add("Why does question " + i + " need an answer about " + (i * 3) + "?");
    for (String q : questions) futures.add(vectors.ofAsync(q, drains::add));
    drains.get(0).run();
    assertEquals(1, together.get());
    for (int i = 0; i < questions.size(); i++) {
      float c = Embedder.cosine(int8.embed(questions.get(i)), futures.get(i).join());
      assertTrue(c > 0.97f, "cosine " + c + " for " + questions.get(i));
    }
  }

  /** A drain the executor refuses fails the waiting questions, and the next question starts a new drain. */
  @Test void aRefusedDrainFailsTheWaitingAndTheNextStartsAgain() throws Exception {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 10);
    CompletableFuture<float[]> refused = vectors.ofAsync("anyone there?", r -> {
      throw new RejectedExecutionException("closed");
    });
    ExecutionException e = assertThrows(ExecutionException.class, () -> refused.get(0, TimeUnit.SECONDS));
    assertTrue(e.getCause() instanceof RejectedExecutionException, e.toString());
    float[] v = vectors.ofAsync("anyone there?", Runnable::run).get(0, TimeUnit.SECONDS);
    assertEquals(embedder.real.dimension(), v.length);
    assertEquals(1, embedder.texts.get());
  }
}
