package ai.companion.node.cli;

import ai.companion.api.ModelPaths;
import ai.companion.modelimport.ConsoleProgress;
import ai.companion.modelimport.ModelImportException;
import ai.companion.modelimport.ModelImporter;
import ai.companion.modelimport.ModelQuantizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code companion model import FILE --name NAME} and {@code companion model quantize NAME --bits 8|4}. */
@Command(name = "model", description = "Manage models.", subcommands = {ModelCommand.Import.class, ModelCommand.Quantize.class})
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

  @Command(name = "quantize", description = "Write a weight-only quantized variant beside a model's model.onnx: "
      + "--bits 4 gives model_q4.onnx (served by --optimization-level high), --bits 8 model_int8.onnx (served by "
      + "--model-variant int8; on the CPU provider it runs slower than fp32).")
  public static class Quantize implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME", description = "The model (a folder under DATA_DIR/models).")
    String name;

    @Option(names = "--bits", required = true, paramLabel = "8|4", description = "Bits per weight: 8 or 4.")
    int bits;

    @Option(names = "--data-dir", description = "Data dir (default: ${DEFAULT-VALUE}).")
    String dataDir = ModelPaths.DEFAULT_DATA_DIR;

    @Override
    public Integer call() {
      if (bits != 8 && bits != 4) {
        System.err.println("companion model quantize: --bits must be 8 or 4, got " + bits);
        return 2;
      }
      Path modelsDir = ModelPaths.modelsDir(Path.of(CliSupport.expandHome(dataDir)));
      Path folder = modelsDir.resolve(name).normalize();
      if (name.startsWith(".") || !folder.getParent().equals(modelsDir.normalize()) || !Files.isDirectory(folder)) {
        String known;
        try {
          known = ModelsCommand.list(modelsDir).stream().map(ModelsCommand.Row::name).toList().toString();
        } catch (IOException e) {
          known = "(cannot list " + modelsDir + ")";
        }
        System.err.println("companion model quantize: no model '" + name + "' in " + modelsDir + "; models there: " + known);
        return 2;
      }
      try {
        long fp32 = fp32Bytes(folder);
        Path out = ModelQuantizer.quantize(folder, bits, new ConsoleProgress());
        long size = Files.size(out);
        System.out.printf("wrote %s: %s, %.2fx the fp32 model (%s)%n", out, ModelsCommand.human(size),
            fp32 == 0 ? 0.0 : (double) size / fp32, ModelsCommand.human(fp32));
        System.out.println(bits == 4 ? "serve it with: ./companion start --optimization-level high --data-dir " + dataDir
            : "serve it with: ./companion start --model-variant int8 --data-dir " + dataDir + " (on ONNX Runtime's CPU "
            + "provider int8 runs slower than fp32: it saves memory, not time)");
        return 0;
      } catch (ModelImportException e) {
        System.err.println("companion model quantize: " + e.getMessage());
        return 1;
      } catch (IOException | RuntimeException e) {
        System.err.println("companion model quantize: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
        return 1;
      }
    }

    /** model.onnx plus its external weights (model.onnx_data), when there. */
    static long fp32Bytes(Path folder) throws IOException {
      long bytes = 0;
      for (String f : new String[] {"model.onnx", "model.onnx_data"}) {
        if (Files.isRegularFile(folder.resolve(f))) bytes += Files.size(folder.resolve(f));
      }
      return bytes;
    }
  }
}
