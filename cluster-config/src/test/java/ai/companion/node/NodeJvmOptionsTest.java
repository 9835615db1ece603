package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
