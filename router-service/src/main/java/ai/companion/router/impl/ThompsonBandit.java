package ai.companion.router.impl;

import ai.companion.api.spi.StrategyLearner;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Thompson sampling over strategies, one Beta posterior per (question pattern, strategy). A reward r in
 * [0, 1] with weight w adds w·r successes and w·(1 − r) failures, so a thumbs-up counts fully and a cheap
 * signal (finished before the token limit, retrieval score) counts a fraction. The state is rebuilt at start
 * by replaying the durable {@link DecisionLog}.
 *
 * <p>Not thread-safe: used from the router verticle's event loop (and by replay before that).
 */
public final class ThompsonBandit implements StrategyLearner {

  private final Map<String, Map<String, double[]>> evidence = new HashMap<>();
  private final Random random;

  public ThompsonBandit(long seed) {
    this.random = seed == 0 ? new Random() : new Random(seed);
  }

  @Override
  public Pick choose(String pattern, List<String> arms, Map<String, double[]> priors) {
    if (arms.isEmpty()) throw new IllegalArgumentException("no strategy to choose from");
    if (arms.size() == 1) return new Pick(arms.get(0), "strategy " + arms.get(0) + " (the only one allowed)");
    Map<String, double[]> ev = evidence.getOrDefault(pattern, Map.of());
    String best = null;
    double bestDraw = -1;
    List<String> parts = new ArrayList<>();
    for (String arm : arms) {
      double[] prior = priors == null ? null : priors.get(arm);
      double[] e = ev.get(arm);
      double a = (prior == null ? 1 : prior[0]) + (e == null ? 0 : e[0]);
      double b = (prior == null ? 1 : prior[1]) + (e == null ? 0 : e[1]);
      double draw = beta(a, b);
      parts.add(String.format(Locale.ROOT, "%s %.2f (mean %.2f, n=%.1f)", arm, draw, a / (a + b),
          e == null ? 0 : e[0] + e[1]));
      if (draw > bestDraw) {
        bestDraw = draw;
        best = arm;
      }
    }
    return new Pick(best, "strategy " + best + " by Thompson sampling on pattern '" + pattern + "': "
        + String.join(", ", parts));
  }

  /** Adds a reward in [0, 1] with a weight > 0 to (pattern, arm). */
  public void reward(String pattern, String arm, double reward, double weight) {
    double r = Math.max(0, Math.min(1, reward));
    double[] e = evidence.computeIfAbsent(pattern, k -> new HashMap<>()).computeIfAbsent(arm, k -> new double[2]);
    e[0] += weight * r;
    e[1] += weight * (1 - r);
  }

  /** All evidence: pattern to arm to {successes, failures} (copies). */
  public Map<String, Map<String, double[]>> snapshot() {
    Map<String, Map<String, double[]>> out = new HashMap<>();
    evidence.forEach((p, arms) -> {
      Map<String, double[]> m = new HashMap<>();
      arms.forEach((a, e) -> m.put(a, e.clone()));
      out.put(p, m);
    });
    return out;
  }

  /** Evidence so far for (pattern, arm): {successes, failures}, both 0 when none. */
  public double[] evidence(String pattern, String arm) {
    double[] e = evidence.getOrDefault(pattern, Map.of()).get(arm);
    return e == null ? new double[2] : e.clone();
  }

  // Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)
  private double beta(double a, double b) {
    double x = gamma(a);
    double y = gamma(b);
    return x / (x + y);
  }

  // Marsaglia and Tsang (2000); shape < 1 through the boost Gamma(a) = Gamma(a + 1) · U^(1/a)
  private double gamma(double shape) {
    if (shape < 1) return gamma(shape + 1) * Math.pow(random.nextDouble(), 1 / shape);
    double d = shape - 1.0 / 3;
    double c = 1 / Math.sqrt(9 * d);
    while (true) {
      double x = random.nextGaussian();
      double v = 1 + c * x;
      if (v <= 0) continue;
      v = v * v * v;
      double u = random.nextDouble();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }
}
