package ai.companion.router.impl;

import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A hashed bag of words: content words (lower case, no stopwords) hashed into {@link #DIM} buckets,
 * weighted 1 + log(tf) and scaled to unit length. The router's domain fallback when the embedding service
 * cannot answer in time; computing one takes microseconds.
 */
public final class LexicalVector {

  public static final int DIM = 2048;

  private static final Set<String> STOP = Set.of("the", "a", "an", "and", "or", "of", "to", "in", "on", "at",
      "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "with", "for", "as", "by", "from",
      "me", "my", "you", "your", "i", "he", "she", "they", "them", "his", "her", "we", "our", "do", "does",
      "did", "can", "could", "would", "should", "will", "about", "what", "how", "who", "why", "when", "where",
      "which", "there", "then", "than", "so", "but", "not", "no", "yes", "into", "out", "up", "down", "have",
      "has", "had", "please", "tell", "write", "give", "make", "some", "any", "all", "one", "very");

  private LexicalVector() {}

  public static float[] of(String text) {
    float[] v = new float[DIM];
    addCounts(text, v);
    for (int i = 0; i < DIM; i++) if (v[i] > 0) v[i] = (float) (1 + Math.log(v[i]));
    normalize(v);
    return v;
  }

  /** The unit-length mean of the texts' vectors. */
  public static float[] centroid(List<String> texts) {
    float[] c = new float[DIM];
    for (String t : texts) {
      float[] v = of(t);
      for (int i = 0; i < DIM; i++) c[i] += v[i];
    }
    normalize(c);
    return c;
  }

  private static void addCounts(String text, float[] v) {
    String lower = text.toLowerCase(Locale.ROOT);
    int start = -1;
    for (int i = 0; i <= lower.length(); i++) {
      boolean letter = i < lower.length() && Character.isLetterOrDigit(lower.charAt(i));
      if (letter && start < 0) start = i;
      if (!letter && start >= 0) {
        String w = lower.substring(start, i);
        start = -1;
        if (w.length() < 2 || STOP.contains(w)) continue;
        v[bucket(stem(w))] += 1;
      }
    }
  }

  // a crude plural/verb-ending strip so that "dreams"/"dreaming"/"dream" share a bucket
  private static String stem(String w) {
    if (w.length() > 5 && w.endsWith("ing")) return w.substring(0, w.length() - 3);
    if (w.length() > 4 && w.endsWith("ed")) return w.substring(0, w.length() - 2);
    if (w.length() > 3 && w.endsWith("s") && !w.endsWith("ss")) return w.substring(0, w.length() - 1);
    return w;
  }

  private static int bucket(String w) {
    int h = w.hashCode() * 0x9E3779B1;
    return (h ^ (h >>> 15)) & (DIM - 1);
  }

  static void normalize(float[] v) {
    double n = 0;
    for (float f : v) n += f * f;
    if (n == 0) return;
    float inv = (float) (1 / Math.sqrt(n));
    for (int i = 0; i < v.length; i++) v[i] *= inv;
  }

  /** Dot product; the cosine for unit vectors. 0 when either is null or the lengths differ. */
  public static double dot(float[] a, float[] b) {
    if (a == null || b == null || a.length != b.length) return 0;
    double d = 0;
    for (int i = 0; i < a.length; i++) d += a[i] * b[i];
    return d;
  }
}
