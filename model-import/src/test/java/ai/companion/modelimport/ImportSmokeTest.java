package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImportSmokeTest {
  @TempDir Path tmp;

  @Test
  void storiesGreedy() throws Exception {
    Path folder = ModelImporter.importLlama2c(Fixtures.model("stories260K", "stories260K.bin"), null,
        "stories260K", tmp, new ConsoleProgress());
    LlamaConfig c = LlamaConfig.of(64, 172, 5, 8, 4, 512, 512, true);
    try (OnnxDecoder d = OnnxDecoder.open(folder, c)) {
      assertArrayEquals(Fixtures.STORIES_ORACLE, d.greedy(60));
    }
  }
}
