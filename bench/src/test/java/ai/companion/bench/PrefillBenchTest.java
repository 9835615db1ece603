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

/** {@code bench prefill} on stories260K: a row per (prompts, rows), and the beginning shared only where it pays. */
class PrefillBenchTest {

  @Test void timesBothWaysAndSharesWhereItPays(@TempDir Path dir) throws Exception {
    ModelFixtures.checkpoint(ModelFixtures.STORIES);    // fails where CI=true, skips elsewhere, when absent
    Path out = dir.resolve("prefill.md");
    int exit = new CommandLine(new BenchMain()).execute("prefill", "--out", out.toString(),
        "--models-dir", dir.resolve("models").toString(), "--rows", "2,16", "--prefills", "5");
    assertEquals(0, exit);
    List<String> lines = Files.readAllLines(out);
    List<String> rows = lines.stream().filter(l -> l.startsWith("| stories260K | ")).toList();
    assertEquals(4, rows.size(), String.join("\n", lines));
    // "Once upon a time" is BOS and 4 tokens: two of it do not pay for an extra run, sixteen share all but the last
    assertTrue(rows.get(0).startsWith("| stories260K | same | 2 | 5 | 0 |"), rows.get(0));
    assertTrue(rows.get(1).startsWith("| stories260K | same | 16 | 5 | 4 |"), rows.get(1));
    assertTrue(rows.get(3).startsWith("| stories260K | distinct | 16 |"), rows.get(3));
    String[] distinct16 = rows.get(3).split("\\|");
    assertTrue(Integer.parseInt(distinct16[5].strip()) > 0, "distinct endings share their beginning: " + rows.get(3));
  }
}
