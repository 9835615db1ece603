package ai.companion.knowledge.impl;

import ai.companion.api.spi.Embedder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The embeddings of recently logged questions, by their exact text.
 *
 * <p>Every finished generation logs its question, and embedding it was most of a default node's CPU per request
 * (about 4.7 ms of MiniLM for a short question, against 2.5 ms for routing, decoding and streaming its answer).
 * Questions repeat (that is what the patterns are about): a repeat gets the vector its text got before, which is
 * what embedding it again would give. Least recently asked questions leave first; a vector is shared, never
 * modified.
 *
 * <p>Questions not remembered are embedded together: {@link #ofAsync} queues them, and one drain at a time
 * embeds up to {@link #MAX_BATCH} in one run (32 distinct short questions cost 1.3-1.6 ms each that way, 2.5-2.8
 * ms one at a time, with fp32). A batch's vector of a text differs from that text's lone vector by float rounding
 * (fp32) or by the int8 model's batch noise ({@link Embedder#embedAllowingBatchNoise}; it moves a similarity by up
 * to about 0.03, and patterns and gaps are statistics over many questions); whichever came first is remembered.
 *
 * <p>Thread-safe; the drains block while they embed (run them on worker threads).
 */
public final class QuestionVectors {
  /** Questions remembered (384 floats each: about 1.5 KB). */
  public static final int DEFAULT_CAPACITY = 4096;
  /** Questions embedded in one run at most. */
  public static final int MAX_BATCH = 32;

  private final Embedder embedder;
  private final int capacity;
  private final Map<String, float[]> recent;
  private long hits;
  private long misses;
  private long batches;
  private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
  private boolean draining;

  private record Waiting(String question, CompletableFuture<float[]> vector) {}

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

  /**
   * The question's unit vector: a remembered one at once; else queued, and embedded in batches on
   * {@code executor} (one drain at a time; it runs while questions wait), then remembered.
   */
  public CompletableFuture<float[]> ofAsync(String question, Executor executor) {
    CompletableFuture<float[]> f;
    synchronized (this) {
      float[] v = recent.get(question);
      if (v != null) {
        hits++;
        return CompletableFuture.completedFuture(v);
      }
      misses++;
      f = new CompletableFuture<>();
      waiting.add(new Waiting(question, f));
      if (draining) return f;
      draining = true;
    }
    try {
      executor.execute(this::drain);
    } catch (RuntimeException e) {
      failWaiting(e);
    }
    return f;
  }

  /**
   * Remembers a question's vector that was embedded elsewhere (a search or an answer of the same text), so that
   * logging the question afterwards does not embed it again.
   */
  public void remember(String question, float[] vector) {
    if (capacity == 0 || question == null || vector == null) return;
    synchronized (this) {
      recent.put(question, vector);
    }
  }

  /** Fails every queued question (the executor refused the drain, e.g. while shutting down). */
  public void failWaiting(Throwable cause) {
    List<Waiting> failed;
    synchronized (this) {
      failed = new ArrayList<>(waiting);
      waiting.clear();
      draining = false;
    }
    for (Waiting w : failed) w.vector().completeExceptionally(cause);
  }

  private void drain() {
    while (true) {
      Map<String, List<CompletableFuture<float[]>>> batch = new LinkedHashMap<>();
      synchronized (this) {
        while (!waiting.isEmpty() && batch.size() < MAX_BATCH) {
          Waiting w = waiting.poll();
          float[] known = recent.get(w.question());   // embedded by an earlier batch meanwhile
          if (known != null) {
            w.vector().complete(known);
          } else {
            batch.computeIfAbsent(w.question(), q -> new ArrayList<>()).add(w.vector());
          }
        }
        if (batch.isEmpty()) {
          draining = false;
          return;
        }
        batches++;
      }
      List<String> texts = new ArrayList<>(batch.keySet());
      float[][] vs;
      try {
        vs = embedder.embedAllowingBatchNoise(texts);
      } catch (RuntimeException e) {
        for (List<CompletableFuture<float[]>> fs : batch.values()) fs.forEach(f -> f.completeExceptionally(e));
        continue;
      }
      if (capacity > 0) {
        synchronized (this) {
          for (int i = 0; i < texts.size(); i++) recent.put(texts.get(i), vs[i]);
        }
      }
      for (int i = 0; i < texts.size(); i++) {
        for (CompletableFuture<float[]> f : batch.get(texts.get(i))) f.complete(vs[i]);
      }
    }
  }

  /** Embedding runs made by {@link #ofAsync} drains. */
  public synchronized long batches() { return batches; }

  public synchronized long hits() { return hits; }

  public synchronized long misses() { return misses; }

  public synchronized int size() { return recent.size(); }
}
