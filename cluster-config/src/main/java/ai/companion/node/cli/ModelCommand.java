package ai.companion.node.cli;

import ai.companion.api.ModelPaths;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
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
    static final String IMPORTER = "ai.companion.modelimport.ModelImporter";

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
        Object result = runImporter(checkpoint, tokenizer, name, modelsDir);
        System.out.println("imported " + checkpoint + " as " + (result instanceof Path p ? p : modelsDir.resolve(name)));
        System.out.println("serve it with: ./companion start --data-dir " + dataDir);
        return 0;
      } catch (Exception e) {
        Throwable cause = e instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : e;
        System.err.println();
        System.err.println("companion model import: " + (cause.getMessage() == null ? cause.toString() : cause.getMessage()));
        return 1;
      }
    }

    // reflective until the importer's module settles: this module compiles whatever its state is
    private static Object runImporter(Path checkpoint, Path tokenizer, String name, Path modelsDir) throws Exception {
      Class<?> importer;
      try {
        importer = Class.forName(IMPORTER);
      } catch (ClassNotFoundException e) {
        throw new IllegalStateException("this build has no model importer (" + IMPORTER + ")");
      }
      Method m = null;
      for (Method c : importer.getMethods()) {
        if (c.getName().equals("importLlama2c") && c.getParameterCount() == 5) m = c;
      }
      if (m == null) throw new IllegalStateException(IMPORTER + " has no importLlama2c(checkpoint, tokenizer, name, dir, progress)");
      Class<?> listenerType = m.getParameterTypes()[4];
      Object progress = null;
      try {
        Class<?> console = Class.forName("ai.companion.modelimport.ConsoleProgress");
        for (Constructor<?> k : console.getConstructors()) {
          if (k.getParameterCount() == 0) progress = k.newInstance();
          else if (k.getParameterCount() == 1 && k.getParameterTypes()[0] == java.io.PrintStream.class) {
            progress = k.newInstance(System.err);
          }
          if (progress != null) break;
        }
      } catch (ClassNotFoundException e) {
        progress = null;
      }
      if (progress != null && !listenerType.isInstance(progress)) progress = null;
      Object target = java.lang.reflect.Modifier.isStatic(m.getModifiers()) ? null : importer.getConstructor().newInstance();
      return m.invoke(target, checkpoint, tokenizer, name, modelsDir, progress);
    }
  }
}
