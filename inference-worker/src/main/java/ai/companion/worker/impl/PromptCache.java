package ai.companion.worker.impl;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The keys and values of recent prompts of one model, kept after their prefills so that a later prompt that begins
 * with the same tokens copies them instead of running them again: the next turn of a chat (which sends the whole
 * conversation again), a system prompt or preamble that many requests begin with, a regenerated answer, a stream
 * resumed after a worker failed. A prompt of {@code n} tokens that finds its first {@code m} here runs only its last
 * {@code n - m}: its first token comes as much sooner as those {@code m} tokens took to prefill.
 *
 * <p>What a prompt can reuse is decided by tokens, not text: an entry serves every prompt that shares its first
 * tokens (the longest common beginning counts, not only a whole entry), since the keys and values at a position
 * depend on the tokens up to it and nothing after. Copied keys and values are those a prefill of the same tokens
 * computed; the new tokens then attend to them as a chunked prefill does, so the logits equal a whole prefill's within
 * float rounding and greedy decoding picks the same tokens (BatchingTest).
 *
 * <p>Bounded by bytes (least recently used first out) and by {@link #MAX_ENTRIES}; a prompt that extends an entry
 * (the next turn of its chat) replaces it. Shared by a model's decode lanes (each lane's prefills run on its own
 * thread), so every method is safe from any thread; the copies into and out of a lane's buffers happen outside the
 * lock (entries never change once stored).
 */
public final class PromptCache {
  /**
   * Prompt tokens below which neither storing nor reusing is worth it: a prefill run costs about as much as 10 prompt
   * tokens on its own (OnnxDecoder's RUN_COST_TOKENS), so a beginning shorter than this saves too little to pay for
   * a run of its own, and short prompts would crowd out the long ones that matter.
   */
  public static final int MIN_TOKENS = 16;
  /** Entries at most, whatever their size: a lookup compares the prompt with each one. */
  static final int MAX_ENTRIES = 1024;
  /** The default budget of a model's prompt cache (the worker's {@code promptCacheMb}). */
  public static final long DEFAULT_BYTES = 128L << 20;

  private final long capacityBytes;
  private final int tensors;
  private final int kvHeads;
  private final int headDim;
  private final long bytesPerToken;

  private final List<Entry> entries = new ArrayList<>();
  private long bytes;
  private long clock;
  private long hits;
  private long reusedTokens;
  private long stored;
  private long evicted;

  /** One prompt's first {@code tokens.length} positions: per cache tensor [kvHeads, length, headDim]. */
  private static final class Entry {
    final int[] tokens;
    final float[][] kv;
    long lastUse;

    Entry(int[] tokens, float[][] kv) {
      this.tokens = tokens;
      this.kv = kv;
    }
  }

  /**
   * @param capacityBytes the most bytes of keys and values kept (0: nothing is kept)
   * @param tensors cache tensors per position (2 x layers: a key and a value each)
   */
  public PromptCache(long capacityBytes, int tensors, int kvHeads, int headDim) {
    if (capacityBytes < 0) throw new IllegalArgumentException("capacityBytes must be >= 0, got " + capacityBytes);
    this.capacityBytes = capacityBytes;
    this.tensors = tensors;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.bytesPerToken = 4L * tensors * kvHeads * headDim;
  }

  /**
   * How many of {@code prompt}'s first tokens an entry holds now, at most {@code limit}; 0 when fewer than
   * {@link #MIN_TOKENS}. Copies nothing (the scheduler asks before it groups prompts).
   */
  public int covered(int[] prompt, int limit) {
    if (limit < MIN_TOKENS) return 0;
    synchronized (this) {
      Match m = longest(prompt, limit);
      return m == null ? 0 : m.tokens();
    }
  }

  /**
   * Copies the keys and values of {@code prompt}'s longest cached beginning, at most {@code limit} tokens, into row
   * {@code row} of cache buffers [rows, kvHeads, capacity, headDim], from position 0.
   *
   * @return the tokens copied: 0, or at least {@link #MIN_TOKENS}
   */
  int restore(int[] prompt, int limit, FloatBuffer[] data, int capacity, int row) {
    if (limit < MIN_TOKENS) return 0;
    Entry e;
    int m;
    synchronized (this) {
      Match match = longest(prompt, limit);
      if (match == null) return 0;
      e = match.entry();
      m = match.tokens();
      e.lastUse = ++clock;
      hits++;
      reusedTokens += m;
    }
    int len = e.tokens.length;
    for (int i = 0; i < tensors; i++) {
      for (int h = 0; h < kvHeads; h++) {
        data[i].put(((row * kvHeads + h) * capacity) * headDim, e.kv[i], h * len * headDim, m * headDim);
      }
    }
    return m;
  }

  /**
   * Keeps the keys and values of {@code prompt}'s first {@code length} tokens, read from row {@code row} of cache
   * buffers [rows, kvHeads, capacity, headDim]; nothing when shorter than {@link #MIN_TOKENS}, larger than the whole
   * budget, or already held by an entry.
   */
  void store(int[] prompt, int length, FloatBuffer[] data, int capacity, int row) {
    if (length < MIN_TOKENS || length * bytesPerToken > capacityBytes) return;
    synchronized (this) {
      Match held = longest(prompt, length);
      if (held != null && held.tokens() >= length) {
        held.entry().lastUse = ++clock;
        return;
      }
    }
    float[][] kv = new float[tensors][kvHeads * length * headDim];
    for (int i = 0; i < tensors; i++) {
      for (int h = 0; h < kvHeads; h++) {
        data[i].get(((row * kvHeads + h) * capacity) * headDim, kv[i], h * length * headDim, length * headDim);
      }
    }
    Entry fresh = new Entry(java.util.Arrays.copyOf(prompt, length), kv);
    synchronized (this) {
      // an entry this prompt begins with (the turn before, in a chat) is covered by the new one
      for (Iterator<Entry> it = entries.iterator(); it.hasNext(); ) {
        Entry e = it.next();
        if (common(e.tokens, prompt, length) == e.tokens.length) {
          it.remove();
          bytes -= size(e);
        }
      }
      fresh.lastUse = ++clock;
      entries.add(fresh);
      bytes += size(fresh);
      stored++;
      while (bytes > capacityBytes || entries.size() > MAX_ENTRIES) {
        Entry oldest = entries.get(0);
        for (Entry e : entries) if (e.lastUse < oldest.lastUse) oldest = e;
        entries.remove(oldest);
        bytes -= size(oldest);
        evicted++;
      }
    }
  }

  /** An entry and how many of a prompt's leading tokens it holds. */
  private record Match(Entry entry, int tokens) {}

  /**
   * The entry sharing the most leading tokens with {@code prompt} (counting at most {@code limit}) and how many, or
   * null when none shares {@link #MIN_TOKENS}.
   */
  private Match longest(int[] prompt, int limit) {
    Entry best = null;
    int bestLen = MIN_TOKENS - 1;
    for (Entry e : entries) {
      int c = common(e.tokens, prompt, limit);
      if (c > bestLen) {
        best = e;
        bestLen = c;
      }
    }
    return best == null ? null : new Match(best, bestLen);
  }

  /** Leading tokens {@code a} and {@code b} share, counting at most {@code limit}. */
  static int common(int[] a, int[] b, int limit) {
    int n = Math.min(limit, Math.min(a.length, b.length));
    int i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
  }

  private long size(Entry e) {
    return e.tokens.length * bytesPerToken;
  }

  public synchronized long capacityBytes() { return capacityBytes; }

  /** Bytes of keys and values held now. */
  public synchronized long bytes() { return bytes; }

  public synchronized int entries() { return entries.size(); }

  /** Prefills that copied a cached beginning. */
  public synchronized long hits() { return hits; }

  /** Prompt tokens those prefills copied instead of running. */
  public synchronized long reusedTokens() { return reusedTokens; }

  /** Entries stored since the model loaded. */
  public synchronized long stored() { return stored; }

  /** Entries dropped for room. */
  public synchronized long evicted() { return evicted; }
}
