package ai.companion.api.spi;

import java.util.List;

/**
 * A sentence embedder: text in, one unit-length vector per text out.
 *
 * <p>Contract: {@link #embed(List)} blocks (it runs a neural network); call it from a worker thread or
 * {@code executeBlocking}, never from an event loop. Implementations are safe for concurrent calls. The
 * vectors are L2-normalised, so a dot product is the cosine similarity.
 */
public interface Embedder extends AutoCloseable {

  /** The model name users see, e.g. {@code all-MiniLM-L6-v2}. */
  String model();

  /**
   * What names these vectors: two embedders with the same id give the same vector for a text, so vectors stored
   * under one may be compared with another's. Variants of one model (fp32, int8) differ here, not in
   * {@link #model()}.
   */
  default String id() {
    return model();
  }

  /** Length of every vector. */
  int dimension();

  /** One vector per text, in order, each of length {@link #dimension()} and unit L2 norm. */
  default float[][] embed(List<String> texts) {
    return embedWithUsage(texts).vectors();
  }

  /**
   * As {@link #embed(List)}, for work that counts or groups texts (logged questions) rather than stores or ranks
   * them: an embedder whose vector of a text depends on the texts run with it (the int8 MiniLM quantises a run's
   * activations with one scale) may run these together, so each vector may differ from its text's own by that
   * noise (cosine 0.98 or more for the int8 MiniLM). Embedders without such noise give exactly {@link #embed(List)}.
   */
  default float[][] embedAllowingBatchNoise(List<String> texts) {
    return embed(texts);
  }

  /** A single text. */
  default float[] embed(String text) {
    return embed(List.of(text))[0];
  }

  /** Vectors plus the number of tokens the model read (after truncation), for usage accounting. */
  Result embedWithUsage(List<String> texts);

  /** Releases native resources; a closed embedder must not be used again. */
  @Override
  void close();

  /** Vectors, in input order, and the tokens counted. */
  record Result(float[][] vectors, int promptTokens) {}

  /** Dot product of two unit vectors, i.e. their cosine similarity. */
  static float cosine(float[] a, float[] b) {
    if (a.length != b.length) throw new IllegalArgumentException("dimension mismatch " + a.length + " vs " + b.length);
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    return (float) (dot / Math.sqrt(na * nb));
  }
}
