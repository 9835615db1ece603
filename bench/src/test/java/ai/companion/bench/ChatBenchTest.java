package ai.companion.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.testing.ModelFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code bench chat} on stories260K: a row per turn, each later turn copying the whole turn before it. */
class ChatBenchTest {

  @Test void eachTurnCopiesTheTurnBefore(@TempDir Path dir) throws Exception {
    ModelFixtures.checkpoint(ModelFixtures.STORIES);    // fails where CI=true, skips elsewhere, when absent
    Path out = dir.resolve("chat.md");
    int exit = new CommandLine(new BenchMain()).execute("chat", "--out", out.toString(),
        "--models-dir", dir.resolve("models").toString(), "--models", "stories260K", "--turns", "3",
        "--conversations", "3");
    assertEquals(0, exit);
    List<String> lines = Files.readAllLines(out);
    List<String[]> rows = lines.stream().filter(l -> l.startsWith("| stories260K | "))
        .map(l -> l.split("\\|")).toList();
    assertEquals(3, rows.size(), String.join("\n", lines));
    for (int t = 0; t < rows.size(); t++) {
      String[] row = rows.get(t);
      assertEquals(String.valueOf(t + 1), row[2].strip());
      int tokens = Integer.parseInt(row[3].strip());
      int copied = Integer.parseInt(row[4].strip());
      assertTrue(copied < tokens, String.join("|", row));
      if (t == 0) {
        // the second and third conversations find the system prompt the first one left
        assertTrue(copied >= 32, "the system prompt: " + String.join("|", row));
      } else {
        // the prompt before, but for a token its end may merge with the newline after it
        int before = Integer.parseInt(rows.get(t - 1)[3].strip());
        assertTrue(copied >= before - 1, "turn " + (t + 1) + " copied " + copied + " of the " + before + " before");
      }
    }
  }
}
