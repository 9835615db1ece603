package ai.companion.testing;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/**
 * The house rule for anything a test needs from outside the repository (node, npm packages, chromium, the model
 * fixtures): where env {@code CI=true} its absence FAILS the test, elsewhere the test is skipped.
 */
public final class ExternalTools {
  private ExternalTools() {}

  /** Whether env {@code CI} is {@code true} (any case). */
  public static boolean ci() {
    return "true".equalsIgnoreCase(System.getenv("CI"));
  }

  /**
   * Fails (CI=true) or skips (elsewhere) the running test when {@code missing} is not null; returns otherwise.
   *
   * @param missing what is missing, e.g. "node (Node.js 20+)", or null when everything is there
   */
  public static void require(String missing) {
    if (missing == null) return;
    if (ci()) fail("missing " + missing + " (CI=true)");
    Assumptions.abort("missing " + missing);
  }
}
