package ai.companion.node.cli;

/** Small helpers shared by the subcommands. */
final class CliSupport {
  private CliSupport() {}

  static String expandHome(String path) {
    return path.startsWith("~/") ? System.getProperty("user.home") + path.substring(1) : path;
  }
}
