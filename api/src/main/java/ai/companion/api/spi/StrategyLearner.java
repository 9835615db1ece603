package ai.companion.api.spi;

import java.util.List;

/**
 * Learns, per question pattern, which strategy pays off. Implementations persist what they learn.
 * Called on the router's event loop; must not block.
 */
public interface StrategyLearner {

  /** Picks one of {@code arms} for {@code pattern}; the reason is shown in the explanation. */
  Pick choose(String pattern, List<String> arms);

  record Pick(String arm, String reason) {}
}
