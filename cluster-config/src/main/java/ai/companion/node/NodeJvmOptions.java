package ai.companion.node;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The tuning flags of a node's JVM, from the project's {@value #FILE} (the launcher script reads the same file):
 * for code that starts nodes in child JVMs (the bench, the cluster tests) and must start them as the launcher does.
 */
public final class NodeJvmOptions {
  /** The file's name, at the project's root. */
  public static final String FILE = "node-jvm.options";

  private NodeJvmOptions() {}

  /** The flags of {@code file}: separated by whitespace or lines, '#' to the end of a line a comment. */
  public static List<String> read(Path file) throws IOException {
    List<String> flags = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      int hash = line.indexOf('#');
      String content = (hash >= 0 ? line.substring(0, hash) : line).strip();
      if (content.isEmpty()) continue;
      for (String flag : content.split("\\s+")) flags.add(flag);
    }
    return flags;
  }
}
