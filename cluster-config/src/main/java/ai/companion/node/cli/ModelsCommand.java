package ai.companion.node.cli;

import ai.companion.api.ModelPaths;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code companion models}: the model folders a node would serve. */
@Command(name = "models", description = "List the models in the data dir (what a worker there would serve).")
public class ModelsCommand implements Callable<Integer> {

  @Option(names = "--data-dir", description = "Data dir (default: ${DEFAULT-VALUE}).")
  String dataDir = ModelPaths.DEFAULT_DATA_DIR;

  /** The model files of a folder by variant, as {@code companion model quantize} and transformers.js name them. */
  public static final Map<String, String> VARIANT_FILES = variantFiles();

  private static Map<String, String> variantFiles() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("fp32", "model.onnx");
    m.put("int8", "model_int8.onnx");
    m.put("int4", "model_q4.onnx");
    return java.util.Collections.unmodifiableMap(m);
  }

  /**
   * One model folder as listed: {@code variant} is what the source stored (companion.json), {@code variants} the
   * model files present (fp32, int8, int4).
   */
  public record Row(String name, String family, int contextLength, String variant, List<String> variants, long bytes,
                    String problem) {}

  @Override
  public Integer call() throws IOException {
    Path models = ModelPaths.modelsDir(Path.of(CliSupport.expandHome(dataDir)));
    List<Row> rows = list(models);
    if (rows.isEmpty()) {
      System.out.println("no models in " + models);
      System.out.println("import one with: ./companion model import FILE --tokenizer FILE --name NAME --data-dir " + dataDir);
      return 0;
    }
    System.out.printf("%-32s %-8s %8s %-8s %-15s %10s%n", "NAME", "FAMILY", "CONTEXT", "SOURCE", "VARIANTS", "SIZE");
    for (Row r : rows) {
      if (r.problem() != null) {
        System.out.printf("%-32s (not servable: %s)%n", r.name(), r.problem());
      } else {
        System.out.printf("%-32s %-8s %8d %-8s %-15s %10s%n", r.name(), r.family(), r.contextLength(), r.variant(),
            String.join(",", r.variants()), human(r.bytes()));
      }
    }
    return 0;
  }

  public static List<Row> list(Path models) throws IOException {
    if (!Files.isDirectory(models)) return List.of();
    try (Stream<Path> s = Files.list(models)) {
      return s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().startsWith("."))
          .sorted().map(ModelsCommand::row).toList();
    }
  }

  private static Row row(Path dir) {
    String name = dir.getFileName().toString();
    long bytes = size(dir);
    Path config = dir.resolve("config.json");
    if (!Files.isRegularFile(config)) return new Row(name, "", 0, "", List.of(), bytes, "no config.json");
    if (!Files.isRegularFile(dir.resolve("model.onnx")) && !Files.isDirectory(dir.resolve("onnx"))) {
      return new Row(name, "", 0, "", List.of(), bytes, "no model.onnx");
    }
    try {
      JsonObject c = new JsonObject(Files.readString(config));
      int ctx = c.getInteger("max_position_embeddings", c.getInteger("n_positions", 0));
      String variant = c.getString("companion_variant", null);
      Path meta = dir.resolve("companion.json");
      if (Files.isRegularFile(meta)) variant = new JsonObject(Files.readString(meta)).getString("variant", variant);
      if (variant == null) variant = c.getString("torch_dtype", "fp32").replace("float32", "fp32");
      return new Row(name, c.getString("model_type", "?"), ctx, variant, variants(dir), bytes, null);
    } catch (IOException | RuntimeException e) {
      return new Row(name, "", 0, "", List.of(), bytes, "unreadable config.json: " + e.getMessage());
    }
  }

  /** The variants whose model file is in the folder (or in its {@code onnx/} subfolder), fp32 first. */
  public static List<String> variants(Path dir) {
    List<String> out = new ArrayList<>();
    VARIANT_FILES.forEach((variant, file) -> {
      if (Files.isRegularFile(dir.resolve(file)) || Files.isRegularFile(dir.resolve("onnx").resolve(file))) out.add(variant);
    });
    return out;
  }

  private static long size(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    } catch (IOException e) {
      return 0;
    }
  }

  static String human(long bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return String.format("%.1f KiB", bytes / 1024.0);
    if (bytes < 1024L * 1024 * 1024) return String.format("%.1f MiB", bytes / 1024.0 / 1024);
    return String.format("%.2f GiB", bytes / 1024.0 / 1024 / 1024);
  }
}
