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

/**
 * {@code bench long-prompt} on stories260K: the running stream steps between the slices (1 ms ones: at the default
 * 100 ms this model's prompts run at once), and not without them.
 */
class LongPromptBenchTest {

  @Test void theRunningStreamGetsTokensOnlyBetweenSlices(@TempDir Path dir) throws Exception {
    ModelFixtures.checkpoint(ModelFixtures.STORIES);    // fails where CI=true, skips elsewhere, when absent
    Path out = dir.resolve("long.md");
    int exit = new CommandLine(new BenchMain()).execute("long-prompt", "--out", out.toString(),
        "--models-dir", dir.resolve("models").toString(), "--models", "stories260K", "--prompt-tokens", "450",
        "--rounds", "1", "--slice-ms", "1");
    assertEquals(0, exit);
    List<String> lines = Files.readAllLines(out);
    List<String[]> rows = lines.stream().filter(l -> l.startsWith("| stories260K | ")).map(l -> l.split("\\|"))
        .toList();
    assertEquals(2, rows.size(), String.join("\n", lines));
    // stories260K prefills 450 tokens in a few ms: slices of 1 ms make several
    assertTrue(rows.get(0)[2].contains("slices"), String.join("|", rows.get(0)));
    assertTrue(Integer.parseInt(rows.get(0)[5].strip()) >= 1, String.join("|", rows.get(0)));
    assertEquals("at once", rows.get(1)[2].strip());
    assertEquals(0, Integer.parseInt(rows.get(1)[5].strip()), String.join("|", rows.get(1)));
  }
}
