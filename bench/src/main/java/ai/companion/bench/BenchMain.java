package ai.companion.bench;

import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.ChildNode;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.TjsPeer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./companion bench}: single-stream decode against transformers.js ({@code decode}, the default),
 * aggregate throughput under concurrency ({@code concurrency}), 2000 streaming HTTP clients ({@code clients}) and
 * cluster join time and cross-node overhead ({@code cluster}); one decode step through ONNX Runtime alone
 * ({@code step}). Each run prints a markdown table; {@code --out}
 * appends it to a file. Figures are measured on this machine now, next to a peer measured in the same run.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Benchmarks: decode (default), concurrency, clients, cluster, all; step (ONNX Runtime alone).",
    subcommands = {DecodeBench.class, ConcurrencyBench.class, ClientsBench.class, ClusterBench.class,
        BenchMain.All.class, StepBench.class, PrefillBench.class, ChatBench.class, LongPromptBench.class,
        AffinityBench.class})
public final class BenchMain implements Callable<Integer> {

  @Option(names = "--out", scope = CommandLine.ScopeType.INHERIT, paramLabel = "FILE", description = "Append each markdown table to FILE.")
  Path out;

  @Option(names = "--models-dir", scope = CommandLine.ScopeType.INHERIT, paramLabel = "DIR",
      description = "Cache of the model folders (default: ${DEFAULT-VALUE}).")
  Path modelsDir = benchDir().resolve("out").resolve("models");

  @Option(names = "--js-dir", scope = CommandLine.ScopeType.INHERIT, paramLabel = "DIR",
      description = "The JavaScript peers with node_modules (default: ${DEFAULT-VALUE}).")
  Path jsDir = benchDir().resolve("js");

  @Option(names = "--rewrite-models", scope = CommandLine.ScopeType.INHERIT, description = "Write the random SmolLM2-135M-shaped model again.")
  boolean rewriteModels;

  @Option(names = "--standard-cache", scope = CommandLine.ScopeType.INHERIT,
      description = "Serve the models through the standard graph, which copies the whole key/value cache each step "
          + "(the in-place cache decoder is left out of the folder the engine and nodes load).")
  boolean standardCache;

  private String commandLine = "./companion bench";

  /**
   * The bench module's folder: found from where this class was loaded ({@code bench/target/classes}), so that
   * {@code ./companion bench} works from any directory; {@code bench} under the working directory otherwise.
   */
  static Path benchDir() {
    try {
      Path classes = Path.of(BenchMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      if (classes.endsWith(Path.of("target", "classes"))) return relative(classes.getParent().getParent());
    } catch (Exception | LinkageError e) {
      // fall through
    }
    return Path.of("bench");
  }

  private static Path relative(Path p) {
    Path cwd = Path.of("").toAbsolutePath();
    return p.startsWith(cwd) ? cwd.relativize(p) : p;
  }

  /** The JVM flags the launcher gives a node, for the child nodes the benches start. */
  List<String> nodeJvmFlags() {
    return ChildNode.jvmFlags(benchDir().toAbsolutePath().normalize().getParent());
  }

  BenchModels models() {
    return new BenchModels(modelsDir, standardCache);
  }

  /** The folder of a bench model by name: stories260K, else the SmolLM2-135M-shaped one (written when missing). */
  Path modelFolder(String name) throws Exception {
    return BenchModels.STORIES.equals(name) ? models().stories() : models().smol(rewriteModels);
  }

  TjsPeer tjs() {
    return new TjsPeer(jsDir);
  }

  Path workDir() {
    return modelsDir.toAbsolutePath().normalize().getParent();
  }

  String commandLine() {
    return commandLine;
  }

  void emit(Report r) throws IOException {
    r.emit(System.out, out);
  }

  /** Without a subcommand: the decode benchmark. */
  @Override public Integer call() throws Exception {
    DecodeBench d = new DecodeBench();
    d.main = this;
    return d.call();
  }

  @Command(name = "all", description = "decode, concurrency, clients and cluster, one after another.")
  static final class All implements Callable<Integer> {
    @CommandLine.ParentCommand BenchMain main;

    @Override public Integer call() throws Exception {
      int rc = 0;
      for (Callable<Integer> c : new Callable[] {sub(new DecodeBench()), sub(new ConcurrencyBench()),
          sub(new ClientsBench()), sub(new ClusterBench())}) {
        rc = Math.max(rc, c.call());
      }
      return rc;
    }

    private Callable<Integer> sub(BenchCommand c) {
      c.setMain(main);
      return c;
    }
  }

  /** A subcommand that shares the root's options. */
  interface BenchCommand extends Callable<Integer> {
    void setMain(BenchMain main);
  }

  public static void main(String[] args) {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "logback-bench.xml");
    }
    // as the launcher script sets them for a node
    if (System.getProperty("hazelcast.wait.seconds.before.join") == null) {
      System.setProperty("hazelcast.wait.seconds.before.join", "1");
    }
    if (System.getProperty("hazelcast.phone.home.enabled") == null) {
      System.setProperty("hazelcast.phone.home.enabled", "false");
    }
    BenchMain root = new BenchMain();
    root.commandLine = "./companion bench " + String.join(" ", args);
    CommandLine cl = new CommandLine(root);
    int rc = cl.execute(args);
    System.exit(rc);
  }
}
