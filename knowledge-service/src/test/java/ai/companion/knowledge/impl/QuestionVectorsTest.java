package ai.companion.knowledge.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.api.spi.Embedder;
import ai.companion.embeddings.MiniLmEmbedder;
import java.util.List;
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

  @Test void repeatsAreRememberedAndTheLeastRecentLeavesFirst() {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 2);
    String a = "How do I reset my password?";
    String b = "What is the refund policy?";
    String c = "Where is the office?";
    float[] va = vectors.of(a);
    assertArrayEquals(embedder.real.embed(a), va, 1e-6f, "the vector embedding gives");
    assertEquals(1, embedder.texts.get());
    assertArrayEquals(va, vectors.of(a));
    assertEquals(1, embedder.texts.get(), "a repeat is not embedded again");
    vectors.of(b);
    vectors.of(a);                 // a is now the most recent, b the least
    vectors.of(c);                 // evicts b
    assertEquals(3, embedder.texts.get());
    vectors.of(a);
    assertEquals(3, embedder.texts.get(), "a stayed");
    assertArrayEquals(embedder.real.embed(b), vectors.of(b), 1e-6f);
    assertEquals(4, embedder.texts.get(), "b had left and was embedded again");
    assertEquals(2, vectors.size());
    assertEquals(3, vectors.hits());
    assertEquals(4, vectors.misses());
    // a different text, even by a space, is another question
    vectors.of(a + " ");
    assertEquals(5, embedder.texts.get());
  }

  @Test void capacityZeroRemembersNothing() {
    Counting embedder = new Counting();
    QuestionVectors vectors = new QuestionVectors(embedder, 0);
    vectors.of("same");
    vectors.of("same");
    assertEquals(2, embedder.texts.get());
    assertEquals(0, vectors.size());
  }
}
