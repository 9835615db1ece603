package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.SamplingParams;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static final int V = 64;
  private final Sampler.Scratch scratch = new Sampler.Scratch(V);

  private static float[] logits(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] l = new float[V];
    for (int i = 0; i < V; i++) l[i] = (float) (r.nextGaussian() * 2);
    return l;
  }

  private static SamplingParams params(double t, double topP, int topK, Long seed, double penalty) {
    return new SamplingParams(t, topP, topK, seed, null, List.of(), penalty);
  }

  @Test void temperatureZeroIsArgmax() {
    float[] l = logits(1);
    int best = 0;
    for (int i = 1; i < V; i++) if (l[i] > l[best]) best = i;
    assertEquals(best, new Sampler(SamplingParams.GREEDY, 5).sample(l.clone(), 0, V, null, scratch));
    assertEquals(best, new Sampler(params(1.0, 1.0, 1, 7L, 1), 7).sample(l.clone(), 0, V, null, scratch));
  }

  @Test void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
    float[] l = new float[V];
    l[3] = 2.0f;
    l[4] = 1.5f;
    l[5] = -1.0f;
    boolean[] seen = new boolean[V];
    seen[3] = true;
    seen[5] = true;
    float[] copy = l.clone();
    // penalty 2: token 3 drops to 1.0 < 1.5, so greedy picks 4
    assertEquals(4, new Sampler(params(0, 1, 0, null, 2.0), 1).sample(copy, 0, V, seen, scratch));
    assertEquals(1.0f, copy[3]);
    assertEquals(-2.0f, copy[5]);
    assertEquals(3, new Sampler(SamplingParams.GREEDY, 1).sample(l.clone(), 0, V, seen, scratch));
  }

  @Test void sameSeedSameDrawsOtherSeedOtherDraws() {
    SamplingParams p = params(1.0, 0.95, 0, 42L, 1);
    int[] a = draws(new Sampler(p, 42));
    int[] b = draws(new Sampler(p, 42));
    int[] c = draws(new Sampler(p, 43));
    assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
    assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
  }

  private int[] draws(Sampler s) {
    int[] out = new int[50];
    for (int i = 0; i < out.length; i++) out[i] = s.sample(logits(i), 0, V, null, scratch);
    return out;
  }

  @Test void topKKeepsOnlyTheKBest() {
    float[] l = logits(3);
    Integer[] order = new Integer[V];
    for (int i = 0; i < V; i++) order[i] = i;
    java.util.Arrays.sort(order, (x, y) -> Float.compare(l[y], l[x]));
    java.util.Set<Integer> top3 = java.util.Set.of(order[0], order[1], order[2]);
    Sampler s = new Sampler(params(5.0, 1.0, 3, 1L, 1), 1);
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    for (int i = 0; i < 500; i++) seen.add(s.sample(l.clone(), 0, V, null, scratch));
    assertEquals(top3, seen);
  }

  @Test void topPKeepsTheNucleus() {
    float[] l = new float[V];
    java.util.Arrays.fill(l, -10f);
    l[7] = 5f;       // ~0.73 of the mass
    l[8] = 4f;       // ~0.27
    Sampler s = new Sampler(params(1.0, 0.5, 0, 9L, 1), 9);
    for (int i = 0; i < 200; i++) assertEquals(7, s.sample(l.clone(), 0, V, null, scratch));
    Sampler wide = new Sampler(params(1.0, 0.99, 0, 9L, 1), 9);
    java.util.Set<Integer> seen = new java.util.HashSet<>();
    for (int i = 0; i < 400; i++) seen.add(wide.sample(l.clone(), 0, V, null, scratch));
    assertEquals(java.util.Set.of(7, 8), seen);
  }

  @Test void floatNoiseThatSwapsNearTiesDoesNotChangeTheDraw() {
    // two rows as a batched and a lone decode give them: equal but for ~1e-5 of float noise, which swaps the
    // order of two near-equal tokens; the same seed must draw the same token from both
    SplittableRandom r = new SplittableRandom(3);
    float[] a = new float[V];
    for (int i = 0; i < V; i++) a[i] = (float) (r.nextGaussian() * 0.5);
    a[10] = 2.0f;
    a[20] = 2.0f + 1e-5f;
    float[] b = a.clone();
    b[20] = 2.0f - 1e-5f;
    int differ = 0;
    for (long seed = 0; seed < 2000; seed++) {
      for (SamplingParams p : List.of(params(1.0, 0.9, 0, seed, 1), params(1.0, 1.0, 8, seed, 1))) {
        int x = new Sampler(p, seed).sample(a.clone(), 0, V, null, scratch);
        int y = new Sampler(p, seed).sample(b.clone(), 0, V, null, scratch);
        if (x != y) differ++;
      }
    }
    assertEquals(0, differ, "draws that differed between the two rows");
  }

  @Test void plainSamplingFollowsTheDistribution() {
    float[] l = new float[V];
    java.util.Arrays.fill(l, Float.NEGATIVE_INFINITY);
    l[1] = 0f;
    l[2] = (float) Math.log(3);   // three times as likely as 1
    Sampler s = new Sampler(params(1.0, 1.0, 0, 11L, 1), 11);
    int twos = 0;
    for (int i = 0; i < 4000; i++) if (s.sample(l.clone(), 0, V, null, scratch) == 2) twos++;
    assertTrue(twos > 2800 && twos < 3200, "token 2 drawn " + twos + " of 4000");
  }

  /** The hot path allocates nothing per token: every kind of draw reuses the decode thread's scratch arrays. */
  @Test void aDrawAllocatesNothing() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    float[] l = logits(5);
    float[] row = new float[V];
    boolean[] seen = new boolean[V];
    seen[7] = true;
    for (SamplingParams p : List.of(params(0.8, 0.9, 0, 1L, 1), params(0.8, 1.0, 8, 1L, 1),
        params(0.8, 0.95, 16, 1L, 1.1), params(0.8, 1.0, 0, 1L, 1), params(0, 1, 0, null, 1.1))) {
      Sampler s = new Sampler(p, 1);
      for (int i = 0; i < 2000; i++) {   // past the interpreter and class loading
        System.arraycopy(l, 0, row, 0, V);
        s.sample(row, 0, V, seen, scratch);
      }
      long before = threads.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < 10_000; i++) {
        System.arraycopy(l, 0, row, 0, V);
        s.sample(row, 0, V, seen, scratch);
      }
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      // the measuring call itself may take a few bytes; one array a draw would be 10,000 x (16 + 8 n) bytes
      assertTrue(allocated < 10_000, p + ": " + allocated + " bytes over 10,000 draws");
    }
  }
}
