package ai.companion.api.spi;

import java.util.List;
import java.util.Map;

/**
 * Learns, per question pattern, which strategy pays off. Implementations persist what they learn.
 * Called on the router's event loop; must not block.
 */
public interface StrategyLearner {

  /**
   * Picks one of {@code arms} for {@code pattern}; the reason is shown in the explanation.
   *
   * @param priors per arm, {@code [successes, failures]} assumed before any reward (absent: {@code [1, 1]})
   */
  Pick choose(String pattern, List<String> arms, Map<String, double[]> priors);

  record Pick(String arm, String reason) {}
}
