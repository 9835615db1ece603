package ai.companion.api.spi;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds pipeline stages with {@link ServiceLoader}: over the class path and the jars in a plugins folder.
 * The highest {@link PipelineStage#priority()} wins; ties go to the first found (class path before plugins).
 */
public final class Stages {
  private static final Logger LOG = LoggerFactory.getLogger(Stages.class);

  private Stages() {}

  /** A class loader over every {@code *.jar} in {@code pluginsDir} (none when the folder is absent). */
  public static ClassLoader pluginLoader(Path pluginsDir) {
    ClassLoader parent = Thread.currentThread().getContextClassLoader();
    if (parent == null) parent = Stages.class.getClassLoader();
    if (pluginsDir == null || !Files.isDirectory(pluginsDir)) return parent;
    List<URL> jars = new ArrayList<>();
    try (Stream<Path> files = Files.list(pluginsDir)) {
      for (Path p : files.filter(f -> f.toString().endsWith(".jar")).sorted().toList()) jars.add(p.toUri().toURL());
    } catch (MalformedURLException e) {
      throw new IllegalStateException(e);
    } catch (IOException e) {
      LOG.warn("Cannot list plugins in {}: {}", pluginsDir, e.toString());
      return parent;
    }
    if (jars.isEmpty()) return parent;
    LOG.info("Plugins from {}: {}", pluginsDir, jars);
    return new URLClassLoader(jars.toArray(URL[]::new), parent);
  }

  /**
   * The stage of {@code type} with the highest priority. Fails with {@link IllegalStateException} when no
   * implementation is found at all; a broken provider is skipped with a warning.
   */
  public static <T extends PipelineStage> T load(Class<T> type, ClassLoader loader) {
    List<T> found = new ArrayList<>();
    var it = ServiceLoader.load(type, loader).iterator();
    while (true) {
      try {
        if (!it.hasNext()) break;
        found.add(it.next());
      } catch (ServiceConfigurationError e) {
        LOG.warn("Skipping a broken {} provider: {}", type.getSimpleName(), e.getMessage());
      }
    }
    T best = found.stream().max(Comparator.comparingInt(PipelineStage::priority)).orElseThrow(
        () -> new IllegalStateException("No implementation of " + type.getName() + " found"));
    LOG.info("{}: {} ({}, priority {}, {} candidate(s))", type.getSimpleName(), best.name(),
        best.getClass().getName(), best.priority(), found.size());
    return best;
  }
}
