package ai.companion.bench.impl;

import java.util.Arrays;
import java.util.Collection;
import java.util.Locale;

/** Small statistics over measured values. */
public final class Stats {
  private Stats() {}

  /** The p-th percentile (0..100) by nearest rank; NaN for no values. */
  public static double percentile(Collection<Double> values, double p) {
    double[] a = values.stream().mapToDouble(Double::doubleValue).filter(d -> !Double.isNaN(d)).toArray();
    if (a.length == 0) return Double.NaN;
    Arrays.sort(a);
    int rank = (int) Math.ceil(p / 100.0 * a.length);
    return a[Math.max(0, Math.min(a.length - 1, rank - 1))];
  }

  public static double median(Collection<Double> values) {
    return percentile(values, 50);
  }

  public static String f1(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f", v);
  }

  public static String f2(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.2f", v);
  }

  public static String f0(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.0f", v);
  }

  /** "1.23x", or n/a when either side is missing. */
  public static String ratio(double a, double b) {
    if (Double.isNaN(a) || Double.isNaN(b) || b == 0) return "n/a";
    return String.format(Locale.ROOT, "%.2fx", a / b);
  }
}
