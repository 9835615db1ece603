package ai.companion.knowledge.impl;

import ai.companion.api.spi.Embedder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The embeddings of recently logged questions, by their exact text.
 *
 * <p>Every finished generation logs its question, and embedding it was most of a default node's CPU per request
 * (about 4.7 ms of MiniLM for a short question, against 2.5 ms for routing, decoding and streaming its answer).
 * Questions repeat (that is what the patterns are about): a repeat gets the vector its text got before, which is
 * what embedding it again would give. Least recently asked questions leave first; a vector is shared, never
 * modified.
 *
 * <p>Thread-safe; {@link #of} blocks while it embeds (worker threads only).
 */
public final class QuestionVectors {
  /** Questions remembered (384 floats each: about 1.5 KB). */
  public static final int DEFAULT_CAPACITY = 4096;

  private final Embedder embedder;
  private final int capacity;
  private final Map<String, float[]> recent;
  private long hits;
  private long misses;

  public QuestionVectors(Embedder embedder, int capacity) {
    if (capacity < 0) throw new IllegalArgumentException("capacity must be >= 0, got " + capacity);
    this.embedder = embedder;
    this.capacity = capacity;
    this.recent = new LinkedHashMap<>(Math.min(capacity, 1024), 0.75f, true) {
      @Override protected boolean removeEldestEntry(Map.Entry<String, float[]> eldest) {
        return size() > QuestionVectors.this.capacity;
      }
    };
  }

  /** The question's unit vector: remembered, or embedded now (outside the lock) and remembered. */
  public float[] of(String question) {
    synchronized (this) {
      float[] v = recent.get(question);
      if (v != null) {
        hits++;
        return v;
      }
      misses++;
    }
    float[] v = embedder.embed(question);
    if (capacity > 0) {
      synchronized (this) {
        recent.put(question, v);
      }
    }
    return v;
  }

  public synchronized long hits() { return hits; }

  public synchronized long misses() { return misses; }

  public synchronized int size() { return recent.size(); }
}
