package ai.companion.node;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The flags of a node's JVM, from the project's {@value #FILE} (tuning) and {@value #HAZELCAST_FILE} (Hazelcast on
 * Java 17), which the launcher script reads too: for code that starts nodes in child JVMs (the bench, the cluster
 * tests) and must start them as the launcher does.
 */
public final class NodeJvmOptions {
  /** The tuning file's name, at the project's root. */
  public static final String FILE = "node-jvm.options";
  /** Hazelcast's flags and join settings, at the project's root (the test JVMs get it as a Java argument file). */
  public static final String HAZELCAST_FILE = "hazelcast-jvm.options";

  private NodeJvmOptions() {}

  /**
   * What the launcher gives a node's JVM before {@code JAVA_OPTS}: the tuning of {@value #FILE}, then Hazelcast's
   * flags. Without the tuning file (a bench run outside the project) a warning and the JVM's defaults; without
   * Hazelcast's, an exception, as the launcher fails.
   */
  public static List<String> launcherFlags(Path projectRoot) throws IOException {
    List<String> flags = new ArrayList<>();
    Path tuning = projectRoot.resolve(FILE);
    if (Files.exists(tuning)) {
      flags.addAll(read(tuning));
    } else {
      System.err.println("no " + tuning + "; child nodes run with the JVM's defaults");
    }
    flags.addAll(read(projectRoot.resolve(HAZELCAST_FILE)));
    return flags;
  }

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
