package ai.companion.api;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where things live under a node's data dir, and where tests find the shared model fixtures. */
public final class ModelPaths {
  private ModelPaths() {}

  public static final String MODELS_DIR = "models";
  public static final String DEFAULT_DATA_DIR = System.getProperty("user.home") + "/.companion";

  public static Path modelsDir(Path dataDir) {
    return dataDir.resolve(MODELS_DIR);
  }

  /**
   * The shared fixture folder ({@code ../shared/models} beside the checkout). Environment variable
   * {@code COMPANION_SHARED_MODELS} wins, then system property {@code companion.shared.models}.
   */
  public static Path sharedModels() {
    String env = System.getenv("COMPANION_SHARED_MODELS");
    if (env != null && !env.isBlank()) return Path.of(env);
    String prop = System.getProperty("companion.shared.models");
    if (prop != null && !prop.isBlank()) return Path.of(prop);
    // walk up from the working directory until a sibling shared/models appears
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null) {
      Path candidate = dir.resolveSibling("shared").resolve("models");
      if (Files.isDirectory(candidate)) return candidate;
      dir = dir.getParent();
    }
    return Path.of("../shared/models");
  }
}
