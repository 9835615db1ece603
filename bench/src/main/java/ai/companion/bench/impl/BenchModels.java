package ai.companion.bench.impl;

import ai.companion.api.ModelPaths;
import ai.companion.modelimport.ModelImporter;
import ai.companion.modelimport.SyntheticModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model folders the benchmarks run on, kept in a cache dir (default {@code bench/out/models}, gitignored):
 * stories260K imported from the shared fixture with the project's importer (re-imported every run: it takes a
 * second and always reflects the current exporter) and a random-weight model with SmolLM2-135M's shape written
 * by {@link SyntheticModels} once (reused while its folder is complete).
 */
public final class BenchModels {
  private static final Logger LOG = LoggerFactory.getLogger(BenchModels.class);

  public static final String STORIES = "stories260K";
  public static final String SMOL = "smollm2-135m-random";
  public static final long SMOL_SEED = 135;

  private final Path cacheDir;

  private final boolean standardCache;

  public BenchModels(Path cacheDir) {
    this(cacheDir, false);
  }

  /** {@code standardCache}: hand out model folders without the in-place cache decoder (see {@link #served}). */
  public BenchModels(Path cacheDir, boolean standardCache) {
    this.cacheDir = cacheDir.toAbsolutePath().normalize();
    this.standardCache = standardCache;
  }

  public Path cacheDir() { return cacheDir; }

  /** stories260K, freshly imported from {@code shared/models/stories260K}. */
  public Path stories() throws Exception {
    Path src = ModelPaths.sharedModels().resolve(STORIES);
    Path bin = src.resolve(STORIES + ".bin");
    if (!Files.isRegularFile(bin)) {
      throw new IllegalStateException("no fixture " + bin + " (set COMPANION_SHARED_MODELS to the shared models dir)");
    }
    Path folder = cacheDir.resolve(STORIES);
    deleteTree(folder);
    return served(ModelImporter.importLlama2c(bin, src.resolve("tok512.bin"), STORIES, cacheDir, null));
  }

  /** The SmolLM2-135M-shaped random model; written on first use (about 540 MB), then reused. */
  public Path smol(boolean rewrite) throws Exception {
    Path folder = cacheDir.resolve(SMOL);
    boolean complete = Files.isRegularFile(folder.resolve("model.onnx"))
        && Files.isRegularFile(folder.resolve(ai.companion.worker.impl.ModelConfig.IN_PLACE_MODEL))
        && Files.isRegularFile(folder.resolve(ModelImporter.COMPANION_FILE));
    if (complete && !rewrite) return served(folder);
    deleteTree(folder);
    LOG.info("Writing the SmolLM2-135M-shaped random model into {} (once)", folder);
    var progress = new ai.companion.modelimport.ConsoleProgress(System.err,
        ai.companion.modelimport.ConsoleProgress.DEFAULT_WIDTH);
    return served(SyntheticModels.write(cacheDir, SMOL, SyntheticModels.Shape.SMOLLM2_135M, SMOL_SEED, progress));
  }

  /**
   * The folder as written, or with the standard cache: a folder of the same name (the model id) beside the cache
   * dir, {@code ../standard-cache/NAME}, linking every file but the in-place cache decoders, so that whatever loads
   * it serves model.onnx.
   */
  private Path served(Path folder) throws IOException {
    if (!standardCache) return folder;
    Path view = cacheDir.resolveSibling("standard-cache").resolve(folder.getFileName().toString());
    deleteTree(view);
    Files.createDirectories(view);
    try (Stream<Path> files = Files.list(folder)) {
      for (Path f : files.toList()) {
        if (f.getFileName().toString().contains("_inplace_kv.onnx")) continue;   // and its quantized siblings
        Files.createSymbolicLink(view.resolve(f.getFileName()), f.toAbsolutePath());
      }
    }
    return view;
  }

  /**
   * A data dir whose {@code models/} holds only {@code folder} (a symbolic link), so a node started on it serves
   * that one model: {@code cacheDir/../data/NAME}.
   */
  public Path dataDirFor(Path folder) throws IOException {
    return dataDirFor(folder, folder.getFileName().toString());
  }

  /** The same in {@code cacheDir/../data/DIR}: a second node on the same model gets a data dir of its own. */
  public Path dataDirFor(Path folder, String dir) throws IOException {
    String name = folder.getFileName().toString();
    Path dataDir = cacheDir.resolveSibling("data").resolve(dir);
    Path models = ModelPaths.modelsDir(dataDir);
    Files.createDirectories(models);
    Path link = models.resolve(name);
    if (Files.isSymbolicLink(link) || Files.exists(link)) {
      if (Files.isSymbolicLink(link)) Files.delete(link);
      else deleteTree(link);
    }
    Files.createSymbolicLink(link, folder.toAbsolutePath());
    return dataDir;
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
    try (Stream<Path> s = Files.walk(p)) {
      for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(x);
    }
  }
}
