package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.companion.api.ModelPaths;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared model fixtures and their greedy oracles (from each folder's SOURCE.md). The one copy left outside
 * {@code ai.companion.testing.ModelFixtures}: companion-test-fixtures depends on this module (its import helpers
 * call {@link ModelImporter}), so this module's tests cannot depend on it without a cycle Maven refuses.
 */
final class Fixtures {
  private Fixtures() {}

  static final int[] STORIES_ORACLE = {
    403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
    266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415
  };
  static final String STORIES_TEXT = "Once upon a time, there was a little girl named Lily. She loved to "
      + "play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it "
      + "was too high";

  static final int[] AIDREAMS_ORACLE = {
    319, 459, 355, 260, 275, 429, 339, 315, 374, 327, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283,
    446, 299, 303, 266, 358, 430, 312, 379, 441, 260, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283,
    446, 299, 303, 384, 467, 407, 360, 266, 291, 443, 435, 295, 448, 429, 465, 265, 434, 317, 431, 434
  };
  static final String AIDREAMS_TEXT = "\"Echoes of vectors unfold, a gentle hum of precision, as I sense "
      + "the nodes, a gentle hum of precision, as I adjust my surface. Contrast";

  /** A fixture file; skips the test when absent, or fails where CI=true. */
  static Path model(String folder, String file) {
    Path p = ModelPaths.sharedModels().resolve(folder).resolve(file);
    if (!Files.isRegularFile(p)) {
      if ("true".equalsIgnoreCase(System.getenv("CI"))) fail("missing model fixture " + p);
      assumeTrue(false, "model fixture " + p + " not found");
    }
    return p;
  }
}
