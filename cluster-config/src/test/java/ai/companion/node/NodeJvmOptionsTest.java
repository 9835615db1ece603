package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeJvmOptionsTest {

  @Test void flagsAreSplitOnWhitespaceAndCommentsDropped(@TempDir Path dir) throws Exception {
    Path f = dir.resolve(NodeJvmOptions.FILE);
    Files.writeString(f, "# a comment\n\n-XX:A=1   -XX:+B # why\n\t-Dc=d\n#-XX:Gone\n");
    assertEquals(List.of("-XX:A=1", "-XX:+B", "-Dc=d"), NodeJvmOptions.read(f));
  }

  /** The project's own file (tests run in the module's folder): what the launcher gives every node. */
  @Test void theProjectsNodesRunC1Only() throws Exception {
    List<String> flags = NodeJvmOptions.read(Path.of("..", NodeJvmOptions.FILE));
    assertTrue(flags.contains("-XX:TieredStopAtLevel=1"), flags.toString());
    assertTrue(flags.stream().allMatch(f -> f.startsWith("-")), flags.toString());
  }

  /** Tuning first, then Hazelcast's flags, as the launcher script puts them; no Hazelcast file, no node. */
  @Test void launcherFlagsAreTheTuningThenHazelcasts(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve(NodeJvmOptions.FILE), "-XX:TieredStopAtLevel=1\n");
    Files.writeString(dir.resolve(NodeJvmOptions.HAZELCAST_FILE), "# why\n--add-opens java.base/java.lang=ALL-UNNAMED\n");
    assertEquals(List.of("-XX:TieredStopAtLevel=1", "--add-opens", "java.base/java.lang=ALL-UNNAMED"),
        NodeJvmOptions.launcherFlags(dir));
    Files.delete(dir.resolve(NodeJvmOptions.FILE));
    assertEquals(List.of("--add-opens", "java.base/java.lang=ALL-UNNAMED"), NodeJvmOptions.launcherFlags(dir));
    Files.delete(dir.resolve(NodeJvmOptions.HAZELCAST_FILE));
    assertThrows(java.io.IOException.class, () -> NodeJvmOptions.launcherFlags(dir));
  }

  /**
   * The project's Hazelcast file is also a Java argument file (the pom hands it to the test JVMs as one): a JVM
   * started with {@code @FILE} gets the same flags, comments and all, as the launcher's reading of it.
   */
  @Test void theHazelcastFileIsAJavaArgumentFile() throws Exception {
    Path file = Path.of("..", NodeJvmOptions.HAZELCAST_FILE).toAbsolutePath().normalize();
    List<String> flags = NodeJvmOptions.read(file);
    assertTrue(flags.containsAll(List.of("--add-modules", "java.se", "--add-opens", "java.base/java.lang=ALL-UNNAMED",
        "-Dhazelcast.wait.seconds.before.join=1")), flags.toString());
    // the pom hands this very file to the test JVMs
    assertEquals("1", System.getProperty("hazelcast.wait.seconds.before.join"), "this test JVM's join wait");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "@" + file,
        "-XshowSettings:properties", "-version").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), out);
    for (String f : flags) {
      if (f.startsWith("-D")) {
        String[] kv = f.substring(2).split("=", 2);
        assertTrue(out.contains(kv[0] + " = " + kv[1]), kv[0] + " not set by the argument file:\n" + out);
      }
    }
  }
}
