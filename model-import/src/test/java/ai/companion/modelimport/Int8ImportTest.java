package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.impl.Llama2cCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The llama2.c version 2 (int8, group-quantized) export of stories260K, dequantized at import. */
class Int8ImportTest {
  @TempDir Path models;

  @Test
  void greedyEqualsTheFp32Oracle() throws Exception {
    Path q8 = Fixtures.model("stories260K", "stories260K-q8.bin");
    Llama2cCheckpoint ck = Llama2cCheckpoint.read(q8);
    assertTrue(ck.version() == 2 && ck.config().sharedClassifier(), ck.config().toString());
    Path folder = ModelImporter.importLlama2c(q8, null, "stories260K-q8", models, null);
    String companion = Files.readString(folder.resolve("companion.json"));
    assertTrue(companion.contains("\"variant\": \"int8\""), companion);
    assertTrue(companion.contains(
        "cd3a552807272f83aac2ec175b7dc5dd622598ff41ad7d039d4da301e00d3015"), companion);
    try (OnnxDecoder d = OnnxDecoder.open(folder, ck.config())) {
      assertArrayEquals(Fixtures.STORIES_ORACLE, d.greedy(60));
    }
  }
}
