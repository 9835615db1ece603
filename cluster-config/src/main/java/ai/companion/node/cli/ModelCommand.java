package ai.companion.node.cli;

import ai.companion.api.ModelPaths;
import ai.companion.modelimport.ConsoleProgress;
import ai.companion.modelimport.ModelImportException;
import ai.companion.modelimport.ModelImporter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code companion model import FILE --name NAME}. */
@Command(name = "model", description = "Manage models.", subcommands = ModelCommand.Import.class)
public class ModelCommand implements Runnable {

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing subcommand");
  }

  @Command(name = "import", description = "Convert a llama2.c checkpoint into a model folder DATA_DIR/models/NAME "
      + "(config.json, model.onnx, tokenizer.json, generation_config.json).")
  public static class Import implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "The checkpoint (llama2.c .bin, fp32 v0 or int8 v2).")
    Path checkpoint;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The llama2.c tokenizer (tokenizer.bin / tok512.bin).")
    Path tokenizer;

    @Option(names = "--name", required = true, description = "Model name (the folder name under DATA_DIR/models).")
    String name;

    @Option(names = "--data-dir", description = "Data dir (default: ${DEFAULT-VALUE}).")
    String dataDir = ModelPaths.DEFAULT_DATA_DIR;

    @Override
    public Integer call() {
      if (!Files.isRegularFile(checkpoint)) {
        System.err.println("companion model import: " + checkpoint + " does not exist or is not a file");
        return 2;
      }
      if (tokenizer != null && !Files.isRegularFile(tokenizer)) {
        System.err.println("companion model import: tokenizer " + tokenizer + " does not exist or is not a file");
        return 2;
      }
      if (!name.matches("[A-Za-z0-9._-]{1,100}") || name.startsWith(".")) {
        System.err.println("companion model import: --name must be letters, digits, '.', '_' or '-', got '" + name + "'");
        return 2;
      }
      Path modelsDir = ModelPaths.modelsDir(Path.of(CliSupport.expandHome(dataDir)));
      try {
        Files.createDirectories(modelsDir);
        Path folder = ModelImporter.importLlama2c(checkpoint, tokenizer, name, modelsDir, new ConsoleProgress());
        System.out.println("imported " + checkpoint + " as " + folder);
        System.out.println("serve it with: ./companion start --data-dir " + dataDir);
        return 0;
      } catch (ModelImportException e) {
        System.err.println("companion model import: " + e.getMessage());
        return 1;
      } catch (IOException | RuntimeException e) {
        System.err.println("companion model import: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
        return 1;
      }
    }
  }
}
