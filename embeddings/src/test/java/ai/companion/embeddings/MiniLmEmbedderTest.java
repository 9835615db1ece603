package ai.companion.embeddings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.spi.Embedder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real model from the Maven jars, fp32 and int8. */
class MiniLmEmbedderTest {
  private static MiniLmEmbedder fp32;
  private static MiniLmEmbedder int8;

  @BeforeAll
  static void load() {
    fp32 = MiniLmEmbedder.load(MiniLmEmbedder.Variant.FP32);
    int8 = MiniLmEmbedder.load(MiniLmEmbedder.Variant.INT8);
  }

  @AfterAll
  static void close() {
    fp32.close();
    int8.close();
  }

  private static final List<String> SENTENCES = List.of(
      "A man is eating food.",
      "A man is eating a piece of bread.",
      "A man is riding a horse.",
      "The new movie is awesome, I loved every minute of it.",
      "Ingest documents with ./companion ingest, then search them over HTTP.",
      "hello world");

  @Test
  void vectorsAreUnitLengthWith384Dims() {
    float[][] v = fp32.embed(SENTENCES);
    assertEquals(SENTENCES.size(), v.length);
    for (float[] row : v) {
      assertEquals(384, row.length);
      double n = 0;
      for (float f : row) n += f * f;
      assertEquals(1.0, Math.sqrt(n), 1e-5);
    }
  }

  /**
   * Published reference: fastembed's canonical values for sentence-transformers/all-MiniLM-L6-v2 on "hello world"
   * (qdrant/fastembed tests/test_text_onnx_embeddings.py, CANONICAL_VECTOR_VALUES, checked there with atol 1e-3).
   */
  @Test
  void matchesPublishedReferenceForHelloWorld() {
    float[] v = fp32.embed("hello world");
    float[] expected = {-0.034478f, 0.03102f, 0.00673f, 0.02611f, -0.039362f};
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], v[i], 1e-3, "component " + i);
    }
  }

  @Test
  void batchEqualsOneByOne() {
    assertBatchEqualsOneByOne(fp32);
  }

  /** int8 quantises each run's activations with one scale: run together, texts would shift each other's vectors. */
  @Test
  void int8BatchEqualsOneByOne() {
    assertBatchEqualsOneByOne(int8);
  }

  /** Where batch noise is allowed, int8 runs texts together: close to their own vectors, not equal; fp32 equal. */
  @Test
  void batchNoiseIsInt8sOnlyAndSmall() {
    float[][] together = int8.embedAllowingBatchNoise(SENTENCES);
    float[][] exact = fp32.embedAllowingBatchNoise(SENTENCES);
    double least = 1;
    for (int i = 0; i < SENTENCES.size(); i++) {
      float[] own = int8.embed(SENTENCES.get(i));
      float c = Embedder.cosine(own, together[i]);
      assertTrue(c > 0.97f, "int8 together vs alone " + c + " for " + SENTENCES.get(i));
      least = Math.min(least, c);
      assertEquals(1.0, Embedder.cosine(fp32.embed(SENTENCES.get(i)), exact[i]), 1e-5);
    }
    assertTrue(least < 0.9999, "int8 ran the texts together (least cosine " + least + ")");
  }

  private static void assertBatchEqualsOneByOne(MiniLmEmbedder embedder) {
    float[][] batch = embedder.embed(SENTENCES);   // different lengths, so a batch would pad
    for (int i = 0; i < SENTENCES.size(); i++) {
      float[] single = embedder.embed(SENTENCES.get(i));
      for (int d = 0; d < 384; d++) {
        assertEquals(single[d], batch[i][d], 1e-5, "sentence " + i + " dim " + d);
      }
    }
  }

  @Test
  void batchLargerThanOneOrtRunKeepsOrder() {
    List<String> many = new ArrayList<>();
    for (int i = 0; i < MiniLmEmbedder.DEFAULT_MAX_BATCH + 5; i++) many.add(SENTENCES.get(i % SENTENCES.size()));
    float[][] v = fp32.embed(many);
    float[][] base = fp32.embed(SENTENCES);
    for (int i = 0; i < many.size(); i++) {
      assertEquals(1.0, Embedder.cosine(v[i], base[i % SENTENCES.size()]), 1e-5, "item " + i);
    }
  }

  @Test
  void semanticallyCloserSentencesScoreHigher() {
    assertCloser("A man is eating food.", "A man is eating a piece of bread.", "A man is riding a horse.");
    assertCloser("A woman is playing violin.", "A woman plays the violin on stage.", "A man is eating food.");
    assertCloser("How do I import a model?", "Use ./companion model import to convert a checkpoint.",
        "The weather is sunny and warm today.");
    assertCloser("The cat sits outside", "The cat plays in the garden", "The new movie is awesome");
  }

  private static void assertCloser(String anchor, String near, String far) {
    float[][] v = fp32.embed(List.of(anchor, near, far));
    float cn = Embedder.cosine(v[0], v[1]);
    float cf = Embedder.cosine(v[0], v[2]);
    assertTrue(cn > cf + 0.1f, "cos(" + anchor + ", " + near + ")=" + cn + " should beat " + far + " " + cf);
  }

  @Test
  void int8AgreesWithFp32() {
    float[][] a = fp32.embed(SENTENCES);
    float[][] b = int8.embed(SENTENCES);
    for (int i = 0; i < SENTENCES.size(); i++) {
      float c = Embedder.cosine(a[i], b[i]);
      assertTrue(c > 0.95f, "int8 vs fp32 cosine " + c + " for " + SENTENCES.get(i));
    }
  }

  @Test
  void longTextIsTruncatedTo256Tokens() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 400; i++) sb.append("word").append(i % 10).append(' ');
    String longText = sb.toString();
    assertEquals(256, fp32.countTokens(longText));
    // what lies past the cut changes nothing
    float[] a = fp32.embed(longText);
    float[] b = fp32.embed(longText + " completely different tail about horses and violins");
    assertEquals(1.0, Embedder.cosine(a, b), 1e-6);
    Embedder.Result r = fp32.embedWithUsage(List.of(longText, "hello world"));
    assertEquals(256 + 4, r.promptTokens());   // [CLS] hello world [SEP]
  }

  @Test
  void theSharedInstanceLeavesHalfTheCoresToTheRestOfTheNode() {
    assertEquals(1, MiniLmEmbedder.sharedThreads(1));
    assertEquals(1, MiniLmEmbedder.sharedThreads(2));
    assertEquals(2, MiniLmEmbedder.sharedThreads(5));
    assertEquals(4, MiniLmEmbedder.sharedThreads(8));
  }
}
