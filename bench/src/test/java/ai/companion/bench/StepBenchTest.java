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

/** {@code bench step} on stories260K: one table row per (threads, rows), and the operator shares of its profile. */
class StepBenchTest {

  @Test void stepsTheInPlaceGraphAndNamesItsOperators(@TempDir Path dir) throws Exception {
    ModelFixtures.checkpoint(ModelFixtures.STORIES);    // fails where CI=true, skips elsewhere, when absent
    Path out = dir.resolve("step.md");
    int exit = new CommandLine(new BenchMain()).execute("step", "--out", out.toString(),
        "--models-dir", dir.resolve("models").toString(), "--rows", "1,2", "--threads", "1", "--lanes", "1,2",
        "--steps", "20", "--op-profile");
    assertEquals(0, exit);
    List<String> lines = Files.readAllLines(out);
    List<String> rows = lines.stream().filter(l -> l.startsWith("| stories260K | 64 | 1 | ")).toList();
    // one lane at 1 and 2 rows; two lanes at 2 rows (one row each, stepped side by side)
    assertEquals(3, rows.size(), String.join("\n", lines));
    assertTrue(rows.get(0).startsWith("| stories260K | 64 | 1 | 1 | 1 |") && rows.get(0).contains("| 1.00x |"),
        rows.get(0));
    assertTrue(rows.get(2).startsWith("| stories260K | 64 | 1 | 2 | 2 |"), rows.get(2));
    // the in-place graph's attention is ONNX Runtime's GroupQueryAttention, and the profile says so for each row count
    assertEquals(3, lines.stream().filter(l -> l.contains("share of kernel time:")
        && l.contains("GroupQueryAttention")).count(), String.join("\n", lines));
  }
}
