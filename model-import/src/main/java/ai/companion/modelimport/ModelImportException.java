package ai.companion.modelimport;

import java.nio.file.Path;

/** An import that cannot go on: the message names the file and what is wrong with it. */
public final class ModelImportException extends Exception {
  private final Path file;

  public ModelImportException(Path file, String problem) {
    super(file == null ? problem : file + ": " + problem);
    this.file = file;
  }

  public ModelImportException(Path file, String problem, Throwable cause) {
    super(file == null ? problem : file + ": " + problem, cause);
    this.file = file;
  }

  /** The file at fault, or null when the problem is not with one file. */
  public Path file() {
    return file;
  }
}
