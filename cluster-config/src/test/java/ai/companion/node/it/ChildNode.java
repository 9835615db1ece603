package ai.companion.node.it;

import ai.companion.node.NodeJvmOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A node in a child JVM, started on the launcher's class path exactly as {@code ./companion start} runs it.
 * Output goes to {@code target/it-logs/NAME.log}; {@link #awaitReady} waits for the {@code READY} line.
 */
public final class ChildNode implements AutoCloseable {
  private static final Pattern READY = Pattern.compile("READY http=(\\S+) grpc=(\\S+) roles=(\\S+)");

  public final String name;
  public final int clusterPort;
  private final Process process;
  private final long startedNanos = System.nanoTime();
  private final CompletableFuture<Matcher> ready = new CompletableFuture<>();
  private final List<String> lines = new ArrayList<>();
  private final Path log;
  private final Thread pump;

  /** Children still running; a test JVM that ends without closing one (crash, timeout, exit) kills them on its way out. */
  private static final java.util.Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-child-nodes"));
  }

  private ChildNode(String name, int clusterPort, Process process, Path log) {
    this.name = name;
    this.clusterPort = clusterPort;
    this.process = process;
    this.log = log;
    LIVE.add(process);
    process.onExit().thenRun(() -> LIVE.remove(process));
    pump = new Thread(this::pump, "out-" + name);
    pump.setDaemon(true);
    pump.start();
  }

  /** Starts {@code companion start --node-name NAME --cluster-port PORT ARGS...}. */
  public static ChildNode start(String name, int clusterPort, List<String> args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    // the launcher's flags (the project's node-jvm.options and hazelcast-jvm.options; tests run in the module's folder)
    cmd.addAll(NodeJvmOptions.launcherFlags(Path.of("..")));
    cmd.add("-Xmx768m");
    cmd.add("-cp");
    cmd.add(classpath());
    cmd.add("ai.companion.node.CompanionCli");
    cmd.add("start");
    cmd.add("--node-name");
    cmd.add(name);
    cmd.add("--cluster-port");
    cmd.add(String.valueOf(clusterPort));
    cmd.addAll(args);
    Path logs = Path.of("target", "it-logs");
    Files.createDirectories(logs);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    // the child reads its settings from flags only
    pb.environment().keySet().removeIf(k -> k.startsWith("COMPANION_") && !k.equals("COMPANION_SHARED_MODELS"));
    return new ChildNode(name, clusterPort, pb.start(), logs.resolve(name + ".log"));
  }

  private static String classpath;

  /**
   * The launcher's own class path, as {@code ./companion} builds it: {@code target/classes} plus the runtime jars that
   * the package phase copies into {@code target/lib} (failsafe runs after it). Not the test class path: a dependency
   * that only the tests bring (a test-scoped declaration hiding a runtime one, say) must fail here, as it would for a
   * user. Copied once per run, because on a shared checkout another build may rewrite those files while the children
   * run, and a JVM whose jar changed under it fails with NoClassDefFoundError. The copy (about 230 MB) goes when this
   * JVM exits; copies left by runs that were killed go once they are six hours old.
   */
  static synchronized String classpath() throws IOException {
    if (classpath != null) return classpath;
    Path target = Path.of("target").toAbsolutePath();
    Path classes = target.resolve("classes");
    Path lib = target.resolve("lib");
    if (!Files.isDirectory(classes) || !Files.isDirectory(lib)) {
      throw new IllegalStateException("no launcher build in " + target + ": run the package phase first (mvn verify)");
    }
    try (var old = Files.list(target)) {
      for (Path dir : old.filter(d -> d.getFileName().toString().startsWith("it-classpath")).toList()) {
        if (Files.getLastModifiedTime(dir).toMillis() < System.currentTimeMillis() - 6 * 3_600_000L) deleteTree(dir);
      }
    }
    Path snapshot = Files.createTempDirectory(target, "it-classpath");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(snapshot), "it-classpath-cleanup"));
    List<String> out = new ArrayList<>();
    Path classesCopy = snapshot.resolve("classes");
    try (var walk = Files.walk(classes)) {
      for (Path f : walk.toList()) {
        Path t = classesCopy.resolve(classes.relativize(f).toString());
        if (Files.isDirectory(f)) Files.createDirectories(t);
        else Files.copy(f, t);
      }
    }
    out.add(classesCopy.toString());
    try (var jars = Files.list(lib)) {
      for (Path jar : jars.filter(j -> j.toString().endsWith(".jar")).sorted().toList()) {
        Path copy = snapshot.resolve(jar.getFileName());
        Files.copy(jar, copy);
        out.add(copy.toString());
      }
    }
    classpath = String.join(java.io.File.pathSeparator, out);
    return classpath;
  }

  /** Deletes a folder and what it holds, as far as it can (a file still open elsewhere stays). */
  private static void deleteTree(Path dir) {
    try (var walk = Files.walk(dir)) {
      for (Path f : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
    } catch (IOException e) {
      // left for the next run's six-hour sweep
    }
  }

  private void pump() {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
         PrintWriter out = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true)) {
      String line;
      while ((line = r.readLine()) != null) {
        out.println(line);
        synchronized (lines) {
          lines.add(line);
        }
        Matcher m = READY.matcher(line);
        if (m.find()) ready.complete(m);
      }
    } catch (IOException e) {
      // the process went away
    }
    ready.completeExceptionally(new IllegalStateException("node " + name + " exited (" + exitText() + ") before READY; log "
        + log.toAbsolutePath() + ":\n" + tail(40)));
  }

  private String exitText() {
    try {
      return process.waitFor(2, TimeUnit.SECONDS) ? "exit code " + process.exitValue() : "still running";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "unknown";
    }
  }

  /** Waits for READY; returns this node's HTTP port (-1 without the gateway role). */
  public int awaitReady(long timeoutSeconds) throws Exception {
    Matcher m;
    try {
      m = ready.get(timeoutSeconds, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("node " + name + " not READY within " + timeoutSeconds + " s; log tail:\n" + tail(40));
    } catch (java.util.concurrent.ExecutionException e) {
      throw new AssertionError(e.getCause().getMessage());
    }
    return "-".equals(m.group(1)) ? -1 : Integer.parseInt(m.group(1));
  }

  /** Milliseconds from process start to READY (after {@link #awaitReady}). */
  public long millisSinceStart() {
    return (System.nanoTime() - startedNanos) / 1_000_000;
  }

  public long startedNanos() {
    return startedNanos;
  }

  public boolean logContains(String text) {
    synchronized (lines) {
      return lines.stream().anyMatch(l -> l.contains(text));
    }
  }

  public String tail(int n) {
    synchronized (lines) {
      return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }
  }

  /** The exit code once the process ended (waits up to 30 s). */
  public int exitCode() throws InterruptedException {
    if (!process.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("node " + name + " still runs");
    return process.exitValue();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** kill -9. */
  public void kill() throws InterruptedException {
    process.toHandle().destroyForcibly();
    process.waitFor(20, TimeUnit.SECONDS);
  }

  /** SIGTERM, then waits for a clean exit; returns the exit code. */
  public int stop(long timeoutSeconds) throws InterruptedException {
    // through the handle: Process.destroy() would also close our end of its output, losing its last lines
    process.toHandle().destroy();
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("node " + name + " did not stop within " + timeoutSeconds + " s after SIGTERM");
    }
    pump.join(5000); // its last lines
    return process.exitValue();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroyForcibly();
      process.waitFor(20, TimeUnit.SECONDS);
    }
  }
}
