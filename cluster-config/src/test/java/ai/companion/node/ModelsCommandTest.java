package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.node.cli.ModelsCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code companion model import} then {@code companion models}, through the CLI entry point, on the real fixture. */
class ModelsCommandTest {

  @Test
  void importThenListShowsContextVariantAndSize(@TempDir Path dataDir) throws Exception {
    Path fixture = ModelPaths.sharedModels().resolve("stories260K");
    boolean present = Files.isRegularFile(fixture.resolve("stories260K.bin"));
    if (!present && "true".equals(System.getenv("CI"))) throw new AssertionError("missing fixture " + fixture);
    Assumptions.assumeTrue(present, "no fixture at " + fixture);
    assertEquals(0, CompanionCli.run(new String[] {"model", "import", fixture.resolve("stories260K.bin").toString(),
        "--tokenizer", fixture.resolve("tok512.bin").toString(), "--name", "tiny", "--data-dir", dataDir.toString()}, Map.of()));
    // a foreign file: clear error, non-zero exit, nothing half-written left behind
    assertEquals(1, CompanionCli.run(new String[] {"model", "import", fixture.resolve("SOURCE.md").toString(),
        "--tokenizer", fixture.resolve("tok512.bin").toString(), "--name", "broken", "--data-dir", dataDir.toString()}, Map.of()));
    Files.createDirectories(ModelPaths.modelsDir(dataDir).resolve("empty"));

    List<ModelsCommand.Row> rows = ModelsCommand.list(ModelPaths.modelsDir(dataDir));
    assertEquals(List.of("empty", "tiny"), rows.stream().map(ModelsCommand.Row::name).toList());
    ModelsCommand.Row tiny = rows.get(1);
    assertNull(tiny.problem());
    assertEquals("llama", tiny.family());
    assertEquals(512, tiny.contextLength());
    assertEquals("fp32", tiny.variant());
    assertTrue(tiny.bytes() > 1_000_000, "model.onnx holds the weights: " + tiny.bytes());
    assertFalse(rows.get(0).problem() == null, "a folder without config.json is listed as not servable");
    assertEquals(0, CompanionCli.run(new String[] {"models", "--data-dir", dataDir.toString()}, Map.of()));
  }
}
