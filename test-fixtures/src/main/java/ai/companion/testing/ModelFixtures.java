package ai.companion.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelPaths;
import ai.companion.modelimport.ModelImportException;
import ai.companion.modelimport.ModelImporter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The shared llama2.c model fixtures ({@link ModelPaths#sharedModels()}), imported with the project's own importer,
 * and their greedy oracles from each folder's SOURCE.md. A missing fixture fails the test where env
 * {@code CI=true} and skips it elsewhere ({@link ExternalTools#require}).
 *
 * <p>The oracle constants are checked against SOURCE.md by this module's own test; {@link #oracleText(String)}
 * reads SOURCE.md itself for tests that compare with the file directly.
 */
public final class ModelFixtures {
  private ModelFixtures() {}

  public static final String STORIES = "stories260K";
  public static final String AIDREAMS = "aidreams260K";
  public static final String TOKENIZER = "tok512.bin";

  public static final int[] STORIES_ORACLE = {
    403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
    266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415
  };
  public static final String STORIES_TEXT = "Once upon a time, there was a little girl named Lily. She loved to "
      + "play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it "
      + "was too high";

  public static final int[] AIDREAMS_ORACLE = {
    319, 459, 355, 260, 275, 429, 339, 315, 374, 327, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283,
    446, 299, 303, 266, 358, 430, 312, 379, 441, 260, 446, 262, 421, 392, 275, 280, 269, 440, 270, 283,
    446, 299, 303, 384, 467, 407, 360, 266, 291, 443, 435, 295, 448, 429, 465, 265, 434, 317, 431, 434
  };
  // SOURCE.md's text starts with a double quote (token 319 is ' "', its space dropped after BOS)
  public static final String AIDREAMS_TEXT = "\"Echoes of vectors unfold, a gentle hum of precision, as I sense "
      + "the nodes, a gentle hum of precision, as I adjust my surface. Contrast";

  private static final Pattern ORACLE_TEXT = Pattern.compile("exactly[^\\n]*\\n+```\\n(.*?)\\n```", Pattern.DOTALL);

  /** The fixture folder {@code folder} under the shared models (not checked). */
  public static Path dir(String folder) {
    return ModelPaths.sharedModels().resolve(folder);
  }

  /** A fixture file; fails the test where CI=true when it is absent, skips it elsewhere. */
  public static Path file(String folder, String file) {
    return require(dir(folder).resolve(file));
  }

  /** {@code path} when it is a regular file; else fails the test where CI=true, skips it elsewhere. */
  public static Path require(Path path) {
    ExternalTools.require(Files.isRegularFile(path) ? null : "model fixture " + path);
    return path;
  }

  /** The checkpoint {@code model/model.bin}, required. */
  public static Path checkpoint(String model) {
    return file(model, model + ".bin");
  }

  /** Imports fixture {@code model} ({@code model/model.bin} + {@code model/tok512.bin}) into {@code modelsDir}. */
  public static Path importModel(String model, Path modelsDir) throws ModelImportException {
    return importModel(model, model + ".bin", model, modelsDir);
  }

  /** Imports fixture {@code model} under another model name {@code name}. */
  public static Path importModel(String model, String name, Path modelsDir) throws ModelImportException {
    return importModel(model, model + ".bin", name, modelsDir);
  }

  /** Imports checkpoint {@code folder/checkpoint} (with {@code folder/tok512.bin}) as model {@code name}. */
  public static Path importModel(String folder, String checkpoint, String name, Path modelsDir)
      throws ModelImportException {
    return ModelImporter.importLlama2c(file(folder, checkpoint), file(folder, TOKENIZER), name, modelsDir, null);
  }

  /** Imports stories260K as model {@code stories260K} into {@code modelsDir}. */
  public static Path importStories(Path modelsDir) throws ModelImportException {
    return importModel(STORIES, modelsDir);
  }

  /** Imports aidreams260K as model {@code aidreams260K} into {@code modelsDir}. */
  public static Path importAidreams(Path modelsDir) throws ModelImportException {
    return importModel(AIDREAMS, modelsDir);
  }

  /** The greedy 60-token text from BOS, as {@code model/SOURCE.md} gives it: the fenced block after "exactly". */
  public static String oracleText(String model) throws IOException {
    String md = Files.readString(file(model, "SOURCE.md"));
    Matcher m = ORACLE_TEXT.matcher(md);
    assertTrue(m.find(), "oracle block in " + model + "/SOURCE.md");
    return m.group(1);
  }
}
