package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.node.cli.ModelsCommand;
import ai.companion.testing.ModelFixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code companion model import}, {@code model quantize} and {@code companion models}, through the CLI entry point, on the real fixture. */
class ModelsCommandTest {

  @Test
  void importThenListShowsContextVariantAndSize(@TempDir Path dataDir) throws Exception {
    Path fixture = ModelFixtures.checkpoint(ModelFixtures.STORIES).getParent();
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
    assertEquals(List.of("fp32"), tiny.variants());
    assertEquals(0, CompanionCli.run(new String[] {"models", "--data-dir", dataDir.toString()}, Map.of()));

    // quantize: unknown model and bad bits are refused clearly, 8 and 4 bits write their variants beside model.onnx
    String dir = dataDir.toString();
    assertEquals(2, CompanionCli.run(new String[] {"model", "quantize", "nope", "--bits", "8", "--data-dir", dir}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"model", "quantize", "../tiny", "--bits", "8", "--data-dir", dir}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"model", "quantize", "tiny", "--bits", "3", "--data-dir", dir}, Map.of()));
    assertEquals(2, CompanionCli.run(new String[] {"model", "quantize", "tiny", "--data-dir", dir}, Map.of()));
    assertEquals(1, CompanionCli.run(new String[] {"model", "quantize", "empty", "--bits", "4", "--data-dir", dir}, Map.of()),
        "a folder without model.onnx");
    Path folder = ModelPaths.modelsDir(dataDir).resolve("tiny");
    long fp32 = Files.size(folder.resolve("model.onnx"));
    PrintStream stdout = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
    try {
      assertEquals(0, CompanionCli.run(new String[] {"model", "quantize", "tiny", "--bits", "8", "--data-dir", dir}, Map.of()));
      assertEquals(0, CompanionCli.run(new String[] {"model", "quantize", "tiny", "--bits", "4", "--data-dir", dir}, Map.of()));
      assertEquals(0, CompanionCli.run(new String[] {"models", "--data-dir", dir}, Map.of()));
    } finally {
      System.setOut(stdout);
    }
    String out = printed.toString(StandardCharsets.UTF_8);
    System.out.print(out);
    long int8 = Files.size(folder.resolve("model_int8.onnx"));
    long int4 = Files.size(folder.resolve("model_q4.onnx"));
    assertTrue(int8 < fp32 * 0.5 && int4 < int8, "sizes fp32 " + fp32 + ", int8 " + int8 + ", int4 " + int4);
    assertTrue(out.contains("wrote " + folder.resolve("model_int8.onnx")), out);
    assertTrue(out.contains("wrote " + folder.resolve("model_q4.onnx")), out);
    assertTrue(out.contains(String.format("%.2fx the fp32 model", (double) int4 / fp32)), out);
    assertTrue(out.contains("fp32,int8,int4"), out);
    assertEquals(List.of("fp32", "int8", "int4"), ModelsCommand.list(ModelPaths.modelsDir(dataDir)).get(1).variants());
  }
}
