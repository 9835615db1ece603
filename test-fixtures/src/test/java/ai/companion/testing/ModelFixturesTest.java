package ai.companion.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The oracle constants equal what each fixture's SOURCE.md says, ids and text byte for byte. */
class ModelFixturesTest {

  @Test
  void storiesOracleEqualsSourceMd() throws Exception {
    assertEquals(ModelFixtures.STORIES_TEXT, ModelFixtures.oracleText(ModelFixtures.STORIES));
    assertArrayEquals(ModelFixtures.STORIES_ORACLE, oracleIds(ModelFixtures.STORIES));
  }

  @Test
  void aidreamsOracleEqualsSourceMd() throws Exception {
    String text = ModelFixtures.oracleText(ModelFixtures.AIDREAMS);
    assertTrue(text.startsWith("\"Echoes"), text);
    assertEquals(ModelFixtures.AIDREAMS_TEXT, text);
    assertArrayEquals(ModelFixtures.AIDREAMS_ORACLE, oracleIds(ModelFixtures.AIDREAMS));
  }

  /** The first fenced block of comma-separated ids in SOURCE.md. */
  private static int[] oracleIds(String model) throws Exception {
    String md = Files.readString(ModelFixtures.file(model, "SOURCE.md"));
    Matcher m = Pattern.compile("```\\n([0-9, \\n]+)\\n```").matcher(md);
    assertTrue(m.find(), "id block in " + model + "/SOURCE.md");
    return Arrays.stream(m.group(1).split("[,\\s]+")).filter(s -> !s.isEmpty()).mapToInt(Integer::parseInt).toArray();
  }
}
