package ai.companion.worker.impl;

import ai.companion.api.SamplingParams;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits: repetition penalty (CTRL: a positive logit of a token already in
 * the sequence is divided by the penalty, a negative one multiplied), then argmax when the temperature is 0,
 * else temperature, top-k, top-p (nucleus) and a draw from a seeded {@link SplittableRandom}.
 *
 * <p>Repeatability: one random stream per sequence, seeded from the request alone, so the same request with the
 * same seed on the same logits draws the same tokens whatever else runs. A row decoded inside a batch is not
 * bitwise the row decoded alone (padding and batch shape change ONNX Runtime's float rounding; measured up to
 * 2.4e-5 in a logit on stories260K). Such noise cannot change which token a draw picks except when the draw lands
 * within that noise of an interval edge or a token sits at that distance from the top-k/top-p cut, a chance of
 * the order of the noise itself per token: the kept tokens are drawn in token-id order, so a swap of two
 * near-equal probabilities in the sort changes nothing. Bitwise-equal text across batch shapes would need
 * batch-invariant kernels; rounding logits to a quantum would not give it (noise still flips values that sit
 * near a rounding edge, by a whole quantum).
 *
 * <p>One per sequence (it owns the random stream); the scratch arrays belong to the decode thread and are shared
 * by every sequence it steps, so a sequence costs no vocabulary-sized memory of its own.
 */
public final class Sampler {

  /** Vocabulary-sized work arrays, reused across tokens and sequences by one decode thread. */
  public static final class Scratch {
    final float[] values;
    final int[] index;
    final long[] packed;    // (probability, id) pairs for the sort of top-k / top-p candidates

    public Scratch(int vocab) {
      values = new float[vocab];
      index = new int[vocab];
      packed = new long[vocab];
    }
  }

  private final SamplingParams params;
  private final SplittableRandom random;

  public Sampler(SamplingParams params, long seed) {
    this.params = params;
    this.random = new SplittableRandom(seed);
  }

  /**
   * @param logits holds the row at {@code [offset, offset + vocab)}; it is modified (penalty applied)
   * @param seen tokens already in the sequence (for the repetition penalty), may be null
   */
  public int sample(float[] logits, int offset, int vocab, boolean[] seen, Scratch scratch) {
    double penalty = params.repetitionPenalty();
    if (seen != null && penalty != 1.0) {
      for (int t = 0; t < vocab; t++) {
        if (!seen[t]) continue;
        float l = logits[offset + t];
        logits[offset + t] = (float) (l > 0 ? l / penalty : l * penalty);
      }
    }
    if (params.greedy()) return argmax(logits, offset, vocab);

    float[] p = scratch.values;
    int[] idx = scratch.index;
    float max = Float.NEGATIVE_INFINITY;
    // a comparison, not Math.max: C1, which runs a node's Java, calls Math.max(float, float) (its NaN rules) for
    // each logit; 16% of a 512-token row's sampling (docs/benchmarks.md, "Arrivals at a steady rate")
    for (int t = 0; t < vocab; t++) {
      float l = logits[offset + t];
      if (l > max) max = l;
    }
    double invT = 1.0 / params.temperature();
    double sum = 0;
    for (int t = 0; t < vocab; t++) {
      float e = (float) Math.exp((logits[offset + t] - max) * invT);
      p[t] = e;
      sum += e;
    }
    int topK = params.topK();
    double topP = params.topP();
    int n;
    if (topK > 0 && topK < vocab) {
      n = topKIndices(p, vocab, topK, idx, scratch.packed);
    } else if (topP < 1.0) {
      // llama2.c's shortcut: a token below (1 - p) / (n - 1) of the mass can never be in the nucleus
      double cutoff = (1.0 - topP) / (vocab - 1) * sum;
      n = 0;
      for (int t = 0; t < vocab; t++) if (p[t] >= cutoff) idx[n++] = t;
      sortByProbability(p, idx, n, scratch.packed);
    } else {
      return draw(p, vocab, sum);
    }
    double mass = 0;
    for (int i = 0; i < n; i++) mass += p[idx[i]];
    int keep = n;
    if (topP < 1.0) {
      double acc = 0;
      for (int i = 0; i < n; i++) {
        acc += p[idx[i]];
        if (acc >= topP * mass) { keep = i + 1; break; }
      }
    }
    // draw over the kept tokens in token-id order, not in probability order: logits that differ by float noise
    // (a row decoded in a batch vs alone, ~1e-5) can swap two near-equal probabilities in the sort, and with the
    // draw in sorted order that swap would move whole intervals and change the token for ~2p of all draws
    Arrays.sort(idx, 0, keep);
    mass = 0;
    for (int i = 0; i < keep; i++) mass += p[idx[i]];
    double r = random.nextDouble() * mass;
    double acc = 0;
    for (int i = 0; i < keep; i++) {
      acc += p[idx[i]];
      if (r < acc) return idx[i];
    }
    return idx[keep - 1];
  }

  static int argmax(float[] logits, int offset, int vocab) {
    int best = 0;
    float bestValue = logits[offset];
    for (int t = 1; t < vocab; t++) {
      if (logits[offset + t] > bestValue) { bestValue = logits[offset + t]; best = t; }
    }
    return best;
  }

  private int draw(float[] p, int vocab, double sum) {
    double r = random.nextDouble() * sum;
    double acc = 0;
    for (int t = 0; t < vocab; t++) {
      acc += p[t];
      if (r < acc) return t;
    }
    return vocab - 1;
  }

  /** The k most probable token ids into {@code idx[0, k)}, most probable first. */
  private static int topKIndices(float[] p, int vocab, int k, int[] idx, long[] packed) {
    // min-heap of size k on p, then sorted descending
    int size = 0;
    for (int t = 0; t < vocab; t++) {
      if (size < k) {
        idx[size] = t;
        siftUp(p, idx, size++);
      } else if (p[t] > p[idx[0]]) {
        idx[0] = t;
        siftDown(p, idx, 0, size);
      }
    }
    sortByProbability(p, idx, size, packed);
    return size;
  }

  private static void siftUp(float[] p, int[] h, int i) {
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (p[h[i]] >= p[h[parent]]) return;
      int tmp = h[i]; h[i] = h[parent]; h[parent] = tmp;
      i = parent;
    }
  }

  private static void siftDown(float[] p, int[] h, int i, int size) {
    while (true) {
      int l = 2 * i + 1;
      if (l >= size) return;
      int smallest = l + 1 < size && p[h[l + 1]] < p[h[l]] ? l + 1 : l;
      if (p[h[i]] <= p[h[smallest]]) return;
      int tmp = h[i]; h[i] = h[smallest]; h[smallest] = tmp;
      i = smallest;
    }
  }

  private static void sortByProbability(float[] p, int[] idx, int n, long[] packed) {
    // boxing-free sort: pack (probability, id) into longs; probabilities are non-negative floats, whose bits sort as ints
    for (int i = 0; i < n; i++) {
      packed[i] = ((long) Float.floatToIntBits(p[idx[i]]) << 32) | (idx[i] & 0xffffffffL);
    }
    Arrays.sort(packed, 0, n);
    for (int i = 0; i < n; i++) idx[i] = (int) packed[n - 1 - i];
  }
}
